// A Topic resource becomes a real Kafka topic, via kafkajs admin. The replication factor
// (and min.insync.replicas) is capped to the number of Kafka brokers: asking a one-broker
// cluster (the local environment) for replication 3 would fail, and the Ready message says
// when the cap applied.
import type { Kafka as KafkaClient } from 'kafkajs';
import type { DeploymentRequest } from '../contract.js';
import { DeployFailedError } from '../errors.js';
import type { ApplyOutcome } from './apply.js';

/** The Kafka topic for a Topic resource: namespaced, so two teams' `events` do not collide. */
export function kafkaTopicName(request: DeploymentRequest): string {
  return `${request.resource.namespace}.${request.resource.name}`;
}

export interface TopicPlan {
  topic: string;
  numPartitions: number;
  replicationFactor: number;
  configEntries: Array<{ name: string; value: string }>;
  capped: boolean;
}

/** Pure: the topic asked for, with replication capped to `brokerCount`. */
export function planTopic(request: DeploymentRequest, brokerCount: number): TopicPlan {
  const spec = request.resource.spec;
  const num = (key: string, fallback: number) => (typeof spec[key] === 'number' ? (spec[key] as number) : fallback);
  const wantedReplication = num('replicationFactor', 1);
  const replicationFactor = Math.max(1, Math.min(wantedReplication, brokerCount));
  const configEntries = [
    { name: 'retention.ms', value: String(num('retentionHours', 168) * 3_600_000) },
    { name: 'cleanup.policy', value: typeof spec['cleanupPolicy'] === 'string' ? spec['cleanupPolicy'] : 'delete' },
  ];
  if (typeof spec['minInSyncReplicas'] === 'number') configEntries.push({ name: 'min.insync.replicas', value: String(Math.min(spec['minInSyncReplicas'], replicationFactor)) });
  return { topic: kafkaTopicName(request), numPartitions: num('partitions', 3), replicationFactor, configEntries, capped: replicationFactor < wantedReplication };
}

export async function applyTopic(kafka: KafkaClient, request: DeploymentRequest): Promise<ApplyOutcome> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const { brokers } = await admin.describeCluster();
    const plan = planTopic(request, brokers.length);
    const existing = new Set(await admin.listTopics());
    if (!existing.has(plan.topic)) {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: plan.topic, numPartitions: plan.numPartitions, replicationFactor: plan.replicationFactor, configEntries: plan.configEntries }] });
    } else {
      const meta = await admin.fetchTopicMetadata({ topics: [plan.topic] });
      const current = meta.topics[0]?.partitions.length ?? 0;
      if (current > plan.numPartitions) {
        throw new DeployFailedError(request.requestId, `topic ${plan.topic} has ${current} partitions; Kafka cannot reduce them to ${plan.numPartitions}`, true);
      }
      if (current < plan.numPartitions) await admin.createPartitions({ topicPartitions: [{ topic: plan.topic, count: plan.numPartitions }] });
      // ConfigResourceTypes.TOPIC = 2; alterConfigs replaces the listed entries only.
      await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: plan.topic, configEntries: plan.configEntries }] });
    }
    const meta = await admin.fetchTopicMetadata({ topics: [plan.topic] });
    const partitions = meta.topics[0]?.partitions.length ?? 0;
    const cap = plan.capped ? ` (replication capped to ${plan.replicationFactor}: the cluster has ${brokers.length} broker(s))` : '';
    return { phase: 'Ready', reason: 'TopicReady', message: `Kafka topic ${plan.topic} has ${partitions} partitions, replication ${plan.replicationFactor}${cap}` };
  } catch (err) {
    if (err instanceof DeployFailedError) throw err;
    throw new DeployFailedError(request.requestId, `Kafka admin: ${(err as Error).message}`, false, { cause: err });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export async function removeTopic(kafka: KafkaClient, request: DeploymentRequest): Promise<ApplyOutcome> {
  const admin = kafka.admin();
  const topic = kafkaTopicName(request);
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    if (!existing.has(topic)) return { phase: 'Deleted', reason: 'TopicDeleted', message: `Kafka topic ${topic} does not exist` };
    await admin.deleteTopics({ topics: [topic] });
    return { phase: 'Deleted', reason: 'TopicDeleted', message: `deleted Kafka topic ${topic}` };
  } catch (err) {
    throw new DeployFailedError(request.requestId, `Kafka admin: ${(err as Error).message}`, false, { cause: err });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
