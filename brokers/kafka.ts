// The Kafka side of the broker protocol (DESIGN.md §5): topic creation, an idempotent
// producer keyed by resource uid, and a consumer loop that never dies on a bad message —
// malformed or unhandleable messages go to `<topic>.dlq` with the reason in a header.
import kafkajs from 'kafkajs';
import type { Admin, Consumer, ConsumerRunConfig, IHeaders, Kafka as KafkaClient, KafkaMessage, Message, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { DeploymentRequest, StatusEvent } from './contract.js';
import { REQUESTS_TOPIC, STATUS_TOPIC } from './contract.js';
import { BrokersError, MalformedMessageError, MessageRefusedError, UnsupportedVersionError } from './errors.js';
import { ConcurrencyLimit, processByKey } from './key-lanes.js';
import type { Parsed } from './protocol.js';
import { encodeMessage } from './protocol.js';
import type { BrokerMetrics } from './metrics.js';
import { createKafkaClient, type KafkaTls } from '../kube/kafka.js';
import { SIGNATURE_HEADER } from './message-signing.js';

const { Partitioners } = kafkajs;

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
/**
 * Messages one consumer handles at once (across keys; one key is always one at a time).
 * Handlers wait on apiserver round trips, so a few dozen overlap well; past ~16 the local
 * 2-core apiserver only queues them (bench/reconcile/README.md).
 */
export const DEFAULT_CONSUMER_CONCURRENCY = 16;
/** A consumer that failed to rejoin after a certificate change tries again this often: the files may have been half-replaced, or Kafka briefly away. */
export const RECONNECT_RETRY_MS = 5_000;
/** Handled offsets are committed at least this often inside a long batch: a crash then re-delivers ~1 s of work, not a whole batch. */
export const COMMIT_INTERVAL_MS = 1_000;
/**
 * Upper bound on one coalesced produce request: half of Kafka's default
 * message.max.bytes (1 MiB per record batch), so a coalesced batch is never refused for
 * its size; a single larger message still goes alone, as it would have.
 */
export const PRODUCE_BATCH_MAX_BYTES = 512 * 1024;

export interface KafkaConnection {
  brokers: string[];
  clientId: string;
  logger: Logger;
  /** This component's client certificate directory (kube/kafka.ts); KIDP's Kafka refuses clients without one. */
  tls?: KafkaTls | string;
}

/** The protocol's client: short timeouts, since every caller has its own deadline and fallback (kube/kafka.ts makes it). */
export function createKafka(options: KafkaConnection): KafkaClient {
  return createKafkaClient({
    clientId: options.clientId,
    brokers: options.brokers,
    logger: options.logger,
    ...(options.tls !== undefined ? { tls: options.tls } : {}),
    connectionTimeoutMs: KAFKA_CONNECTION_TIMEOUT_MS,
    requestTimeoutMs: KAFKA_REQUEST_TIMEOUT_MS,
    retry: { retries: KAFKA_CLIENT_RETRIES, initialRetryTime: 100, maxRetryTime: 1_000 },
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
 * connection as kafkajs requires for idempotence, so per-uid order holds. kafkajs also
 * serialises every send of an idempotent producer behind one lock, so send through a
 * CoalescingProducer when sends are concurrent.
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

/** Signs a record's exact value bytes (message-signing.ts); the result goes in SIGNATURE_HEADER. */
export type MessageSigner = (message: DeploymentRequest | StatusEvent, value: Buffer) => Promise<string>;

/**
 * A protocol message as a Kafka record, keyed by resource uid so every message of one
 * object stays in order; with `signature`, signed end to end (SIGNATURE_HEADER).
 */
export function recordFor(message: DeploymentRequest | StatusEvent, value: Buffer = encodeMessage(message), signature?: string): { topic: string; message: Message } {
  const headers: IHeaders =
    message.kind === 'DeploymentRequest'
      ? { 'kidp-request-id': message.requestId, 'kidp-target': message.target.name, 'kidp-broker': message.target.identity }
      : { 'kidp-event-id': message.eventId, 'kidp-target': message.target, 'kidp-broker': message.broker };
  if (signature !== undefined) headers[SIGNATURE_HEADER] = signature;
  return { topic: topicFor(message), message: { key: message.resource.uid, value, headers } };
}

function recordBytes(message: Message): number {
  const size = (v: Message['key'] | Message['value']) => (v === null || v === undefined ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length);
  let bytes = size(message.key) + size(message.value);
  for (const [k, v] of Object.entries(message.headers ?? {})) bytes += Buffer.byteLength(k) + (typeof v === 'string' ? Buffer.byteLength(v) : Buffer.isBuffer(v) ? v.length : 0);
  return bytes;
}

interface QueuedRecord {
  topic: string;
  message: Message;
  bytes: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Sends that arrive while a produce request is in flight leave together in the next one.
 * kafkajs lets an idempotent producer have one request in flight, so without this N
 * concurrent sends cost N acked round trips one after another (the controllers' dispatch
 * measured 107 ms mean in a burst of 240, against ~10 ms alone). The first send goes at
 * once — no linger — so a lone send is not delayed. Records keep their order within a
 * request, and callers that send one key's messages one after another keep that order.
 */
export class CoalescingProducer {
  private readonly queue: QueuedRecord[] = [];
  private flushing = false;

  constructor(
    readonly producer: Producer,
    private readonly maxBytes = PRODUCE_BATCH_MAX_BYTES,
  ) {}

  /** Resolves once Kafka acked the request that carried this record (acks: all). */
  send(record: { topic: string; message: Message }): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ...record, bytes: recordBytes(record.message), resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        let bytes = 0;
        let n = 0;
        while (n < this.queue.length && (n === 0 || bytes + (this.queue[n]?.bytes ?? 0) <= this.maxBytes)) bytes += this.queue[n++]?.bytes ?? 0;
        const batch = this.queue.splice(0, n);
        const topics = new Map<string, Message[]>();
        for (const r of batch) topics.set(r.topic, [...(topics.get(r.topic) ?? []), r.message]);
        try {
          await this.producer.sendBatch({ acks: -1, topicMessages: [...topics].map(([topic, messages]) => ({ topic, messages })) });
          for (const r of batch) r.resolve();
        } catch (err) {
          // All or nothing per request: each caller sees the failure and retries or falls back on its own.
          for (const r of batch) r.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}

export interface ConsumeOptions<T, A = undefined> {
  kafka: KafkaClient;
  groupId: string;
  topic: string;
  parse: (bytes: Buffer) => Parsed<T>;
  /**
   * Checks a parsed message's end-to-end signature (message-signing.ts) before `handle`
   * sees it. A MessageRefusedError dead-letters it with its reason and counts it
   * (kidp_broker_messages_refused_total); other errors are retried like the handler's.
   */
  authenticate?: (value: T, record: { bytes: Buffer; headers: IHeaders | undefined; at: string; key: Buffer | null; partition: number }) => Promise<A>;
  /** Throw to retry; a BrokersError that is not transient, or the last attempt, dead-letters. */
  handle: (value: T, meta: { partition: number; offset: string; auth: A | undefined }) => Promise<void>;
  logger: Logger;
  metrics?: BrokerMetrics;
  sleep?: (ms: number) => Promise<void>;
  /** True for errors worth retrying; default: anything that is not a BrokersError. */
  isTransient?: (err: unknown) => boolean;
  /** Messages handled at once, across keys (default DEFAULT_CONSUMER_CONCURRENCY); one key is always one at a time. */
  concurrency?: number;
  /** The client certificate `kafka` was made with: once its files change, the consumer rejoins on new connections (issue 10 item 1). */
  rotateWith?: KafkaTls;
  /** Called after each such reconnection (tests and logs). */
  onReconnect?: () => void;
}

export interface RunningConsumer {
  /** The current group member (a new one after each certificate rotation). */
  readonly consumer: Consumer;
  /** Resolves when the consumer first joins its group (has partitions assigned). */
  joined: Promise<void>;
  stop(): Promise<void>;
}

/** A dead letter keeps the record as it came, minus its signature: the DLQ is for reading, not for re-sending as-is. */
function withoutSignature(headers: IHeaders | undefined): IHeaders | undefined {
  if (!headers) return headers;
  const rest: IHeaders = { ...headers };
  delete rest[SIGNATURE_HEADER];
  return rest;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Consumes `topic` in `groupId`. Within a partition, messages of one key (one resource) are
 * handled in offset order and different keys concurrently, up to `concurrency` handlers
 * across all partitions (key-lanes.ts). Offsets are committed up to the end of the handled
 * prefix, during and after each batch, so a restarted consumer resumes where it left off
 * (at-least-once; the receivers are idempotent on request and event ids).
 */
export async function consumeMessages<T, A = undefined>(options: ConsumeOptions<T, A>): Promise<RunningConsumer> {
  const { kafka, topic, logger } = options;
  const sleep = options.sleep ?? realSleep;
  const isTransient = options.isTransient ?? ((err: unknown) => !(err instanceof BrokersError));
  const limit = new ConcurrencyLimit(options.concurrency ?? DEFAULT_CONSUMER_CONCURRENCY);
  let dlqProducer = createProducer(kafka);
  await dlqProducer.connect();
  let dlq = new CoalescingProducer(dlqProducer);
  let resolveJoined: () => void = () => undefined;
  const joined = new Promise<void>((resolve) => {
    resolveJoined = resolve;
  });

  /** A group member on new connections: the client's socket factory reads the certificate files as they are now. */
  async function member(): Promise<Consumer> {
    const consumer = kafka.consumer({ groupId: options.groupId, allowAutoTopicCreation: false });
    const off = consumer.on(consumer.events.GROUP_JOIN, () => {
      off();
      resolveJoined();
    });
    // A consumer kafkajs will not restart (an authorization failure: a group or topic its
    // ACLs do not name) stops for good; say so loudly rather than sit idle.
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      logger.error({ topic, groupId: options.groupId, err: payload.error.message, restart: payload.restart }, payload.restart ? 'Kafka consumer crashed; kafkajs restarts it' : 'Kafka consumer stopped for good (check its ACLs and certificate)');
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run(runConfig);
    return consumer;
  }

  async function deadLetter(value: Buffer | null, key: Buffer | null, headers: IHeaders | undefined, reason: string, at: string): Promise<void> {
    await dlq.send({ topic: topic + DLQ_SUFFIX, message: { key, value, headers: { ...(headers ?? {}), [DLQ_REASON_HEADER]: reason, [DLQ_SOURCE_HEADER]: at } } });
  }

  /** Handles or dead-letters one message; throws only when even the dead-letter send failed (the batch then stops and is re-delivered). */
  async function handleMessage(partition: number, message: KafkaMessage): Promise<void> {
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
        const auth = options.authenticate ? await options.authenticate(parsed.value, { bytes: message.value, headers: message.headers, at, key: message.key, partition }) : undefined;
        await options.handle(parsed.value, { partition, offset: message.offset, auth });
        return;
      } catch (err) {
        if (err instanceof MessageRefusedError) {
          options.metrics?.refused(topic, err.reason);
          // What was refused and why, never the signature itself.
          log.warn({ code: err.code, reason: err.reason, detail: err.message }, 'dead-lettering message: not authentic');
          await deadLetter(message.value, message.key, withoutSignature(message.headers), err.message, at);
          return;
        }
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
  }

  const runConfig: ConsumerRunConfig = {
    // Every partition of the topic at once; the limit, not the partition count, bounds the work.
    partitionsConsumedConcurrently: DEFAULT_PARTITIONS,
    eachBatchAutoResolve: false,
    autoCommitInterval: COMMIT_INTERVAL_MS,
    eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
      await processByKey({
        // latin1 maps every byte to one character: distinct binary keys stay distinct.
        messages: batch.messages.map((message) => ({ key: message.key === null ? null : message.key.toString('latin1'), offset: message.offset, message })),
        limit,
        handle: ({ message }) => handleMessage(batch.partition, message),
        resolveOffset,
        keepGoing: () => isRunning() && !isStale(),
        afterEach: async () => {
          await heartbeat();
          await commitOffsetsIfNecessary();
        },
      });
    },
  };

  let consumer = await member();
  let stopped = false;
  // Reconnections and stop() run one after another, never two at once.
  let lifecycle: Promise<void> = Promise.resolve();
  const serially = (fn: () => Promise<void>) => {
    lifecycle = lifecycle.then(fn, fn);
    return lifecycle;
  };

  /**
   * A rotated client certificate (issue 10 item 1): Kafka checks it at the handshake only,
   * so the open connections would go on with the old one until they drop. The member leaves
   * cleanly instead — kafkajs stops fetching, the batch in hand stops at its handled prefix,
   * whose offsets are committed, then it leaves the group — and a new member on new
   * connections rejoins and resumes from those offsets. Nothing is lost; a message handled
   * past the prefix (another key's, finished out of order) is delivered again, which the
   * receivers' idempotency makes harmless. The dead-letter producer is renewed the same way.
   */
  async function reconnect(): Promise<void> {
    if (stopped) return;
    logger.info({ topic, groupId: options.groupId }, 'Kafka client certificate changed: reconnecting the consumer with it');
    await consumer.disconnect();
    await dlqProducer.disconnect();
    if (stopped) return;
    dlqProducer = createProducer(kafka);
    await dlqProducer.connect();
    dlq = new CoalescingProducer(dlqProducer);
    consumer = await member();
    options.onReconnect?.();
  }

  const tryReconnect = (): void => {
    void serially(reconnect).catch((err: unknown) => {
      // Half-replaced files or Kafka away: try again until it works (or stop() is called).
      logger.error({ topic, groupId: options.groupId, err: (err as Error).message, retryInMs: RECONNECT_RETRY_MS }, 'Kafka consumer could not reconnect after a certificate change');
      if (!stopped) setTimeout(tryReconnect, RECONNECT_RETRY_MS).unref();
    });
  };
  const watch = options.rotateWith?.watch(tryReconnect);

  return {
    get consumer() {
      return consumer;
    },
    joined,
    stop() {
      stopped = true;
      watch?.stop();
      return serially(async () => {
        await consumer.disconnect();
        await dlqProducer.disconnect();
      });
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
  private current: { producer: Promise<CoalescingProducer>; inFlight: Set<Promise<void>> } | undefined;
  private readonly retiring = new Set<Promise<void>>();
  private readonly sleep: (ms: number) => Promise<void>;

  private readonly watch: { stop(): void } | undefined;

  constructor(
    private readonly kafka: KafkaClient,
    private readonly options: {
      deadlineMs: number;
      sleep?: (ms: number) => Promise<void>;
      ensure?: readonly string[];
      /** Signs every record (message-signing.ts). */
      sign?: MessageSigner;
      /** The client certificate in use: once its files change, new sends go to a producer on new connections. */
      rotateWith?: KafkaTls;
    },
  ) {
    this.sleep = options.sleep ?? unrefSleep;
    // Sends already handed to the old producer finish on it (retire waits for them), so a
    // rotation neither loses nor repeats a record.
    this.watch = options.rotateWith?.watch(() => this.retire());
  }

  private slot(): { producer: Promise<CoalescingProducer>; inFlight: Set<Promise<void>> } {
    if (!this.current) {
      const producer = (async () => {
        if (this.options.ensure) await ensureTopics(this.kafka, this.options.ensure);
        const p = createProducer(this.kafka);
        await p.connect();
        return new CoalescingProducer(p);
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
      .then((p) => p.producer.disconnect())
      .catch(() => undefined);
    this.retiring.add(done);
    void done.finally(() => this.retiring.delete(done));
  }

  async send(message: DeploymentRequest | StatusEvent): Promise<void> {
    const slot = this.slot();
    const send = (async () => {
      const value = encodeMessage(message);
      const signature = this.options.sign ? await this.options.sign(message, value) : undefined;
      await (await slot.producer).send(recordFor(message, value, signature));
    })();
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
    this.watch?.stop();
    this.retire();
    await Promise.race([Promise.allSettled([...this.retiring]), this.sleep(CLOSE_DRAIN_MS)]);
  }
}
