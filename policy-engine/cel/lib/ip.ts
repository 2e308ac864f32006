// Kubernetes IP and CIDR library (k8s.io/apiserver/pkg/cel/library ip.go, cidr.go),
// with Go netip semantics: no zones, no IPv4-mapped IPv6, no leading zeros in IPv4.
import { CelEvalError } from '../errors.js';
import { BOOL, CIDR, INT, IP, STRING } from '../types.js';
import type { CelOpaque } from '../values.js';
import type { Registry } from './registry.js';

export class IPAddr implements CelOpaque {
  readonly celType = 'net.IP';
  constructor(readonly bytes: Uint8Array) {}
  get family(): 4 | 6 {
    return this.bytes.length === 4 ? 4 : 6;
  }
  equals(o: unknown): boolean {
    return o instanceof IPAddr && o.bytes.length === this.bytes.length && o.bytes.every((b, i) => b === this.bytes[i]);
  }
  toString(): string {
    return formatIP(this.bytes);
  }
}

export class CIDRPrefix implements CelOpaque {
  readonly celType = 'net.CIDR';
  constructor(
    readonly addr: IPAddr,
    readonly bits: number,
  ) {}
  equals(o: unknown): boolean {
    return o instanceof CIDRPrefix && o.bits === this.bits && o.addr.equals(this.addr);
  }
  toString(): string {
    return `${this.addr.toString()}/${this.bits}`;
  }
  masked(): CIDRPrefix {
    const b = Uint8Array.from(this.addr.bytes);
    for (let i = 0; i < b.length; i++) {
      const keep = Math.max(0, Math.min(8, this.bits - i * 8));
      b[i] = (b[i] as number) & ((0xff << (8 - keep)) & 0xff);
    }
    return new CIDRPrefix(new IPAddr(b), this.bits);
  }
  containsIP(ip: IPAddr): boolean {
    if (ip.family !== this.addr.family) return false;
    return new CIDRPrefix(ip, this.bits).masked().addr.equals(this.masked().addr);
  }
  containsCIDR(o: CIDRPrefix): boolean {
    return o.bits >= this.bits && this.containsIP(o.addr);
  }
}

function parseV4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string;
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(s: string): Uint8Array | undefined {
  if (s.includes('%')) return undefined; // zones are not allowed
  let head = s;
  let v4: Uint8Array | undefined;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    v4 = parseV4(s.slice(lastColon + 1));
    if (!v4) return undefined;
    head = s.slice(0, lastColon + 1) + '0:0';
  }
  const dbl = head.split('::');
  if (dbl.length > 2) return undefined;
  const groups = (x: string): number[] | undefined => {
    if (x === '') return [];
    const out: number[] = [];
    for (const g of x.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = groups(dbl[0] as string);
  const right = dbl.length === 2 ? groups(dbl[1] as string) : [];
  if (!left || !right) return undefined;
  let all: number[];
  if (dbl.length === 2) {
    const fill = 8 - left.length - right.length;
    if (fill < 1) return undefined;
    all = [...left, ...new Array<number>(fill).fill(0), ...right];
  } else all = left;
  if (all.length !== 8) return undefined;
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  if (v4) out.set(v4, 12);
  return out;
}

function isV4Mapped(b: Uint8Array): boolean {
  return b.length === 16 && b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
}

/** Parsed addresses and prefixes are immutable: memoise by text (bounded). */
const memo = new Map<string, IPAddr | CIDRPrefix>();
function memoised<T extends IPAddr | CIDRPrefix>(key: string, f: () => T): T {
  const hit = memo.get(key);
  if (hit !== undefined) return hit as T;
  const v = f();
  if (memo.size >= 1000) memo.clear();
  memo.set(key, v);
  return v;
}

export function parseIP(s: string): IPAddr {
  return memoised(`ip:${s}`, () => parseIPUncached(s));
}

function parseIPUncached(s: string): IPAddr {
  const v4 = parseV4(s);
  if (v4) return new IPAddr(v4);
  const v6 = s.includes(':') ? parseV6(s) : undefined;
  if (!v6) throw new CelEvalError(`IP Address '${s}' parse error during conversion from string`);
  if (isV4Mapped(v6)) throw new CelEvalError(`IPv4-mapped IPv6 address '${s}' is not allowed`);
  return new IPAddr(v6);
}

export function parseCIDR(s: string): CIDRPrefix {
  return memoised(`cidr:${s}`, () => parseCIDRUncached(s));
}

function parseCIDRUncached(s: string): CIDRPrefix {
  const i = s.indexOf('/');
  if (i < 0) throw new CelEvalError(`network address parse error during conversion from string: '${s}'`);
  const addr = parseIP(s.slice(0, i));
  const bitsText = s.slice(i + 1);
  const max = addr.family === 4 ? 32 : 128;
  if (!/^(0|[1-9]\d*)$/.test(bitsText) || Number(bitsText) > max) throw new CelEvalError(`network address parse error during conversion from string: '${s}'`);
  return new CIDRPrefix(addr, Number(bitsText));
}

/** RFC 5952 text form. */
export function formatIP(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i] as number) << 8) | (b[i + 1] as number));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function tryParse<T>(f: () => T): boolean {
  try {
    f();
    return true;
  } catch {
    return false;
  }
}

function isLoopback(ip: IPAddr): boolean {
  const b = ip.bytes;
  return ip.family === 4 ? b[0] === 127 : b.every((x, i) => x === (i === 15 ? 1 : 0));
}
function isUnspecified(ip: IPAddr): boolean {
  return ip.bytes.every((x) => x === 0);
}
function isLinkLocalMulticast(ip: IPAddr): boolean {
  const b = ip.bytes;
  return ip.family === 4 ? b[0] === 224 && b[1] === 0 && b[2] === 0 : b[0] === 0xff && ((b[1] as number) & 0x0f) === 0x02;
}
function isLinkLocalUnicast(ip: IPAddr): boolean {
  const b = ip.bytes;
  return ip.family === 4 ? b[0] === 169 && b[1] === 254 : b[0] === 0xfe && ((b[1] as number) & 0xc0) === 0x80;
}
function isMulticast(ip: IPAddr): boolean {
  const b = ip.bytes;
  return ip.family === 4 ? ((b[0] as number) & 0xf0) === 0xe0 : b[0] === 0xff;
}
/** Go's netip.Addr.IsGlobalUnicast. */
function isGlobalUnicast(ip: IPAddr): boolean {
  if (ip.family === 4 && ip.bytes.every((x) => x === 255)) return false;
  return !isUnspecified(ip) && !isLoopback(ip) && !isMulticast(ip) && !isLinkLocalUnicast(ip);
}

export function registerIP(r: Registry): void {
  r.global('ip', 'string_to_ip', [STRING], IP, parseIP);
  r.global('isIP', 'is_ip', [STRING], BOOL, (s: string) => tryParse(() => parseIP(s)));
  r.global('ip.isCanonical', 'ip_is_canonical', [STRING], BOOL, (s: string) => parseIP(s).toString() === s);
  r.global('string', 'ip_to_string', [IP], STRING, (ip: IPAddr) => ip.toString());
  r.member('family', 'ip_family', [IP], INT, (ip: IPAddr) => BigInt(ip.family));
  r.member('isUnspecified', 'ip_is_unspecified', [IP], BOOL, isUnspecified);
  r.member('isLoopback', 'ip_is_loopback', [IP], BOOL, isLoopback);
  r.member('isLinkLocalMulticast', 'ip_is_link_local_multicast', [IP], BOOL, isLinkLocalMulticast);
  r.member('isLinkLocalUnicast', 'ip_is_link_local_unicast', [IP], BOOL, isLinkLocalUnicast);
  r.member('isGlobalUnicast', 'ip_is_global_unicast', [IP], BOOL, isGlobalUnicast);

  r.global('cidr', 'string_to_cidr', [STRING], CIDR, parseCIDR);
  r.global('isCIDR', 'is_cidr', [STRING], BOOL, (s: string) => tryParse(() => parseCIDR(s)));
  r.global('string', 'cidr_to_string', [CIDR], STRING, (c: CIDRPrefix) => c.toString());
  r.member('containsIP', 'cidr_contains_ip_ip', [CIDR, IP], BOOL, (c: CIDRPrefix, ip: IPAddr) => c.containsIP(ip));
  r.member('containsIP', 'cidr_contains_ip_string', [CIDR, STRING], BOOL, (c: CIDRPrefix, s: string) => c.containsIP(parseIP(s)));
  r.member('containsCIDR', 'cidr_contains_cidr', [CIDR, CIDR], BOOL, (c: CIDRPrefix, o: CIDRPrefix) => c.containsCIDR(o));
  r.member('containsCIDR', 'cidr_contains_cidr_string', [CIDR, STRING], BOOL, (c: CIDRPrefix, s: string) => c.containsCIDR(parseCIDR(s)));
  r.member('ip', 'cidr_ip', [CIDR], IP, (c: CIDRPrefix) => c.addr);
  r.member('masked', 'cidr_masked', [CIDR], CIDR, (c: CIDRPrefix) => c.masked());
  r.member('prefixLength', 'cidr_prefix_length', [CIDR], INT, (c: CIDRPrefix) => BigInt(c.bits));
}
