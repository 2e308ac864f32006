import { PROTOCOL_VERSION, type DeploymentRequest, type StatusEvent } from './contract.js';
import { MAX_MESSAGE_BYTES, encodeMessage, parseRequest, parseStatusEvent, requestIdFor } from './protocol.js';

const request: DeploymentRequest = {
  apiVersion: PROTOCOL_VERSION,
  kind: 'DeploymentRequest',
  requestId: 'u-1-3',
  action: 'deploy',
  target: { name: 'local-production', identity: 'kubernetes-broker', provider: 'kubernetes', environment: 'production', region: 'local', namespace: 'kidp-workloads' },
  resource: { kind: 'Service', namespace: 'payments', name: 'checkout-api', uid: 'u-1', generation: 3, labels: { team: 'payments' }, spec: { image: 'x/y:1', replicas: 2 } },
  issuedAt: '2026-01-02T03:04:05Z',
};

const event: StatusEvent = {
  apiVersion: PROTOCOL_VERSION,
  kind: 'StatusEvent',
  eventId: 'u-1-3:Ready',
  requestId: 'u-1-3',
  target: 'local-production',
  broker: 'kubernetes-broker',
  resource: { kind: 'Database', namespace: 'payments', name: 'ledger', uid: 'u-1', generation: 3 },
  phase: 'Ready',
  reason: 'ObjectsApplied',
  message: 'ok',
  permanent: false,
  outputs: { connectionSecretRef: { name: 'ledger-connection', namespace: 'kidp-workloads' } },
  reportedAt: '2026-01-02T03:04:06.123Z',
};

const json = (o: unknown) => JSON.stringify(o);
/** Whole outcome, with the error reduced to its class, code and message. */
function outcome(p: ReturnType<typeof parseRequest> | ReturnType<typeof parseStatusEvent>) {
  return p.ok ? { ok: true, value: p.value } : { ok: false, error: p.error.name, code: p.error.code, message: p.error.message };
}

describe('parseRequest', () => {
  const cases: Array<[string, string | Buffer, ReturnType<typeof outcome>]> = [
    ['round-trips every field', encodeMessage(request), { ok: true, value: request }],
    ['accepts a delete without optional target fields', json({ ...request, action: 'delete', requestId: 'u-1-3-delete', target: { name: 't', identity: 'b', provider: 'aws', environment: 'staging' } }), {
      ok: true,
      value: { ...request, action: 'delete', requestId: 'u-1-3-delete', target: { name: 't', identity: 'b', provider: 'aws', environment: 'staging' } },
    }],
    ['rejects bytes that are not JSON', '{nope', {
      ok: false,
      error: 'MalformedMessageError',
      code: 'KIDP_BROKERS_MALFORMED_MESSAGE',
      message: expect.stringMatching(/^malformed DeploymentRequest: .*JSON.*; the sender must produce a message matching brokers\/protocol.ts$/) as unknown as string,
    }],
    ['rejects a JSON array', '[]', { ok: false, error: 'MalformedMessageError', code: 'KIDP_BROKERS_MALFORMED_MESSAGE', message: 'malformed DeploymentRequest: (root) must be an object; the sender must produce a message matching brokers/protocol.ts' }],
    ['rejects an unknown apiVersion before looking at the shape', json({ apiVersion: 'broker.kidp.io/v2', kind: 'Whatever' }), {
      ok: false,
      error: 'UnsupportedVersionError',
      code: 'KIDP_BROKERS_UNSUPPORTED_VERSION',
      message: 'DeploymentRequest has apiVersion "broker.kidp.io/v2", which this build does not support (supported: broker.kidp.io/v1); upgrade the receiver or have the sender use a supported version',
    }],
    ['rejects a missing apiVersion as unsupported', json({ kind: 'DeploymentRequest' }), {
      ok: false,
      error: 'UnsupportedVersionError',
      code: 'KIDP_BROKERS_UNSUPPORTED_VERSION',
      message: 'DeploymentRequest has apiVersion undefined, which this build does not support (supported: broker.kidp.io/v1); upgrade the receiver or have the sender use a supported version',
    }],
    ['names every problem with its path', json({ ...request, action: 'upsert', resource: { ...request.resource, generation: -1, extra: 1 } }), {
      ok: false,
      error: 'MalformedMessageError',
      code: 'KIDP_BROKERS_MALFORMED_MESSAGE',
      message:
        'malformed DeploymentRequest: /action must be one of "deploy", "delete"; /resource has unknown property "extra"; /resource/generation must be >= 0; the sender must produce a message matching brokers/protocol.ts',
    }],
    ['rejects a status event sent as a request', json(event), {
      ok: false,
      error: 'MalformedMessageError',
      code: 'KIDP_BROKERS_MALFORMED_MESSAGE',
      message: expect.stringContaining('/kind must be one of "DeploymentRequest"') as unknown as string,
    }],
    ['rejects messages over the size limit', Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x20), {
      ok: false,
      error: 'MalformedMessageError',
      code: 'KIDP_BROKERS_MALFORMED_MESSAGE',
      message: `malformed DeploymentRequest: (root) is ${MAX_MESSAGE_BYTES + 1} bytes, over the ${MAX_MESSAGE_BYTES}-byte limit; the sender must produce a message matching brokers/protocol.ts`,
    }],
  ];
  it.each(cases)('%s', (_name, bytes, expected) => {
    expect(outcome(parseRequest(bytes))).toEqual(expected);
  });
});

describe('parseStatusEvent', () => {
  const cases: Array<[string, string | Buffer, ReturnType<typeof outcome>]> = [
    ['round-trips every field', encodeMessage(event), { ok: true, value: event }],
    ['rejects a reason that cannot be a Condition reason', json({ ...event, reason: 'not ok' }), {
      ok: false,
      error: 'MalformedMessageError',
      code: 'KIDP_BROKERS_MALFORMED_MESSAGE',
      message: 'malformed StatusEvent: /reason must match pattern "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"; the sender must produce a message matching brokers/protocol.ts',
    }],
    ['rejects an unknown phase and a bad timestamp', json({ ...event, phase: 'Done', reportedAt: 'yesterday' }), {
      ok: false,
      error: 'MalformedMessageError',
      code: 'KIDP_BROKERS_MALFORMED_MESSAGE',
      message: 'malformed StatusEvent: /phase must be one of "Deploying", "Ready", "Failed", "Deleted"; /reportedAt must match format "date-time"; the sender must produce a message matching brokers/protocol.ts',
    }],
  ];
  it.each(cases)('%s', (_name, bytes, expected) => {
    expect(outcome(parseStatusEvent(bytes))).toEqual(expected);
  });
});

describe('encodeMessage', () => {
  it('refuses to put a malformed message on the wire', () => {
    expect(() => encodeMessage({ ...event, eventId: '' })).toThrow('malformed StatusEvent: /eventId must NOT have fewer than 1 characters');
  });
});

describe('requestIdFor', () => {
  it.each([
    ['abc', 1, 'deploy', 'abc-1'],
    ['abc', 7, 'delete', 'abc-7-delete'],
  ] as const)('(%s, %d, %s) is %s, every time', (uid, generation, action, expected) => {
    expect([requestIdFor(uid, generation, action), requestIdFor(uid, generation, action)]).toEqual([expected, expected]);
  });
});
