// The `aws` provider (issue 15 item 5): one Provisioner, one AWS service per kind, all through
// the official AWS SDK for JavaScript v3 and configured only from the DeploymentTarget
// (spec.region, spec.aws): a Database is an RDS DB instance (rds.ts), a Cache an ElastiCache
// for Redis replication group (elasticache.ts), a Topic an SQS queue (sqs.ts). Every one is
// tagged with the resource uid and never adopted when the tag is another's or absent.
//
// Tested against moto's server mode (an AWS API emulator), not against AWS: see README.md.
import type { DeployableKind } from '../contract.js';
import type { Provisioner } from '../provisioner.js';
import { elastiCacheCaches } from './elasticache.js';
import type { KindProvisioner } from './kind-provisioner.js';
import { rdsDatabases } from './rds.js';
import type { AwsProvisionerOptions } from './session.js';
import { sqsTopics } from './sqs.js';

export type { AwsProvisionerOptions } from './session.js';
export { POLL_CAP_MS, POLL_FIRST_MS, WAIT_DEADLINE_MS } from './session.js';

export function awsProvisioner(options: AwsProvisionerOptions = {}): Provisioner {
  const byKind: Partial<Record<DeployableKind, KindProvisioner>> = { Database: rdsDatabases(options), Cache: elastiCacheCaches(options), Topic: sqsTopics(options) };
  const kinds = Object.keys(byKind) as DeployableKind[];
  // The runtime refuses other kinds before calling (Provisioner.kinds); this is the same rule once more.
  const of = (kind: DeployableKind): KindProvisioner => {
    const handler = byKind[kind];
    if (!handler) throw new Error(`the aws provider does not provision ${kind} resources`);
    return handler;
  };
  return {
    provider: 'aws',
    kinds,
    provision: (request, context) => of(request.resource.kind).provision(request, context),
    deprovision: (request, context) => of(request.resource.kind).deprovision(request, context),
    async close() {
      await Promise.all(Object.values(byKind).map((k) => k.close()));
    },
  };
}
