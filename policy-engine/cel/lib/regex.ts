// RE2 regular expressions for matches(), find() and findAll(), on re2js: a port of RE2/J,
// which ports Go's regexp (the package cel-go and k8s.io/apiserver call). Same accepted
// syntax as Go (no backreferences, no lookaround; (?i), \pL, [[:alpha:]], \Q..\E, (?P<n>)),
// the same leftmost-first results, and the same empty-match stepping in findAll
// ('xyz'.findAll('x*') == ["x","",""]; code points, never half a surrogate pair).
//
// Matching is linear in the input, but its constant is the program size: a pattern of
// 3,000 instructions against 100,000 characters is 3e8 steps, seconds in Go and here.
// The apiserver lets that run; a webhook that serves every request on one thread cannot,
// so one call may do at most RE2_STEP_LIMIT (input length x program size) steps and
// stops with a typed cost error before it starts (measured in bench/cel/regex.ts).
import { RE2JS, RE2JSException, RE2JSSyntaxException } from 're2js';
import { CelCostLimitError, CelEvalError } from '../errors.js';
import { classSequenceOf, matchClassSequence, type ClassSequence } from './regex-classes.js';

/**
 * Steps one regex call may take. Measured on this project's 2-core machine under load:
 * the slowest pattern kind (NFA over large Unicode classes) runs ~50 ns a step, so
 * 1,000,000 steps keep one call under 50 ms.
 */
export const RE2_STEP_LIMIT = 1_000_000;
/**
 * find and findAll track match positions, so they run the NFA where matches() runs the
 * DFA: measured ~2x slower a step over big programs, counted twice.
 */
const POSITION_STEP_WEIGHT = 2;
/**
 * findAll pays per match too (a result string per position for patterns like `[0-9]*`,
 * ~1.3 us each measured), counted as this many steps per input position.
 */
const FIND_ALL_STEPS_PER_POSITION = 25;

/**
 * A pattern that is a plain string between optional ^ and $ ('^registry\\.example\\.com/'),
 * the most common kind in policies. Its matches are exactly startsWith/endsWith/includes
 * ($ is the end of the text in Go unless (?m)), which V8 runs ~30x faster than an automaton.
 */
interface Literal {
  text: string;
  start: boolean;
  end: boolean;
}

const META = new Set(['\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$']);

function literalOf(pattern: string): Literal | undefined {
  let i = 0;
  const start = pattern.startsWith('^');
  if (start) i = 1;
  let end = false;
  let text = '';
  while (i < pattern.length) {
    const c = pattern[i] as string;
    if (c === '$' && i === pattern.length - 1) {
      end = true;
      break;
    }
    if (c === '\\') {
      const n = pattern[i + 1];
      // Only escaped punctuation is a literal; \d, \pL, \Q, \z ... are not.
      if (n === undefined || /[0-9A-Za-z]/.test(n) || n.charCodeAt(0) > 0x7f) return undefined;
      text += n;
      i += 2;
      continue;
    }
    if (META.has(c)) return undefined;
    text += c;
    i++;
  }
  return text === '' ? undefined : { text, start, end };
}

/** A compiled pattern with the three operations CEL offers. */
export class Re2Pattern {
  /** Instructions of the compiled program (RE2's measure of a pattern's cost). */
  readonly programSize: number;
  private readonly size: number;
  private readonly literal: Literal | undefined;
  private readonly classes: ClassSequence | undefined;
  constructor(
    readonly source: string,
    private readonly re: RE2JS,
  ) {
    this.size = re.programSize();
    this.programSize = this.size;
    this.literal = literalOf(source);
    this.classes = this.literal === undefined ? classSequenceOf(source) : undefined;
  }

  /** Go's regexp.MatchString: is there a match anywhere in s. */
  matches(s: string): boolean {
    this.guard(s, this.size);
    const l = this.literal;
    if (l !== undefined) return this.literalIndex(s, l) >= 0;
    if (this.classes !== undefined) return matchClassSequence(this.classes, s);
    return this.re.test(s);
  }

  /** Go's FindString: the leftmost-first match, '' when there is none. */
  find(s: string): string {
    this.guard(s, this.size * POSITION_STEP_WEIGHT);
    const l = this.literal;
    if (l !== undefined) return this.literalIndex(s, l) >= 0 ? l.text : '';
    return (this.re.re2().find(s) as string | null | undefined) ?? '';
  }

  /** Go's FindAllString(s, n): successive non-overlapping matches; n < 0 means all. */
  findAll(s: string, n: number): string[] {
    if (n === 0) return [];
    this.guard(s, this.size * POSITION_STEP_WEIGHT + FIND_ALL_STEPS_PER_POSITION);
    const l = this.literal;
    if (l !== undefined && !l.start && !l.end) {
      const out: string[] = [];
      for (let i = s.indexOf(l.text); i >= 0 && (n < 0 || out.length < n); i = s.indexOf(l.text, i + l.text.length)) out.push(l.text);
      return out;
    }
    const all = this.re.re2().findAll(s, n) as string[] | null | undefined;
    return all ?? [];
  }

  private literalIndex(s: string, l: Literal): number {
    if (l.start && l.end) return s === l.text ? 0 : -1;
    if (l.start) return s.startsWith(l.text) ? 0 : -1;
    if (l.end) return s.endsWith(l.text) ? s.length - l.text.length : -1;
    return s.indexOf(l.text);
  }

  private guard(s: string, perPosition: number): void {
    if ((s.length + 1) * perPosition > RE2_STEP_LIMIT) throw new CelCostLimitError(RE2_STEP_LIMIT, 'regex');
  }
}

const cache = new Map<string, Re2Pattern>();
const CACHE_MAX = 1000;

/** Where in the pattern a syntax error is, and what it is. */
export interface Re2Problem {
  message: string;
  /** 0-based UTF-16 offset in the pattern. */
  offset: number;
}

function problemOf(pattern: string, e: unknown): Re2Problem {
  if (e instanceof RE2JSSyntaxException) {
    const bad = e.input ?? '';
    const at = bad === '' ? -1 : pattern.indexOf(bad);
    return { message: e.message, offset: at < 0 ? 0 : at };
  }
  return { message: e instanceof Error ? e.message : String(e), offset: 0 };
}

/** Returns the problem when the pattern is not valid RE2 (Go regexp syntax), else undefined. */
export function re2Problem(pattern: string): Re2Problem | undefined {
  try {
    compileRe2(pattern);
    return undefined;
  } catch (e) {
    if (e instanceof CelEvalError && e.cause !== undefined) return problemOf(pattern, e.cause);
    return problemOf(pattern, e);
  }
}

/** A message for a literal pattern that does not compile, with its offset; else undefined. */
export function checkRe2(pattern: string): string | undefined {
  const p = re2Problem(pattern);
  return p === undefined ? undefined : `invalid regex at offset ${p.offset}: ${p.message}`;
}

export function compileRe2(pattern: string): Re2Pattern {
  const hit = cache.get(pattern);
  if (hit !== undefined) return hit;
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (e) {
    if (e instanceof RE2JSException) throw new CelEvalError(`Illegal regex: ${e.message}`, { cause: e });
    throw e;
  }
  const compiled = new Re2Pattern(pattern, re);
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(pattern, compiled);
  return compiled;
}
