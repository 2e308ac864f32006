// RE2 semantics of matches/find/findAll: Go regexp's results (the engine the apiserver
// runs), RE2's refusals with positions, and the step limit that stops hostile inputs
// before they run. Speed itself is measured in bench/cel/regex.ts, not here.
import { createEnvironment, types } from '../index.js';
import { evaluateToOutcome, type Outcome } from '../outcome.js';
import { RE2JS } from 're2js';
import { RE2_STEP_LIMIT, compileRe2, re2Problem } from './regex.js';
import { classSequenceOf, matchClassSequence } from './regex-classes.js';

const env = createEnvironment({ variables: { s: types.string } });
const ok = (type: string, value: unknown): Outcome => ({ type, value } as Outcome);

describe('RE2 results as Go regexp gives them', () => {
  it.each<[string, Outcome]>([
    // Empty matches step one code point at a time and never end inside a surrogate pair.
    ["'xyz'.findAll('x*')", ok('list', ['x', '', ''])],
    ["'🙂🙂x'.findAll('')", ok('list', ['', '', '', ''])],
    ["'ok 🙂'.findAll('[0-9]*')", ok('list', ['', '', '', '', ''])],
    ["'🙂🙂'.findAll('.')", ok('list', ['🙂', '🙂'])],
    ["'a🙂b'.find('[^a]')", ok('string', '🙂')],
    ["'abab'.findAll('a|ab')", ok('list', ['a', 'a'])], // leftmost-first, not longest
    ["'aaa'.findAll('a*?')", ok('list', ['', '', '', ''])],
    ["'a1b2c3'.findAll('[0-9]', 2)", ok('list', ['1', '2'])],
    ["'a1b2c3'.findAll('[0-9]', 9223372036854775807)", ok('list', ['1', '2', '3'])],
    ["'a1b2c3'.findAll('[0-9]', -5)", ok('list', ['1', '2', '3'])],
    ["'abc'.findAll('x')", ok('list', [])],
    // Go syntax that JavaScript spells differently or lacks.
    ["'Straße'.matches('^\\\\pL+$')", ok('bool', true)],
    ["'x1'.matches('^[[:alpha:]][[:digit:]]$')", ok('bool', true)],
    ["'a.b'.matches('^\\\\Qa.b\\\\E$')", ok('bool', true)],
    ["'axb'.matches('^\\\\Qa.b\\\\E$')", ok('bool', false)],
    ["'ab'.find('(?P<x>a)b')", ok('string', 'ab')],
    ["'aaa'.find('(?U)a+')", ok('string', 'a')],
    ["'ABC'.matches('(?i)abc')", ok('bool', true)],
    ["'a\\nb'.matches('(?s)a.b')", ok('bool', true)],
    ["'a\\nb'.matches('a.b')", ok('bool', false)],
    ["'ab\\n'.matches('ab\\\\z')", ok('bool', false)],
    ["'ab\\n'.matches('ab$')", ok('bool', false)],
    // The catastrophic-backtracking case of the issue: instant and false.
    ["'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'.matches('^([a-z0-9]+-?)+$')", ok('bool', false)],
  ])('%s', (expr, want) => {
    expect(evaluateToOutcome(env, expr)).toEqual(want);
  });
});

describe('patterns RE2 refuses are compile errors at the literal, with the offset in the pattern', () => {
  it.each<[string, string]>([
    ["'aa'.matches('(a)\\\\1')", '1:14: invalid regex at offset 3: error parsing regexp: invalid escape sequence: `\\1`'],
    ["'a'.find('(?=a)')", '1:10: invalid regex at offset 0: error parsing regexp: invalid or unsupported Perl syntax: `(?=`'],
    ["'a'.findAll('x(?<!y)')", '1:13: invalid regex at offset 1: error parsing regexp: invalid named capture: `(?<!y)`'],
    ["'a'.matches('a{1001}')", '1:13: invalid regex at offset 1: error parsing regexp: invalid repeat count: `{1001}`'],
    ["'a'.matches('ab(')", '1:13: invalid regex at offset 0: error parsing regexp: missing closing ): `ab(`'],
    ["'a'.matches('\\\\C')", '1:13: invalid regex at offset 0: error parsing regexp: invalid escape sequence: `\\C`'],
  ])('%s', (expr, message) => {
    expect(evaluateToOutcome(env, expr)).toEqual({ error: 'CEL_COMPILE', message });
  });

  it('a pattern known only at evaluation fails that evaluation with the same reason', () => {
    expect(evaluateToOutcome(env, "'aa'.matches('(a)' + '\\\\1')")).toEqual({
      error: 'CEL_EVAL',
      message: 'Illegal regex: error parsing regexp: invalid escape sequence: `\\1`',
    });
    expect(re2Problem('ok(')).toEqual({ offset: 0, message: 'error parsing regexp: missing closing ): `ok(`' });
  });
});

describe('the step limit', () => {
  it('stops a big program over a long input with a typed cost error, before matching', () => {
    const s = 'a'.repeat(100_000);
    const compiled = env.compile("s.matches('(?:a?){1000}a{1000}')");
    expect(() => compiled.evaluate({ s })).toThrow(expect.objectContaining({ code: 'CEL_COST_LIMIT', scope: 'regex' }));
    const all = env.compile("s.findAll('[0-9]*').size()");
    expect(() => all.evaluate({ s })).toThrow(expect.objectContaining({ code: 'CEL_COST_LIMIT', scope: 'regex' }));
  });

  it('lets a typical pattern run over a 100,000-character input', () => {
    const s = `${'a'.repeat(99_999)}!`;
    expect(env.compile("s.matches('^[a-z0-9.-]+$')").evaluate({ s })).toBe(false);
    expect(env.compile("s.find('[!]')").evaluate({ s })).toBe('!');
  });

  it('is input length x program size', () => {
    const p = compileRe2('^[a-z]+$');
    const size = Math.floor(RE2_STEP_LIMIT / 6) - 1; // '^[a-z]+$' is 6 instructions
    expect(p.matches('a'.repeat(size))).toBe(true);
    expect(() => p.matches('a'.repeat(size + 2))).toThrow(expect.objectContaining({ scope: 'regex' }));
  });
});

describe('plain-string patterns (run as startsWith/endsWith/includes) answer as the automaton does', () => {
  const patterns = ['^ab', 'ab$', '^ab$', 'a\\.b', 'ab', '^a/b\\-c', 'b\\$', 'ab\n$'];
  const inputs = ['', 'ab', 'xab', 'abx', 'a.b', 'axb', 'abab', 'a/b-cd', 'b$', 'ab\n', 'ab\nab', 'zab🙂ab'];
  it.each(patterns)('%s', (pattern) => {
    const fast = compileRe2(pattern);
    const slow = RE2JS.compile(pattern).re2();
    for (const s of inputs) {
      expect([s, fast.matches(s)]).toEqual([s, slow.match(s)]);
      expect([s, fast.find(s)]).toEqual([s, slow.find(s) ?? '']);
      expect([s, fast.findAll(s, -1)]).toEqual([s, slow.findAll(s, -1) ?? []]);
      expect([s, fast.findAll(s, 1)]).toEqual([s, slow.findAll(s, 1) ?? []]);
    }
  });
});

describe('character-class sequences (run on their own automaton) answer as RE2 does', () => {
  // A seeded generator, so a failure names a reproducible pattern and input.
  let seed = 0x5eed;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)] as T;
  const atoms = ['a', 'b', '-', '_', '/', '\\.', '\\-', '\\d', '\\w', '\\s', '[a-c]', '[0-9]', '[a-z0-9-]', '[-a]', '[b-]', '[a-z0-9.-]', '[\\d_]', '[ \\t]', '[A-Z]', '[.]', '[a^]', '[\\]]'];
  const quants = ['', '', '*', '+', '?', '{2}', '{1,3}', '{0,2}', '{2,}', '{0}'];
  const alphabet = ['a', 'b', 'c', 'z', '0', '9', '-', '_', '.', '/', ' ', '\t', '\n', 'A', 'Z', '^', ']', 'é', '🙂', '\ud83d', '\u0000'];
  const patternOf = (): string => {
    let p = rnd(2) === 0 ? '^' : '';
    for (let i = 0, n = rnd(5); i < n; i++) p += pick(atoms) + pick(quants);
    return p + (rnd(2) === 0 ? '$' : '');
  };
  const inputOf = (): string => Array.from({ length: rnd(9) }, () => pick(alphabet)).join('');

  it('takes the common policy patterns', () => {
    for (const p of ['^[a-z][a-z0-9-]*$', '^[A-Z]{2,4}-[0-9]{3,6}$', '^[a-z0-9.-]+$', '[0-9]+', '^v\\d+\\.\\d+$', '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'.replace(/\(.*\)\?/, '')]) {
      expect([p, classSequenceOf(p) !== undefined]).toEqual([p, true]);
    }
  });

  it('leaves groups, alternation, dots, negation, flags and lazy repeats to re2js', () => {
    for (const p of ['(a)', 'a|b', 'a.b', '[^a]', '(?i)a', 'a*?', 'a{,3}', '[[:alpha:]]', '\\pL', '[a-z-0]', '\\D', 'a{2', ']', '[]a]']) {
      expect([p, classSequenceOf(p)]).toEqual([p, undefined]);
    }
  });

  it('agrees with re2js on 3,000 generated pattern x 20 inputs', () => {
    let taken = 0;
    for (let i = 0; i < 3000; i++) {
      const pattern = patternOf();
      const m = classSequenceOf(pattern);
      if (m === undefined) continue;
      taken++;
      const re = RE2JS.compile(pattern);
      for (let j = 0; j < 20; j++) {
        const s = inputOf();
        expect([pattern, s, matchClassSequence(m, s)]).toEqual([pattern, s, re.test(s)]);
      }
    }
    expect(taken).toBeGreaterThan(2000);
  });
});
