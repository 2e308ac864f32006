// The `kubernetes` provider: a request becomes objects in the target cluster (manifests.ts,
// applied by apply.ts) or, for a Topic, a Kafka topic (topic.ts).
import type { Kafka as KafkaClient } from 'kafkajs';
import type { DeploymentRequest } from '../contract.js';
import { DeployFailedError } from '../errors.js';
import type { ProvisionOutcome, Provisioner } from '../provisioner.js';
import type { KubernetesApplier } from './apply.js';
import { applyTopic, removeTopic } from './topic.js';

export function kubernetesProvisioner(options: { applier: KubernetesApplier; topicKafka?: KafkaClient }): Provisioner {
  const { applier, topicKafka } = options;
  const topics = (request: DeploymentRequest): KafkaClient => {
    if (!topicKafka) throw new DeployFailedError(request.requestId, 'this broker has no Kafka cluster for Topic resources', true);
    return topicKafka;
  };
  const outcome = ({ reason, message, outputs }: { reason: string; message: string; outputs?: ProvisionOutcome['outputs'] }): ProvisionOutcome => ({ reason, message, ...(outputs ? { outputs } : {}) });
  return {
    provider: 'kubernetes',
    kinds: ['Service', 'Database', 'Cache', 'Topic'],
    async provision(request) {
      return outcome(request.resource.kind === 'Topic' ? await applyTopic(topics(request), request, applier) : await applier.deploy(request));
    },
    async deprovision(request) {
      return outcome(request.resource.kind === 'Topic' ? await removeTopic(topics(request), request, applier) : await applier.remove(request));
    },
    async close() {},
  };
}
