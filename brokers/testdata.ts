// A DeploymentRequest for unit tests of the transports and their tokens.
import { PROTOCOL_VERSION, type DeploymentRequest } from './contract.js';

export const sampleRequest: DeploymentRequest = {
  apiVersion: PROTOCOL_VERSION,
  kind: 'DeploymentRequest',
  requestId: 'uid-1-1',
  action: 'deploy',
  target: { name: 't1', identity: 'b1', provider: 'kubernetes', environment: 'development' },
  resource: { kind: 'Service', namespace: 'ns', name: 'web', uid: 'uid-1', generation: 1, labels: {}, spec: { image: 'x/y:1' } },
  issuedAt: '2026-01-01T00:00:00Z',
};
