// The broker message protocol on the wire (DESIGN.md §5): JSON, versioned, validated with
// ajv at both ends. The schemas mirror contract.ts; protocol.test.ts round-trips every
// field so the two cannot drift apart silently.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { PROTOCOL_VERSION, type DeploymentRequest, type StatusEvent } from './contract.js';
import { DEPLOYABLE_KINDS } from '../crds/registry.js';
import { USAGE_LIMITS, usageProblem } from './usage.js';
import { MalformedMessageError, UnsupportedVersionError, type ProtocolError } from './errors.js';

/** Versions this build reads. A new version is added here beside its schema, never in place. */
export const SUPPORTED_VERSIONS: readonly string[] = [PROTOCOL_VERSION];

/** Kafka's default max.message.bytes is 1 MiB; anything larger cannot have come from KIDP. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

const DNS_LABELISH = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

const resourceRefProperties = {
  kind: { enum: DEPLOYABLE_KINDS },
  namespace: { type: 'string', minLength: 1, maxLength: 63 },
  name: { type: 'string', minLength: 1, maxLength: 253 },
  uid: { type: 'string', minLength: 1, maxLength: 128 },
  generation: { type: 'integer', minimum: 0 },
} as const;

export const DEPLOYMENT_REQUEST_SCHEMA = {
  $id: 'https://kidp.io/schemas/broker/v1/DeploymentRequest.json',
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'requestId', 'action', 'target', 'resource', 'issuedAt'],
  properties: {
    apiVersion: { const: PROTOCOL_VERSION },
    kind: { const: 'DeploymentRequest' },
    requestId: { type: 'string', minLength: 1, maxLength: 256 },
    action: { enum: ['deploy', 'delete'] },
    target: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'identity', 'provider', 'environment'],
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 253, pattern: DNS_LABELISH },
        identity: { type: 'string', minLength: 1, maxLength: 253, pattern: DNS_LABELISH },
        provider: { type: 'string', minLength: 1, maxLength: 64 },
        environment: { type: 'string', minLength: 1, maxLength: 64 },
        region: { type: 'string', maxLength: 64 },
        namespace: { type: 'string', minLength: 1, maxLength: 63 },
      },
    },
    resource: {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'namespace', 'name', 'uid', 'generation', 'labels', 'spec'],
      properties: {
        ...resourceRefProperties,
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        spec: { type: 'object' },
      },
    },
    issuedAt: { type: 'string', format: 'date-time' },
  },
} as const;

export const STATUS_EVENT_SCHEMA = {
  $id: 'https://kidp.io/schemas/broker/v1/StatusEvent.json',
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'eventId', 'requestId', 'target', 'broker', 'resource', 'phase', 'reason', 'message', 'reportedAt'],
  properties: {
    apiVersion: { const: PROTOCOL_VERSION },
    kind: { const: 'StatusEvent' },
    eventId: { type: 'string', minLength: 1, maxLength: 256 },
    requestId: { type: 'string', minLength: 1, maxLength: 256 },
    target: { type: 'string', minLength: 1, maxLength: 253, pattern: DNS_LABELISH },
    broker: { type: 'string', minLength: 1, maxLength: 253, pattern: DNS_LABELISH },
    resource: {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'namespace', 'name', 'uid', 'generation'],
      properties: resourceRefProperties,
    },
    phase: { enum: ['Deploying', 'Ready', 'Failed', 'Deleted'] },
    // The same pattern as metav1.Condition.reason, since it lands there.
    reason: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' },
    message: { type: 'string', maxLength: 32768 },
    permanent: { type: 'boolean' },
    outputs: {
      type: 'object',
      additionalProperties: false,
      properties: {
        connectionSecretRef: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'namespace'],
          properties: { name: { type: 'string', minLength: 1 }, namespace: { type: 'string', minLength: 1 } },
        },
        backup: {
          type: 'object',
          additionalProperties: false,
          required: ['lastBackupTime'],
          properties: { lastBackupTime: { type: 'string', format: 'date-time' }, location: { type: 'string', maxLength: 1024 } },
        },
        // Finite, non-negative and bounded (JSON has no NaN or Infinity; ajv's number refuses null); the cost must be hours × rate (usageProblem).
        usage: {
          type: 'object',
          additionalProperties: false,
          required: ['priceClass', 'hours', 'hourlyRate', 'cost'],
          properties: {
            priceClass: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9.-]*$' },
            sizeGiB: { type: 'number', minimum: 0, maximum: USAGE_LIMITS.sizeGiB },
            hours: { type: 'number', minimum: 0, maximum: USAGE_LIMITS.hours },
            hourlyRate: { type: 'number', minimum: 0, maximum: USAGE_LIMITS.hourlyRate },
            cost: { type: 'number', minimum: 0, maximum: USAGE_LIMITS.cost },
          },
        },
      },
    },
    reportedAt: { type: 'string', format: 'date-time' },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: true });
(addFormatsModule as unknown as (a: Ajv) => void)(ajv);
const validateRequest = ajv.compile(DEPLOYMENT_REQUEST_SCHEMA) as ValidateFunction<DeploymentRequest>;
const validateStatusEvent = ajv.compile(STATUS_EVENT_SCHEMA) as ValidateFunction<StatusEvent>;

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: ProtocolError };

function problem(e: ErrorObject): string {
  const where = e.instancePath === '' ? '(root)' : e.instancePath;
  if (e.keyword === 'additionalProperties') return `${where} has unknown property ${JSON.stringify(e.params['additionalProperty'])}`;
  if (e.keyword === 'enum' || e.keyword === 'const') {
    const allowed = (e.params['allowedValues'] ?? [e.params['allowedValue']]) as unknown[];
    return `${where} must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  return `${where} ${e.message ?? 'is invalid'}`;
}

function parse<T>(bytes: Uint8Array | string, messageKind: 'DeploymentRequest' | 'StatusEvent', validate: ValidateFunction<T>): Parsed<T> {
  const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
  if (size > MAX_MESSAGE_BYTES) {
    return { ok: false, error: new MalformedMessageError(messageKind, [`(root) is ${size} bytes, over the ${MAX_MESSAGE_BYTES}-byte limit`]) };
  }
  let json: unknown;
  try {
    json = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (cause) {
    return { ok: false, error: new MalformedMessageError(messageKind, [], { cause }) };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, error: new MalformedMessageError(messageKind, ['(root) must be an object']) };
  }
  // The version is checked before the shape: a newer sender's message should say "upgrade
  // me", not list every field this build does not know.
  const apiVersion = (json as Record<string, unknown>)['apiVersion'];
  if (!SUPPORTED_VERSIONS.includes(apiVersion as string)) {
    return { ok: false, error: new UnsupportedVersionError(messageKind, apiVersion, SUPPORTED_VERSIONS) };
  }
  if (!validate(json)) {
    return { ok: false, error: new MalformedMessageError(messageKind, (validate.errors ?? []).map(problem)) };
  }
  return { ok: true, value: json };
}

export function parseRequest(bytes: Uint8Array | string): Parsed<DeploymentRequest> {
  return parse(bytes, 'DeploymentRequest', validateRequest);
}

export function parseStatusEvent(bytes: Uint8Array | string): Parsed<StatusEvent> {
  const parsed = parse(bytes, 'StatusEvent', validateStatusEvent);
  const usage = parsed.ok ? parsed.value.outputs?.usage : undefined;
  const wrong = usage ? usageProblem(usage) : undefined;
  return wrong ? { ok: false, error: new MalformedMessageError('StatusEvent', [wrong]) } : parsed;
}

/** Serialises after validating, so a sender can never put a malformed message on the wire. */
export function encodeMessage(message: DeploymentRequest | StatusEvent): Buffer {
  const bytes = Buffer.from(JSON.stringify(message));
  const parsed = message.kind === 'DeploymentRequest' ? parseRequest(bytes) : parseStatusEvent(bytes);
  if (!parsed.ok) throw parsed.error;
  return bytes;
}

/**
 * Deterministic (DESIGN.md §3): the same object at the same generation always yields the
 * same id, so a controller that crashes after sending re-sends the same request, and the
 * broker's idempotency makes the second delivery a no-op. A re-send after a broker
 * reported a transient failure is attempt 2, 3, …: `<uid>-<generation>-retry<n>` (deletes
 * keep the `-delete` suffix), also deterministic, and new to the broker so its status
 * events are too.
 */
export function requestIdFor(uid: string, generation: number, action: 'deploy' | 'delete', attempt = 1): string {
  const base = attempt > 1 ? `${uid}-${generation}-retry${attempt}` : `${uid}-${generation}`;
  return action === 'deploy' ? base : `${base}-delete`;
}

/** The generation and attempt a request id of this object names (requestIdFor read back), or undefined. */
export function parseRequestId(requestId: string, uid: string, action: 'deploy' | 'delete'): { generation: number; attempt: number } | undefined {
  if (!uid || !requestId.startsWith(`${uid}-`)) return undefined;
  const m = /^(\d+)(?:-retry(\d+))?(-delete)?$/.exec(requestId.slice(uid.length + 1));
  if (!m || Boolean(m[3]) !== (action === 'delete')) return undefined;
  return { generation: Number(m[1]), attempt: m[2] ? Number(m[2]) : 1 };
}
