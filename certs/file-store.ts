// A CertificateStore in a local directory (or a mounted Secret volume, read-only use).
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreConflictError, StoreFailedError } from './errors.js';
import { MATERIAL_KEYS, MATERIAL_WRITE_ORDER, type CertificateStore, type MaterialKey, type StoreSnapshot, type StoredFiles } from './store.js';

/** Owner-only: the directory holds private keys. */
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

export class FileCertificateStore implements CertificateStore {
  readonly location: string;

  constructor(readonly dir: string) {
    this.location = dir;
  }

  async read(): Promise<StoreSnapshot> {
    const files: StoredFiles = {};
    for (const key of Object.values(MATERIAL_KEYS)) {
      try {
        files[key] = await readFile(join(this.dir, key), 'utf8');
      } catch (err) {
        if (isNotFound(err)) continue;
        throw new StoreFailedError(join(this.dir, key), 'read', { cause: err });
      }
    }
    return { files, version: versionOf(files) };
  }

  async write(files: Record<MaterialKey, string>, expectedVersion: string | undefined): Promise<string> {
    // Not a lock across processes: a directory store serves one process; replicas share a Secret.
    const before = await this.read();
    if (before.version !== expectedVersion) throw new StoreConflictError(this.location);
    try {
      await mkdir(this.dir, { recursive: true, mode: DIR_MODE });
      for (const key of MATERIAL_WRITE_ORDER) {
        // Write-then-rename so a reader never sees half a PEM file.
        const target = join(this.dir, key);
        const temp = `${target}.tmp-${process.pid}`;
        await writeFile(temp, files[key], { mode: FILE_MODE });
        await rename(temp, target);
      }
    } catch (err) {
      throw new StoreFailedError(this.location, 'write', { cause: err });
    }
    return versionOf(files) ?? '';
  }
}

function versionOf(files: StoredFiles): string | undefined {
  const present = Object.values(MATERIAL_KEYS).filter((key) => files[key] !== undefined);
  if (present.length === 0) return undefined;
  const hash = createHash('sha256');
  for (const key of present) hash.update(`${key}\0${files[key] ?? ''}\0`);
  return hash.digest('hex');
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && err.code === 'ENOENT';
}
