// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs a
// Reflect metadata polyfill loaded before the library itself. ESM evaluates imports in
// order, so every certs/ module imports x509 from here, never from the package.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

// Node's native WebCrypto: P-256 keys in ~0.3 ms, signatures in ~3 ms (see the commit
// that added the dependency for the measurements).
x509.cryptoProvider.set(webcrypto);

export { x509 };
export const subtle = webcrypto.subtle;
