// Shapes the policy layer reads. Policy and PolicyException come from crds/ (generated from
// the CRD YAML); AdmissionRequest is the admission.k8s.io/v1 request as policies see it.

export type PolicyMode = 'Enforce' | 'Warn' | 'Audit';
export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export type { ObjectMeta, Policy, PolicyException, PolicyExceptionSpec, PolicySpec } from '../../crds/types.js';
import type { ObjectMeta, PolicySpec } from '../../crds/types.js';

export type PolicyRuleSpec = PolicySpec['rules'][number];
export type NamedExpression = NonNullable<PolicySpec['variables']>[number];

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface UserInfo {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** admission.k8s.io/v1 AdmissionRequest as policies see it (`request` in CEL). */
export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: Operation;
  userInfo: UserInfo;
  object?: KubeObject | null;
  oldObject?: KubeObject | null;
  dryRun?: boolean;
}

/** Any Kubernetes object, as decoded JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [key: string]: unknown;
}
