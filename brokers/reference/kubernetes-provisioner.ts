// The `kubernetes` provider: a request becomes objects in the target cluster (manifests.ts,
// applied by apply.ts) or, for a Topic, a Kafka topic (topic.ts); a Service's Deployment
// mounts the connection Secrets of the Databases it selects (relationships.ts).
import type { Kafka as KafkaClient } from 'kafkajs';
import type { DeploymentRequest } from '../contract.js';
import { DeployFailedError } from '../errors.js';
import type { ProvisionOutcome, Provisioner } from '../provisioner.js';
import type { KubernetesApplier } from './apply.js';
import { targetNamespace } from './manifests.js';
import type { Relationships } from './relationships.js';
import { applyTopic, removeTopic, type TopicAccessOptions } from './topic.js';

export function kubernetesProvisioner(options: { applier: KubernetesApplier; topicKafka?: KafkaClient; relationships?: Relationships; topicAccess?: TopicAccessOptions }): Provisioner {
  const { applier, topicKafka, relationships, topicAccess } = options;
  const topics = (request: DeploymentRequest): KafkaClient => {
    if (!topicKafka) throw new DeployFailedError(request.requestId, 'this broker has no Kafka cluster for Topic resources', true);
    return topicKafka;
  };
  const outcome = ({ reason, message, outputs }: { reason: string; message: string; outputs?: ProvisionOutcome['outputs'] }): ProvisionOutcome => ({ reason, message, ...(outputs ? { outputs } : {}) });
  return {
    provider: 'kubernetes',
    kinds: ['Service', 'Database', 'Cache', 'Topic'],
    async provision(request) {
      if (request.resource.kind === 'Topic') return outcome(await applyTopic(topics(request), request, applier, topicAccess));
      const done = outcome(await applier.deploy(request));
      const selector = (request.resource.spec['dependencies'] as { databaseSelector?: { matchLabels?: Record<string, string> } } | undefined)?.databaseSelector;
      // Without a selector nothing is applied here (most Services): if one was removed from
      // the spec, the periodic resync unmounts what it had mounted.
      if (request.resource.kind !== 'Service' || !relationships || !selector) return done;
      const { mounted, skipped } = await relationships.sync({ namespace: targetNamespace(request), name: request.resource.name, sourceNamespace: request.resource.namespace, selector: selector.matchLabels ?? {} });
      const notes = [`mounts the connection Secrets of ${mounted.length ? `database(s) ${mounted.join(', ')}` : 'no database yet'} (envFrom)`];
      if (skipped.length) notes.push(`not mounted, their Secret is in another namespace: ${skipped.map((r) => `${r.database} (${r.namespace})`).join(', ')}`);
      return { ...done, message: `${done.message}; ${notes.join('; ')}` };
    },
    async deprovision(request) {
      return outcome(request.resource.kind === 'Topic' ? await removeTopic(topics(request), request, applier, topicAccess) : await applier.remove(request));
    },
    async close() {
      await relationships?.stop();
    },
  };
}
