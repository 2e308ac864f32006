import { MessageRefusedError } from './errors.js';
import { RequestPlacement, partitionForKey, replayScanGroupPrefix } from './kafka-replay-scan.js';

describe('where a genuine request record sits', () => {
  const uid = '0b9c6a6e-3a43-4c1e-9a0e-0d8f3b1f2c11';

  it("follows the controllers' partitioner: stable per key, spread over the partitions", () => {
    const keys = Array.from({ length: 600 }, (_, i) => `uid-${i}`);
    const counts = new Array<number>(6).fill(0);
    for (const k of keys) counts[partitionForKey(k, 6)]! += 1;
    expect({ stable: partitionForKey(uid, 6) === partitionForKey(uid, 6), everyPartitionUsed: counts.every((n) => n > 50) }).toEqual({ stable: true, everyPartitionUsed: true });
  });

  it('refuses another key or another partition as wrong-partition, and re-reads the partition count once when a record disagrees', async () => {
    let reads = 0;
    const now = 100_000;
    const placement = new RequestPlacement(6, async () => {
      reads++;
      return 12;
    }, () => now);
    const home6 = partitionForKey(uid, 6);
    const home12 = partitionForKey(uid, 12);
    const outcome = async (key: string | null, partition: number) => placement.check(uid, { key: key === null ? null : Buffer.from(key), partition }).then(() => 'ok', (err: unknown) => (err instanceof MessageRefusedError ? err.reason : String(err)));
    const results = {
      home: await outcome(uid, home6),
      otherKey: await outcome('another-uid', home6),
      noKey: await outcome(null, home6),
      readsBefore: reads,
      // A partition the 12-partition topic maps the key to: the count is re-read and it passes.
      afterGrowth: home12 === home6 ? 'ok' : await outcome(uid, home12),
      wrong: await outcome(uid, (home12 + 1) % 12),
    };
    expect({ ...results, readsAfter: reads }).toEqual({ home: 'ok', otherKey: 'wrong-partition', noKey: 'wrong-partition', readsBefore: 0, afterGrowth: 'ok', wrong: 'wrong-partition', readsAfter: 1 });
  });

  it("names scan groups no other identity's group can fall under", () => {
    // '/' cannot occur in an identity (a DNS subdomain), so the prefix is this identity's alone.
    expect(replayScanGroupPrefix('kubernetes-broker')).toBe('kidp-broker-kubernetes-broker/replay-scan/');
  });
});
