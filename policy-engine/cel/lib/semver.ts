// Kubernetes semver library (k8s.io/apiserver/pkg/cel/library semverlib.go): strict
// semver 2.0.0, or with normalize=true a leading 'v', missing minor/patch and leading
// zeros are tolerated.
import { CelEvalError } from '../errors.js';
import { BOOL, INT, SEMVER, STRING } from '../types.js';
import type { CelOpaque } from '../values.js';
import type { Registry } from './registry.js';

export class Semver implements CelOpaque {
  readonly celType = 'kubernetes.Semver';
  constructor(
    readonly major: bigint,
    readonly minor: bigint,
    readonly patch: bigint,
    readonly pre: readonly string[],
    readonly build: readonly string[],
  ) {}
  equals(o: unknown): boolean {
    return o instanceof Semver && compareSemver(this, o) === 0;
  }
  toString(): string {
    return `${this.major}.${this.minor}.${this.patch}${this.pre.length ? '-' + this.pre.join('.') : ''}${this.build.length ? '+' + this.build.join('.') : ''}`;
  }
}

const STRICT = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;

export function parseSemver(s: string, normalize = false): Semver {
  let t = s;
  if (normalize) {
    t = t.replace(/^v/, '');
    const m = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?(.*)$/.exec(t);
    if (m) {
      const n = (x: string | undefined): string => String(BigInt(x ?? '0'));
      t = `${n(m[1])}.${n(m[2])}.${n(m[3])}${m[4] ?? ''}`;
    }
  }
  const m = STRICT.exec(t);
  if (!m) throw new CelEvalError(`invalid semver '${s}'`);
  const pre = m[4] ? m[4].split('.') : [];
  for (const p of pre) if (/^\d+$/.test(p) && p.length > 1 && p.startsWith('0')) throw new CelEvalError(`invalid semver '${s}': numeric prerelease with leading zero`);
  return new Semver(BigInt(m[1] as string), BigInt(m[2] as string), BigInt(m[3] as string), pre, m[5] ? m[5].split('.') : []);
}

export function compareSemver(a: Semver, b: Semver): number {
  for (const k of ['major', 'minor', 'patch'] as const) if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  if (a.pre.length === 0 || b.pre.length === 0) return a.pre.length === b.pre.length ? 0 : a.pre.length === 0 ? 1 : -1;
  for (let i = 0; i < Math.min(a.pre.length, b.pre.length); i++) {
    const x = a.pre[i] as string;
    const y = b.pre[i] as string;
    if (x === y) continue;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn) return BigInt(x) < BigInt(y) ? -1 : 1;
    if (xn !== yn) return xn ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return a.pre.length === b.pre.length ? 0 : a.pre.length < b.pre.length ? -1 : 1;
}

function ok(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch {
    return false;
  }
}

export function registerSemver(r: Registry): void {
  r.global('semver', 'string_to_semver', [STRING], SEMVER, (s: string) => parseSemver(s));
  r.global('semver', 'string_bool_to_semver', [STRING, BOOL], SEMVER, (s: string, n: boolean) => parseSemver(s, n));
  r.global('isSemver', 'is_semver', [STRING], BOOL, (s: string) => ok(() => parseSemver(s)));
  r.global('isSemver', 'is_semver_bool', [STRING, BOOL], BOOL, (s: string, n: boolean) => ok(() => parseSemver(s, n)));
  r.member('major', 'semver_major', [SEMVER], INT, (v: Semver) => v.major);
  r.member('minor', 'semver_minor', [SEMVER], INT, (v: Semver) => v.minor);
  r.member('patch', 'semver_patch', [SEMVER], INT, (v: Semver) => v.patch);
  r.member('compareTo', 'semver_compare_to', [SEMVER, SEMVER], INT, (a: Semver, b: Semver) => BigInt(compareSemver(a, b)));
  r.member('isGreaterThan', 'semver_is_greater_than', [SEMVER, SEMVER], BOOL, (a: Semver, b: Semver) => compareSemver(a, b) > 0);
  r.member('isLessThan', 'semver_is_less_than', [SEMVER, SEMVER], BOOL, (a: Semver, b: Semver) => compareSemver(a, b) < 0);
}
