// kafkajs 2.2.4 against the real KRaft broker that test/env starts (issue 2, item 4):
// the brokers/ transport depends on exactly these calls working, so nothing is mocked.
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import type { Admin, Consumer, Kafka as KafkaClient, Producer } from 'kafkajs';

const { Kafka, Partitioners, logLevel } = kafkajs;

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

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

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
    kafka = new Kafka({
      clientId: 'kidp-e2e-kafka',
      brokers: [bootstrapFromEnv()],
      logLevel: logLevel.WARN,
      connectionTimeout: 3_000,
      requestTimeout: 10_000,
    });
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
