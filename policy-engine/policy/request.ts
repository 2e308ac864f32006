// Builds the AdmissionRequest a policy sees for an object that did not come through the
// apiserver: offline validation (kidp validate), policy test suites and background audit.

import { gvkOf } from './match.js';
import type { AdmissionRequest, KubeObject, Operation, UserInfo } from './types.js';

export interface SyntheticRequestOptions {
  operation?: Operation;
  oldObject?: KubeObject | null;
  userInfo?: UserInfo;
  uid?: string;
}

/** The user offline checks act as; not `system:` so matchConditions excluding system users apply. */
export const OFFLINE_USER: UserInfo = { username: 'kidp:offline', groups: ['system:authenticated'] };

function pluralOf(kind: string): string {
  const lower = kind.toLowerCase();
  if (/(s|x|z|ch|sh)$/.test(lower)) return `${lower}es`;
  if (/[^aeiou]y$/.test(lower)) return `${lower.slice(0, -1)}ies`;
  return `${lower}s`;
}

export function syntheticRequest(object: KubeObject | null, options: SyntheticRequestOptions = {}): AdmissionRequest {
  const operation = options.operation ?? 'CREATE';
  const subject = object ?? options.oldObject ?? {};
  const gvk = gvkOf(subject);
  const name = subject.metadata?.name;
  const namespace = subject.metadata?.namespace;
  return {
    uid: options.uid ?? `offline-${gvk.kind}-${namespace ?? ''}-${name ?? ''}`,
    kind: gvk,
    resource: { group: gvk.group, version: gvk.version, resource: pluralOf(gvk.kind) },
    ...(name !== undefined ? { name } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    operation,
    userInfo: options.userInfo ?? OFFLINE_USER,
    object: operation === 'DELETE' ? null : object,
    oldObject: options.oldObject ?? null,
    dryRun: true,
  };
}
