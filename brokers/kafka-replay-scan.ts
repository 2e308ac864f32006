// The replay guard survives a restart (issue 10 item 3). ReplayGuard (message-signing.ts)
// remembers each signed request where it was first seen; kept in memory only, a restarted
// broker would take a copy of a request signed a few minutes ago — its token still valid
// for up to 15 minutes — as new, and re-apply it: a gen-1 deploy replayed after gen 2 rolls
// the workload back, a deploy replayed after a delete brings it back.
//
// The state the guard needs is already in the log: every signed request of the last token
// lifetime is still on the topic. So before its consumer joins, a broker reads the request
// topic from one token lifetime ago up to its end, remembering each token's first position,
// in a throwaway consumer group of its own (`kidp-broker-<identity>/replay-scan/<random>`:
// never committed; '/' cannot occur in an identity, so the ACL prefix names no other group).
// A copy must then sit at a later offset of the *same* partition, because the broker also
// refuses a request whose record key is not its resource uid or whose partition is not the
// one the controllers' partitioner gives that key (`wrong-partition`): the copy is refused
// as replayed, whenever it was produced.
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import type { Kafka as KafkaClient, PartitionMetadata } from 'kafkajs';
import type { Logger } from 'pino';
import { decodeJwt } from 'jose';
import { MessageRefusedError } from './errors.js';
import { KAFKA_MESSAGE_TOKEN_TTL_SECONDS, SIGNATURE_HEADER, headerValue, type ReplayGuard } from './message-signing.js';

const { Partitioners } = kafkajs;

/** Past the token lifetime, this much more is read: the verifier's clock tolerance and producer/broker clock skew. */
export const REPLAY_SCAN_MARGIN_MS = 60_000;
/** A scan that has not reached the end by then gives up (logged): the broker starts with what it has read. */
export const REPLAY_SCAN_TIMEOUT_MS = 60_000;

/** The prefix of the scan groups of `identity` (kafka-access.ts grants READ on it). */
export function replayScanGroupPrefix(identity: string): string {
  return `kidp-broker-${identity}/replay-scan/`;
}

const partitioner = Partitioners.DefaultPartitioner();

/** The partition the controllers' producer (DefaultPartitioner, keyed by uid) puts `key` on, for a topic of `partitions` partitions. */
export function partitionForKey(key: string, partitions: number): number {
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }) as PartitionMetadata);
  return partitioner({ topic: '', partitionMetadata, message: { key, value: null } });
}

/**
 * Reads `topic` from `now - token lifetime - margin` to its current end and remembers every
 * signed record's token at its position. Returns how many tokens it read and the topic's
 * partition count.
 */
export async function warmReplayGuard(options: { kafka: KafkaClient; topic: string; identity: string; replay: ReplayGuard; now: () => number; logger: Logger; timeoutMs?: number }): Promise<{ tokens: number; partitions: number }> {
  const { kafka, topic, replay, logger } = options;
  const admin = kafka.admin();
  await admin.connect();
  let starts: Array<{ partition: number; offset: string }>;
  let ends: Array<{ partition: number; high: string }>;
  try {
    const since = options.now() - KAFKA_MESSAGE_TOKEN_TTL_SECONDS * 1000 - REPLAY_SCAN_MARGIN_MS;
    ends = await admin.fetchTopicOffsets(topic);
    starts = await admin.fetchTopicOffsetsByTimestamp(topic, since);
  } finally {
    await admin.disconnect();
  }
  const end = new Map(ends.map((e) => [e.partition, BigInt(e.high)]));
  // offset -1: nothing at or after the timestamp.
  const pending = new Map(starts.filter((s) => s.offset !== '-1' && BigInt(s.offset) < (end.get(s.partition) ?? 0n)).map((s) => [s.partition, BigInt(s.offset)]));
  const partitions = ends.length;
  if (pending.size === 0) return { tokens: 0, partitions };

  const consumer = kafka.consumer({ groupId: `${replayScanGroupPrefix(options.identity)}${randomUUID()}`, allowAutoTopicCreation: false });
  let tokens = 0;
  let finish: (err?: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    finish = (err) => (err ? reject(err) : resolve());
  });
  // A scan group the broker may not use (no `kidp kafka setup` since this version) crashes
  // the consumer with GROUP_AUTHORIZATION_FAILED: the scan fails, loudly, rather than hang.
  consumer.on(consumer.events.CRASH, ({ payload }) => finish(payload.error));
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: partitions,
      eachBatch: async ({ batch }) => {
        const last = (end.get(batch.partition) ?? 0n) - 1n;
        for (const message of batch.messages) {
          if (BigInt(message.offset) > last) break;
          const token = headerValue(message.headers, SIGNATURE_HEADER);
          if (token) {
            let exp: number | undefined;
            try {
              exp = decodeJwt(token).exp;
            } catch {
              // Not a JWT: it could never verify, nothing to remember.
            }
            if (exp !== undefined) {
              try {
                replay.check(token, `${topic}/${batch.partition}@${message.offset}`, exp);
                tokens++;
              } catch {
                // A copy already on the topic: its first position stays the remembered one.
              }
            }
          }
        }
        const reached = BigInt(batch.messages.at(-1)?.offset ?? '-1');
        if (reached >= last) pending.delete(batch.partition);
        if (pending.size === 0) finish();
      },
    });
    for (const [partition, offset] of pending) {
      try {
        consumer.seek({ topic, partition, offset: offset.toString() });
      } catch (err) {
        // kafkajs throws here when the run has already crashed; the CRASH handler holds the cause.
        finish(err as Error);
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      done.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), options.timeoutMs ?? REPLAY_SCAN_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) logger.error({ topic, unfinished: [...pending.keys()] }, 'replay scan did not reach the end of the request topic in time; replays of requests signed before the restart may not be recognised');
  } finally {
    await consumer.disconnect();
  }
  return { tokens, partitions };
}

/** A partition count read this recently is trusted; a record on another partition than expected re-reads it at most this often. */
export const PARTITION_COUNT_REFRESH_MS = 10_000;

/**
 * Where a genuine request record sits: keyed by its resource uid, on the partition the
 * controllers' partitioner gives that key. Anything else is a copy put elsewhere on purpose
 * (to dodge the replay guard) and is refused. The partition count is re-read when a record
 * disagrees with it, so partitions added by an operator are followed.
 */
export class RequestPlacement {
  private checkedAt = 0;

  constructor(
    private partitions: number,
    private readonly readPartitions: () => Promise<number>,
    private readonly now: () => number = Date.now,
  ) {}

  async check(uid: string, record: { key: Buffer | null; partition: number }): Promise<void> {
    const key = record.key?.toString('utf8');
    if (key !== uid) throw new MessageRefusedError('wrong-partition', `the record is keyed ${key === undefined ? '(no key)' : JSON.stringify(key)}, not by its resource uid ${uid}`);
    if (partitionForKey(uid, this.partitions) === record.partition) return;
    if (this.now() - this.checkedAt > PARTITION_COUNT_REFRESH_MS) {
      this.checkedAt = this.now();
      this.partitions = await this.readPartitions();
      if (partitionForKey(uid, this.partitions) === record.partition) return;
    }
    throw new MessageRefusedError('wrong-partition', `the record for ${uid} is on partition ${record.partition}; its producer's partitioner puts it on ${partitionForKey(uid, this.partitions)} of ${this.partitions}`);
  }
}
