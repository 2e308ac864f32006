// A linear-time matcher for the second most common kind of policy pattern after plain
// strings: a sequence of ASCII characters and ASCII character classes, each optionally
// repeated, between optional ^ and $ ('^[a-z][a-z0-9-]*$', '^[A-Z]{2,4}-[0-9]{3,6}$',
// '[0-9]+'). RE2 runs them through its general automaton at ~500 ns a short string here;
// this simulates the same automaton over a bitmask of at most 31 states (30 atoms) at ~30 ns, and
// answers only matches() (find and findAll keep re2js, which reports positions).
//
// Same answers as RE2 by construction: every atom matches exactly one ASCII character, so
// a match never contains a non-ASCII code point, and UTF-16 units are code points for every
// character a match can hold. Anything outside the accepted grammar (groups, alternation,
// '.', negated classes, flags, lazy quantifiers, POSIX classes) is left to re2js.
// policy-engine/cel/lib/regex.test.ts compares both on generated patterns and inputs.

/** A pattern compiled to a state machine over atoms; undefined when outside the grammar. */
export interface ClassSequence {
  /** For each ASCII code, the bitmask of atoms whose class holds it. */
  readonly byChar: Uint32Array;
  /** For each atom: the states reached after it consumes a character. */
  readonly advance: Uint32Array;
  /** States reachable from state 0 without consuming anything. */
  readonly initial: number;
  /** The state of a complete match. */
  readonly accept: number;
  readonly anchoredStart: boolean;
  readonly anchoredEnd: boolean;
}

const MAX_ATOMS = 30;
/** Characters that are syntax outside a class; letters, digits and the rest stand for themselves. */
const SPECIAL = new Set(['\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$']);

type Quant = '' | '?' | '*';

function isPunct(c: string): boolean {
  const n = c.charCodeAt(0);
  return n > 0x20 && n < 0x7f && !/[0-9A-Za-z]/.test(c);
}

function setRange(set: boolean[], lo: number, hi: number): void {
  for (let c = lo; c <= hi; c++) set[c] = true;
}

/** Go's Perl classes that are ASCII sets (regexp/syntax perl_groups.go). */
function perlClass(c: string, set: boolean[]): boolean {
  switch (c) {
    case 'd':
      setRange(set, 0x30, 0x39);
      return true;
    case 'w':
      setRange(set, 0x30, 0x39);
      setRange(set, 0x41, 0x5a);
      setRange(set, 0x61, 0x7a);
      set[0x5f] = true;
      return true;
    case 's':
      for (const x of [0x09, 0x0a, 0x0c, 0x0d, 0x20]) set[x] = true;
      return true;
    default:
      return false;
  }
}

/** One printable ASCII character at p, or an escaped punctuation mark: [code, next p]. */
function classChar(src: string, p: number): [number, number] | undefined {
  const c = src[p];
  if (c === undefined) return undefined;
  if (c === '\\') {
    const n = src[p + 1];
    return n !== undefined && isPunct(n) ? [n.charCodeAt(0), p + 2] : undefined;
  }
  const code = c.charCodeAt(0);
  if (code < 0x20 || code >= 0x7f || c === '[' || c === ']' || c === '-') return undefined;
  return [code, p + 1];
}

/** A bracket class at p ('[' included): the set and the position after ']'. */
function bracket(src: string, p: number): [boolean[], number] | undefined {
  const set = new Array<boolean>(128).fill(false);
  let i = p + 1;
  if (src[i] === '^') return undefined;
  let first = true;
  for (;;) {
    const c = src[i];
    if (c === undefined) return undefined;
    if (c === ']' && !first) return [set, i + 1];
    // '-' stands for itself only first or last, as the patterns in the wild write it.
    if (c === '-' && (first || src[i + 1] === ']')) {
      set[0x2d] = true;
      i++;
      first = false;
      continue;
    }
    if (c === '\\' && src[i + 1] !== undefined && perlClass(src[i + 1] as string, set)) {
      i += 2;
      first = false;
      continue;
    }
    const lo = classChar(src, i);
    if (lo === undefined) return undefined;
    i = lo[1];
    if (src[i] === '-' && src[i + 1] !== ']') {
      const hi = classChar(src, i + 1);
      if (hi === undefined || hi[0] < lo[0]) return undefined;
      setRange(set, lo[0], hi[0]);
      i = hi[1];
    } else {
      set[lo[0]] = true;
    }
    first = false;
  }
}

/** {n}, {n,} or {n,m} at p: [min, max (Infinity), next p]. */
function counted(src: string, p: number): [number, number, number] | undefined {
  const m = /^\{([0-9]{1,4})(,([0-9]{0,4}))?\}/.exec(src.slice(p, p + 12));
  if (!m) return undefined;
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
  if (max < min) return undefined;
  return [min, max, p + m[0].length];
}

export function classSequenceOf(src: string): ClassSequence | undefined {
  const atoms: { set: boolean[]; q: Quant }[] = [];
  let p = 0;
  const anchoredStart = src.startsWith('^');
  if (anchoredStart) p = 1;
  let anchoredEnd = false;
  while (p < src.length) {
    const c = src[p] as string;
    if (c === '$' && p === src.length - 1) {
      anchoredEnd = true;
      break;
    }
    let set: boolean[];
    if (c === '[') {
      const b = bracket(src, p);
      if (b === undefined) return undefined;
      [set, p] = b;
    } else if (c === '\\') {
      set = new Array<boolean>(128).fill(false);
      const n = src[p + 1];
      if (n === undefined) return undefined;
      if (!perlClass(n, set)) {
        if (!isPunct(n)) return undefined;
        set[n.charCodeAt(0)] = true;
      }
      p += 2;
    } else {
      const code = c.charCodeAt(0);
      if (SPECIAL.has(c) || code < 0x20 || code >= 0x7f) return undefined;
      set = new Array<boolean>(128).fill(false);
      set[code] = true;
      p++;
    }
    // Repetition, expanded: X+ is X X*, X{2,4} is X X X? X?.
    let min = 1;
    let max = 1;
    const q = src[p];
    if (q === '*' || q === '+' || q === '?') {
      [min, max] = q === '*' ? [0, Infinity] : q === '+' ? [1, Infinity] : [0, 1];
      p++;
    } else if (q === '{') {
      const r = counted(src, p);
      if (r === undefined) return undefined;
      [min, max, p] = r;
    }
    const after = src[p];
    if (after === '*' || after === '+' || after === '?' || after === '{') return undefined; // lazy or stacked
    for (let i = 0; i < min; i++) atoms.push({ set, q: '' });
    if (max === Infinity) atoms.push({ set, q: '*' });
    else for (let i = min; i < max; i++) atoms.push({ set, q: '?' });
    if (atoms.length > MAX_ATOMS) return undefined;
  }
  const k = atoms.length;
  // close[i]: the states reachable from state i by skipping optional atoms.
  const close = new Array<number>(k + 1);
  close[k] = 1 << k;
  for (let i = k - 1; i >= 0; i--) close[i] = ((1 << i) | (atoms[i]!.q === '' ? 0 : close[i + 1]!)) >>> 0;
  const byChar = new Uint32Array(128);
  const advance = new Uint32Array(k);
  atoms.forEach((a, i) => {
    for (let c = 0; c < 128; c++) if (a.set[c]) byChar[c] = (byChar[c]! | (1 << i)) >>> 0;
    advance[i] = a.q === '*' ? close[i]! : close[i + 1]!;
  });
  return { byChar, advance, initial: close[0]!, accept: (1 << k) >>> 0, anchoredStart, anchoredEnd };
}

/** Go's MatchString for a class sequence: is there a match anywhere in s. */
export function matchClassSequence(m: ClassSequence, s: string): boolean {
  const { byChar, advance, initial, accept, anchoredStart, anchoredEnd } = m;
  let states = initial;
  for (let i = 0; ; i++) {
    if (!anchoredEnd && (states & accept) !== 0) return true;
    if (i === s.length) return (states & accept) !== 0;
    const c = s.charCodeAt(i);
    let live = c < 128 ? states & byChar[c]! : 0;
    let next = 0;
    while (live !== 0) {
      const bit = live & -live;
      next |= advance[31 - Math.clz32(bit)]!;
      live ^= bit;
    }
    states = anchoredStart ? next : next | initial;
    if (states === 0) return false;
  }
}
