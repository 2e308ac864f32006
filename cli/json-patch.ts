// Applies the JSON Patch (RFC 6902) a mutating webhook answers with, the way the apiserver
// does before it validates: `kidp validate` then checks the object the cluster would store.
import type { JsonPatchOperation } from '../admission/index.js';

function unescape(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** A patched deep copy of `document`; throws on a path that does not exist, as the apiserver refuses such a patch. */
export function applyJsonPatch<T>(document: T, patch: readonly JsonPatchOperation[]): T {
  const root = { value: structuredClone(document) as unknown };
  for (const op of patch) {
    const segments = op.path === '' ? [] : op.path.split('/').slice(1).map(unescape);
    let parent: unknown = root;
    let key: string = 'value';
    for (const segment of segments) {
      const next = (parent as Record<string, unknown>)[key];
      if (typeof next !== 'object' || next === null) throw new Error(`JSON patch ${op.op} ${op.path}: no such path`);
      parent = next;
      key = segment;
    }
    const container = parent as Record<string, unknown> | unknown[];
    switch (op.op) {
      case 'add':
        if (Array.isArray(container)) container.splice(key === '-' ? container.length : Number(key), 0, structuredClone(op.value));
        else container[key] = structuredClone(op.value);
        break;
      case 'replace':
        if (Array.isArray(container)) container[Number(key)] = structuredClone(op.value);
        else container[key] = structuredClone(op.value);
        break;
      case 'remove':
        if (Array.isArray(container)) container.splice(Number(key), 1);
        else delete container[key];
        break;
      case 'test':
        if (JSON.stringify((container as Record<string, unknown>)[key]) !== JSON.stringify(op.value)) throw new Error(`JSON patch test ${op.path} failed`);
        break;
    }
  }
  return root.value as T;
}
