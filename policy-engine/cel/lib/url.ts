// Kubernetes URL library (k8s.io/apiserver/pkg/cel/library urls.go): url() parses like
// Go's url.ParseRequestURI (an absolute URI or an absolute path).
import { CelEvalError } from '../errors.js';
import { BOOL, STRING, URL_TYPE, listOf, mapOf } from '../types.js';
import { CelMap, type CelOpaque } from '../values.js';
import type { Registry } from './registry.js';

export class CelURL implements CelOpaque {
  readonly celType = 'kubernetes.URL';
  constructor(
    readonly text: string,
    readonly scheme: string,
    readonly host: string,
    readonly path: string,
    readonly rawQuery: string,
  ) {}
  equals(o: unknown): boolean {
    return o instanceof CelURL && o.text === this.text;
  }
  toString(): string {
    return this.text;
  }
  get hostname(): string {
    const h = this.host;
    if (h.startsWith('[')) return h.slice(1, h.indexOf(']'));
    const i = h.lastIndexOf(':');
    return i < 0 ? h : h.slice(0, i);
  }
  get port(): string {
    const h = this.host;
    const end = h.startsWith('[') ? h.indexOf(']') + 1 : 0;
    const i = h.indexOf(':', end);
    return i < 0 ? '' : h.slice(i + 1);
  }
}

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

export function parseURL(s: string): CelURL {
  const bad = (why: string): CelEvalError => new CelEvalError(`URL parse error during conversion from string: ${why}: '${s}'`);
  if (hasControl(s)) throw bad('invalid control character in URL');
  // Go's url.Parse cuts the fragment off first: it is in neither the query nor the path.
  const hash = s.indexOf('#');
  const whole = s;
  if (hash >= 0) s = s.slice(0, hash);
  if (s.startsWith('/')) {
    const q = s.indexOf('?');
    return new CelURL(whole, '', '', q < 0 ? s : s.slice(0, q), q < 0 ? '' : s.slice(q + 1));
  }
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):(.*)$/.exec(s);
  if (!m) throw bad('invalid URI for request');
  const scheme = (m[1] as string).toLowerCase();
  let rest = m[2] as string;
  const q = rest.indexOf('?');
  const rawQuery = q < 0 ? '' : rest.slice(q + 1);
  if (q >= 0) rest = rest.slice(0, q);
  let host = '';
  if (rest.startsWith('//')) {
    rest = rest.slice(2);
    const slash = rest.indexOf('/');
    let authority = slash < 0 ? rest : rest.slice(0, slash);
    rest = slash < 0 ? '' : rest.slice(slash);
    const at = authority.lastIndexOf('@');
    if (at >= 0) authority = authority.slice(at + 1);
    if (authority.startsWith('[')) {
      const close = authority.indexOf(']');
      if (close < 0) throw bad("missing ']' in host");
      const after = authority.slice(close + 1);
      if (after !== '' && !/^:\d*$/.test(after)) throw bad('invalid port');
      // An IPv6 zone is percent-encoded in a URL ('%25en0'); Go's Host holds it decoded.
      authority = authority.slice(0, close).replace(/%25/g, '%') + authority.slice(close);
    } else {
      const colon = authority.lastIndexOf(':');
      if (colon >= 0 && !/^\d*$/.test(authority.slice(colon + 1))) throw bad(`invalid port "${authority.slice(colon)}" after host`);
      if (/[\s<>"{}|\\^`]/.test(authority)) throw bad('invalid character in host name');
    }
    host = authority;
  } else if (!rest.startsWith('/') && rest !== '') {
    // opaque URI (mailto:x) — Go keeps it in Opaque; path is empty
    return new CelURL(whole, scheme, '', '', rawQuery);
  }
  return new CelURL(whole, scheme, host, rest, rawQuery);
}

function parseQuery(raw: string): CelMap {
  const groups = new Map<string, string[]>();
  for (const part of raw.split('&')) {
    if (part === '' || part.includes(';')) continue;
    const eq = part.indexOf('=');
    const dec = (x: string): string | undefined => {
      try {
        return decodeURIComponent(x.replace(/\+/g, ' '));
      } catch {
        return undefined;
      }
    };
    const k = dec(eq < 0 ? part : part.slice(0, eq));
    const v = dec(eq < 0 ? '' : part.slice(eq + 1));
    if (k === undefined || v === undefined) continue;
    const list = groups.get(k);
    if (list) list.push(v);
    else groups.set(k, [v]);
  }
  return new CelMap(new Map(groups));
}

/** Go's URL.EscapedPath: the path with characters outside the allowed set escaped. */
function escapedPath(p: string): string {
  return p.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/g, (c) => encodeURIComponent(c));
}

export function registerURL(r: Registry): void {
  r.global('url', 'string_to_url', [STRING], URL_TYPE, parseURL);
  r.global('isURL', 'is_url_string', [STRING], BOOL, (s: string) => {
    try {
      parseURL(s);
      return true;
    } catch {
      return false;
    }
  });
  r.member('getScheme', 'url_get_scheme', [URL_TYPE], STRING, (u: CelURL) => u.scheme);
  r.member('getHost', 'url_get_host', [URL_TYPE], STRING, (u: CelURL) => u.host);
  r.member('getHostname', 'url_get_hostname', [URL_TYPE], STRING, (u: CelURL) => u.hostname);
  r.member('getPort', 'url_get_port', [URL_TYPE], STRING, (u: CelURL) => u.port);
  r.member('getEscapedPath', 'url_get_escaped_path', [URL_TYPE], STRING, (u: CelURL) => escapedPath(u.path));
  r.member('getQuery', 'url_get_query', [URL_TYPE], mapOf(STRING, listOf(STRING)), (u: CelURL) => parseQuery(u.rawQuery));
}
