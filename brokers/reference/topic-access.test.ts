import type { DeploymentRequest } from '../contract.js';
import { aclEntries } from '../kafka-access.js';
import { applicationAccessFor, topicAccessBindings } from './topic-access.js';

const topicRequest = (owner: unknown): DeploymentRequest => ({
  apiVersion: 'broker.kidp.io/v1',
  kind: 'DeploymentRequest',
  requestId: 'u-1',
  action: 'deploy',
  target: { name: 't', identity: 'b', provider: 'kubernetes', environment: 'development' },
  resource: { kind: 'Topic', namespace: 'team-a', name: 'orders', uid: 'u', generation: 1, labels: {}, spec: { owner } },
  issuedAt: '2026-12-04T00:00:00Z',
});

describe("a Topic owner's Kafka access", () => {
  it('is the owning Application, with its topic literal and its group prefix, and nothing for a Team or a malformed owner', () => {
    const access = applicationAccessFor(topicRequest({ kind: 'Application', name: 'shop' }));
    expect({
      access,
      bindings: access ? topicAccessBindings('team-a.orders', access) : undefined,
      team: applicationAccessFor(topicRequest({ kind: 'Team', name: 'a' })),
      none: applicationAccessFor(topicRequest(undefined)),
      odd: applicationAccessFor(topicRequest({ kind: 'Service', name: 'x' })),
    }).toEqual({
      access: { application: 'shop', commonName: 'kidp-app-team-a.shop', principal: 'User:kidp-app-team-a.shop', groupPrefix: 'team-a.shop/' },
      bindings: {
        topic: [{ principal: 'User:kidp-app-team-a.shop', resource: 'topic', name: 'team-a.orders', pattern: 'literal', operations: ['READ', 'WRITE', 'DESCRIBE'], permission: 'allow' }],
        group: [{ principal: 'User:kidp-app-team-a.shop', resource: 'group', name: 'team-a.shop/', pattern: 'prefixed', operations: ['READ'], permission: 'allow' }],
      },
      team: undefined,
      none: undefined,
      odd: undefined,
    });
  });

  it("keeps a dotted Application's groups apart from its prefix's namesake", () => {
    // shop and shop.v2 in one namespace: neither prefix is a prefix of the other's groups.
    const a = applicationAccessFor(topicRequest({ kind: 'Application', name: 'shop' }))!;
    const b = applicationAccessFor(topicRequest({ kind: 'Application', name: 'shop.v2' }))!;
    expect({ aCoversB: `${b.groupPrefix}workers`.startsWith(a.groupPrefix), bCoversA: `${a.groupPrefix}workers`.startsWith(b.groupPrefix), entries: aclEntries(topicAccessBindings('team-a.orders', a).topic).length }).toEqual({ aCoversB: false, bCoversA: false, entries: 3 });
  });
});
