import type { DeploymentRequest } from '../contract.js';
import { sampleRequest } from '../testdata.js';
import { checkWorkload, namespaceRefusal, placeRequest, type PlacementConfig, type TargetRecord } from './confinement.js';

const config: PlacementConfig = { namespaces: ['workloads', 'team-*'], platformNamespace: 'kidp-system' };
const target: TargetRecord = { name: 't1', identity: 'b1', namespace: 'workloads' };
const withSpec = (spec: Record<string, unknown>): DeploymentRequest => ({ ...sampleRequest, resource: { ...sampleRequest.resource, spec: { image: 'x/y:1', ...spec } } });

function outcome(fn: () => unknown): unknown {
  try {
    return { ok: fn() };
  } catch (err) {
    return { error: (err as Error).name, message: (err as Error).message };
  }
}

describe('namespaceRefusal', () => {
  it.each([
    ['workloads', undefined],
    ['team-a', undefined],
    ['kube-system', 'namespace kube-system belongs to the cluster itself'],
    ['kube-public', 'namespace kube-public belongs to the cluster itself'],
    ['kidp-system', "namespace kidp-system is the platform's own"],
    ['other', 'namespace other is not one this broker is configured for (workloads, team-*)'],
    ['team', 'namespace team is not one this broker is configured for (workloads, team-*)'],
  ])('%s', (ns, expected) => {
    expect(namespaceRefusal(ns, config)).toBe(expected);
  });

  it('refuses everything when configured with no namespace', () => {
    expect(namespaceRefusal('workloads', { namespaces: [] })).toBe('namespace workloads is not one this broker is configured for (none)');
  });
});

describe('placeRequest: the DeploymentTarget places, the message never does', () => {
  it.each<[string, DeploymentRequest, TargetRecord | undefined, unknown]>([
    ['placed by the target', sampleRequest, target, { ok: { ...sampleRequest, target: { ...sampleRequest.target, namespace: 'workloads' } } }],
    ['the message agrees', { ...sampleRequest, target: { ...sampleRequest.target, namespace: 'workloads' } }, target, { ok: { ...sampleRequest, target: { ...sampleRequest.target, namespace: 'workloads' } } }],
    ['the message says kube-system', { ...sampleRequest, target: { ...sampleRequest.target, namespace: 'kube-system' } }, target, { error: 'PlacementRefusedError', message: 'request uid-1-1 refused: the request places into namespace kube-system, DeploymentTarget t1 into workloads' }],
    ['no such target', sampleRequest, undefined, { error: 'PlacementRefusedError', message: 'request uid-1-1 refused: DeploymentTarget t1 does not exist' }],
    ['another broker serves the target', sampleRequest, { ...target, identity: 'b2' }, { error: 'PlacementRefusedError', message: 'request uid-1-1 refused: DeploymentTarget t1 is served by broker b2, not b1' }],
    ['the target names kube-system', sampleRequest, { ...target, namespace: 'kube-system' }, { error: 'PlacementRefusedError', message: 'request uid-1-1 refused: namespace kube-system belongs to the cluster itself' }],
    ["no target namespace: the resource's own, if configured", sampleRequest, { name: 't1', identity: 'b1' }, { error: 'PlacementRefusedError', message: 'request uid-1-1 refused: namespace ns is not one this broker is configured for (workloads, team-*)' }],
    // Names reach object names, SQL identifiers and key prefixes downstream (issue 15).
    ['a resource name the apiserver would never store', { ...sampleRequest, resource: { ...sampleRequest.resource, name: 'x"; DROP ROLE kidp_admin; --' } }, target, { error: 'PlacementRefusedError', message: 'request uid-1-1 refused: resource name "x\\"; DROP ROLE kidp_admin; --" is not a Kubernetes object name' }],
    ['a namespace with a glob', { ...sampleRequest, resource: { ...sampleRequest.resource, namespace: 'team-*' } }, target, { error: 'PlacementRefusedError', message: 'request uid-1-1 refused: resource namespace "team-*" is not a Kubernetes namespace name' }],
  ])('%s', (_, request, t, expected) => {
    expect(outcome(() => placeRequest(request, t, config))).toEqual(expected);
  });
});

describe('checkWorkload: never privileged, env only from connection Secrets', () => {
  it.each<[string, Record<string, unknown>, unknown]>([
    ['plain', {}, { ok: { secretRefs: [] } }],
    ['safe securityContext', { securityContext: { runAsNonRoot: true, runAsUser: 1000, readOnlyRootFilesystem: true, privileged: false, allowPrivilegeEscalation: false } }, { ok: { secretRefs: [] } }],
    ['privileged', { securityContext: { privileged: true } }, { error: 'PlacementRefusedError', message: 'request uid-1-1 refused: spec.securityContext.privileged: true is not allowed (workloads are never privileged)' }],
    ['escalation', { securityContext: { allowPrivilegeEscalation: true } }, { error: 'PlacementRefusedError', message: 'request uid-1-1 refused: spec.securityContext.allowPrivilegeEscalation: true is not allowed (workloads are never privileged)' }],
    ['capabilities', { securityContext: { capabilities: { add: ['NET_ADMIN'] } } }, { error: 'PlacementRefusedError', message: 'request uid-1-1 refused: spec.securityContext.capabilities is not rendered by this broker (allowed: runAsNonRoot, runAsUser, runAsGroup, readOnlyRootFilesystem, privileged, allowPrivilegeEscalation)' }],
    ['env values', { env: [{ name: 'A', value: '1' }] }, { ok: { secretRefs: [] } }],
    ['env from a connection Secret', { env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'db-connection', key: 'password' } } }] }, { ok: { secretRefs: ['db-connection'] } }],
    ['env from another Secret', { env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'admin-token', key: 'token' } } }] }, { error: 'PlacementRefusedError', message: 'request uid-1-1 refused: spec.env[0] (P): Secret admin-token is not a connection Secret (<name>-connection)' }],
    ['env from a field and a Secret at once', { env: [{ name: 'P', valueFrom: { fieldRef: { fieldPath: 'x' }, secretKeyRef: { name: 'db-connection', key: 'k' } } }] }, { error: 'PlacementRefusedError', message: "request uid-1-1 refused: spec.env[0] (P): valueFrom may only be a secretKeyRef {name, key} to the resource's own connection Secret" }],
    ['resources beyond limits/requests', { resources: { claims: [{ name: 'gpu' }] } }, { error: 'PlacementRefusedError', message: 'request uid-1-1 refused: spec.resources may hold only limits and requests' }],
  ])('%s', (_, spec, expected) => {
    expect(outcome(() => checkWorkload(withSpec(spec)))).toEqual(expected);
  });
});
