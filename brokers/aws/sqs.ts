// The `aws` provider's Topics (issue 15 item 5): a Topic becomes an SQS standard queue
// `<namespace>-<name>`, its retentionHours as MessageRetentionPeriod. SQS alone, not SNS + SQS:
// a KIDP Topic has one owner and no subscriber resources, so SNS's fan-out would have nothing
// to fan out to (each subscriber needs its own queue, which KIDP does not model), and a second
// service would double the resources, calls and failure modes of every Topic. Partitions and
// replication do not apply (SQS scales and replicates a queue itself; the Ready message says
// so); cleanupPolicy compact and a retention over SQS's 14 days are refused (plan.ts).
//
// Ownership: the queue's tags name the uid and the request id. The queue is looked up first
// and created only when absent: CreateQueue on an existing name with the same attributes
// answers with that queue (and moto even re-tags it), so it is never the way to find out.
// Tested against moto's server mode (an AWS API emulator), not against AWS: see README.md.
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DeploymentRequest } from '../contract.js';
import { DeployFailedError } from '../errors.js';
import type { ProvisionContext, ProvisionOutcome } from '../provisioner.js';
import type { KindProvisioner } from './kind-provisioner.js';
import { PlanRefusal, TAG_REQUEST, TAG_UID, planQueue, type QueuePlan } from './plan.js';
import { clientSettings, fail, poller, type AwsProvisionerOptions } from './session.js';

type Sdk = typeof import('@aws-sdk/client-sqs');
let sdkModule: Sdk | undefined;
async function loadSdk(): Promise<Sdk> {
  sdkModule ??= await import('@aws-sdk/client-sqs');
  return sdkModule;
}

/** The price class of a standard queue (brokers/usage.ts): SQS charges per request, which the broker does not see. */
export const SQS_PRICE_CLASS = 'sqs-standard';

interface Session {
  client: SQSClient;
  sdk: Sdk;
  region: string;
}

interface Queue {
  url: string;
  arn: string;
  retentionSeconds: string;
  createdAt?: string;
  tags: Record<string, string>;
}

function plan(request: DeploymentRequest): QueuePlan {
  try {
    return planQueue(request);
  } catch (err) {
    throw new DeployFailedError(request.requestId, `refused: ${(err as Error).message}`, err instanceof PlanRefusal, { cause: err });
  }
}

/** SQS's "no such queue" under both its protocols' names. */
const isNoQueue = (s: Session, err: unknown) => err instanceof s.sdk.QueueDoesNotExist || (err as Error).name === 'AWS.SimpleQueueService.NonExistentQueue';

export function sqsTopics(options: AwsProvisionerOptions): KindProvisioner {
  const sessions = new Set<SQSClient>();
  const poll = poller(options);

  async function withSession<T>(request: DeploymentRequest, context: ProvisionContext, run: (s: Session) => Promise<T>): Promise<T> {
    const settings = await clientSettings(request, context, options);
    const sdk = await loadSdk();
    const client = new sdk.SQSClient(settings.config);
    sessions.add(client);
    try {
      return await run({ client, sdk, region: settings.region });
    } finally {
      client.destroy();
      sessions.delete(client);
    }
  }

  /** The queue of that name with its attributes and tags, or undefined when SQS knows none. */
  async function find(s: Session, request: DeploymentRequest, name: string): Promise<Queue | undefined> {
    let url: string | undefined;
    try {
      url = (await s.client.send(new s.sdk.GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
    } catch (err) {
      if (isNoQueue(s, err)) return undefined;
      return fail(request, `GetQueueUrl ${name}`, err);
    }
    if (!url) return undefined;
    try {
      const attributes = (await s.client.send(new s.sdk.GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn', 'MessageRetentionPeriod', 'CreatedTimestamp'] }))).Attributes ?? {};
      const tags = (await s.client.send(new s.sdk.ListQueueTagsCommand({ QueueUrl: url }))).Tags ?? {};
      const created = Number(attributes['CreatedTimestamp']);
      return { url, arn: attributes['QueueArn'] ?? '', retentionSeconds: attributes['MessageRetentionPeriod'] ?? '', ...(Number.isFinite(created) && created > 0 ? { createdAt: new Date(created * 1000).toISOString() } : {}), tags };
    } catch (err) {
      // Deleted between the two calls: as good as absent.
      if (isNoQueue(s, err)) return undefined;
      return fail(request, `GetQueueAttributes/ListQueueTags ${name}`, err);
    }
  }

  function checkOwner(s: Session, request: DeploymentRequest, name: string, queue: Queue): void {
    const owner = queue.tags[TAG_UID];
    if (owner !== request.resource.uid) {
      throw new DeployFailedError(request.requestId, `SQS queue ${name} in ${s.region} already exists and belongs to ${owner ? `another resource (uid ${owner})` : 'something outside KIDP (no KIDP uid tag)'}; it is not adopted`, true);
    }
  }

  const connectionOf = (s: Session, queue: Queue): Record<string, string> => ({ engine: 'sqs', queueUrl: queue.url, queueArn: queue.arn, region: s.region });
  const usageOf = (queue: Queue): ProvisionOutcome['usage'] => ({ priceClass: SQS_PRICE_CLASS, ...(queue.createdAt ? { since: queue.createdAt } : {}) });

  return {
    async provision(request, context) {
      const p = plan(request);
      return withSession(request, context, async (s) => {
        let queue = await find(s, request, p.name);
        let action: string;
        if (!queue) {
          try {
            await s.client.send(new s.sdk.CreateQueueCommand({ QueueName: p.name, Attributes: { MessageRetentionPeriod: p.retentionSeconds }, tags: p.tags }));
          } catch (err) {
            // QueueNameExists: made meanwhile with other attributes; judged below like any existing queue.
            if (!(err instanceof s.sdk.QueueNameExists) && (err as Error).name !== 'QueueAlreadyExists') fail(request, `CreateQueue ${p.name}`, err);
          }
          queue = await find(s, request, p.name);
          if (!queue) throw new DeployFailedError(request.requestId, `SQS created queue ${p.name} but does not find it; retried`, false);
          // CreateQueue answers with an existing queue of the same attributes: check whose it is.
          checkOwner(s, request, p.name, queue);
          action = 'created';
        } else {
          checkOwner(s, request, p.name, queue);
          if (queue.tags[TAG_REQUEST] === request.requestId && queue.retentionSeconds === p.retentionSeconds) {
            return { reason: 'AlreadyApplied', message: `request ${request.requestId} was applied already: SQS queue ${p.name} unchanged`, connection: connectionOf(s, queue), usage: usageOf(queue) };
          }
          if (queue.retentionSeconds !== p.retentionSeconds) {
            try {
              await s.client.send(new s.sdk.SetQueueAttributesCommand({ QueueUrl: queue.url, Attributes: { MessageRetentionPeriod: p.retentionSeconds } }));
            } catch (err) {
              fail(request, `SetQueueAttributes ${p.name}`, err);
            }
            action = 'modified (MessageRetentionPeriod)';
          } else action = 'unchanged';
        }
        // Recorded last: the request is applied once the queue is as asked.
        try {
          await s.client.send(new s.sdk.TagQueueCommand({ QueueUrl: queue.url, Tags: { [TAG_REQUEST]: request.requestId } }));
        } catch (err) {
          fail(request, `TagQueue ${p.name}`, err);
        }
        const spec = request.resource.spec;
        const ignored = ['partitions', 'replicationFactor', 'minInSyncReplicas'].filter((k) => spec[k] !== undefined);
        return {
          reason: 'TopicProvisioned',
          message: `SQS queue ${p.name} in ${s.region} (retention ${Number(p.retentionSeconds) / 3600} h), ${action}, at ${queue.url}${ignored.length ? `; ${ignored.join(', ')} do not apply to SQS (it scales and replicates a queue itself)` : ''}`,
          connection: connectionOf(s, queue),
          usage: usageOf(queue),
        };
      });
    },

    async deprovision(request, context) {
      const p = plan(request);
      return withSession(request, context, async (s) => {
        const queue = await find(s, request, p.name);
        if (!queue) return { reason: 'TopicRemoved', message: `no SQS queue ${p.name} in ${s.region}: nothing left` };
        const owner = queue.tags[TAG_UID];
        if (owner !== request.resource.uid) return { reason: 'TopicRemoved', message: `SQS queue ${p.name} in ${s.region} is not this resource's (uid tag ${owner ?? 'absent'}); left alone` };
        try {
          await s.client.send(new s.sdk.DeleteQueueCommand({ QueueUrl: queue.url }));
        } catch (err) {
          if (!isNoQueue(s, err)) fail(request, `DeleteQueue ${p.name}`, err);
        }
        // SQS takes up to 60 s to forget a queue.
        await poll.until(request, `SQS queue ${p.name} is not deleted`, async () => ((await find(s, request, p.name)) ? undefined : true), context);
        return { reason: 'TopicRemoved', message: `deleted SQS queue ${p.name} in ${s.region}` };
      });
    },

    async close() {
      for (const client of sessions) client.destroy();
      sessions.clear();
    },
  };
}
