// The in-memory hand-over of broker reports: an offer is true only once the reconciler that
// took it applied its status write; anything else is false, and the handler records it.
import { ManualClock } from '../kube/index.js';
import type { BrokerReport } from '../brokers/index.js';
import { LOCAL_FOLD_WAIT_MS, LocalReports } from './local-reports.js';

const report = (eventId: string): BrokerReport => ({ eventId, requestId: 'u1-1', target: 't1', broker: 'b1', generation: 1, phase: 'Ready', reason: 'ObjectsApplied', receivedAt: '2026-12-04T10:00:00.000Z' });

describe('LocalReports', () => {
  it('is true once the reconciler that took the offer settles it as applied, in arrival order', async () => {
    const local = new LocalReports(new ManualClock());
    const enqueued: string[] = [];
    const a = local.offer('Service/ns/a', report('e1'), () => (enqueued.push('a'), true));
    const b = local.offer('Service/ns/a', report('e2'), () => (enqueued.push('a'), true));
    const taken = local.take('Service/ns/a');
    expect(taken.map((t) => t.report.eventId)).toEqual(['e1', 'e2']);
    expect(local.take('Service/ns/a')).toEqual([]);
    for (const t of taken) t.settle(true);
    await expect(Promise.all([a, b])).resolves.toEqual([true, true]);
    expect(enqueued).toEqual(['a', 'a']);
  });

  it('is false at once when no reconciler will run (this replica does not lead)', async () => {
    const local = new LocalReports(new ManualClock());
    await expect(local.offer('Service/ns/a', report('e1'), () => false)).resolves.toBe(false);
    expect(local.waiting).toBe(0);
  });

  it('is false when the reconcile failed', async () => {
    const local = new LocalReports(new ManualClock());
    const offered = local.offer('Service/ns/a', report('e1'), () => true);
    local.take('Service/ns/a')[0]?.settle(false);
    await expect(offered).resolves.toBe(false);
  });

  it('is false when nobody takes it within LOCAL_FOLD_WAIT_MS, and a later reconcile does not see it', async () => {
    const clock = new ManualClock();
    const local = new LocalReports(clock);
    const offered = local.offer('Service/ns/a', report('e1'), () => true);
    clock.advance(LOCAL_FOLD_WAIT_MS);
    await expect(offered).resolves.toBe(false);
    expect(local.take('Service/ns/a')).toEqual([]);
  });

  it('does not time out once taken: it waits for the reconcile that holds it', async () => {
    const clock = new ManualClock();
    const local = new LocalReports(clock);
    const offered = local.offer('Service/ns/a', report('e1'), () => true);
    const [taken] = local.take('Service/ns/a');
    clock.advance(LOCAL_FOLD_WAIT_MS * 2);
    taken?.settle(true);
    taken?.settle(false); // a second settle changes nothing
    await expect(offered).resolves.toBe(true);
  });

  it('settles every waiting offer false when this replica stops leading', async () => {
    const local = new LocalReports(new ManualClock());
    const offers = [local.offer('Service/ns/a', report('e1'), () => true), local.offer('Database/ns/b', report('e2'), () => true)];
    local.releaseAll();
    await expect(Promise.all(offers)).resolves.toEqual([false, false]);
    expect(local.waiting).toBe(0);
  });
});
