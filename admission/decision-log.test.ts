import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileSink, type DecisionRecord } from './decision-log.js';

function record(i: number): DecisionRecord {
  return {
    time: '2026-11-23T10:00:00.000Z',
    uid: `uid-${i}`,
    webhook: 'validate',
    user: 'alice',
    groups: ['dev'],
    operation: 'CREATE',
    resource: { group: 'platform.kidp.io', version: 'v1alpha1', resource: 'topics', kind: 'Topic', namespace: 'payments', name: `t-${i}` },
    dryRun: false,
    result: 'admit',
    allowed: true,
    warnings: [],
    auditAnnotations: {},
    policies: [{ policy: 'p', mode: 'Audit', applied: true, rules: [{ rule: 'r', result: 'pass' }] }],
    durationMs: 0.2,
  };
}

describe('file decision log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kidp-decision-log-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes every record as one JSON line while it keeps up', async () => {
    const path = join(dir, 'all.jsonl');
    let dropped = 0;
    const sink = fileSink(path, (e) => { throw e; }, { onDrop: () => dropped++ });
    for (let i = 0; i < 200; i++) sink.write(record(i));
    await sink.close();
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    expect({ dropped, lines: lines.length, uids: lines.map((l) => (JSON.parse(l) as DecisionRecord).uid).slice(0, 3) }).toEqual({ dropped: 0, lines: 200, uids: ['uid-0', 'uid-1', 'uid-2'] });
  });

  it('drops and counts records past its memory bound instead of buffering without limit; what it kept is whole', async () => {
    const path = join(dir, 'bounded.jsonl');
    let dropped = 0;
    // Written in one synchronous burst, nothing reaches the disk before the loop ends.
    const sink = fileSink(path, (e) => { throw e; }, { onDrop: () => dropped++, maxBufferedBytes: 64 * 1024 });
    const written = 2_000;
    for (let i = 0; i < written; i++) sink.write(record(i));
    await sink.close();
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    const parsed = lines.map((l) => JSON.parse(l) as DecisionRecord);
    expect({
      someDropped: dropped > 0,
      accounted: lines.length + dropped,
      keptTheFirst: parsed[0]?.uid,
      keptInOrder: parsed.every((r, i) => r.uid === `uid-${i}`),
    }).toEqual({ someDropped: true, accounted: written, keptTheFirst: 'uid-0', keptInOrder: true });
  });
});
