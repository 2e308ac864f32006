// The e2e tests' view of the local Kafka (test/env/kafka): its bootstrap address and one
// client certificate directory per principal. The broker speaks only mTLS, so every test
// client connects as some principal; harness work (creating test topics, reading what
// landed) is done as kidp-admin, the operator's super user, and attacks as whoever the
// test says.
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import pino from 'pino';
import { KafkaTls, createKafkaClient } from '../kube/kafka.js';

export function kafkaBootstrap(): string {
  const bootstrap = process.env.KAFKA_BOOTSTRAP;
  if (!bootstrap) throw new Error('KAFKA_BOOTSTRAP is unset: run through the e2e jest project (its globalSetup starts Kafka)');
  return bootstrap;
}

/** The certificate directory of `principal` (kafka.sh writes kidp-admin, kidp-controllers, kidp-broker-kubernetes-broker, kidp-decision-stream). */
export function kafkaCertDir(principal = 'kidp-admin'): string {
  const dir = process.env.KIDP_KAFKA_CERTS;
  if (!dir) throw new Error('KIDP_KAFKA_CERTS is unset: run through the e2e jest project (its globalSetup exports it)');
  return join(dir, principal);
}

export function kafkaTlsFor(principal = 'kidp-admin'): KafkaTls {
  return new KafkaTls(kafkaCertDir(principal));
}

const quiet = pino({ level: 'silent' });

/** A kafkajs client authenticated as `principal` (default: the admin), with kafkajs' usual timeouts. */
export function testKafka(clientId: string, principal = 'kidp-admin', tls: KafkaTls | string = kafkaTlsFor(principal)): Kafka {
  return createKafkaClient({
    clientId,
    brokers: [kafkaBootstrap()],
    logger: quiet,
    tls,
    connectionTimeoutMs: 3_000,
    requestTimeoutMs: 10_000,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2_000 },
    warnAt: 'never',
  });
}
