// The brokers/ error catalogue (STYLE §7): one class per stable code, each carrying
// `cause` when there is one, with a message that says what was wrong, where, and what to do.

export type BrokersErrorCode =
  | 'KIDP_BROKERS_MALFORMED_MESSAGE'
  | 'KIDP_BROKERS_UNSUPPORTED_VERSION'
  | 'KIDP_BROKERS_DISPATCH_TRANSIENT'
  | 'KIDP_BROKERS_DISPATCH_PERMANENT'
  | 'KIDP_BROKERS_UNAUTHENTICATED'
  | 'KIDP_BROKERS_REQUEST_UNAUTHENTICATED'
  | 'KIDP_BROKERS_FORBIDDEN'
  | 'KIDP_BROKERS_RESOURCE_NOT_FOUND'
  | 'KIDP_BROKERS_STATUS_CONFLICT'
  | 'KIDP_BROKERS_DEPLOY_FAILED'
  | 'KIDP_BROKERS_MESSAGE_REFUSED'
  | 'KIDP_BROKERS_PLACEMENT_REFUSED';

export abstract class BrokersError extends Error {
  abstract readonly code: BrokersErrorCode;
}

/** Bytes that are not JSON, or JSON that does not match the message schema. */
export class MalformedMessageError extends BrokersError {
  readonly code = 'KIDP_BROKERS_MALFORMED_MESSAGE';
  constructor(
    readonly messageKind: 'DeploymentRequest' | 'StatusEvent',
    /** ajv-style problems, `<json pointer> <what>`; empty when the bytes were not JSON. */
    readonly problems: string[],
    options?: { cause?: unknown },
  ) {
    const detail = problems.length > 0 ? problems.join('; ') : options?.cause instanceof Error ? options.cause.message : 'not JSON';
    super(`malformed ${messageKind}: ${detail}; the sender must produce a message matching brokers/protocol.ts`, options);
    this.name = 'MalformedMessageError';
  }
}

/** A well-formed envelope whose apiVersion this build does not speak. */
export class UnsupportedVersionError extends BrokersError {
  readonly code = 'KIDP_BROKERS_UNSUPPORTED_VERSION';
  constructor(
    readonly messageKind: 'DeploymentRequest' | 'StatusEvent',
    readonly apiVersion: unknown,
    readonly supported: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(
      `${messageKind} has apiVersion ${JSON.stringify(apiVersion)}, which this build does not support ` +
        `(supported: ${supported.join(', ')}); upgrade the receiver or have the sender use a supported version`,
      options,
    );
    this.name = 'UnsupportedVersionError';
  }
}

export type ProtocolError = MalformedMessageError | UnsupportedVersionError;

/** Delivery failed in a way that may succeed later (Kafka down, 5xx, timeout): retry with backoff. */
export class TransientDispatchError extends BrokersError {
  readonly code = 'KIDP_BROKERS_DISPATCH_TRANSIENT';
  constructor(
    readonly requestId: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`request ${requestId} was not delivered: ${reason}; it will succeed once the broker or Kafka is reachable again`, options);
    this.name = 'TransientDispatchError';
  }
}

/** Delivery can never succeed as asked (4xx from the broker, no route): record it, do not retry. */
export class PermanentDispatchError extends BrokersError {
  readonly code = 'KIDP_BROKERS_DISPATCH_PERMANENT';
  constructor(
    readonly requestId: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`request ${requestId} was refused: ${reason}; fix the DeploymentTarget or the resource and apply again`, options);
    this.name = 'PermanentDispatchError';
  }
}

/** Missing, forged or expired token on the status API (401). */
export class UnauthenticatedError extends BrokersError {
  readonly code = 'KIDP_BROKERS_UNAUTHENTICATED';
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`status report not authenticated: ${reason}; send a JWT signed with the key named in the DeploymentTarget`, options);
    this.name = 'UnauthenticatedError';
  }
}

/** Why a broker refused a webhook delivery (401); stable, for the JSON answer and the logs. */
export type RequestAuthFailure = 'missing-token' | 'bad-signature' | 'expired' | 'wrong-issuer' | 'wrong-audience' | 'wrong-subject' | 'body-mismatch' | 'invalid-token';

/** A webhook delivery without a valid controllers' token for exactly its body (401 at the broker). */
export class RequestUnauthenticatedError extends BrokersError {
  readonly code = 'KIDP_BROKERS_REQUEST_UNAUTHENTICATED';
  constructor(
    readonly reason: RequestAuthFailure,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      `deployment request not authenticated (${reason}): ${detail}; the controllers sign each webhook delivery with their dispatch key ` +
        '(kidp controllers run --dispatch-signing-key-file) and the broker must trust its public half (kidp broker run --platform-public-key-file)',
      options,
    );
    this.name = 'RequestUnauthenticatedError';
  }
}

/** An authenticated broker reporting on something outside its targets (403). */
export class ForbiddenError extends BrokersError {
  readonly code = 'KIDP_BROKERS_FORBIDDEN';
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`status report refused: ${reason}`, options);
    this.name = 'ForbiddenError';
  }
}

export class ResourceNotFoundError extends BrokersError {
  readonly code = 'KIDP_BROKERS_RESOURCE_NOT_FOUND';
  constructor(
    readonly what: string,
    options?: { cause?: unknown },
  ) {
    super(`${what} does not exist; the status event refers to something deleted or never created`, options);
    this.name = 'ResourceNotFoundError';
  }
}

/** The status write lost every optimistic-concurrency retry. */
export class StatusConflictError extends BrokersError {
  readonly code = 'KIDP_BROKERS_STATUS_CONFLICT';
  constructor(
    readonly what: string,
    attempts: number,
    options?: { cause?: unknown },
  ) {
    super(`status of ${what} kept changing under us (${attempts} attempts, 409 each time); retry the event later`, options);
    this.name = 'StatusConflictError';
  }
}

/** The reference broker could not apply what a request asked for. */
export class DeployFailedError extends BrokersError {
  readonly code = 'KIDP_BROKERS_DEPLOY_FAILED';
  constructor(
    readonly requestId: string,
    reason: string,
    readonly permanent: boolean,
    options?: { cause?: unknown },
  ) {
    super(`request ${requestId} could not be applied: ${reason}`, options);
    this.name = 'DeployFailedError';
  }
}

/** Why a Kafka message was not acted on; stable, for the dead-letter header and the metric label. */
export type MessageRefusal = 'unsigned' | 'bad-signature' | 'expired' | 'replayed' | 'wrong-issuer' | 'wrong-audience' | 'wrong-subject' | 'body-mismatch' | 'wrong-broker' | 'unknown-target' | 'no-target-key' | 'invalid-token' | 'wrong-partition';

/**
 * A Kafka message without a valid end-to-end signature (issue 10 item 3): dead-lettered with
 * the reason, counted, and never acted on. Kafka's ACLs decide who may produce; this decides
 * whether what they produced was signed by the one who should have.
 */
export class MessageRefusedError extends BrokersError {
  readonly code = 'KIDP_BROKERS_MESSAGE_REFUSED';
  constructor(
    readonly reason: MessageRefusal,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`message refused (${reason}): ${detail}; requests are signed by the controllers' dispatch key, status events by the key in the broker's DeploymentTarget`, options);
    this.name = 'MessageRefusedError';
  }
}

/** A request a broker will not carry out where it was asked to, or as it was written (issue 10 item 4). */
export class PlacementRefusedError extends BrokersError {
  readonly code = 'KIDP_BROKERS_PLACEMENT_REFUSED';
  constructor(
    readonly requestId: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`request ${requestId} refused: ${detail}`, options);
    this.name = 'PlacementRefusedError';
  }
}
