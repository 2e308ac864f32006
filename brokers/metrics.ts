// The brokers' Prometheus metrics (DESIGN.md §6). One registry per owner so tests and
// two components in one process do not share counters; pass `registry` to share one.
import { Counter, Histogram, Registry } from 'prom-client';

export type BrokerCall = 'kafka_send' | 'kafka_consume' | 'status_report' | 'webhook_post' | 'webhook_receive' | 'status_api' | 'status_apply' | 'broker_apply';

export class BrokerMetrics {
  readonly registry: Registry;
  private readonly duration: Histogram<'call' | 'transport'>;
  private readonly errors: Counter<'call' | 'transport' | 'kind'>;
  private readonly refusedMessages: Counter<'topic' | 'reason'>;

  constructor(options: { registry?: Registry } = {}) {
    this.registry = options.registry ?? new Registry();
    this.duration = new Histogram({
      name: 'kidp_broker_call_duration_seconds',
      help: 'Duration of broker calls: request delivery, status reports, status writes and broker applies.',
      labelNames: ['call', 'transport'],
      // From a local Kafka send (~ms) to a webhook timing out (10 s).
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.errors = new Counter({
      name: 'kidp_broker_call_errors_total',
      help: 'Broker calls that failed, by call, transport and error kind (transient, permanent, malformed, unauthorized, forbidden).',
      labelNames: ['call', 'transport', 'kind'],
      registers: [this.registry],
    });
    this.refusedMessages = new Counter({
      name: 'kidp_broker_messages_refused_total',
      help: 'Kafka messages not acted on because their end-to-end signature failed (unsigned, bad-signature, expired, replayed, ...), by topic and reason; each went to the dead-letter topic.',
      labelNames: ['topic', 'reason'],
      registers: [this.registry],
    });
  }

  refused(topic: string, reason: string): void {
    this.refusedMessages.inc({ topic, reason });
  }

  observe(call: BrokerCall, transport: string, seconds: number): void {
    this.duration.observe({ call, transport }, seconds);
  }

  error(call: BrokerCall, transport: string, kind: string): void {
    this.errors.inc({ call, transport, kind });
  }
}
