// Trimmed openAPIV3 schemas for the core Kubernetes kinds policies select, written from the
// Kubernetes API reference (v1.31) for the fields policies read. Fields are typed, so
// comparing `spec.replicas` to a string is a compile error as it is in the apiserver; a
// field not listed here is a compile error too ("undefined field"), so add it here when a
// policy needs it. Sub-objects policies rarely look into (probes, volumes, strategy) are
// `open`: a map(string, dyn).

export type OpenApiSchema = Readonly<Record<string, unknown>>;

const str = { type: 'string' } as const;
const bool = { type: 'boolean' } as const;
const int32 = { type: 'integer', format: 'int32' } as const;
const int64 = { type: 'integer', format: 'int64' } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;
const strMap = { type: 'object', additionalProperties: { type: 'string' } } as const;
const strList = { type: 'array', items: { type: 'string' } } as const;
const open = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } as const;
/**
 * Bounds for cost estimation only (the apiserver does not enforce them on core kinds): an
 * unbounded list makes every comprehension over it estimate as over the cost limit, so
 * a CRD author adds maxItems; for core kinds we state realistic bounds here. Runtime cost
 * limits still stop anything larger.
 */
const MAX_CONTAINERS = 16;

const quantity = { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] } as const;

export const objectMetaSchema: OpenApiSchema = {
  type: 'object',
  properties: {
    name: str,
    generateName: str,
    namespace: str,
    uid: str,
    resourceVersion: str,
    generation: int64,
    creationTimestamp: dateTime,
    deletionTimestamp: dateTime,
    labels: strMap,
    annotations: strMap,
    finalizers: strList,
    ownerReferences: {
      type: 'array',
      items: {
        type: 'object',
        properties: { apiVersion: str, kind: str, name: str, uid: str, controller: bool, blockOwnerDeletion: bool },
      },
    },
    managedFields: { type: 'array', items: open },
  },
};

const labelSelector = {
  type: 'object',
  properties: {
    matchLabels: strMap,
    matchExpressions: {
      type: 'array',
      items: { type: 'object', properties: { key: str, operator: str, values: strList } },
    },
  },
} as const;

const resources = {
  type: 'object',
  properties: {
    limits: { type: 'object', additionalProperties: quantity },
    requests: { type: 'object', additionalProperties: quantity },
  },
} as const;

const containerSecurityContext = {
  type: 'object',
  properties: {
    privileged: bool,
    allowPrivilegeEscalation: bool,
    readOnlyRootFilesystem: bool,
    runAsNonRoot: bool,
    runAsUser: int64,
    runAsGroup: int64,
    procMount: str,
    capabilities: { type: 'object', properties: { add: strList, drop: strList } },
    seccompProfile: { type: 'object', properties: { type: str, localhostProfile: str } },
  },
} as const;

const container = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 63 },
    image: { type: 'string', maxLength: 512 },
    imagePullPolicy: str,
    command: strList,
    args: strList,
    workingDir: str,
    env: {
      type: 'array',
      maxItems: 128,
      items: { type: 'object', properties: { name: str, value: str, valueFrom: open } },
    },
    envFrom: { type: 'array', items: open },
    ports: {
      type: 'array',
      items: { type: 'object', properties: { name: str, containerPort: int32, hostPort: int32, protocol: str } },
    },
    resources,
    securityContext: containerSecurityContext,
    volumeMounts: {
      type: 'array',
      items: { type: 'object', properties: { name: str, mountPath: str, readOnly: bool, subPath: str } },
    },
    livenessProbe: open,
    readinessProbe: open,
    startupProbe: open,
  },
} as const;

const podSpec = {
  type: 'object',
  properties: {
    containers: { type: 'array', maxItems: MAX_CONTAINERS, items: container },
    initContainers: { type: 'array', maxItems: MAX_CONTAINERS, items: container },
    ephemeralContainers: { type: 'array', maxItems: MAX_CONTAINERS, items: container },
    serviceAccountName: str,
    automountServiceAccountToken: bool,
    hostNetwork: bool,
    hostPID: bool,
    hostIPC: bool,
    nodeName: str,
    nodeSelector: strMap,
    priorityClassName: str,
    restartPolicy: str,
    runtimeClassName: str,
    securityContext: {
      type: 'object',
      properties: {
        runAsNonRoot: bool,
        runAsUser: int64,
        runAsGroup: int64,
        fsGroup: int64,
        supplementalGroups: { type: 'array', items: int64 },
        seccompProfile: { type: 'object', properties: { type: str, localhostProfile: str } },
      },
    },
    tolerations: {
      type: 'array',
      items: { type: 'object', properties: { key: str, operator: str, value: str, effect: str, tolerationSeconds: int64 } },
    },
    volumes: { type: 'array', items: open },
    imagePullSecrets: { type: 'array', items: { type: 'object', properties: { name: str } } },
  },
} as const;

const podTemplate = { type: 'object', properties: { metadata: objectMetaSchema, spec: podSpec } } as const;

function kind(spec: OpenApiSchema, status: OpenApiSchema = open): OpenApiSchema {
  return { type: 'object', properties: { apiVersion: str, kind: str, metadata: objectMetaSchema, spec, status } };
}

const workloadStatus = {
  type: 'object',
  properties: {
    replicas: int32,
    readyReplicas: int32,
    availableReplicas: int32,
    updatedReplicas: int32,
    observedGeneration: int64,
    conditions: { type: 'array', items: open },
  },
} as const;

/** Keyed by resource type as selectors spell it (match.ts `resourceTypeOf`). */
export const coreSchemas: Readonly<Record<string, OpenApiSchema>> = {
  Pod: kind(podSpec),
  Namespace: {
    type: 'object',
    properties: {
      apiVersion: str,
      kind: str,
      metadata: objectMetaSchema,
      spec: { type: 'object', properties: { finalizers: strList } },
      status: { type: 'object', properties: { phase: str } },
    },
  },
  ConfigMap: {
    type: 'object',
    properties: { apiVersion: str, kind: str, metadata: objectMetaSchema, data: strMap, binaryData: strMap, immutable: bool },
  },
  'Deployment.apps': kind(
    {
      type: 'object',
      properties: {
        replicas: int32,
        selector: labelSelector,
        template: podTemplate,
        strategy: open,
        minReadySeconds: int32,
        revisionHistoryLimit: int32,
        paused: bool,
        progressDeadlineSeconds: int32,
      },
    },
    workloadStatus,
  ),
  'StatefulSet.apps': kind(
    {
      type: 'object',
      properties: { replicas: int32, selector: labelSelector, template: podTemplate, serviceName: str, podManagementPolicy: str },
    },
    workloadStatus,
  ),
  'DaemonSet.apps': kind(
    {
      type: 'object',
      properties: { selector: labelSelector, template: podTemplate, minReadySeconds: int32 },
    },
    workloadStatus,
  ),
  'ReplicaSet.apps': kind(
    { type: 'object', properties: { replicas: int32, selector: labelSelector, template: podTemplate, minReadySeconds: int32 } },
    workloadStatus,
  ),
  'Job.batch': kind({
    type: 'object',
    properties: { parallelism: int32, completions: int32, backoffLimit: int32, activeDeadlineSeconds: int64, template: podTemplate },
  }),
  'CronJob.batch': kind({
    type: 'object',
    properties: {
      schedule: str,
      suspend: bool,
      concurrencyPolicy: str,
      jobTemplate: {
        type: 'object',
        properties: {
          metadata: objectMetaSchema,
          spec: {
            type: 'object',
            properties: { parallelism: int32, completions: int32, backoffLimit: int32, template: podTemplate },
          },
        },
      },
    },
  }),
};

/** admission.k8s.io/v1 AdmissionRequest, the type of `request` in policy CEL. */
export const admissionRequestSchema: OpenApiSchema = {
  type: 'object',
  properties: {
    uid: str,
    kind: { type: 'object', properties: { group: str, version: str, kind: str } },
    resource: { type: 'object', properties: { group: str, version: str, resource: str } },
    subResource: str,
    requestKind: { type: 'object', properties: { group: str, version: str, kind: str } },
    requestResource: { type: 'object', properties: { group: str, version: str, resource: str } },
    requestSubResource: str,
    name: str,
    namespace: str,
    operation: str,
    userInfo: {
      type: 'object',
      properties: {
        username: str,
        uid: str,
        groups: strList,
        extra: { type: 'object', additionalProperties: strList },
      },
    },
    dryRun: bool,
    options: open,
  },
};
