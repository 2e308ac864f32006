// Timestamps and durations: RFC 3339 and Go duration syntax, time zones (IANA via Intl,
// or fixed "+HH:MM" offsets) for the getX(tz) accessors.
import { CelEvalError } from '../errors.js';
import { CelDuration, CelTimestamp, floorDiv } from '../values.js';

const NANOS = 1_000_000_000n;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

export function parseTimestamp(s: string): CelTimestamp {
  const m = RFC3339.exec(s);
  if (!m) throw new CelEvalError(`timestamp parse error: cannot parse '${s}' as RFC 3339`);
  const [y, mo, d, h, mi, se] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) throw new CelEvalError(`timestamp parse error: '${s}' out of range`);
  const ms = Date.UTC(2000, mo - 1, d, h, mi, se);
  const dt = new Date(ms);
  dt.setUTCFullYear(y);
  if (dt.getUTCDate() !== d) throw new CelEvalError(`timestamp parse error: '${s}' has an invalid day`);
  let secs = BigInt(Math.floor(dt.getTime() / 1000));
  let offset = 0;
  if (m[9] !== undefined) {
    const off = (Number(m[10]) * 60 + Number(m[11])) * 60;
    offset = m[9] === '+' ? off : -off;
    secs -= BigInt(offset);
  }
  const frac = m[7] === undefined ? 0n : BigInt((m[7] as string).padEnd(9, '0'));
  return new CelTimestamp(secs * NANOS + frac, offset);
}

const UNIT_NANOS: Record<string, bigint> = {
  ns: 1n,
  us: 1000n,
  'µs': 1000n,
  'μs': 1000n,
  ms: 1_000_000n,
  s: NANOS,
  m: 60n * NANOS,
  h: 3600n * NANOS,
};

/** Go's time.ParseDuration syntax: "1h30m", "-1.5s", "300ms", "0". */
export function parseDuration(s: string): CelDuration {
  let rest = s;
  let neg = false;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    neg = rest[0] === '-';
    rest = rest.slice(1);
  }
  if (rest === '0') return new CelDuration(0n);
  if (rest === '') throw new CelEvalError(`invalid duration '${s}'`);
  let total = 0n;
  const re = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/;
  while (rest.length > 0) {
    const m = re.exec(rest);
    if (!m || (m[1] === '' && (m[2] === undefined || m[2] === ''))) throw new CelEvalError(`invalid duration '${s}'`);
    const unit = UNIT_NANOS[m[3] as string] as bigint;
    const whole = BigInt(m[1] === '' ? '0' : (m[1] as string));
    let v = whole * unit;
    if (m[2] !== undefined && m[2] !== '') {
      const frac = m[2];
      v += (BigInt(frac) * unit) / 10n ** BigInt(frac.length);
    }
    total += v;
    if (total > 2n ** 63n - 1n) throw new CelEvalError(`invalid duration '${s}': out of range`);
    rest = rest.slice(m[0].length);
  }
  return new CelDuration(neg ? -total : total);
}

interface Parts {
  year: number;
  month: number; // 0-based
  day: number; // 1-based
  hour: number;
  minute: number;
  second: number;
  weekday: number; // 0 = Sunday
  dayOfYear: number; // 0-based
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function offsetMinutes(tz: string): number | undefined {
  const m = /^([+-])?(\d{1,2}):(\d{2})$/.exec(tz);
  if (!m) return undefined;
  const v = Number(m[2]) * 60 + Number(m[3]);
  return m[1] === '-' ? -v : v;
}

/** Calendar fields of a timestamp in a time zone (UTC when tz is undefined). */
export function timeParts(t: CelTimestamp, tz: string | undefined): Parts {
  const secs = Number(t.seconds);
  let ms = secs * 1000;
  if (tz !== undefined && tz !== 'UTC' && tz !== '') {
    const off = offsetMinutes(tz);
    if (off !== undefined) ms += off * 60_000;
    else {
      let f = formatters.get(tz);
      if (f === undefined) {
        try {
          f = new Intl.DateTimeFormat('en-US', {
            timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', era: 'short',
          });
        } catch (e) {
          throw new CelEvalError(`unknown time zone: ${tz}`, { cause: e });
        }
        formatters.set(tz, f);
      }
      const p: Record<string, string> = {};
      for (const part of f.formatToParts(new Date(ms))) p[part.type] = part.value;
      let year = Number(p.year);
      if (p.era === 'BC' || p.era === 'B') year = 1 - year;
      const local = new Date(0);
      local.setUTCFullYear(year, Number(p.month) - 1, Number(p.day));
      local.setUTCHours(Number(p.hour), Number(p.minute), Number(p.second), 0);
      ms = local.getTime();
    }
  }
  const d = new Date(ms);
  const startOfYear = new Date(0);
  startOfYear.setUTCFullYear(d.getUTCFullYear(), 0, 1);
  startOfYear.setUTCHours(0, 0, 0, 0);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth(),
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    weekday: d.getUTCDay(),
    dayOfYear: Math.floor((ms - startOfYear.getTime()) / 86_400_000),
  };
}

export function timestampFromSeconds(s: bigint): CelTimestamp {
  return new CelTimestamp(s * NANOS);
}

export function millisOf(t: CelTimestamp): bigint {
  return floorDiv(BigInt(t.subNanos), 1_000_000n);
}
