// Swaps a running TLS server's certificate in place. setSecureContext only affects
// handshakes that start afterwards: open connections keep the session they negotiated,
// new ones get the new certificate, and the listening socket is never closed.
import type { SecureContextOptions, Server } from 'node:tls';
import type { Material } from './material.js';
import type { RotateListener } from './rotation.js';

export interface MaterialSource {
  current(): Material;
  onRotate(listener: RotateListener): () => void;
}

/**
 * Keeps `server` (an https.Server or tls.Server) on the source's current certificate.
 * `baseOptions` are the server's other TLS options (minVersion, ciphers, …): a new secure
 * context replaces the old one whole, so they are passed again on every swap.
 * Returns a function that stops following rotations.
 */
export function attachHotReload(server: Server, source: MaterialSource, baseOptions: SecureContextOptions = {}): () => void {
  const apply = (material: Material): void => {
    server.setSecureContext({ ...baseOptions, cert: material.certPem, key: material.keyPem });
  };
  // The server may have been created with material that rotated before this call.
  apply(source.current());
  return source.onRotate(apply);
}
