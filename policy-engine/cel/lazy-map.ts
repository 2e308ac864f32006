// A map store over a plain JSON object that converts a field to its CEL value only when it
// is read. A rule usually reads a handful of fields of a 5 KB Deployment; converting the
// whole object eagerly cost ~0.2 ms per request and policy type, most of an admission's
// budget. A field whose CEL value is the JSON value itself (a string, a boolean) is read
// through and not kept; any other (a container with its own lazy state, an int, a
// timestamp) is converted once and kept. No Map is allocated until such a field is read,
// or until iteration and size convert everything, once, in the object's
// own key order: a fresh admission object makes one of these per object it touches, and a
// Map subclass per level was a third of a fresh request's time (bench:cel).
import type { MapKey, MapStore } from './values.js';

const hasOwn = Object.prototype.hasOwnProperty;

export class LazyFieldMap implements MapStore {
  /** Converted fields that are not the JSON value itself; after fill(), every entry in the object's key order. */
  private kept: Map<MapKey, unknown> | undefined;
  private complete = false;

  constructor(
    private readonly raw: Readonly<Record<string, unknown>>,
    private readonly convert: (key: string, value: unknown) => unknown,
  ) {}

  get(key: MapKey): unknown {
    if (this.complete) return this.kept!.get(key);
    if (typeof key !== 'string' || !hasOwn.call(this.raw, key)) return undefined;
    const v = this.raw[key];
    if (v === undefined) return undefined;
    const kept = this.kept?.get(key);
    if (kept !== undefined) return kept;
    const value = this.convert(key, v);
    // Kept unless the conversion was the identity (strings, booleans, null under dyn).
    if (value !== v) (this.kept ??= new Map()).set(key, value);
    return value;
  }

  has(key: MapKey): boolean {
    if (this.complete) return this.kept!.has(key);
    return typeof key === 'string' && hasOwn.call(this.raw, key) && this.raw[key] !== undefined;
  }

  private fill(): Map<MapKey, unknown> {
    if (this.complete) return this.kept!;
    const done = this.kept;
    const all = new Map<MapKey, unknown>();
    for (const k of Object.keys(this.raw)) {
      const v = this.raw[k];
      if (v === undefined) continue;
      const had = done?.get(k);
      all.set(k, had !== undefined ? had : this.convert(k, v));
    }
    this.kept = all;
    this.complete = true;
    return all;
  }

  get size(): number {
    return this.fill().size;
  }

  entries(): MapIterator<[MapKey, unknown]> {
    return this.fill().entries();
  }

  keys(): MapIterator<MapKey> {
    return this.fill().keys();
  }

  values(): MapIterator<unknown> {
    return this.fill().values();
  }

  [Symbol.iterator](): MapIterator<[MapKey, unknown]> {
    return this.fill()[Symbol.iterator]();
  }

  set(key: MapKey, value: unknown): this {
    this.fill().set(key, value);
    return this;
  }
}
