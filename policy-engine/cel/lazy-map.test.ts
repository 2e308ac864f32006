// The lazy view over a JSON object: what a rule reads is converted on the spot, containers
// once (so nested lazy state survives), and iteration sees every field in source order.
import { LazyFieldMap } from './lazy-map.js';

function counting(raw: Record<string, unknown>): { map: LazyFieldMap; calls: string[] } {
  const calls: string[] = [];
  const map = new LazyFieldMap(raw, (k, v) => {
    calls.push(k);
    return typeof v === 'object' && v !== null ? { converted: v } : v;
  });
  return { map, calls };
}

describe('LazyFieldMap', () => {
  it('converts a container once and returns the same value on every read', () => {
    const { map, calls } = counting({ spec: { replicas: 3 }, name: 'x' });
    const first = map.get('spec');
    expect(map.get('spec')).toBe(first);
    expect(calls).toEqual(['spec']);
  });

  it('keeps converted containers when iteration converts the rest, in source order', () => {
    const { map, calls } = counting({ a: 1, spec: { r: 1 }, b: 'two', skipped: undefined });
    const spec = map.get('spec');
    expect([...map.keys()]).toEqual(['a', 'spec', 'b']);
    expect(map.size).toBe(3);
    expect(map.get('spec')).toBe(spec);
    expect(calls.filter((k) => k === 'spec')).toHaveLength(1);
  });

  it('sees only own, defined fields: prototype names and non-string keys are absent', () => {
    const { map } = counting({ x: null, u: undefined });
    expect(map.has('x')).toBe(true);
    expect(map.get('x')).toBeNull();
    for (const k of ['toString', 'constructor', '__proto__', 'u']) {
      expect(map.has(k)).toBe(false);
      expect(map.get(k)).toBeUndefined();
    }
    expect(map.has(1n)).toBe(false);
    expect(map.get(true)).toBeUndefined();
  });

  it('answers the same before and after iteration', () => {
    const { map } = counting({ a: 1, b: { c: 2 } });
    const before = [map.get('a'), map.has('b'), map.get('zz')];
    void [...map];
    expect([map.get('a'), map.has('b'), map.get('zz')]).toEqual(before);
  });
});
