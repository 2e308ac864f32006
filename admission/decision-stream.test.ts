// The decision stream's buffer and flusher under a manual clock (no Kafka: the transport is
// the injected `send`; the real Kafka path is in test/reports.e2e.test.ts).
import { Registry } from 'prom-client';
import { ManualClock } from '../kube/index.js';
import { BoundedBuffer, DecisionStream, decisionResults, teeSinks, type DecisionMessage } from './decision-stream.js';
import type { DecisionRecord } from './decision-log.js';

function record(uid: string, over: Partial<DecisionRecord> = {}): DecisionRecord {
  return {
    time: '2030-01-02T03:04:05.678Z',
    uid,
    webhook: 'validate',
    user: 'alice',
    groups: ['dev'],
    operation: 'CREATE',
    resource: { group: 'platform.kidp.io', version: 'v1alpha1', resource: 'databases', kind: 'Database', namespace: 'payments', name: 'ledger' },
    dryRun: false,
    result: 'admit',
    allowed: true,
    warnings: [],
    auditAnnotations: {},
    policies: [],
    durationMs: 0.25,
    ...over,
  };
}

/** Resolves to let promise callbacks run (the flusher's then/finally). */
const tick = () => new Promise((r) => setImmediate(r));

async function metric(registry: Registry, name: string): Promise<Record<string, number>> {
  const m = await registry.getSingleMetric(name)?.get();
  return Object.fromEntries((m?.values ?? []).map((v) => [JSON.stringify(v.labels), v.value]));
}

describe('decisionResults', () => {
  it('maps every rule by mode and adds the decision itself', () => {
    const r = record('u1', {
      result: 'warn',
      message: undefined,
      policies: [
        { policy: 'p-warn', mode: 'Warn', applied: true, rules: [{ rule: 'a', result: 'fail', message: 'bad a' }, { rule: 'b', result: 'pass' }] },
        { policy: 'p-audit', mode: 'Audit', applied: true, rules: [{ rule: 'c', result: 'exempt', message: 'exempted', exception: 'payments/ex' }, { rule: 'd', result: 'error', message: 'boom' }] },
        { policy: 'p-skip', mode: 'Enforce', applied: false, rules: [] },
      ],
    });
    const resources = [{ apiVersion: 'platform.kidp.io/v1alpha1', kind: 'Database', name: 'ledger', namespace: 'payments' }];
    const timestamp = { seconds: 1893553445, nanos: 678_000_000 };
    const props = { uid: 'u1', decision: 'warn', operation: 'CREATE', user: 'alice', webhook: 'validate', dryRun: 'false' };
    expect(decisionResults(r)).toEqual([
      { source: 'kidp', policy: 'p-warn', rule: 'a', result: 'warn', message: 'bad a', timestamp, scored: true, resources, properties: { ...props, mode: 'Warn' } },
      { source: 'kidp', policy: 'p-warn', rule: 'b', result: 'pass', timestamp, scored: true, resources, properties: { ...props, mode: 'Warn' } },
      { source: 'kidp', policy: 'p-audit', rule: 'c', result: 'skip', message: 'exempted', timestamp, scored: true, resources, properties: { ...props, mode: 'Audit', exception: 'payments/ex' } },
      { source: 'kidp', policy: 'p-audit', rule: 'd', result: 'error', message: 'boom', timestamp, scored: true, resources, properties: { ...props, mode: 'Audit' } },
      { source: 'kidp', policy: 'kidp-admission', rule: 'validate', result: 'warn', timestamp, scored: false, resources, properties: { ...props, durationMs: '0.25' } },
    ]);
  });

  it('files an ownership denial (no policy rule) as a failed decision result', () => {
    const results = decisionResults(record('u2', { result: 'deny', allowed: false, message: 'spec.owner is immutable' }));
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ policy: 'kidp-admission', rule: 'validate', result: 'fail', message: 'spec.owner is immutable', scored: false });
  });
});

describe('BoundedBuffer', () => {
  it('is FIFO, refuses when full and wraps around', () => {
    const b = new BoundedBuffer<number>(3);
    expect([b.push(1), b.push(2), b.push(3), b.push(4)]).toEqual([true, true, true, false]);
    expect(b.take(2)).toEqual([1, 2]);
    expect([b.push(5), b.push(6), b.push(7)]).toEqual([true, true, false]);
    expect(b.take(10)).toEqual([3, 5, 6]);
    expect(b.size).toBe(0);
    expect(() => new BoundedBuffer(0)).toThrow('positive integer');
  });
});

describe('DecisionStream', () => {
  it('sends batches on the flush interval, oldest first, keyed by uid', async () => {
    const clock = new ManualClock();
    const sent: DecisionMessage[][] = [];
    const registry = new Registry();
    const stream = new DecisionStream({ send: async (m) => void sent.push(m), clock, registry, batchSize: 2, flushIntervalMs: 100 });
    for (const uid of ['a', 'b', 'c']) stream.write(record(uid));
    expect(sent).toEqual([]);
    expect(clock.pendingDelays()).toEqual([100]);
    clock.advance(99);
    expect(sent).toEqual([]);
    clock.advance(1);
    await tick();
    expect(sent.map((batch) => batch.map((m) => m.key))).toEqual([['a', 'b']]);
    // The rest is a full batch or less: the next goes after another interval.
    expect(clock.pendingDelays()).toEqual([100]);
    clock.advance(100);
    await tick();
    expect(sent.map((batch) => batch.map((m) => m.key))).toEqual([['a', 'b'], ['c']]);
    expect(JSON.parse(sent[1]![0]!.value)).toMatchObject({ policy: 'kidp-admission', result: 'pass', properties: { uid: 'c' } });
    expect(await metric(registry, 'kidp_decision_stream_published_total')).toEqual({ '{}': 3 });
    expect(clock.pendingDelays()).toEqual([]);
  });

  it('never blocks the writer: a stuck send fills the buffer and the rest is dropped and counted', async () => {
    const clock = new ManualClock();
    const registry = new Registry();
    let release: () => void = () => {};
    const sends: number[] = [];
    const stream = new DecisionStream({
      send: (m) => {
        sends.push(m.length);
        return new Promise<void>((resolve) => (release = resolve));
      },
      clock,
      registry,
      capacity: 5,
      batchSize: 5,
      flushIntervalMs: 10,
    });
    for (let i = 0; i < 5; i += 1) stream.write(record(`x${i}`));
    clock.advance(10);
    expect(sends).toEqual([5]);
    // Kafka is stuck: writes keep returning at once; 5 fit, 7 are dropped.
    const started = process.hrtime.bigint();
    for (let i = 0; i < 12; i += 1) stream.write(record(`y${i}`));
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(50);
    expect(stream.buffered).toBe(5);
    expect(await metric(registry, 'kidp_decision_stream_dropped_total')).toEqual({ '{"reason":"buffer_full"}': 7 });
    expect(await metric(registry, 'kidp_decision_stream_buffered')).toEqual({ '{}': 5 });
    release();
    await tick();
    // The buffer is a full batch again: it goes at once.
    expect(clock.pendingDelays()).toEqual([0]);
    clock.advance(0);
    expect(sends).toEqual([5, 5]);
  });

  it('drops a batch Kafka refused, counts it, and waits retryDelayMs before the next', async () => {
    const clock = new ManualClock();
    const registry = new Registry();
    const errors: unknown[] = [];
    let fail = true;
    const sent: string[] = [];
    const stream = new DecisionStream({
      send: async (m) => {
        if (fail) throw new Error('broker unreachable');
        sent.push(...m.map((x) => x.key));
      },
      clock,
      registry,
      batchSize: 2,
      flushIntervalMs: 10,
      retryDelayMs: 1_000,
      onError: (e) => errors.push(e),
    });
    for (const uid of ['a', 'b', 'c']) stream.write(record(uid));
    clock.advance(10);
    await tick();
    expect(errors.map(String)).toEqual(['Error: broker unreachable']);
    expect(await metric(registry, 'kidp_decision_stream_dropped_total')).toEqual({ '{"reason":"send_failed"}': 2 });
    expect(clock.pendingDelays()).toEqual([1_000]);
    fail = false;
    clock.advance(1_000);
    await tick();
    expect(sent).toEqual(['c']);
  });

  it('close() sends what is buffered, then refuses new records as dropped', async () => {
    const sent: string[] = [];
    let closedTransport = false;
    const stream = new DecisionStream({ send: async (m) => void sent.push(...m.map((x) => x.key)), closeTransport: async () => void (closedTransport = true), clock: new ManualClock(), batchSize: 2 });
    for (const uid of ['a', 'b', 'c']) stream.write(record(uid));
    await stream.close();
    expect(sent).toEqual(['a', 'b', 'c']);
    expect(closedTransport).toBe(true);
    stream.write(record('late'));
    expect(stream.counts).toEqual({ published: 3, dropped: 1 });
  });

  it('teeSinks writes to every sink', async () => {
    const a: string[] = [];
    const b: string[] = [];
    const sink = teeSinks({ write: (r) => a.push(r.uid), close: async () => {} }, undefined, { write: (r) => b.push(r.uid), close: async () => {} });
    sink?.write(record('t'));
    expect([a, b]).toEqual([['t'], ['t']]);
  });
});
