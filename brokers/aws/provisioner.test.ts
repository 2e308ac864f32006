// Throttling cannot be provoked on moto, so these tests answer the SDK's HTTP requests the
// way RDS does when it throttles or refuses (its Query-protocol XML errors) and run the real
// SDK client, retry strategy and error deserialisation on top; everything else about the
// aws provider is tested against moto over real HTTP (test/aws.e2e.test.ts).
import { Readable } from 'node:stream';
import { RDSServiceException } from '@aws-sdk/client-rds';
import pino from 'pino';
import type { DeploymentRequest } from '../contract.js';
import { DeployFailedError } from '../errors.js';
import type { ProvisionContext } from '../provisioner.js';
import { awsProvisioner } from './provisioner.js';
import { BACKOFF_BASE_MS, BACKOFF_CAP_MS, MAX_ATTEMPTS, backoffDelay, classify } from './retry.js';

const NS = 'http://rds.amazonaws.com/doc/2014-10-31/';
const errorXml = (code: string, message: string, type = 'Sender') => `<ErrorResponse xmlns="${NS}"><Error><Type>${type}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>r1</RequestId></ErrorResponse>`;
const instanceXml = (tags: Array<[string, string]>, status = 'available') =>
  `<DescribeDBInstancesResponse xmlns="${NS}"><DescribeDBInstancesResult><DBInstances><DBInstance>` +
  `<DBInstanceIdentifier>team-a-orders</DBInstanceIdentifier><DBInstanceStatus>${status}</DBInstanceStatus><Engine>postgres</Engine><EngineVersion>15</EngineVersion>` +
  `<DBName>orders</DBName><MasterUsername>kidp_owner</MasterUsername><AllocatedStorage>20</AllocatedStorage><MultiAZ>false</MultiAZ>` +
  `<Endpoint><Address>team-a-orders.example.us-east-1.rds.amazonaws.com</Address><Port>5432</Port></Endpoint>` +
  `<DBInstanceArn>arn:aws:rds:us-east-1:123456789012:db:team-a-orders</DBInstanceArn>` +
  `<TagList>${tags.map(([k, v]) => `<Tag><Key>${k}</Key><Value>${v}</Value></Tag>`).join('')}</TagList>` +
  `</DBInstance></DBInstances></DescribeDBInstancesResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></DescribeDBInstancesResponse>`;

interface Answer {
  status: number;
  xml: string;
}

/** An HTTP handler that answers from a script and records each request's Action. */
function scripted(answers: Answer[]) {
  const actions: string[] = [];
  const handler = {
    async handle(request: { body?: unknown }) {
      actions.push(/Action=([A-Za-z]+)/.exec(String(request.body))?.[1] ?? '?');
      const answer = answers.shift() ?? { status: 500, xml: errorXml('InternalFailure', 'script exhausted', 'Receiver') };
      return { response: { statusCode: answer.status, reason: '', headers: { 'content-type': 'text/xml' }, body: Readable.from([Buffer.from(answer.xml)]) } };
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs() {
      return {};
    },
    destroy() {},
  };
  return { handler, actions };
}

const request: DeploymentRequest = {
  apiVersion: 'broker.kidp.io/v1',
  kind: 'DeploymentRequest',
  requestId: 'u1-1',
  action: 'deploy',
  target: { name: 'aws', identity: 'aws-broker', provider: 'aws', environment: 'staging' },
  resource: { kind: 'Database', namespace: 'team-a', name: 'orders', uid: 'u1', generation: 1, labels: {}, spec: { owner: { kind: 'Team', name: 'a' }, engine: 'postgresql', version: '15' } },
  issuedAt: '2026-01-01T00:00:00Z',
};

function context(overrides: Partial<ProvisionContext> = {}): ProvisionContext & { secretReads: string[] } {
  const secretReads: string[] = [];
  return {
    target: { name: 'aws', provider: 'aws', region: 'us-east-1', aws: { endpoint: 'http://127.0.0.1:1', credentialsSecretRef: { name: 'aws-creds', namespace: 'kidp-system' } } },
    connection: { password: 'kept-password' },
    readSecret: async (ref) => {
      secretReads.push(`${ref.namespace}/${ref.name}`);
      return { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };
    },
    reportLater: async () => undefined,
    logger: pino({ level: 'silent' }),
    secretReads,
    ...overrides,
  };
}

describe('the SDK retry strategy the aws provider configures', () => {
  it('retries a throttled call with growing delays, and succeeds when AWS stops throttling', async () => {
    const throttled = { status: 400, xml: errorXml('Throttling', 'Rate exceeded') };
    const { handler, actions } = scripted([throttled, throttled, { status: 503, xml: errorXml('ServiceUnavailable', 'try later', 'Receiver') }, { status: 200, xml: instanceXml([['platform.kidp.io/uid', 'u1'], ['platform.kidp.io/request-id', 'u1-1']]) }]);
    const delays: number[] = [];
    const provisioner = awsProvisioner({ requestHandler: handler, retryDelay: (attempt) => (delays.push(attempt), 0) });
    const outcome = await provisioner.provision(request, context());
    expect({ actions, delays, reason: outcome.reason, host: outcome.connection?.['host'], password: outcome.connection?.['password'] }).toEqual({
      actions: ['DescribeDBInstances', 'DescribeDBInstances', 'DescribeDBInstances', 'DescribeDBInstances'],
      // The strategy asked for a delay before each retry, attempt by attempt.
      delays: [1, 2, 3],
      reason: 'AlreadyApplied',
      host: 'team-a-orders.example.us-east-1.rds.amazonaws.com',
      password: 'kept-password',
    });
  });

  it(`gives up after ${MAX_ATTEMPTS} attempts of throttling: a transient failure the controllers retry later`, async () => {
    const { handler, actions } = scripted(Array.from({ length: 10 }, () => ({ status: 400, xml: errorXml('Throttling', 'Rate exceeded') })));
    const provisioner = awsProvisioner({ requestHandler: handler, retryDelay: () => 0 });
    const err = await provisioner.provision(request, context()).catch((e: unknown) => e);
    expect({ attempts: actions.length, type: (err as Error).constructor.name, permanent: (err as DeployFailedError).permanent, message: (err as Error).message }).toEqual({
      attempts: MAX_ATTEMPTS,
      type: 'DeployFailedError',
      permanent: false,
      message: `request u1-1 could not be applied: DescribeDBInstances team-a-orders: AWS still throttled after ${MAX_ATTEMPTS} attempts (Throttling: Rate exceeded); retried later`,
    });
  });

  it('does not retry what AWS says is the caller fault: one attempt, a permanent failure', async () => {
    const { handler, actions } = scripted([{ status: 400, xml: errorXml('InvalidParameterValue', 'bad engine version') }]);
    const err = await awsProvisioner({ requestHandler: handler, retryDelay: () => 0 }).provision(request, context()).catch((e: unknown) => e);
    expect({ actions, permanent: (err as DeployFailedError).permanent, message: (err as Error).message }).toEqual({
      actions: ['DescribeDBInstances'],
      permanent: true,
      message: 'request u1-1 could not be applied: DescribeDBInstances team-a-orders: InvalidParameterValue: bad engine version',
    });
  });

  it('bad credentials are not for good (an admin fixes the Secret), and say where to look', async () => {
    const { handler } = scripted([{ status: 403, xml: errorXml('InvalidClientTokenId', 'The security token included in the request is invalid.') }]);
    const err = (await awsProvisioner({ requestHandler: handler, retryDelay: () => 0 }).provision(request, context()).catch((e: unknown) => e)) as DeployFailedError;
    expect({ permanent: err.permanent, message: err.message }).toEqual({
      permanent: false,
      message: "request u1-1 could not be applied: DescribeDBInstances team-a-orders: AWS refused the credentials (InvalidClientTokenId: The security token included in the request is invalid.); check the Secret the DeploymentTarget's spec.aws.credentialsSecretRef names",
    });
  });
});

describe('attack: what the aws provider refuses before any call', () => {
  it.each([
    ['a hostile name (query-parameter injection)', { ...request, resource: { ...request.resource, name: 'x&Engine=aurora' } }, context(), 'refused: DB instance identifier "team-a-x&Engine=aurora" (<namespace>-<name>) may hold only lower-case letters, digits and hyphens', 0],
    ['a target without spec.aws (the request cannot supply one)', request, context({ target: { name: 'aws', provider: 'aws', region: 'us-east-1' } }), "DeploymentTarget aws needs spec.region and spec.aws (credentialsSecretRef): the aws provider provisions only where its target says", 0],
    ['a credentials Secret without the keys', request, context({ readSecret: async () => ({ username: 'x' }) }), 'Secret kidp-system/aws-creds (spec.aws.credentialsSecretRef of aws) needs keys accessKeyId and secretAccessKey', 0],
  ])('%s', async (_what, r, c, reason, calls) => {
    const { handler, actions } = scripted([]);
    const err = (await awsProvisioner({ requestHandler: handler }).provision(r as DeploymentRequest, c).catch((e: unknown) => e)) as DeployFailedError;
    expect({ type: err.constructor.name, permanent: err.permanent, message: err.message, calls: actions.length }).toEqual({ type: 'DeployFailedError', permanent: true, message: `request u1-1 could not be applied: ${reason}`, calls });
  });

  it('an instance of the same identifier tagged for another uid is neither adopted nor deleted', async () => {
    const other = instanceXml([['platform.kidp.io/uid', 'someone-else']]);
    const provisionCalls = scripted([{ status: 200, xml: other }]);
    const err = (await awsProvisioner({ requestHandler: provisionCalls.handler }).provision(request, context()).catch((e: unknown) => e)) as DeployFailedError;
    const deleteCalls = scripted([{ status: 200, xml: other }]);
    const removed = await awsProvisioner({ requestHandler: deleteCalls.handler }).deprovision({ ...request, action: 'delete' }, context());
    expect({ permanent: err.permanent, message: err.message, provisionCalls: provisionCalls.actions, removed, deleteCalls: deleteCalls.actions }).toEqual({
      permanent: true,
      message: 'request u1-1 could not be applied: RDS instance team-a-orders in us-east-1 already exists and belongs to another resource (uid someone-else); it is not adopted',
      provisionCalls: ['DescribeDBInstances'],
      removed: { reason: 'DatabaseRemoved', message: 'RDS instance team-a-orders in us-east-1 is not this resource\'s (uid tag someone-else); left alone' },
      deleteCalls: ['DescribeDBInstances'],
    });
  });
});

describe('waiting for the instance (moto creates instantly, so the wait is scripted here)', () => {
  const notFound = { status: 404, xml: errorXml('DBInstanceNotFound', 'DBInstance team-a-orders not found.') };
  const created = { status: 200, xml: `<CreateDBInstanceResponse xmlns="${NS}"><CreateDBInstanceResult><DBInstance><DBInstanceIdentifier>team-a-orders</DBInstanceIdentifier><DBInstanceStatus>creating</DBInstanceStatus></DBInstance></CreateDBInstanceResult></CreateDBInstanceResponse>` };
  const ours: Array<[string, string]> = [['platform.kidp.io/uid', 'u1'], ['platform.kidp.io/request-id', 'u1-1']];
  const tagged = { status: 200, xml: `<AddTagsToResourceResponse xmlns="${NS}"><ResponseMetadata><RequestId>r3</RequestId></ResponseMetadata></AddTagsToResourceResponse>` };

  it('polls DescribeDBInstances with doubling waits (capped) until available, then records the request id', async () => {
    const describeAs = (status: string) => ({ status: 200, xml: instanceXml(ours, status) });
    const { handler, actions } = scripted([notFound, created, describeAs('creating'), describeAs('creating'), describeAs('backing-up'), describeAs('creating'), describeAs('available'), tagged]);
    const waits: number[] = [];
    const outcome = await awsProvisioner({ requestHandler: handler, pollFirstMs: 1_000, pollCapMs: 3_000, sleep: async (ms) => void waits.push(ms) }).provision(request, context({ connection: undefined }));
    expect({ actions, waits, reason: outcome.reason, password: outcome.connection?.['password']?.length }).toEqual({
      actions: ['DescribeDBInstances', 'CreateDBInstance', 'DescribeDBInstances', 'DescribeDBInstances', 'DescribeDBInstances', 'DescribeDBInstances', 'DescribeDBInstances', 'AddTagsToResource'],
      waits: [1_000, 2_000, 3_000, 3_000],
      reason: 'DatabaseProvisioned',
      password: 32,
    });
  });

  it('past the deadline the request fails as transient (the retry resumes the wait on the instance tagged with its uid)', async () => {
    let clock = 0;
    const creating = () => ({ status: 200, xml: instanceXml(ours, 'creating') });
    const { handler } = scripted([creating(), creating(), creating(), creating(), creating()]);
    const err = (await awsProvisioner({ requestHandler: handler, pollFirstMs: 1_000, waitDeadlineMs: 5_000, now: () => clock, sleep: async (ms) => void (clock += ms) })
      .provision(request, context())
      .catch((e: unknown) => e)) as DeployFailedError;
    expect({ permanent: err.permanent, message: err.message, clock }).toEqual({
      permanent: false,
      message: 'request u1-1 could not be applied: RDS instance team-a-orders is not available after 5 s; the request is retried and resumes the wait',
      clock: 3_000,
    });
  });
});

describe('classify', () => {
  const sdkError = (name: string, fault: 'client' | 'server', status: number) => new RDSServiceException({ name, $fault: fault, $metadata: { httpStatusCode: status }, message: name });
  it.each([
    ['Throttling', sdkError('Throttling', 'client', 400), 'throttled'],
    ['RequestLimitExceeded', sdkError('RequestLimitExceeded', 'client', 400), 'throttled'],
    ['a 500', sdkError('InternalFailure', 'server', 500), 'transient'],
    ['an instance busy modifying', sdkError('InvalidDBInstanceStateFault', 'client', 400), 'transient'],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'transient'],
    ['expired credentials', sdkError('ExpiredToken', 'client', 403), 'credentials'],
    ['an invalid parameter', sdkError('InvalidParameterCombination', 'client', 400), 'permanent'],
    ['a quota', sdkError('InstanceQuotaExceeded', 'client', 400), 'permanent'],
  ])('%s', (_what, err, kind) => {
    expect(classify(err)).toBe(kind);
  });
});

describe('backoffDelay', () => {
  it('full jitter under a doubling ceiling, capped', () => {
    expect([1, 2, 3, 10].map((a) => backoffDelay(a, () => 0.999999))).toEqual([BACKOFF_BASE_MS - 1, 2 * BACKOFF_BASE_MS - 1, 4 * BACKOFF_BASE_MS - 1, BACKOFF_CAP_MS - 1]);
    expect(backoffDelay(5, () => 0)).toBe(0);
  });
});

describe('Caches (ElastiCache) and Topics (SQS): the same retry strategy and the same refusals before any call', () => {
  const cacheRequest: DeploymentRequest = { ...request, resource: { ...request.resource, kind: 'Cache', name: 'sessions', spec: { owner: { kind: 'Team', name: 'a' }, engine: 'redis' } } };
  const topicRequest: DeploymentRequest = { ...request, resource: { ...request.resource, kind: 'Topic', name: 'events', spec: { owner: { kind: 'Team', name: 'a' }, retentionHours: 48 } } };

  /** Answers SQS's JSON protocol (AwsJson1_0) from a script, recording each X-Amz-Target. */
  function scriptedJson(answers: Array<{ status: number; body: unknown }>) {
    const targets: string[] = [];
    const handler = {
      async handle(req: { headers?: Record<string, string> }) {
        targets.push((req.headers?.['x-amz-target'] ?? '?').replace('AmazonSQS.', ''));
        const answer = answers.shift() ?? { status: 500, body: { __type: 'InternalError', message: 'script exhausted' } };
        return { response: { statusCode: answer.status, reason: '', headers: { 'content-type': 'application/x-amz-json-1.0' }, body: Readable.from([Buffer.from(JSON.stringify(answer.body))]) } };
      },
      updateHttpClientConfig() {},
      httpHandlerConfigs() {
        return {};
      },
      destroy() {},
    };
    return { handler, targets };
  }

  it(`ElastiCache: throttled ${MAX_ATTEMPTS} times is a transient failure naming the call`, async () => {
    const { handler, actions } = scripted(Array.from({ length: 10 }, () => ({ status: 400, xml: errorXml('Throttling', 'Rate exceeded') })));
    const err = (await awsProvisioner({ requestHandler: handler, retryDelay: () => 0 }).provision(cacheRequest, context()).catch((e: unknown) => e)) as DeployFailedError;
    expect({ actions, permanent: err.permanent, message: err.message }).toEqual({
      actions: Array.from({ length: MAX_ATTEMPTS }, () => 'DescribeReplicationGroups'),
      permanent: false,
      message: `request u1-1 could not be applied: DescribeReplicationGroups team-a-sessions: AWS still throttled after ${MAX_ATTEMPTS} attempts (Throttling: Rate exceeded); retried later`,
    });
  });

  it(`SQS: throttled ${MAX_ATTEMPTS} times is a transient failure naming the call`, async () => {
    const { handler, targets } = scriptedJson(Array.from({ length: 10 }, () => ({ status: 400, body: { __type: 'com.amazonaws.sqs#RequestThrottled', message: 'Rate exceeded' } })));
    const err = (await awsProvisioner({ requestHandler: handler, retryDelay: () => 0 }).provision(topicRequest, context()).catch((e: unknown) => e)) as DeployFailedError;
    expect({ targets, permanent: err.permanent, message: err.message }).toEqual({
      targets: Array.from({ length: MAX_ATTEMPTS }, () => 'GetQueueUrl'),
      permanent: false,
      message: `request u1-1 could not be applied: GetQueueUrl team-a-events: AWS still throttled after ${MAX_ATTEMPTS} attempts (RequestThrottled: Rate exceeded); retried later`,
    });
  });

  it.each([
    ['a Cache name with a query-parameter injection', { ...cacheRequest, resource: { ...cacheRequest.resource, name: 'x&Engine=memcached' } }, 'refused: ElastiCache replication group id "team-a-x&Engine=memcached" (<namespace>-<name>) may hold only lower-case letters, digits and hyphens'],
    ['a Cache id over 40 characters', { ...cacheRequest, resource: { ...cacheRequest.resource, name: 'c'.repeat(40) } }, `refused: ElastiCache replication group id "team-a-${'c'.repeat(40)}" (<namespace>-<name>) is 47 characters; ElastiCache allows 1 to 40`],
    ['a memcached Cache', { ...cacheRequest, resource: { ...cacheRequest.resource, spec: { engine: 'memcached' } } }, 'refused: the aws provider runs Caches of engine redis on ElastiCache, not "memcached"'],
    ['a Topic name with characters SQS would read otherwise', { ...topicRequest, resource: { ...topicRequest.resource, name: 'e/../../other' } }, 'refused: SQS queue name "team-a-e/__/__/other" (<namespace>-<name>) must be 1 to 80 letters, digits, - or _'],
    ['a compacted Topic', { ...topicRequest, resource: { ...topicRequest.resource, spec: { cleanupPolicy: 'compact' } } }, 'refused: spec.cleanupPolicy "compact": an SQS queue cannot compact; only delete'],
    ['a Topic retention past 14 days', { ...topicRequest, resource: { ...topicRequest.resource, spec: { retentionHours: 337 } } }, 'refused: spec.retentionHours 337: SQS keeps messages 1 to 336 hours (14 days)'],
  ])('attack: %s is refused for good with no call', async (_what, r, reason) => {
    const xml = scripted([]);
    const json = scriptedJson([]);
    const handler = r.resource.kind === 'Topic' ? json.handler : xml.handler;
    const err = (await awsProvisioner({ requestHandler: handler }).provision(r as DeploymentRequest, context()).catch((e: unknown) => e)) as DeployFailedError;
    expect({ permanent: err.permanent, message: err.message, calls: xml.actions.length + json.targets.length }).toEqual({ permanent: true, message: `request u1-1 could not be applied: ${reason}`, calls: 0 });
  });
});
