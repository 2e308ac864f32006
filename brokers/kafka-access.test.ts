import { aclEntries, kidpAcls } from './kafka-access.js';

describe("KIDP's Kafka ACLs", () => {
  it('gives each principal exactly its part, and the broker a DENY on the reserved prefixes', () => {
    const rows = kidpAcls({ brokerIdentities: ['kubernetes-broker'] }).map((b) => `${b.permission} ${b.principal} ${b.resource}:${b.name}${b.pattern === 'prefixed' ? '*' : ''} ${b.operations.join(',')}`);
    expect(rows).toEqual([
      'allow User:kidp-controllers topic:kidp.deployment-requests WRITE,DESCRIBE',
      'allow User:kidp-controllers topic:kidp.deployment-status READ,DESCRIBE',
      'allow User:kidp-controllers topic:kidp.deployment-status.dlq WRITE,DESCRIBE',
      'allow User:kidp-controllers group:kidp-status-handler READ',
      'allow User:kidp-decision-stream topic:kidp.admission-decisions WRITE,DESCRIBE',
      'allow User:kidp-broker-kubernetes-broker topic:kidp.deployment-requests READ,DESCRIBE',
      'allow User:kidp-broker-kubernetes-broker group:kidp-broker-kubernetes-broker READ',
      'allow User:kidp-broker-kubernetes-broker group:kidp-broker-kubernetes-broker/replay-scan/* READ',
      'allow User:kidp-broker-kubernetes-broker topic:kidp.deployment-status WRITE,DESCRIBE',
      'allow User:kidp-broker-kubernetes-broker topic:kidp.deployment-requests.dlq WRITE,DESCRIBE',
      'allow User:kidp-broker-kubernetes-broker topic:* CREATE,DELETE,ALTER,DESCRIBE,DESCRIBE_CONFIGS,ALTER_CONFIGS',
      'deny User:kidp-broker-kubernetes-broker topic:kidp.* CREATE,DELETE,ALTER,ALTER_CONFIGS',
      'deny User:kidp-broker-kubernetes-broker topic:__* CREATE,DELETE,ALTER,ALTER_CONFIGS',
      'allow User:kidp-broker-kubernetes-broker cluster:kafka-cluster ALTER',
    ]);
  });

  it('grants on the cluster resource only ALTER, only to broker identities (for the ACLs of Topic owners; no CREATE, no IDEMPOTENT_WRITE)', () => {
    // kafkajs AclResourceTypes: TOPIC 2, GROUP 3, CLUSTER 4; AclOperationTypes ALTER 7.
    const cluster = aclEntries(kidpAcls({ brokerIdentities: ['a', 'b'] })).filter((e) => e.resourceType === 4);
    expect(cluster.map((e) => `${e.principal} ${e.resourceName} ${e.operation} ${e.permissionType}`)).toEqual(['User:kidp-broker-a kafka-cluster 7 3', 'User:kidp-broker-b kafka-cluster 7 3']);
  });
});
