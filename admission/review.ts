// AdmissionReview v1 shapes and their decoding. Only http.ts calls decodeReview; handlers
// receive an AdmissionRequest that is known to be well formed.
import type { AdmissionRequest as PolicyAdmissionRequest, GroupVersionKind, Operation, UserInfo } from '../policy-engine/policy/types.js';

export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

export type { GroupVersionKind, Operation, UserInfo, KubeObject } from '../policy-engine/policy/types.js';

/**
 * The admission.k8s.io/v1 request as this webhook receives it: what policies see
 * (policy-engine's AdmissionRequest) plus the fields only the transport needs.
 */
export interface AdmissionRequest extends PolicyAdmissionRequest {
  resource: GroupVersionResource;
  requestKind?: GroupVersionKind;
  options?: unknown;
}

export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string; reason?: string };
  patch?: string;
  patchType?: 'JSONPatch';
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

/** The admission/ error codes (errors/catalogue.ts lists them all). */
export type AdmissionErrorCode = 'KIDP_ADMISSION_BAD_REVIEW';

export class ReviewDecodeError extends Error {
  readonly code: AdmissionErrorCode = 'KIDP_ADMISSION_BAD_REVIEW';
  /** The uid, when the body had one, so the error can still be answered in-band. */
  readonly uid: string | undefined;
  constructor(message: string, uid?: string) {
    super(message);
    this.name = 'ReviewDecodeError';
    this.uid = uid;
  }
}

const OPERATIONS: readonly string[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function gvk(v: unknown, field: string, uid: string): GroupVersionKind {
  if (!isObject(v) || typeof v.kind !== 'string' || typeof v.version !== 'string' || typeof (v.group ?? '') !== 'string') {
    throw new ReviewDecodeError(`request.${field} must be {group, version, kind}`, uid);
  }
  return { group: (v.group as string | undefined) ?? '', version: v.version, kind: v.kind };
}

/** Checks the envelope and the fields handlers rely on; says which one is wrong. */
export function decodeReview(body: unknown): AdmissionRequest {
  if (!isObject(body)) throw new ReviewDecodeError('body must be a JSON object (an AdmissionReview)');
  if (body.apiVersion !== 'admission.k8s.io/v1' || body.kind !== 'AdmissionReview') {
    throw new ReviewDecodeError(
      `expected apiVersion admission.k8s.io/v1 and kind AdmissionReview, got ${JSON.stringify(body.apiVersion)} ${JSON.stringify(body.kind)}`,
    );
  }
  const r = body.request;
  if (!isObject(r)) throw new ReviewDecodeError('AdmissionReview has no request');
  if (typeof r.uid !== 'string' || r.uid === '') throw new ReviewDecodeError('request.uid is missing');
  const uid = r.uid;
  if (typeof r.operation !== 'string' || !OPERATIONS.includes(r.operation)) {
    throw new ReviewDecodeError(`request.operation must be one of ${OPERATIONS.join(', ')}`, uid);
  }
  const kind = gvk(r.kind, 'kind', uid);
  const res = r.resource;
  if (!isObject(res) || typeof res.resource !== 'string' || typeof res.version !== 'string') {
    throw new ReviewDecodeError('request.resource must be {group, version, resource}', uid);
  }
  for (const field of ['object', 'oldObject'] as const) {
    if (r[field] !== undefined && r[field] !== null && !isObject(r[field])) {
      throw new ReviewDecodeError(`request.${field} must be an object`, uid);
    }
  }
  if (r.operation === 'CREATE' && !isObject(r.object)) throw new ReviewDecodeError('a CREATE request needs request.object', uid);
  if (r.operation === 'UPDATE' && (!isObject(r.object) || !isObject(r.oldObject))) {
    throw new ReviewDecodeError('an UPDATE request needs request.object and request.oldObject', uid);
  }
  if (r.userInfo !== undefined && !isObject(r.userInfo)) throw new ReviewDecodeError('request.userInfo must be an object', uid);
  return {
    ...(r as unknown as AdmissionRequest),
    uid,
    kind,
    resource: { group: typeof res.group === 'string' ? res.group : '', version: res.version, resource: res.resource },
    operation: r.operation as Operation,
    userInfo: { ...((r.userInfo as Partial<UserInfo> | undefined) ?? {}), username: typeof (r.userInfo as { username?: unknown } | undefined)?.username === 'string' ? ((r.userInfo as { username: string }).username) : '' },
    dryRun: r.dryRun === true,
  };
}
