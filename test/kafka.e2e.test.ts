// kafkajs 2.2.4 against the real KRaft broker that test/env starts (issue 2, item 4):
// the brokers/ transport depends on exactly these calls working, so nothing is mocked.
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import type { Admin, Consumer, Kafka as KafkaClient, Producer } from 'kafkajs';
import pino from 'pino';
import { testKafka } from './kafka-env.js';
import { CoalescingProducer, consumeMessages, createProducer, type RunningConsumer } from '../brokers/kafka.js';
import { poll } from './until.js';

const { Partitioners } = kafkajs;

// Bounds for one run: the first consumer group of a fresh broker also creates
// __consumer_offsets, which is the slowest step here (a few seconds on 2 cores).
const CONSUME_TIMEOUT_MS = 30_000;
const OFFSETS_TIMEOUT_MS = 15_000;
const POLL_INTERVAL_MS = 200;
const TEST_TIMEOUT_MS = 60_000;

const PARTITIONS = 3;
const MESSAGE_COUNT = 20;

interface KeyedMessage {
  key: string;
  value: string;
}

function bootstrapFromEnv(): string {
  const bootstrap = process.env['KAFKA_BOOTSTRAP'];
  if (!bootstrap) {
    throw new Error(
      'KAFKA_BOOTSTRAP is not set. Run this file through the e2e jest project (its globalSetup starts Kafka), ' +
        'or start a broker yourself: eval "$(bash test/env/kafka/kafka.sh start)"',
    );
  }
  return bootstrap;
}

function byKey(a: KeyedMessage, b: KeyedMessage): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

const until = async <T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> => (await poll(what, probe, { timeoutMs, intervalMs: POLL_INTERVAL_MS })).value;

describe('kafkajs against the real Kafka broker', () => {
  const runId = `${Date.now()}-${randomUUID().slice(0, 8)}`;
  const topic = `kidp-e2e-kafka-${runId}`;
  const groupId = `kidp-e2e-kafka-group-${runId}`;
  const sent: KeyedMessage[] = Array.from({ length: MESSAGE_COUNT }, (_, i) => ({
    key: `resource-${String(i).padStart(2, '0')}`,
    value: JSON.stringify({ seq: i, runId }),
  }));

  // Assigned in beforeAll (admin) and by the tests that create them; afterAll copes
  // with whichever exist, so a failed step still disconnects everything.
  let kafka: KafkaClient;
  let admin: Admin;
  let producer: Producer | undefined;
  let consumer: Consumer | undefined;

  beforeAll(async () => {
    bootstrapFromEnv();
    // The broker takes only mTLS clients (test/kafka-env.ts); the harness is the admin principal.
    kafka = testKafka('kidp-e2e-kafka');
    admin = kafka.admin();
    await admin.connect();
  }, TEST_TIMEOUT_MS);

  afterAll(async () => {
    await consumer?.disconnect().catch(() => undefined);
    await producer?.disconnect().catch(() => undefined);
    // The broker may be a person's long-running one: leave no test topic behind.
    if (admin !== undefined) {
      await admin.deleteTopics({ topics: [topic], timeout: 5_000 }).catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    }
  }, TEST_TIMEOUT_MS);

  test(
    'admin creates a topic with 3 partitions',
    async () => {
      const created = await admin.createTopics({
        topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
        waitForLeaders: true,
      });
      expect(created).toBe(true);

      expect(await admin.listTopics()).toContain(topic);
      // One broker, so it leads and holds every replica of every partition.
      const { brokers } = await admin.describeCluster();
      const nodeIds = brokers.map((b) => b.nodeId);
      expect(nodeIds).toHaveLength(1);
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      expect(
        metadata.topics.map((t) => ({
          name: t.name,
          partitions: t.partitions
            .map((p) => ({ partitionId: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr }))
            .sort((a, b) => a.partitionId - b.partitionId),
        })),
      ).toEqual([
        {
          name: topic,
          partitions: Array.from({ length: PARTITIONS }, (_, partitionId) => ({
            partitionId,
            leader: nodeIds[0],
            replicas: nodeIds,
            isr: nodeIds,
          })),
        },
      ]);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    'an idempotent producer sends 20 keyed messages',
    async () => {
      const idempotent = kafka.producer({
        idempotent: true,
        // KIP-98's original rule for idempotence, which kafkajs was built to but does not
        // enforce; the brokers/ transport must set it the same way.
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      producer = idempotent;
      await idempotent.connect();
      const results = await idempotent.send({ topic, acks: -1, messages: sent });

      expect({
        topics: [...new Set(results.map((r) => r.topicName))],
        errorCodes: [...new Set(results.map((r) => r.errorCode))],
      }).toEqual({ topics: [topic], errorCodes: [0] });
      // The fixed keys hash (murmur2, as the Java client does) onto all three partitions,
      // so this also shows keyed partitioning at work; together they hold exactly 20.
      const counts = (await admin.fetchTopicOffsets(topic))
        .map((p) => ({ partition: p.partition, messages: Number(p.high) - Number(p.low) }))
        .sort((a, b) => a.partition - b.partition);
      expect(counts.map((c) => c.messages > 0)).toEqual([true, true, true]);
      expect(counts.reduce((sum, c) => sum + c.messages, 0)).toBe(MESSAGE_COUNT);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    'a consumer group receives exactly those 20 messages and commits its offsets',
    async () => {
      const member = kafka.consumer({ groupId, heartbeatInterval: 1_000, sessionTimeout: 10_000 });
      consumer = member;
      await member.connect();
      await member.subscribe({ topics: [topic], fromBeginning: true });

      const received: KeyedMessage[] = [];
      await member.run({
        eachMessage: async ({ message }) => {
          received.push({ key: message.key?.toString() ?? '<null>', value: message.value?.toString() ?? '<null>' });
        },
      });
      await until(`${MESSAGE_COUNT} messages (got ${received.length})`, CONSUME_TIMEOUT_MS, async () =>
        received.length >= MESSAGE_COUNT ? true : undefined,
      );

      expect([...received].sort(byKey)).toEqual([...sent].sort(byKey));

      // Committed offsets must reach each partition's end: what a restarted broker
      // process resumes from (DESIGN.md §5).
      const ends = (await admin.fetchTopicOffsets(topic))
        .map((p) => ({ partition: p.partition, offset: p.high }))
        .sort((a, b) => a.partition - b.partition);
      const committed = await until('committed offsets at the end of every partition', OFFSETS_TIMEOUT_MS, async () => {
        const [forTopic] = await admin.fetchOffsets({ groupId, topics: [topic] });
        const partitions = (forTopic?.partitions ?? [])
          .map((p) => ({ partition: p.partition, offset: p.offset }))
          .sort((a, b) => a.partition - b.partition);
        return JSON.stringify(partitions) === JSON.stringify(ends) ? partitions : undefined;
      });
      expect(committed).toEqual(ends);
      expect(received).toHaveLength(MESSAGE_COUNT);
    },
    TEST_TIMEOUT_MS,
  );
});

// brokers/kafka.ts's own throughput pieces on the same broker: concurrent sends coalesced
// behind the idempotent producer's one in-flight request, and a consumer that handles keys
// in parallel but each key in order (issue 5 item 9).
describe('brokers/kafka.ts against the real Kafka broker', () => {
  const runId = `${Date.now()}-${randomUUID().slice(0, 8)}`;
  const topic = `kidp-e2e-lanes-${runId}`;
  const KEYS = 6;
  const PER_KEY = 10;
  const CONCURRENCY = 4;
  let kafka: KafkaClient;
  let admin: Admin;
  let running: RunningConsumer | undefined;

  beforeAll(async () => {
    bootstrapFromEnv();
    kafka = testKafka('kidp-e2e-lanes');
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
  }, TEST_TIMEOUT_MS);

  afterAll(async () => {
    await running?.stop().catch(() => undefined);
    await admin?.deleteTopics({ topics: [topic], timeout: 5_000 }).catch(() => undefined);
    await admin?.disconnect().catch(() => undefined);
  }, TEST_TIMEOUT_MS);

  test(
    'concurrent sends through a CoalescingProducer share produce requests and keep each key in order',
    async () => {
      const producer = createProducer(kafka);
      let produceRequests = 0;
      producer.on(producer.events.REQUEST, (e) => {
        if (e.payload.apiName === 'Produce') produceRequests++;
      });
      await producer.connect();
      try {
        const coalescing = new CoalescingProducer(producer);
        // All 60 at once, in per-key sequence order, as 60 concurrent callers would.
        const sends = [];
        for (let seq = 0; seq < PER_KEY; seq++) {
          for (let k = 0; k < KEYS; k++) sends.push(coalescing.send({ topic, message: { key: `key-${k}`, value: JSON.stringify({ key: `key-${k}`, seq }) } }));
        }
        const settled = await Promise.allSettled(sends);
        expect({ acked: settled.filter((r) => r.status === 'fulfilled').length, fewerRequests: produceRequests < KEYS * PER_KEY / 4 }).toEqual({ acked: KEYS * PER_KEY, fewerRequests: true });
      } finally {
        await producer.disconnect();
      }
    },
    TEST_TIMEOUT_MS,
  );

  test(
    'consumeMessages handles keys concurrently, each key in offset order, once each, and commits to the end',
    async () => {
      const seen = new Map<string, number[]>();
      let active = 0;
      let peak = 0;
      running = await consumeMessages<{ key: string; seq: number }>({
        kafka,
        groupId: `kidp-e2e-lanes-group-${runId}`,
        topic,
        concurrency: CONCURRENCY,
        logger: pino({ level: 'silent' }),
        parse: (bytes) => ({ ok: true, value: JSON.parse(bytes.toString()) as { key: string; seq: number } }),
        handle: async (value) => {
          active++;
          peak = Math.max(peak, active);
          // Long enough that handlers overlap if the consumer lets them.
          await new Promise((r) => setTimeout(r, 20));
          seen.set(value.key, [...(seen.get(value.key) ?? []), value.seq]);
          active--;
        },
      });
      await until('every message handled', CONSUME_TIMEOUT_MS, async () => ([...seen.values()].reduce((n, s) => n + s.length, 0) >= KEYS * PER_KEY ? true : undefined));
      const ends = (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, offset: p.high })).sort((a, b) => a.partition - b.partition);
      const committed = await until('committed offsets at the end of every partition', OFFSETS_TIMEOUT_MS, async () => {
        const [forTopic] = await admin.fetchOffsets({ groupId: `kidp-e2e-lanes-group-${runId}`, topics: [topic] });
        const partitions = (forTopic?.partitions ?? []).map((p) => ({ partition: p.partition, offset: p.offset })).sort((a, b) => a.partition - b.partition);
        return JSON.stringify(partitions) === JSON.stringify(ends) ? partitions : undefined;
      });
      const inOrder = Array.from({ length: PER_KEY }, (_, i) => i);
      expect({
        perKey: Object.fromEntries([...seen].sort(([a], [b]) => (a < b ? -1 : 1))),
        overlapped: peak > 1,
        withinLimit: peak <= CONCURRENCY,
        committed,
      }).toEqual({
        perKey: Object.fromEntries(Array.from({ length: KEYS }, (_, k) => [`key-${k}`, inOrder])),
        overlapped: true,
        withinLimit: true,
        committed: ends,
      });
    },
    TEST_TIMEOUT_MS,
  );
});
