// One readiness probe through kafkajs, the client KIDP uses: kafka.sh calls this until
// it succeeds, so "healthy" means the project's own client gets metadata and a group
// coordinator and a producer id, not merely that a port accepts connections. Exit 0
// when healthy.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;
const bootstrap = process.argv[2];
if (!bootstrap) {
  console.error('usage: node health-check.js HOST:PORT');
  process.exit(2);
}

// The broker takes TLS with a client certificate only (kafka.sh): the admin principal's,
// from a directory in a TLS Secret's layout.
const tlsDir = process.env.KIDP_KAFKA_TLS_DIR;
if (!tlsDir) {
  console.error('KIDP_KAFKA_TLS_DIR must name a directory holding ca.crt, tls.crt and tls.key');
  process.exit(2);
}
const ssl = {
  ca: [readFileSync(join(tlsDir, 'ca.crt'), 'utf8')],
  cert: readFileSync(join(tlsDir, 'tls.crt'), 'utf8'),
  key: readFileSync(join(tlsDir, 'tls.key'), 'utf8'),
};

// kafka.sh owns the retry loop; one quick attempt here keeps each poll short.
const kafka = new Kafka({
  clientId: 'kidp-kafka-health',
  brokers: [bootstrap],
  ssl,
  logLevel: logLevel.NOTHING,
  connectionTimeout: 1000,
  requestTimeout: 3000,
  retry: { retries: 0 },
});
const admin = kafka.admin();
// kafkajs refuses an idempotent producer without retries; one short one keeps the poll quick.
const producer = kafka.producer({
  idempotent: true,
  maxInFlightRequests: 1,
  retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 300 },
});
try {
  await admin.connect();
  const cluster = await admin.describeCluster();
  if (cluster.brokers.length === 0) throw new Error('metadata lists no brokers yet');
  await admin.listTopics();
  // Looking up a group coordinator makes a fresh broker create __consumer_offsets; doing
  // it here moves that one-off wait (and kafkajs' "coordinator not available" retries)
  // out of whichever test happens to use a consumer group first.
  await admin.describeGroups(['kidp-kafka-health']);
  // Likewise the first idempotent producer: the broker fetches its first block of
  // producer ids from the controller lazily and answers "coordinator loading" until then.
  await producer.connect();
  process.exitCode = 0;
} catch (error) {
  console.error(`not ready: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await producer.disconnect().catch(() => undefined);
  await admin.disconnect().catch(() => undefined);
}
