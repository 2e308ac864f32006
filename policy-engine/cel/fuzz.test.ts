// Totality: random expressions over every library function, fed random Unicode (lone
// surrogates, pairs, combining marks, empty, 100,000-character repeats) and extreme
// numbers, under the per-call cost limit. Every evaluation must end with a CEL value or
// a typed CEL error (never a JavaScript exception, a hang or a dead process) and within
// the runtime limit. Seeded, so a failure names the case that reproduces it.
import { CelCompileError, CelEvalError, createEnvironment, types } from './index.js';

/** The longest one evaluation may take: a runaway must stop well under a second. */
const RUNTIME_LIMIT_MS = 1000;
const CASES = 3000;

function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

const PIECES = ['a', 'Z', '0', '9', '-', '.', ':', '/', ' ', '\n', '🙂', '\u0301', '\ud800', '\udfff', 'é', 'ß', '%', '\\', '*', '', 'x*', '1h', '10.0.0.1', '::1', '1.2.3', 'Gi'];
const PATTERNS = ['', 'x*', '[0-9]*', '.', '^a', 'a$', '(a|aa)*b', '^([a-z0-9]+-?)+$', '\\\\pL+', '(?i)z', '[^a]', '🙂', '(?s).{1,100}$', '\\\\b', 'a{0,1000}'];
const INTS = ['0', '1', '-1', '2', '3', '100', '1000000', '9223372036854775807', '-9223372036854775808'];

const TEMPLATES = [
  's.charAt(I)', 's.indexOf(t)', 's.indexOf(t, I)', 's.lastIndexOf(t)', 's.lastIndexOf(t, I)', 's.lowerAscii()',
  's.upperAscii()', 's.replace(t, u)', 's.replace(t, u, I)', 's.split(t)', 's.split(t, I)', 's.substring(I)',
  's.substring(I, I)', 's.trim()', 's.matches(P)', 's.find(P)', 's.findAll(P)', 's.findAll(P, I)', 'size(s)',
  's.startsWith(t)', 's.endsWith(t)', 's.contains(t)', "'%s-%d'.format([s, I])", "'%v'.format([s])", 't.format([s])',
  'strings.quote(s)', 'string(bytes(s))', 'int(s)', 'double(s)', 'uint(s)', 'bool(s)', 'duration(s)', 'timestamp(s)',
  'isQuantity(s)', 'quantity(s)', 'isURL(s)', 'url(s).getHost()', 'isIP(s)', 'ip(s)', 'isCIDR(s)', 'cidr(s)', 'isSemver(s)',
  'semver(s)', 'l.join(t)', 'l.sort()', 'l.distinct()', 'l.slice(I, I)', 'l.indexOf(s)', 'l.reverse()', 'l.min()',
  'lists.range(I)', 'lists.range(I).map(x, s + string(x)).size()', 'l.all(x, x.matches(P))', 'l.exists(x, x.findAll(P).size() > I)',
  'l.map(x, x.replace(t, s)).join(u)', 's + t + u', 'I + I', 'I * I', 'I / I', 'I % I', 'l.map(x, l).size()',
  'sets.contains(l, [s])', 'l.sortBy(x, x)', '[s, t, u].map(x, x.split("")).size()', 's.replace("", s).replace("", s)',
  'l.map(x, s.replace("", x)).join(s)', 'lists.range(I).all(i, lists.range(I).all(j, true))',
];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

function randomString(r: () => number): string {
  const long = r() < 0.1;
  let out = '';
  const n = Math.floor(r() * 12);
  for (let i = 0; i < n; i++) out += pick(r, PIECES);
  return long ? out.repeat(Math.ceil(100_000 / Math.max(1, out.length))).slice(0, 100_000) : out;
}

function randomExpr(r: () => number): string {
  const t = pick(r, TEMPLATES);
  return t.replace(/\bI\b/g, () => pick(r, INTS)).replace(/\bP\b/g, () => `'${pick(r, PATTERNS)}'`);
}

describe('no input can kill or hang the engine', () => {
  const env = createEnvironment({
    variables: { s: types.string, t: types.string, u: types.string, l: types.list(types.string) },
  });

  it(`${CASES} random expressions and inputs each end typed and in time`, () => {
    const r = rng(20261203);
    const failures: string[] = [];
    for (let i = 0; i < CASES; i++) {
      const expr = randomExpr(r);
      const vars = {
        s: randomString(r),
        t: randomString(r),
        u: randomString(r),
        l: Array.from({ length: Math.floor(r() * 6) }, () => randomString(r)),
      };
      const started = performance.now();
      try {
        env.compile(expr).evaluate(vars);
      } catch (e) {
        if (!(e instanceof CelEvalError || e instanceof CelCompileError))
          failures.push(`case ${i}: ${expr} threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      }
      const ms = performance.now() - started;
      if (ms > RUNTIME_LIMIT_MS) failures.push(`case ${i}: ${expr} took ${ms.toFixed(0)} ms (s.length ${vars.s.length})`);
    }
    expect(failures).toEqual([]);
  });
});
