// The Kafka side of the broker protocol (DESIGN.md §5): topic creation, an idempotent
// producer keyed by resource uid, and a consumer loop that never dies on a bad message —
// malformed or unhandleable messages go to `<topic>.dlq` with the reason in a header.
import kafkajs from 'kafkajs';
import type { Admin, Consumer, IHeaders, Kafka as KafkaClient, LogEntry, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { DeploymentRequest, StatusEvent } from './contract.js';
import { REQUESTS_TOPIC, STATUS_TOPIC } from './contract.js';
import { BrokersError, MalformedMessageError, UnsupportedVersionError } from './errors.js';
import type { Parsed } from './protocol.js';
import { encodeMessage } from './protocol.js';
import type { BrokerMetrics } from './metrics.js';

const { Kafka, logLevel, Partitioners } = kafkajs;

export const DLQ_SUFFIX = '.dlq';
export const DLQ_REASON_HEADER = 'kidp-dlq-reason';
export const DLQ_SOURCE_HEADER = 'kidp-dlq-source';

/** Six partitions: keyed by uid, so this bounds how many brokers of one identity share the work. */
export const DEFAULT_PARTITIONS = 6;
/** A request to an unreachable broker fails fast enough that a dispatch deadline can still fall back. */
export const KAFKA_REQUEST_TIMEOUT_MS = 5_000;
/** Connection attempts give up quickly: callers have their own deadlines and fallbacks. */
export const KAFKA_CONNECTION_TIMEOUT_MS = 2_000;
/** kafkajs' own retries on a send, kept short for the same reason. */
export const KAFKA_CLIENT_RETRIES = 3;
/** A handler that fails (apiserver briefly away) is retried this many times before the message is dead-lettered. */
export const HANDLER_ATTEMPTS = 4;
/** First delay between handler attempts, doubled each time (0.2 s, 0.4 s, 0.8 s). */
export const HANDLER_BACKOFF_MS = 200;

export interface KafkaConnection {
  brokers: string[];
  clientId: string;
  logger: Logger;
}

/** kafkajs logs through pino; its ERROR level becomes warn since every caller handles the failure. */
export function createKafka(options: KafkaConnection): KafkaClient {
  const log = options.logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: KAFKA_CONNECTION_TIMEOUT_MS,
    requestTimeout: KAFKA_REQUEST_TIMEOUT_MS,
    retry: { retries: KAFKA_CLIENT_RETRIES, initialRetryTime: 100, maxRetryTime: 1_000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        const fields = { namespace: rest.logger, error: rest['error'], broker: rest['broker'] };
        if (level <= logLevel.WARN) log.warn(fields, message);
        else log.debug(fields, message);
      },
  });
}

/** Creates the topics that are missing; replication is capped to the number of brokers (one locally). */
export async function ensureTopics(kafka: KafkaClient, topics: readonly string[], partitions = DEFAULT_PARTITIONS): Promise<void> {
  const admin: Admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length === 0) return;
    const { brokers } = await admin.describeCluster();
    const replicationFactor = Math.min(3, brokers.length);
    // false means "already existed" (a concurrent creator won the race), which is fine.
    await admin.createTopics({ waitForLeaders: true, topics: missing.map((topic) => ({ topic, numPartitions: partitions, replicationFactor })) });
  } finally {
    await admin.disconnect();
  }
}

/** Every topic the protocol uses, with their dead-letter topics. */
export const PROTOCOL_TOPICS: readonly string[] = [REQUESTS_TOPIC, STATUS_TOPIC, REQUESTS_TOPIC + DLQ_SUFFIX, STATUS_TOPIC + DLQ_SUFFIX];

/**
 * Idempotent (the broker de-duplicates a retried batch), one in-flight request per
 * connection as kafkajs requires for idempotence, so per-uid order holds.
 */
export function createProducer(kafka: KafkaClient): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: { retries: KAFKA_CLIENT_RETRIES, initialRetryTime: 100, maxRetryTime: 1_000 },
  });
}

export function topicFor(message: DeploymentRequest | StatusEvent): string {
  return message.kind === 'DeploymentRequest' ? REQUESTS_TOPIC : STATUS_TOPIC;
}

/** Sends one protocol message, keyed by resource uid so every message of one object stays in order. */
export async function sendMessage(producer: Producer, message: DeploymentRequest | StatusEvent): Promise<void> {
  const headers: IHeaders =
    message.kind === 'DeploymentRequest'
      ? { 'kidp-request-id': message.requestId, 'kidp-target': message.target.name, 'kidp-broker': message.target.identity }
      : { 'kidp-event-id': message.eventId, 'kidp-target': message.target, 'kidp-broker': message.broker };
  await producer.send({ topic: topicFor(message), acks: -1, messages: [{ key: message.resource.uid, value: encodeMessage(message), headers }] });
}

export interface ConsumeOptions<T> {
  kafka: KafkaClient;
  groupId: string;
  topic: string;
  parse: (bytes: Buffer) => Parsed<T>;
  /** Throw to retry; a BrokersError that is not transient, or the last attempt, dead-letters. */
  handle: (value: T, meta: { partition: number; offset: string }) => Promise<void>;
  logger: Logger;
  metrics?: BrokerMetrics;
  sleep?: (ms: number) => Promise<void>;
  /** True for errors worth retrying; default: anything that is not a BrokersError. */
  isTransient?: (err: unknown) => boolean;
}

export interface RunningConsumer {
  consumer: Consumer;
  /** Resolves when the consumer first joins its group (has partitions assigned). */
  joined: Promise<void>;
  stop(): Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Consumes `topic` in `groupId`. Offsets are committed after each message is handled or
 * dead-lettered, so a restarted consumer resumes where it left off (at-least-once; the
 * receivers are idempotent on request and event ids).
 */
export async function consumeMessages<T>(options: ConsumeOptions<T>): Promise<RunningConsumer> {
  const { kafka, topic, logger } = options;
  const sleep = options.sleep ?? realSleep;
  const isTransient = options.isTransient ?? ((err: unknown) => !(err instanceof BrokersError));
  const dlq = createProducer(kafka);
  await dlq.connect();
  const consumer = kafka.consumer({ groupId: options.groupId, allowAutoTopicCreation: false });
  const joined = new Promise<void>((resolve) => {
    const off = consumer.on(consumer.events.GROUP_JOIN, () => {
      off();
      resolve();
    });
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });

  async function deadLetter(value: Buffer | null, key: Buffer | null, headers: IHeaders | undefined, reason: string, at: string): Promise<void> {
    await dlq.send({
      topic: topic + DLQ_SUFFIX,
      acks: -1,
      messages: [{ key, value, headers: { ...(headers ?? {}), [DLQ_REASON_HEADER]: reason, [DLQ_SOURCE_HEADER]: at } }],
    });
  }

  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const at = `${topic}/${partition}@${message.offset}`;
      const log = logger.child({ topic, partition, offset: message.offset });
      if (message.value === null) {
        log.warn({ reason: 'empty message' }, 'dead-lettering message');
        await deadLetter(null, message.key, message.headers, 'empty message (no value)', at);
        return;
      }
      const parsed = options.parse(message.value);
      if (!parsed.ok) {
        const kind = parsed.error instanceof UnsupportedVersionError ? 'unsupported_version' : parsed.error instanceof MalformedMessageError ? 'malformed' : 'invalid';
        options.metrics?.error('kafka_consume', 'kafka', kind);
        log.warn({ code: parsed.error.code, reason: parsed.error.message }, 'dead-lettering malformed message');
        await deadLetter(message.value, message.key, message.headers, parsed.error.message, at);
        return;
      }
      for (let attempt = 1; ; attempt++) {
        try {
          await options.handle(parsed.value, { partition, offset: message.offset });
          return;
        } catch (err) {
          const retry = isTransient(err) && attempt < HANDLER_ATTEMPTS;
          log.warn({ err: (err as Error).message, code: (err as { code?: string }).code, attempt, retry }, 'message handler failed');
          if (!retry) {
            options.metrics?.error('kafka_consume', 'kafka', 'handler');
            await deadLetter(message.value, message.key, message.headers, `handler failed after ${attempt} attempt(s): ${(err as Error).message}`, at);
            return;
          }
          await sleep(HANDLER_BACKOFF_MS * 2 ** (attempt - 1));
        }
      }
    },
  });

  return {
    consumer,
    joined,
    async stop() {
      await consumer.disconnect();
      await dlq.disconnect();
    },
  };
}

/** Kafka did not ack within the caller's deadline. */
export class KafkaDeadlineError extends Error {
  constructor(deadlineMs: number) {
    super(`Kafka did not ack within ${deadlineMs} ms`);
    this.name = 'KafkaDeadlineError';
  }
}

/** How long close() lets sends that outlived their deadline settle before disconnecting anyway. */
export const CLOSE_DRAIN_MS = 10_000;

const unrefSleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/**
 * An idempotent producer whose sends give up after a deadline (so callers can fall back to
 * HTTPS). A producer that missed a deadline is replaced, and disconnected only once its
 * in-flight sends settle: kafkajs re-opens connections for a send still retrying, so
 * disconnecting under it would leak a socket.
 */
export class DeadlineProducer {
  private current: { producer: Promise<Producer>; inFlight: Set<Promise<void>> } | undefined;
  private readonly retiring = new Set<Promise<void>>();
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly kafka: KafkaClient,
    private readonly options: { deadlineMs: number; sleep?: (ms: number) => Promise<void>; ensure?: readonly string[] },
  ) {
    this.sleep = options.sleep ?? unrefSleep;
  }

  private slot(): { producer: Promise<Producer>; inFlight: Set<Promise<void>> } {
    if (!this.current) {
      const producer = (async () => {
        if (this.options.ensure) await ensureTopics(this.kafka, this.options.ensure);
        const p = createProducer(this.kafka);
        await p.connect();
        return p;
      })();
      producer.catch(() => undefined);
      this.current = { producer, inFlight: new Set() };
    }
    return this.current;
  }

  private retire(): void {
    const old = this.current;
    this.current = undefined;
    if (!old) return;
    const done = Promise.allSettled([...old.inFlight])
      .then(() => old.producer)
      .then((p) => p.disconnect())
      .catch(() => undefined);
    this.retiring.add(done);
    void done.finally(() => this.retiring.delete(done));
  }

  async send(message: DeploymentRequest | StatusEvent): Promise<void> {
    const slot = this.slot();
    const send = (async () => sendMessage(await slot.producer, message))();
    slot.inFlight.add(send);
    void send.then(
      () => slot.inFlight.delete(send),
      () => slot.inFlight.delete(send),
    );
    try {
      await Promise.race([
        send,
        this.sleep(this.options.deadlineMs).then(() => {
          throw new KafkaDeadlineError(this.options.deadlineMs);
        }),
      ]);
    } catch (err) {
      if (this.current === slot) this.retire();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.retire();
    await Promise.race([Promise.allSettled([...this.retiring]), this.sleep(CLOSE_DRAIN_MS)]);
  }
}
