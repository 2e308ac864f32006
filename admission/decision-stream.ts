// The decision stream (issue 6 item 5): every admission decision, as PolicyReport results,
// published to Kafka for dashboards and auditors. The request path only pushes a record
// into a bounded in-memory buffer (O(1), never blocks, never throws); a flusher sends
// batches off the hot path. When Kafka is slow or gone the buffer fills and further
// records are dropped and counted: admission latency and availability never depend on it.
import kafkajs from 'kafkajs';
import type { Kafka as KafkaClient, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DecisionRecord, DecisionSink } from './decision-log.js';
import { REPORT_SOURCE, timestampOf, type PolicyReportResult, type ReportResultValue } from '../reports/result.js';
import type { Severity } from '../policy-engine/policy/index.js';
import { createKafkaClient, DECISIONS_TOPIC, kafkaTls, type KafkaTls } from '../kube/kafka.js';

const { Partitioners } = kafkajs;

export { DECISIONS_TOPIC };
/** Ten thousand records (~2-4 MB) ride out a Kafka restart at a few hundred decisions/s. */
export const DEFAULT_CAPACITY = 10_000;
/** One produce request per 500 records keeps requests well under Kafka's 1 MB default. */
export const DEFAULT_BATCH_SIZE = 500;
/** Decisions reach the topic within a fifth of a second while keeping batches large. */
export const DEFAULT_FLUSH_INTERVAL_MS = 200;
/** After a failed send, wait before the next: Kafka being down should not spin the loop. */
export const DEFAULT_RETRY_DELAY_MS = 1_000;
/** A close() waits at most this for the last batch, so shutdown is never held by Kafka. */
export const CLOSE_DEADLINE_MS = 5_000;
/** Kafka requests give up quickly: a stuck broker then costs dropped records, not memory. */
const KAFKA_REQUEST_TIMEOUT_MS = 5_000;
const KAFKA_CONNECTION_TIMEOUT_MS = 2_000;

export interface DecisionMessage {
  key: string;
  value: string;
}

/** The stream's clock (STYLE §4); controllers/queue.ts Clock is structurally the same. */
export interface StreamClock {
  now(): number;
  setTimer(fn: () => void, ms: number): { cancel(): void };
}

const realClock: StreamClock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

function reportValue(mode: string, result: string): ReportResultValue {
  switch (result) {
    case 'pass':
      return 'pass';
    case 'fail':
      // Warn admits with a warning: the report vocabulary has a word for exactly that.
      return mode === 'Warn' ? 'warn' : 'fail';
    case 'error':
      return 'error';
    default:
      // exempt: the rule was not applied because a PolicyException covers it.
      return 'skip';
  }
}

/**
 * A decision as PolicyReport results: one per rule evaluated, plus one for the decision
 * itself (policy `kidp-admission`, rule = webhook) so that admits with no policy and
 * ownership denials are in the stream too. Every result carries the request uid and the
 * decision in `properties`, so a consumer can regroup them.
 */
export function decisionResults(record: DecisionRecord): PolicyReportResult[] {
  const time = Date.parse(record.time);
  const timestamp = timestampOf(new Date(Number.isNaN(time) ? 0 : time));
  const { resource } = record;
  const resources = [
    {
      apiVersion: resource.group ? `${resource.group}/${resource.version}` : resource.version,
      kind: resource.kind,
      name: resource.name ?? '',
      ...(resource.namespace ? { namespace: resource.namespace } : {}),
    },
  ];
  const base = { uid: record.uid, decision: record.result, operation: record.operation, user: record.user, webhook: record.webhook, dryRun: String(record.dryRun) };
  const results: PolicyReportResult[] = [];
  for (const p of record.policies) {
    if (!p.applied) continue;
    if (p.matchConditionError) {
      results.push({ source: REPORT_SOURCE, policy: p.policy, rule: '(matchConditions)', result: 'error', severity: 'high', message: p.matchConditionError, timestamp, scored: true, resources, properties: { ...base, mode: p.mode } });
    }
    for (const r of p.rules) {
      const severity = (r as { severity?: Severity }).severity;
      results.push({
        source: REPORT_SOURCE,
        policy: p.policy,
        rule: r.rule,
        result: reportValue(p.mode, r.result),
        ...(severity ? { severity } : {}),
        ...(r.message ? { message: r.message } : {}),
        timestamp,
        scored: true,
        resources,
        properties: { ...base, mode: p.mode, ...(r.exception ? { exception: r.exception } : {}) },
      });
    }
  }
  const overall: ReportResultValue = record.result === 'deny' ? 'fail' : record.result === 'error' ? 'error' : record.result === 'warn' ? 'warn' : 'pass';
  results.push({
    source: REPORT_SOURCE,
    policy: 'kidp-admission',
    rule: record.webhook,
    result: overall,
    ...(record.message ? { message: record.message } : {}),
    timestamp,
    scored: false,
    resources,
    properties: { ...base, durationMs: String(record.durationMs) },
  });
  return results;
}

/** Kafka messages for one decision, keyed by request uid: one decision stays on one partition, in order. */
export function decisionMessages(record: DecisionRecord): DecisionMessage[] {
  return decisionResults(record).map((r) => ({ key: record.uid, value: JSON.stringify(r) }));
}

/** A bounded FIFO: push is O(1) and refuses (rather than grows) when full. */
export class BoundedBuffer<T> {
  private items: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`buffer capacity must be a positive integer (got ${capacity})`);
    this.items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(item: T): boolean {
    if (this.count === this.capacity) return false;
    this.items[(this.head + this.count) % this.capacity] = item;
    this.count += 1;
    return true;
  }

  /** Removes and returns up to n items, oldest first. */
  take(n: number): T[] {
    const out: T[] = [];
    while (out.length < n && this.count > 0) {
      out.push(this.items[this.head] as T);
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.count -= 1;
    }
    return out;
  }
}

export type DropReason = 'buffer_full' | 'send_failed' | 'closed';

export interface DecisionStreamOptions {
  /** Delivers one batch; rejects when the batch could not be delivered (it is then dropped). */
  send(messages: DecisionMessage[]): Promise<void>;
  /** Called after the last batch on close(). */
  closeTransport?(): Promise<void>;
  capacity?: number;
  batchSize?: number;
  flushIntervalMs?: number;
  retryDelayMs?: number;
  clock?: StreamClock;
  /** Where kidp_decision_stream_* are registered (the webhook's own registry). */
  registry?: Registry;
  onError?(err: unknown): void;
}

/**
 * The buffer and its flusher. Records go in as they are (cheap); their conversion to
 * results happens at flush time, off the request path. At most one send is in flight.
 */
export class DecisionStream implements DecisionSink {
  private readonly buffer: BoundedBuffer<DecisionRecord>;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly retryDelayMs: number;
  private readonly clock: StreamClock;
  private timer: { cancel(): void } | undefined;
  private inFlight: Promise<void> | undefined;
  private closed = false;
  readonly dropped: Counter<'reason'>;
  readonly published: Counter;
  /** Counts kept beside the metrics for callers without a registry (tests, bench). */
  readonly counts = { dropped: 0, published: 0 };

  constructor(private readonly options: DecisionStreamOptions) {
    this.buffer = new BoundedBuffer(options.capacity ?? DEFAULT_CAPACITY);
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    this.flushIntervalMs = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    this.retryDelayMs = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
    this.clock = options.clock ?? realClock;
    const registers = options.registry ? [options.registry] : [];
    this.dropped = new Counter({ name: 'kidp_decision_stream_dropped_total', help: 'Admission decisions not published to the decision stream, by reason.', labelNames: ['reason'], registers });
    this.published = new Counter({ name: 'kidp_decision_stream_published_total', help: 'Admission decisions published to the decision stream.', registers });
    const buffer = this.buffer;
    new Gauge({
      name: 'kidp_decision_stream_buffered',
      help: 'Admission decisions waiting in the decision stream buffer.',
      registers,
      collect() {
        this.set(buffer.size);
      },
    });
  }

  get buffered(): number {
    return this.buffer.size;
  }

  write(record: DecisionRecord): void {
    if (this.closed) return this.drop('closed', 1);
    if (!this.buffer.push(record)) return this.drop('buffer_full', 1);
    if (!this.inFlight && !this.timer) this.arm(this.flushIntervalMs);
  }

  private drop(reason: DropReason, n: number): void {
    this.dropped.inc({ reason }, n);
    this.counts.dropped += n;
  }

  private arm(ms: number): void {
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      this.flush();
    }, ms);
  }

  /** Sends one batch now (if any and none is in flight); the next is armed when it settles. */
  flush(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    const batch = this.buffer.take(this.batchSize);
    if (batch.length === 0) return Promise.resolve();
    let failed = false;
    const sending = (async () => {
      try {
        await this.options.send(batch.flatMap(decisionMessages));
        this.published.inc(batch.length);
        this.counts.published += batch.length;
      } catch (err) {
        failed = true;
        this.drop('send_failed', batch.length);
        this.options.onError?.(err);
      }
    })();
    this.inFlight = sending.finally(() => {
      this.inFlight = undefined;
      if (this.buffer.size > 0 && !this.closed && !this.timer) this.arm(failed ? this.retryDelayMs : this.buffer.size >= this.batchSize ? 0 : this.flushIntervalMs);
    });
    return this.inFlight;
  }

  /** Stops accepting, sends what is buffered (bounded by CLOSE_DEADLINE_MS), closes the transport. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
    const drain = async () => {
      if (this.inFlight) await this.inFlight;
      while (this.buffer.size > 0) await this.flush();
    };
    let deadline: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([drain(), new Promise<void>((resolve) => (deadline = setTimeout(resolve, CLOSE_DEADLINE_MS)))]);
    clearTimeout(deadline);
    const left = this.buffer.take(this.buffer.size);
    if (left.length > 0) this.drop('closed', left.length);
    await this.options.closeTransport?.().catch((e: unknown) => this.options.onError?.(e));
  }
}

export interface KafkaDecisionTransportOptions {
  brokers: string[];
  clientId?: string;
  logger: Logger;
  topic?: string;
  /** The webhook's Kafka client certificate directory (principal kidp-decision-stream; kube/kafka.ts). */
  tls?: KafkaTls | string;
}

/**
 * kafkajs as the stream's transport: an idempotent producer (acks from all in-sync
 * replicas, no duplicates from its own retries), connected lazily and reconnected after a
 * failure, and the topic created when missing.
 */
export function kafkaDecisionTransport(options: KafkaDecisionTransportOptions): Pick<DecisionStreamOptions, 'send' | 'closeTransport'> {
  const topic = options.topic ?? DECISIONS_TOPIC;
  const log = options.logger.child({ component: 'decision-stream' });
  const tls = kafkaTls(options.tls);
  const kafka: KafkaClient = createKafkaClient({
    clientId: options.clientId ?? 'kidp-decision-stream',
    brokers: options.brokers,
    logger: log,
    ...(tls ? { tls } : {}),
    connectionTimeoutMs: KAFKA_CONNECTION_TIMEOUT_MS,
    requestTimeoutMs: KAFKA_REQUEST_TIMEOUT_MS,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
    // startDecisionStream warns once a minute; kafkajs' own messages stay at debug.
    warnAt: 'never',
  });
  let producer: Producer | undefined;
  let ready: Promise<Producer> | undefined;
  // A rotated client certificate: the next send starts a producer on new connections. The
  // stream sends one batch at a time, so the old producer has nothing in flight then.
  let rotated = false;
  const watch = tls?.watch(() => {
    rotated = true;
  });
  const connect = async (): Promise<Producer> => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      if (!(await admin.listTopics()).includes(topic)) {
        await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 6, replicationFactor: Math.min(3, (await admin.describeCluster()).brokers.length) }] });
      }
    } finally {
      await admin.disconnect();
    }
    const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner, retry: { retries: 2 } });
    await p.connect();
    producer = p;
    return p;
  };
  return {
    send: async (messages) => {
      if (rotated) {
        rotated = false;
        const old = producer;
        ready = undefined;
        producer = undefined;
        await old?.disconnect().catch(() => undefined);
        log.info('decision stream: Kafka client certificate changed; reconnecting');
      }
      ready ??= connect();
      let p: Producer;
      try {
        p = await ready;
      } catch (err) {
        ready = undefined;
        throw err;
      }
      try {
        await p.send({ topic, acks: -1, messages });
      } catch (err) {
        // A fresh connection next time: kafkajs may keep a broken one after a broker pause.
        ready = undefined;
        producer = undefined;
        await p.disconnect().catch(() => undefined);
        throw err;
      }
    },
    closeTransport: async () => {
      watch?.stop();
      await producer?.disconnect();
    },
  };
}

/** The stream the webhook runs when given --decision-stream-brokers. */
export function startDecisionStream(options: { brokers: string[]; tls?: KafkaTls | string; capacity?: number; registry?: Registry; logger: Logger }): DecisionStream {
  const transport = kafkaDecisionTransport({ brokers: options.brokers, logger: options.logger, ...(options.tls !== undefined ? { tls: options.tls } : {}) });
  let lastWarned = 0;
  return new DecisionStream({
    ...transport,
    ...(options.capacity !== undefined ? { capacity: options.capacity } : {}),
    ...(options.registry ? { registry: options.registry } : {}),
    onError: (err) => {
      // One warning a minute: an absent Kafka must not flood the log either.
      if (Date.now() - lastWarned < 60_000) return;
      lastWarned = Date.now();
      options.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'decision stream: Kafka send failed; decisions are being dropped (kidp_decision_stream_dropped_total)');
    },
  });
}

/** Writes every record to each sink: the decision log file and the stream side by side. */
export function teeSinks(...sinks: (DecisionSink | undefined)[]): DecisionSink | undefined {
  const present = sinks.filter((s): s is DecisionSink => s !== undefined);
  if (present.length <= 1) return present[0];
  return {
    write: (r) => {
      for (const s of present) s.write(r);
    },
    close: async () => {
      await Promise.all(present.map((s) => s.close()));
    },
  };
}
