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

describe('parseStatusEvent: usage (issue 15 item 6)', () => {
  const usage = { priceClass: 'db.t3.micro', sizeGiB: 20, hours: 10, hourlyRate: 0.02116, cost: 0.2116 };
  const withUsage = (u: unknown) => json({ ...event, outputs: { ...event.outputs, usage: u } });
  const malformed = (problems: string) => ({ ok: false, error: 'MalformedMessageError', code: 'KIDP_BROKERS_MALFORMED_MESSAGE', message: `malformed StatusEvent: ${problems}; the sender must produce a message matching brokers/protocol.ts` });

  it('round-trips a usage report, with and without a size', () => {
    const sized = { ...event, outputs: { ...event.outputs, usage } };
    const unsized = { ...event, outputs: { usage: { priceClass: 'redis-shared', hours: 0, hourlyRate: 0.004, cost: 0 } } };
    expect([outcome(parseStatusEvent(encodeMessage(sized))), outcome(parseStatusEvent(encodeMessage(unsized)))]).toEqual([{ ok: true, value: sized }, { ok: true, value: unsized }]);
  });

  // What a compromised or buggy broker could send to inflate or corrupt a team's bill.
  const hostile: Array<[string, string, ReturnType<typeof outcome>]> = [
    ['a negative cost and hours', withUsage({ ...usage, hours: -10, cost: -0.2116 }), malformed('/outputs/usage/hours must be >= 0; /outputs/usage/cost must be >= 0')],
    ['NaN (JSON carries it as null)', withUsage({ ...usage, cost: Number.NaN }), malformed('/outputs/usage/cost must be number')],
    ['Infinity (JSON carries it as null)', withUsage({ ...usage, hourlyRate: Number.POSITIVE_INFINITY }), malformed('/outputs/usage/hourlyRate must be number')],
    ['a number past the bounds', '{"x":0}'.replace('{"x":0}', withUsage({ ...usage, hours: 1, hourlyRate: 1, cost: 1 }).replace('"cost":1', '"cost":1e308').replace('"hourlyRate":1', '"hourlyRate":1e308')), malformed('/outputs/usage/hourlyRate must be <= 10000; /outputs/usage/cost must be <= 10000000000')],
    ['a string for a number', withUsage({ ...usage, hours: '10' }), malformed('/outputs/usage/hours must be number')],
    ['an extra field', withUsage({ ...usage, discount: 1 }), malformed('/outputs/usage has unknown property "discount"')],
    ['a missing cost', withUsage({ priceClass: 'x', hours: 1, hourlyRate: 1 }), malformed("/outputs/usage must have required property 'cost'")],
    ['a price class that is not a plain name', withUsage({ ...usage, priceClass: '<script>' }), malformed('/outputs/usage/priceClass must match pattern "^[a-z0-9][a-z0-9.-]*$"')],
    ['a cost that is not hours × hourlyRate', withUsage({ ...usage, cost: 999 }), malformed('/outputs/usage/cost 999 is not hours × hourlyRate (0.2116)')],
  ];
  it.each(hostile)('refuses %s', (_name, bytes, expected) => {
    expect(outcome(parseStatusEvent(bytes))).toEqual(expected);
  });

  it('refuses to send a usage report whose cost does not add up', () => {
    expect(() => encodeMessage({ ...event, outputs: { usage: { ...usage, cost: 1 } } })).toThrow('/outputs/usage/cost 1 is not hours × hourlyRate');
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
