import { appendPoint, maxPoints, parseTrend, pointDue, serializeTrend, DEFAULT_TREND_INTERVAL_MS, DEFAULT_TREND_RETENTION_MS, type TrendPoint } from './trend.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();
const summary = (pass: number, fail = 0) => ({ pass, fail, warn: 0, error: 0, skip: 0 });
const point = (ms: number, pass = 1, fail = 0): TrendPoint => ({ time: at(ms), summary: summary(pass, fail) });
const hourly = { intervalMs: HOUR, retentionMs: 30 * DAY };

describe('compliance trend series', () => {
  it('defaults to hourly points kept for 30 days: at most 720', () => {
    expect(maxPoints({ intervalMs: DEFAULT_TREND_INTERVAL_MS, retentionMs: DEFAULT_TREND_RETENTION_MS })).toBe(720);
  });

  it('records no point while nothing has been audited, and the first point once something has', () => {
    expect(appendPoint([], point(0, 0, 0), hourly)).toBeUndefined();
    expect(appendPoint([], point(HOUR, 0, 2), hourly)).toEqual([point(HOUR, 0, 2)]);
  });

  it('appends the first point, refuses one within the interval, appends once the interval has passed', () => {
    const one = appendPoint([], point(0), hourly);
    expect(one).toEqual([point(0)]);
    expect(appendPoint(one!, point(HOUR - 1, 5), hourly)).toBeUndefined();
    expect(pointDue(one!, new Date(T0 + HOUR - 1), hourly)).toBe(false);
    expect(appendPoint(one!, point(HOUR, 2, 1), hourly)).toEqual([point(0), point(HOUR, 2, 1)]);
  });

  it('stays bounded: 45 days of scans every 10 minutes keep the last 30 days of hourly points', () => {
    let points: TrendPoint[] = [];
    let writes = 0;
    for (let ms = 0; ms <= 45 * DAY; ms += 10 * 60_000) {
      const next = appendPoint(points, point(ms, ms / HOUR + 1), hourly);
      if (!next) continue;
      points = next;
      writes += 1;
    }
    expect(writes).toBe(45 * 24 + 1);
    expect(points.length).toBe(720);
    expect(points[0]).toEqual(point(45 * DAY - 719 * HOUR, 45 * 24 - 719 + 1));
    expect(points[719]).toEqual(point(45 * DAY, 45 * 24 + 1));
    // Every gap is one interval: nothing closer, nothing lost in between.
    expect(new Set(points.slice(1).map((p, i) => Date.parse(p.time) - Date.parse(points[i]!.time)))).toEqual(new Set([HOUR]));
    // Well under a ConfigMap's 1 MiB.
    expect(Buffer.byteLength(serializeTrend(points, hourly))).toBeLessThan(100 * 1024);
  });

  it('drops points past the retention after a long gap, and points from a clock far ahead', () => {
    const old = [point(0), point(HOUR)];
    expect(appendPoint(old, point(40 * DAY), hourly)).toEqual([point(40 * DAY)]);
    // Another writer's clock a day ahead must not stop the series.
    expect(appendPoint([point(0), point(DAY + HOUR)], point(HOUR), hourly)).toEqual([point(0), point(HOUR)]);
  });

  it('reads back what it serialized, and skips what it cannot read', () => {
    const points = [point(0, 3, 1), point(HOUR, 4)];
    expect(parseTrend(serializeTrend(points, hourly))).toEqual(points);
    expect(JSON.parse(serializeTrend(points, hourly))).toEqual({ intervalSeconds: 3600, retentionSeconds: 2_592_000, points });
    expect(parseTrend(undefined)).toEqual([]);
    expect(parseTrend('not json')).toEqual([]);
    expect(parseTrend('{"points": 3}')).toEqual([]);
    expect(
      parseTrend(JSON.stringify({ points: [{ time: 'yesterday', summary: summary(1) }, { time: at(0), summary: { pass: -1 } }, { time: at(0) }, { time: at(HOUR), summary: { pass: 2 } }] })),
    ).toEqual([{ time: at(HOUR), summary: summary(2) }]);
  });
});
