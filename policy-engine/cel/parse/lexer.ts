// Tokens of the CEL grammar (cel-spec langdef.md "Syntax").
import { CelUint, encodeUtf8 } from '../values.js';

export type TokenType =
  | 'int'
  | 'uint'
  | 'double'
  | 'string'
  | 'bytes'
  | 'ident'
  | 'quoted_ident'
  | 'punct'
  | 'eof';

export interface Token {
  type: TokenType;
  /** For punct and ident: the text; for literals the parsed value. */
  text: string;
  value: unknown;
  pos: number;
}

export class LexError extends Error {
  constructor(
    message: string,
    readonly pos: number,
  ) {
    super(message);
  }
}

const PUNCT3 = new Set(['...']);
const PUNCT2 = new Set(['==', '!=', '<=', '>=', '&&', '||', '.?']);
const PUNCT1 = new Set(['+', '-', '*', '/', '%', '<', '>', '!', '?', ':', '.', ',', '(', ')', '[', ']', '{', '}']);

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}
function isIdentPart(c: number): boolean {
  return isIdentStart(c) || isDigit(c);
}
function isHex(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src.charCodeAt(i);
    // whitespace
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12) {
      i++;
      continue;
    }
    // comments
    if (c === 47 && src.charCodeAt(i + 1) === 47) {
      while (i < n && src.charCodeAt(i) !== 10) i++;
      continue;
    }
    const start = i;
    // string / bytes literals with optional prefixes
    if (isIdentStart(c)) {
      const m = /^(?:[rR][bB]?|[bB][rR]?)(?=["'])/.exec(src.slice(i, i + 3));
      if (m) {
        const prefix = m[0].toLowerCase();
        i += m[0].length;
        const raw = prefix.includes('r');
        const bytes = prefix.includes('b');
        const [val, end] = readString(src, i, raw, bytes);
        i = end;
        out.push({ type: bytes ? 'bytes' : 'string', text: src.slice(start, i), value: val, pos: start });
        continue;
      }
      while (i < n && isIdentPart(src.charCodeAt(i))) i++;
      const text = src.slice(start, i);
      out.push({ type: 'ident', text, value: text, pos: start });
      continue;
    }
    if (c === 34 || c === 39) {
      const [val, end] = readString(src, i, false, false);
      i = end;
      out.push({ type: 'string', text: src.slice(start, i), value: val, pos: start });
      continue;
    }
    if (c === 96) {
      // `quoted.field-name` (cel-spec: escaped identifiers in field selection)
      i++;
      while (i < n && src.charCodeAt(i) !== 96) {
        if (src.charCodeAt(i) === 10) throw new LexError('unterminated quoted identifier', start);
        i++;
      }
      if (i >= n) throw new LexError('unterminated quoted identifier', start);
      const text = src.slice(start + 1, i);
      i++;
      if (!/^[_a-zA-Z0-9.\-/ ]+$/.test(text)) throw new LexError(`invalid quoted identifier: ${text}`, start);
      out.push({ type: 'quoted_ident', text, value: text, pos: start });
      continue;
    }
    if (isDigit(c) || (c === 46 && isDigit(src.charCodeAt(i + 1)))) {
      const t = readNumber(src, i);
      out.push(t);
      i = t.pos;
      t.pos = start;
      continue;
    }
    const three = src.slice(i, i + 3);
    if (PUNCT3.has(three)) throw new LexError(`unexpected '${three}'`, start);
    const two = src.slice(i, i + 2);
    if (PUNCT2.has(two)) {
      out.push({ type: 'punct', text: two, value: two, pos: start });
      i += 2;
      continue;
    }
    const one = src[i] as string;
    if (PUNCT1.has(one)) {
      out.push({ type: 'punct', text: one, value: one, pos: start });
      i++;
      continue;
    }
    throw new LexError(`token recognition error at: '${String.fromCodePoint(src.codePointAt(i) ?? 0)}'`, start);
  }
  out.push({ type: 'eof', text: '<EOF>', value: undefined, pos: n });
  return out;
}

function readNumber(src: string, i: number): Token {
  const start = i;
  const hex = /^0[xX]([0-9a-fA-F]+)([uU])?/.exec(src.slice(i));
  if (hex) {
    const v = BigInt('0x' + (hex[1] as string));
    i += hex[0].length;
    if (i < src.length && isIdentPart(src.charCodeAt(i))) throw new LexError('invalid number literal', start);
    if (hex[2]) {
      if (v > 2n ** 64n - 1n) throw new LexError('invalid uint literal', start);
      return { type: 'uint', text: hex[0], value: new CelUint(v), pos: i };
    }
    if (v > 2n ** 63n) throw new LexError('invalid int literal', start);
    return { type: 'int', text: hex[0], value: v, pos: i };
  }
  const m = /^(\d*)(\.\d+)?([eE][+-]?\d+)?([uU])?/.exec(src.slice(i)) as RegExpExecArray;
  const text = m[0];
  i += text.length;
  if (i < src.length && (isIdentStart(src.charCodeAt(i)) || src.charCodeAt(i) === 46 && isDigit(src.charCodeAt(i + 1))))
    throw new LexError('invalid number literal', start);
  if (m[2] !== undefined || m[3] !== undefined) {
    if (m[4]) throw new LexError('invalid uint literal', start);
    return { type: 'double', text, value: Number(text), pos: i };
  }
  const v = BigInt(m[1] as string);
  if (m[4]) {
    if (v > 2n ** 64n - 1n) throw new LexError('invalid uint literal', start);
    return { type: 'uint', text, value: new CelUint(v), pos: i };
  }
  // 2^63 is allowed here so that the parser can fold -9223372036854775808.
  if (v > 2n ** 63n) throw new LexError('invalid int literal', start);
  return { type: 'int', text, value: v, pos: i };
}

function readString(src: string, i: number, raw: boolean, bytes: boolean): [unknown, number] {
  const start = i;
  const q = src[i] as string;
  const triple = src.slice(i, i + 3) === q.repeat(3);
  const delim = triple ? q.repeat(3) : q;
  i += delim.length;
  const parts: number[] = []; // code points (strings) or byte values (bytes)
  const pushText = (s: string): void => {
    if (bytes) for (const b of encodeUtf8(s)) parts.push(b);
    else for (const ch of s) parts.push(ch.codePointAt(0) as number);
  };
  for (;;) {
    if (i >= src.length) throw new LexError('unterminated string literal', start);
    if (src.startsWith(delim, i)) {
      i += delim.length;
      break;
    }
    const ch = src[i] as string;
    if (!triple && (ch === '\n' || ch === '\r')) throw new LexError('unterminated string literal', start);
    if (ch === '\\' && !raw) {
      const e = src[i + 1];
      if (e === undefined) throw new LexError('unterminated string literal', start);
      const simple: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, "'": 39, '"': 34, '`': 96, '?': 63 };
      if (e in simple) {
        parts.push(simple[e] as number);
        i += 2;
        continue;
      }
      if (e === 'x' || e === 'X') {
        const h = src.slice(i + 2, i + 4);
        if (h.length !== 2 || !isHex(h.charCodeAt(0)) || !isHex(h.charCodeAt(1))) throw new LexError('invalid escape sequence', i);
        parts.push(parseInt(h, 16));
        i += 4;
        continue;
      }
      if (e === 'u' || e === 'U') {
        if (bytes) throw new LexError('invalid escape sequence in bytes literal', i);
        const len = e === 'u' ? 4 : 8;
        const h = src.slice(i + 2, i + 2 + len);
        if (h.length !== len || ![...h].every((x) => isHex(x.charCodeAt(0)))) throw new LexError('invalid escape sequence', i);
        const cp = parseInt(h, 16);
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw new LexError('invalid unicode code point', i);
        parts.push(cp);
        i += 2 + len;
        continue;
      }
      if (e >= '0' && e <= '3') {
        const o = src.slice(i + 1, i + 4);
        if (!/^[0-3][0-7][0-7]$/.test(o)) throw new LexError('invalid octal escape', i);
        parts.push(parseInt(o, 8));
        i += 4;
        continue;
      }
      throw new LexError('invalid escape sequence', i);
    }
    // literal text, one code point at a time
    const cp = src.codePointAt(i) as number;
    const s = String.fromCodePoint(cp);
    if (triple && ch === '\r') {
      // normalise CRLF/CR to LF as cel-go does in multi-line strings
      parts.push(10);
      i += src[i + 1] === '\n' ? 2 : 1;
      continue;
    }
    pushText(s);
    i += s.length;
  }
  if (bytes) return [Uint8Array.from(parts), i];
  // \x and octal escapes in strings denote code points
  let str = '';
  for (let k = 0; k < parts.length; k += 8192) str += String.fromCodePoint(...parts.slice(k, k + 8192));
  return [str, i];
}
