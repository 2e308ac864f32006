// One AWS service behind the `aws` provider: what one kind becomes (RDS for Database,
// ElastiCache for Cache, SQS for Topic). provisioner.ts routes each request by kind.
import type { DeploymentRequest } from '../contract.js';
import type { ProvisionContext, ProvisionOutcome } from '../provisioner.js';

export interface KindProvisioner {
  provision(request: DeploymentRequest, context: ProvisionContext): Promise<ProvisionOutcome>;
  deprovision(request: DeploymentRequest, context: ProvisionContext): Promise<ProvisionOutcome>;
  /** Destroys the SDK clients still open. */
  close(): Promise<void>;
}
