// RE2 patterns on JavaScript's engine. RE2 has no lookaround or backreferences (we reject
// them, at compile time when the pattern is a literal) and spells some things differently
// (\A, \z, (?i), (?P<name>, [[:alpha:]], \pL); this translates those.
import { CelEvalError } from '../errors.js';

const cache = new Map<string, RegExp>();
const CACHE_MAX = 1000;

const POSIX: Record<string, string> = {
  alnum: '0-9A-Za-z', alpha: 'A-Za-z', ascii: '\\x00-\\x7F', blank: '\\t ', cntrl: '\\x00-\\x1F\\x7F', digit: '0-9',
  graph: '!-~', lower: 'a-z', print: ' -~', punct: '!-\\/:-@\\[-`{-~', space: '\\t\\n\\v\\f\\r ', upper: 'A-Z',
  word: '0-9A-Za-z_', xdigit: '0-9A-Fa-f',
};

/** Returns a problem message when the pattern is not valid RE2, else undefined. */
export function checkRe2(pattern: string): string | undefined {
  try {
    compileRe2(pattern);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

export function compileRe2(pattern: string, global = false): RegExp {
  const key = (global ? 'g:' : '') + pattern;
  const hit = cache.get(key);
  if (hit) return hit;
  let flags = 'u' + (global ? 'g' : '');
  let src = '';
  let i = 0;
  // leading flag group (?i) (?s) (?m) (?is)...
  const lead = /^\(\?([imsU]+)\)/.exec(pattern);
  if (lead) {
    for (const f of lead[1] as string) {
      if (f === 'U') throw new CelEvalError(`invalid regex '${pattern}': ungreedy flag unsupported`);
      if (!flags.includes(f)) flags += f;
    }
    i = lead[0].length;
  }
  let inClass = false;
  while (i < pattern.length) {
    const c = pattern[i] as string;
    if (c === '\\') {
      const n = pattern[i + 1];
      if (n === undefined) throw new CelEvalError(`invalid regex '${pattern}': trailing backslash`);
      if (n >= '1' && n <= '9' && !inClass) throw new CelEvalError(`invalid regex '${pattern}': backreferences are not supported (RE2)`);
      if (n === 'A' && !inClass) {
        src += '(?<![\\s\\S])';
        i += 2;
        continue;
      }
      if (n === 'z' && !inClass) {
        src += '(?![\\s\\S])';
        i += 2;
        continue;
      }
      if (n === 'Q') {
        const end = pattern.indexOf('\\E', i + 2);
        const lit = pattern.slice(i + 2, end < 0 ? undefined : end);
        src += lit.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
        i = end < 0 ? pattern.length : end + 2;
        continue;
      }
      if ((n === 'p' || n === 'P') && pattern[i + 2] !== '{') {
        src += `\\${n}{${pattern[i + 2] ?? ''}}`;
        i += 3;
        continue;
      }
      if (n === 'C') throw new CelEvalError(`invalid regex '${pattern}': \\C is not supported`);
      src += c + n;
      i += 2;
      continue;
    }
    if (inClass) {
      if (c === '[' && pattern[i + 1] === ':') {
        const end = pattern.indexOf(':]', i + 2);
        if (end > 0) {
          let name = pattern.slice(i + 2, end);
          const neg = name.startsWith('^');
          if (neg) name = name.slice(1);
          const cls = POSIX[name];
          if (cls === undefined) throw new CelEvalError(`invalid regex '${pattern}': invalid character class range`);
          if (neg) throw new CelEvalError(`invalid regex '${pattern}': negated POSIX classes are not supported`);
          src += cls;
          i = end + 2;
          continue;
        }
      }
      if (c === ']') inClass = false;
      src += c === '[' ? '\\[' : c;
      i++;
      continue;
    }
    if (c === '[') {
      inClass = true;
      src += c;
      i++;
      if (pattern[i] === '^') {
        src += '^';
        i++;
      }
      if (pattern[i] === ']') {
        src += '\\]';
        i++;
      }
      continue;
    }
    if (c === '(' && pattern[i + 1] === '?') {
      const rest = pattern.slice(i + 2);
      if (/^(=|!|<=|<!)/.test(rest)) throw new CelEvalError(`invalid regex '${pattern}': lookaround assertions are not supported (RE2)`);
      if (rest.startsWith('P<')) {
        src += '(?<';
        i += 4;
        continue;
      }
      if (/^[imsU-]+[:)]/.test(rest)) {
        const m = /^([imsU-]+)([:)])/.exec(rest) as RegExpExecArray;
        if (m[2] === ')') throw new CelEvalError(`invalid regex '${pattern}': inline flags are only supported at the start`);
        const on = (m[1] as string).split('-')[0] as string;
        if (on.includes('i') && !flags.includes('i')) flags += 'i';
        if (on.includes('s') && !flags.includes('s')) flags += 's';
        src += '(?:';
        i += 2 + m[0].length;
        continue;
      }
    }
    src += c;
    i++;
  }
  let re: RegExp;
  try {
    re = new RegExp(src, flags);
  } catch (e) {
    throw new CelEvalError(`invalid regex '${pattern}': ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(key, re);
  return re;
}
