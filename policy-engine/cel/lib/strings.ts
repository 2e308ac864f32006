// cel-go ext strings (the version Kubernetes enables) plus `format` and `strings.quote`.
// Indices count Unicode code points, as in cel-go.
import { CelEvalError } from '../errors.js';
import { BOOL, INT, STRING, listOf } from '../types.js';
import {
  CelDuration, CelMap, CelTimestamp, CelTypeValue, CelUint, decodeUtf8, encodeUtf8,
  formatDuration, formatTimestamp, isOpaque,
} from '../values.js';
import type { Registry } from './registry.js';
import { STRING_COST_FACTOR, formatDouble, strSize } from './standard.js';

function hasSurrogates(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) return true;
  }
  return false;
}

/** Code points of s, or undefined when s is all BMP (then UTF-16 indices are code point indices). */
function cps(s: string): string[] | undefined {
  return hasSurrogates(s) ? Array.from(s) : undefined;
}

function outOfRange(i: bigint | number): CelEvalError {
  return new CelEvalError(`index out of range: ${i}`);
}

function charAt(s: string, i: bigint): string {
  const c = cps(s);
  const n = c ? c.length : s.length;
  if (i < 0n || i > BigInt(n)) throw outOfRange(i);
  const k = Number(i);
  return k === n ? '' : c ? (c[k] as string) : (s[k] as string);
}

/** Code-point index of the UTF-16 offset. */
function cpIndex(s: string, utf16: number): number {
  let n = 0;
  for (let i = 0; i < utf16; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff) n++;
  }
  return n;
}
function utf16Offset(s: string, cp: number): number {
  let i = 0;
  for (let n = 0; n < cp && i < s.length; n++) {
    const c = s.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff ? 2 : 1;
  }
  return i;
}
function cpLen(s: string): number {
  return cpIndex(s, s.length);
}

// cel-go ext/strings.go indexOfOffset / lastIndexOfOffset, rune for rune: an offset past
// the end is -1 (or the clamped offset for an empty substring), never an error.
function runeAt(runes: readonly string[], sub: readonly string[], i: number): boolean {
  for (let j = 0; j < sub.length; j++) if (runes[i + j] !== sub[j]) return false;
  return true;
}

function indexOf(s: string, t: string, start = 0n): bigint {
  if (start < 0n) throw outOfRange(start);
  const runes = Array.from(s);
  const n = BigInt(runes.length);
  if (t === '') return start > n ? n : start;
  if (start >= n) return -1n;
  if (cps(s) === undefined && cps(t) === undefined) return BigInt(s.indexOf(t, Number(start)));
  const sub = Array.from(t);
  for (let i = Number(start); i < runes.length - (sub.length - 1); i++) if (runeAt(runes, sub, i)) return BigInt(i);
  return -1n;
}

function lastIndexOf(s: string, t: string, start?: bigint): bigint {
  const runes = Array.from(s);
  if (start === undefined) {
    if (t === '') return BigInt(runes.length);
    if (encodeUtf8(s).length < encodeUtf8(t).length) return -1n;
    start = BigInt(runes.length - 1);
  }
  if (start < 0n) throw outOfRange(start);
  const n = BigInt(runes.length);
  if (t === '') return start > n ? n : start;
  if (start >= n) return -1n;
  const sub = Array.from(t);
  let off = Number(start);
  if (off > runes.length - sub.length) off = runes.length - sub.length;
  for (let i = off; i >= 0; i--) if (runeAt(runes, sub, i)) return BigInt(i);
  return -1n;
}

function substring(s: string, start: bigint, end?: bigint): string {
  const n = BigInt(cpLen(s));
  const e = end ?? n;
  if (start < 0n || start > n) throw outOfRange(start);
  if (e < 0n || e > n) throw outOfRange(e);
  if (start > e) throw new CelEvalError(`invalid substring range. start: ${start}, end: ${e}`);
  return s.slice(utf16Offset(s, Number(start)), utf16Offset(s, Number(e)));
}

/**
 * The longest string replace() and join() may build: 16 Mi UTF-16 units, five times the
 * largest request the apiserver accepts. The apiserver has no such bound (its cost counts
 * only the input), so `s.replace('', s)` on a 100 KB annotation would build 10 GB; here it
 * is a typed evaluation error before any of it is built.
 */
export const MAX_STRING_RESULT = 16 * 1024 * 1024;

function tooLarge(fn: string, n: number): CelEvalError {
  return new CelEvalError(`${fn}: result of ${n} characters exceeds the limit of ${MAX_STRING_RESULT}`);
}

/** Occurrences strings.Replace would substitute (up to n when n >= 0). */
function occurrences(s: string, from: string, n: bigint): number {
  let count = 0;
  if (from === '') count = cpLen(s) + 1;
  else for (let i = s.indexOf(from); i >= 0; i = s.indexOf(from, i + from.length)) count++;
  return n >= 0n && BigInt(count) > n ? Number(n) : count;
}

/** Go's strings.Replace with n < 0 meaning all. */
function replace(s: string, from: string, to: string, n = -1n): string {
  if (n === 0n) return s;
  if (to.length > from.length) {
    const size = s.length + occurrences(s, from, n) * (to.length - from.length);
    if (size > MAX_STRING_RESULT) throw tooLarge('replace', size);
  }
  if (from === '') {
    // Go inserts `to` before each code point and at the end, up to n times.
    const parts = Array.from(s);
    let out = '';
    let done = 0n;
    for (const p of parts) {
      if (n < 0n || done < n) {
        out += to;
        done++;
      }
      out += p;
    }
    if (n < 0n || done < n) out += to;
    return out;
  }
  if (n < 0n) return s.split(from).join(to);
  let out = '';
  let rest = s;
  for (let k = 0n; k < n; k++) {
    const i = rest.indexOf(from);
    if (i < 0) break;
    out += rest.slice(0, i) + to;
    rest = rest.slice(i + from.length);
  }
  return out + rest;
}

/** Go's strings.SplitN. */
function split(s: string, sep: string, n = -1n): string[] {
  if (n === 0n) return [];
  if (sep === '') {
    const parts = Array.from(s);
    if (n < 0n || BigInt(parts.length) <= n) return parts;
    const k = Number(n) - 1;
    return [...parts.slice(0, k), parts.slice(k).join('')];
  }
  const all = s.split(sep);
  if (n < 0n || BigInt(all.length) <= n) return all;
  const k = Number(n) - 1;
  return [...all.slice(0, k), all.slice(k).join(sep)];
}

/** Go's unicode.IsSpace set, which strings.TrimSpace uses. */
const SPACE = '[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const TRIM_RE = new RegExp(`^${SPACE}+|${SPACE}+$`, 'g');

function asciiCase(s: string, upper: boolean): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (upper && c >= 97 && c <= 122) out += String.fromCharCode(c - 32);
    else if (!upper && c >= 65 && c <= 90) out += String.fromCharCode(c + 32);
    else out += s[i];
  }
  return out;
}

export function quote(s: string): string {
  let out = '"';
  for (const ch of s) {
    switch (ch) {
      case '\x07':
        out += '\\a';
        break;
      case '\b':
        out += '\\b';
        break;
      case '\f':
        out += '\\f';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\t':
        out += '\\t';
        break;
      case '\v':
        out += '\\v';
        break;
      case '\\':
        out += '\\\\';
        break;
      case '"':
        out += '\\"';
        break;
      default: {
        const cp = ch.codePointAt(0) as number;
        if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
        else if (cp >= 0xd800 && cp <= 0xdfff) out += '\ufffd';
        else out += ch;
      }
    }
  }
  return out + '"';
}

// ---------- format ----------

function formatErr(msg: string): CelEvalError {
  return new CelEvalError(`error during formatting: ${msg}`);
}

function doubleSpecial(d: number): string | undefined {
  if (Number.isNaN(d)) return 'NaN';
  if (d === Infinity) return 'Infinity';
  if (d === -Infinity) return '-Infinity';
  return undefined;
}

/** Go's %q of a string (strconv.Quote), for strings inside lists and maps under %s. */
function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** A list element or map value under %s, as cel-go's clauseForType + quoteForCEL print it. */
function formatMember(x: unknown): string {
  if (typeof x === 'string') return goQuote(x);
  if (x instanceof Uint8Array) return `b${goQuote(decodeUtf8(x, false))}`;
  if (typeof x === 'number') {
    if (Number.isNaN(x)) return '"NaN"';
    if (!Number.isFinite(x)) return x < 0 ? '"-Inf"' : '"+Inf"';
    return toFixedEven(x, 6);
  }
  if (x instanceof CelTimestamp) return `timestamp(${goQuote(formatTimestamp(x))})`;
  if (x instanceof CelDuration) return `duration(${goQuote(formatDuration(x))})`;
  return formatString(x, true);
}

/** Value as the %s clause prints it. */
export function formatString(v: unknown, nested = false): string {
  switch (typeof v) {
    case 'string':
      return v;
    case 'bigint':
      return v.toString();
    case 'number':
      return formatDouble(v);
    case 'boolean':
      return String(v);
    default:
      if (v === null) return 'null';
      if (v instanceof CelUint) return v.value.toString();
      if (v instanceof Uint8Array) return decodeUtf8(v, false);
      if (v instanceof CelTypeValue) return v.name;
      if (v instanceof CelTimestamp) return formatTimestamp(v);
      if (v instanceof CelDuration) return formatDuration(v);
      if (Array.isArray(v)) return `[${v.map(formatMember).join(', ')}]`;
      if (v instanceof CelMap) {
        const items = [...v.entries()].map(([k, x]) => [typeof k === 'string' ? goQuote(k) : formatString(k), formatMember(x)] as const);
        items.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        return `{${items.map(([k, x]) => `${k}:${x}`).join(', ')}}`;
      }
      if (isOpaque(v)) return v.toString();
      void nested;
      throw formatErr(`string clause can only be used on strings, bools, bytes, ints, doubles, maps, lists, types, durations, and timestamps, was given ${typeof v}`);
  }
}

/** Round-half-even fixed-point formatting of a double, as Go's strconv does. */
export function toFixedEven(d: number, prec: number): string {
  let s = d.toFixed(prec);
  const exact = Math.abs(d).toFixed(Math.min(100, prec + 40));
  const tail = exact.slice(exact.indexOf('.') + 1 + prec);
  if (Math.abs(d) < 1e21 && /^50*$/.test(tail)) {
    // An exact tie: JS rounded away from zero; Go rounds to even.
    const down = exact.slice(0, exact.indexOf('.') + (prec > 0 ? 1 + prec : 0));
    const lastDigit = Number(down.replace('.', '').slice(-1));
    if (lastDigit % 2 === 0) s = (d < 0 ? '-' : '') + down;
  }
  return s;
}

// cel-go ext strings v2 prints %f and %e through golang.org/x/text's message printer for
// en_US: digit grouping, '∞' for infinities, and for %e a mantissa of 6 decimals with a
// superscript exponent ('3.141590×10⁰⁰'); its %e passes the precision as a width
// ("%<n>e"), so '%.3e' pads to 3 runes and keeps 6 decimals. Reproduced as printed.
function groupThousands(intPart: string): string {
  return intPart.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
function localeFixed(d: number, prec: number): string {
  if (Number.isNaN(d)) return 'NaN';
  if (!Number.isFinite(d)) return d < 0 ? '-∞' : '∞';
  const s = toFixedEven(d, prec);
  const neg = s.startsWith('-');
  const [i, f] = (neg ? s.slice(1) : s).split('.') as [string, string?];
  return `${neg ? '-' : ''}${groupThousands(i)}${f !== undefined ? `.${f}` : ''}`;
}
const SUPERSCRIPT = '⁰¹²³⁴⁵⁶⁷⁸⁹';
function localeScientific(d: number, width: number): string {
  let body: string;
  if (Number.isNaN(d)) body = 'NaN';
  else if (!Number.isFinite(d)) body = d < 0 ? '-∞' : '∞';
  else {
    const m = /^(-?[\d.]+)e([+-])(\d+)$/.exec(d.toExponential(6)) as RegExpExecArray;
    const exp = (m[3] as string).padStart(2, '0');
    body = `${m[1]}×10${m[2] === '-' ? '⁻' : ''}${[...exp].map((c) => SUPERSCRIPT[Number(c)]).join('')}`;
  }
  const runes = [...body].length;
  return runes < width ? ' '.repeat(width - runes) + body : body;
}

function intLike(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (v instanceof CelUint) return v.value;
  return undefined;
}

function radix(v: unknown, base: number, clause: string, upper = false): string {
  const i = intLike(v);
  let out: string;
  if (i !== undefined) out = (i < 0n ? '-' : '') + (i < 0n ? -i : i).toString(base);
  else if (base === 2 && typeof v === 'boolean') out = v ? '1' : '0';
  else if (base === 16 && typeof v === 'string') out = Buffer.from(encodeUtf8(v)).toString('hex');
  else if (base === 16 && v instanceof Uint8Array) out = Buffer.from(v).toString('hex');
  else if (base === 8) throw formatErr(`octal clause can only be used on integers, was given ${typeName(v)}`);
  else throw formatErr(`only integers${base === 2 ? ' and bools' : ', byte buffers, and strings'} can be formatted as ${clause}, was given ${typeName(v)}`);
  return upper ? out.toUpperCase() : out;
}

function typeName(v: unknown): string {
  if (v === null) return 'null_type';
  if (typeof v === 'number') return 'double';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'string') return 'string';
  if (v instanceof CelDuration) return 'google.protobuf.Duration';
  return typeof v;
}

export function format(fmt: string, args: readonly unknown[]): string {
  let out = '';
  let argi = 0;
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i] as string;
    if (c !== '%') {
      out += c;
      continue;
    }
    i++;
    if (fmt[i] === '%') {
      out += '%';
      continue;
    }
    let prec: number | undefined;
    if (fmt[i] === '.') {
      const m = /^\.(\d+)/.exec(fmt.slice(i));
      if (!m) throw new CelEvalError('could not parse formatting clause: bad precision');
      prec = Number(m[1]);
      i += m[0].length;
    }
    const verb = fmt[i];
    if (verb === undefined) throw new CelEvalError('could not parse formatting clause: unterminated');
    if (!'sdfeboxX'.includes(verb)) throw new CelEvalError(`could not parse formatting clause: unrecognized formatting clause "${verb}"`);
    if (argi >= args.length) throw new CelEvalError(`index ${argi} out of range`);
    const v = args[argi++];
    switch (verb) {
      case 's':
        out += formatString(v);
        break;
      case 'd': {
        const n = intLike(v);
        if (n !== undefined) out += n.toString();
        else if (typeof v === 'number' && doubleSpecial(v) !== undefined) out += doubleSpecial(v);
        else throw formatErr(`decimal clause can only be used on integers, was given ${typeName(v)}`);
        break;
      }
      case 'f':
      case 'e': {
        // cel-go accepts a double, or the strings "NaN", "Infinity", "-Infinity".
        let d: number;
        if (typeof v === 'number') d = v;
        else if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') d = Number(v);
        else throw formatErr(`${verb === 'f' ? 'fixed-point' : 'scientific'} clause can only be used on doubles, was given ${typeName(v)}`);
        out += verb === 'f' ? localeFixed(d, prec ?? 6) : localeScientific(d, prec ?? 6);
        break;
      }
      case 'b':
        out += radix(v, 2, 'binary');
        break;
      case 'o':
        out += radix(v, 8, 'octal');
        break;
      case 'x':
        out += radix(v, 16, 'hex');
        break;
      case 'X':
        out += radix(v, 16, 'hex', true);
        break;
    }
  }
  return out;
}

export function registerStrings(r: Registry): void {
  const lin = (args: readonly unknown[]): number => Math.ceil(strSize(args[0]) * STRING_COST_FACTOR);
  r.member('charAt', 'string_char_at_int', [STRING, INT], STRING, charAt, { cost: lin });
  r.member('indexOf', 'string_index_of_string', [STRING, STRING], INT, (s: string, t: string) => indexOf(s, t), { cost: lin });
  r.member('indexOf', 'string_index_of_string_int', [STRING, STRING, INT], INT, indexOf, { cost: lin });
  r.member('lastIndexOf', 'string_last_index_of_string', [STRING, STRING], INT, (s: string, t: string) => lastIndexOf(s, t), { cost: lin });
  r.member('lastIndexOf', 'string_last_index_of_string_int', [STRING, STRING, INT], INT, lastIndexOf, { cost: lin });
  r.member('lowerAscii', 'string_lower_ascii', [STRING], STRING, (s: string) => asciiCase(s, false), { cost: lin });
  r.member('upperAscii', 'string_upper_ascii', [STRING], STRING, (s: string) => asciiCase(s, true), { cost: lin });
  r.member('replace', 'string_replace_string_string', [STRING, STRING, STRING], STRING, (s: string, a: string, b: string) => replace(s, a, b), { cost: lin });
  r.member('replace', 'string_replace_string_string_int', [STRING, STRING, STRING, INT], STRING, replace, { cost: lin });
  r.member('split', 'string_split_string', [STRING, STRING], listOf(STRING), (s: string, p: string) => split(s, p), { cost: lin });
  r.member('split', 'string_split_string_int', [STRING, STRING, INT], listOf(STRING), split, { cost: lin });
  r.member('substring', 'string_substring_int', [STRING, INT], STRING, (s: string, a: bigint) => substring(s, a), { cost: lin });
  r.member('substring', 'string_substring_int_int', [STRING, INT, INT], STRING, substring, { cost: lin });
  r.member('trim', 'string_trim', [STRING], STRING, (s: string) => s.replace(TRIM_RE, ''), { cost: lin });
  const joinCost = (args: readonly unknown[]): number => {
    const l = args[0] as readonly unknown[];
    let n = 0;
    if (Array.isArray(l)) for (const x of l) n += strSize(x);
    return Math.ceil(n * STRING_COST_FACTOR);
  };
  const checkStrings = (l: readonly unknown[], sep: string): readonly string[] => {
    let size = Math.max(0, l.length - 1) * sep.length;
    for (const x of l) {
      if (typeof x !== 'string') throw new CelEvalError(`join: list element is ${typeName(x)}, not string`);
      size += x.length;
    }
    if (size > MAX_STRING_RESULT) throw tooLarge('join', size);
    return l as readonly string[];
  };
  r.member('join', 'list_join', [listOf(STRING)], STRING, (l: readonly unknown[]) => checkStrings(l, '').join(''), { cost: joinCost });
  r.member('join', 'list_join_string', [listOf(STRING), STRING], STRING, (l: readonly unknown[], sep: string) => checkStrings(l, sep).join(sep), { cost: joinCost });
  r.global('strings.quote', 'strings_quote', [STRING], STRING, quote, { cost: (a) => Math.ceil(strSize(a[0]) * STRING_COST_FACTOR) });
  r.member('format', 'string_format', [STRING, listOf({ kind: 'prim', name: 'dyn' })], STRING, format, {
    cost: (a) => Math.ceil(strSize(a[0]) * STRING_COST_FACTOR) + strSize(a[1]),
  });
  void BOOL;
}
