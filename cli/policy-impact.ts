// `kidp policy impact -f policy.yaml [--kubeconfig FILE] [--decisions FILE]`: what a Policy
// not yet applied would deny among the cluster's existing resources if it were in Enforce
// mode (the same audit as the reports controller), and, for rules that read the request,
// what it would have denied among recent admission decisions (the decision log).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { loadKubeConfig } from '../kube/index.js';
import { parse as parseYaml } from 'yaml';
import { compilePolicy, evaluatePolicy, MemoryParamSource, PLATFORM_KINDS, type KubeObject, type Policy, type PolicyException } from '../policy-engine/policy/index.js';
import { ApiReader, auditObject, DEFAULT_EXCLUDED_NAMESPACES, impactOf, keyOf, oldObjectRules, requestDependentRules, selectedKindOf } from '../reports/index.js';
import type { DecisionRecord } from '../admission/index.js';
import { findKind, kindInfo, PLATFORM_GROUP, PLATFORM_VERSION } from '../crds/registry.js';

export const POLICY_IMPACT_USAGE = `  kidp policy impact -f policy.yaml [--kubeconfig FILE] [--decisions FILE] [--json]
      What the Policy would deny among existing resources if it were Enforced, with up to
      10 examples; rules that read the request are replayed against the decision log
      (--decisions, JSON lines as written by webhook serve --decision-log).`;

const GROUP = PLATFORM_GROUP;
const VERSION = PLATFORM_VERSION;

function pluralOf(kind: string): string {
  return findKind(kind)?.plural ?? `${kind.toLowerCase()}s`;
}

export interface ReplaySummary {
  rules: string[];
  /** Rules reading oldObject: the decision log keeps no objects, so these cannot be replayed. */
  notReplayable: string[];
  replayed: number;
  wouldDeny: number;
  examples: { uid: string; user: string; operation: string; resource: string; rule: string; message: string }[];
}

/** Re-evaluates request-dependent rules on recorded requests, with the stored object as `object`. */
export function replayDecisions(policy: Policy, records: readonly DecisionRecord[], objectOf: (r: DecisionRecord) => KubeObject | null, now: Date): ReplaySummary {
  const compiled = compilePolicy({ ...policy, spec: { ...policy.spec, mode: 'Enforce' } });
  const dependent = requestDependentRules(compiled);
  const old = oldObjectRules(compiled);
  const rules = [...dependent].filter((r) => !old.has(r));
  const summary: ReplaySummary = { rules, notReplayable: [...old], replayed: 0, wouldDeny: 0, examples: [] };
  if (rules.length === 0) return summary;
  for (const rec of records) {
    if (rec.webhook !== 'validate' || rec.dryRun) continue;
    const object = rec.operation === 'DELETE' ? null : objectOf(rec);
    if (rec.operation !== 'DELETE' && !object) continue;
    const { resource } = rec;
    const ev = evaluatePolicy(
      compiled,
      {
        request: {
          uid: rec.uid,
          kind: { group: resource.group, version: resource.version, kind: resource.kind },
          resource: { group: resource.group, version: resource.version, resource: resource.resource },
          ...(resource.name ? { name: resource.name } : {}),
          ...(resource.namespace ? { namespace: resource.namespace } : {}),
          operation: rec.operation as 'CREATE' | 'UPDATE' | 'DELETE',
          userInfo: { username: rec.user, groups: rec.groups },
          object,
          oldObject: rec.operation === 'DELETE' ? objectOf(rec) : null,
          dryRun: false,
        },
      },
      { now },
    );
    if (!ev.applied) continue;
    summary.replayed += 1;
    const failing = ev.rules.find((r) => rules.includes(r.rule) && (r.result === 'fail' || r.result === 'error'));
    if (!failing) continue;
    summary.wouldDeny += 1;
    if (summary.examples.length < 10) {
      summary.examples.push({ uid: rec.uid, user: rec.user, operation: rec.operation, resource: `${resource.kind} ${resource.namespace ? `${resource.namespace}/` : ''}${resource.name ?? ''}`, rule: failing.rule, message: failing.message ?? '' });
    }
  }
  return summary;
}

export async function policyImpact(args: string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const { values } = parseArgs({ args, options: { file: { type: 'string', short: 'f' }, kubeconfig: { type: 'string' }, decisions: { type: 'string' }, json: { type: 'boolean' } }, strict: true });
  if (!values.file) {
    err(`usage:\n${POLICY_IMPACT_USAGE}`);
    return 2;
  }
  const policy = parseYaml(readFileSync(values.file, 'utf8')) as Policy;
  let compiled;
  try {
    compiled = compilePolicy(policy);
  } catch (e) {
    err(`${values.file}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  const kc = loadKubeConfig({ ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}), keepAlive: false });
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);

  const namespaces = new Map<string, KubeObject>();
  for (const n of (await core.listNamespace()).items) namespaces.set(n.metadata?.name ?? '', { ...(n as unknown as KubeObject), apiVersion: 'v1', kind: 'Namespace' });
  const objects: KubeObject[] = [];
  const reader = new ApiReader(kc);
  for (const type of compiled.resourceTypes) {
    const selected = selectedKindOf(type);
    if (type === 'Namespace') objects.push(...namespaces.values());
    else if (PLATFORM_KINDS.has(type)) {
      const list = (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: pluralOf(type) })) as { items: KubeObject[] };
      objects.push(...list.items.map((o) => ({ ...o, apiVersion: `${GROUP}/${VERSION}`, kind: type })));
    } else if (selected) {
      // The same kinds, found the same way, as the reports controller audits (reports/kind-watchers.ts).
      const resolution = await reader.resolve(selected);
      if (!resolution.served) {
        err(`note: ${type} is not previewed: ${resolution.reason}`);
        continue;
      }
      const { resource } = resolution;
      const list = await reader.get<{ items: KubeObject[] }>(resource.path);
      for (const o of list.items) if (!DEFAULT_EXCLUDED_NAMESPACES.includes(o.metadata?.namespace ?? '')) objects.push({ ...o, apiVersion: resource.apiVersion, kind: resource.kind });
    } else err(`note: existing ${type} objects are not previewed`);
  }
  const exceptions = ((await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: kindInfo('PolicyException').plural })) as { items: PolicyException[] }).items;
  // The param objects, read once, so the preview binds `params` as admission would.
  let params: MemoryParamSource | undefined;
  if (compiled.paramKind) {
    const { apiVersion, kind } = compiled.paramKind;
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    try {
      const discovery = await reader.get<{ resources?: { name: string; kind: string; namespaced: boolean }[] }>(base);
      const r = (discovery.resources ?? []).find((x) => x.kind === kind && !x.name.includes('/'));
      if (!r) err(`note: the apiserver serves no ${kind} in ${apiVersion}: params are unbound in the preview`);
      else {
        const list = await reader.get<{ items: KubeObject[] }>(`${base}/${r.name}`);
        params = new MemoryParamSource(list.items.map((o) => ({ ...o, apiVersion, kind })), new Map([[`${apiVersion}/${kind}`, r.namespaced]]));
      }
    } catch (e) {
      err(`note: cannot read ${kind} (${apiVersion}) for params: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const now = new Date();
  const audits = objects.map((o) => auditObject([compiled], o, { now, exceptions, ...(params ? { params } : {}), namespaceObject: o.metadata?.namespace ? (namespaces.get(o.metadata.namespace) ?? null) : null }));
  const impact = impactOf(compiled.name, audits, now);

  let replay: ReplaySummary | undefined;
  if (values.decisions) {
    const records = readFileSync(values.decisions, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as DecisionRecord | { decision: DecisionRecord }).map((r) => ('decision' in r ? r.decision : r));
    const byKey = new Map(objects.map((o) => [keyOf({ kind: o.kind ?? '', name: o.metadata?.name ?? '', ...(o.metadata?.namespace ? { namespace: o.metadata.namespace } : {}) }), o]));
    replay = replayDecisions(policy, records, (r) => byKey.get(keyOf({ kind: r.resource.kind, name: r.resource.name ?? '', ...(r.resource.namespace ? { namespace: r.resource.namespace } : {}) })) ?? null, now);
  }

  if (values.json) {
    out(JSON.stringify({ policy: compiled.name, impact, ...(replay ? { replay } : {}) }, null, 2));
    return 0;
  }
  out(`Policy ${compiled.name} (mode ${compiled.mode}; as if Enforce): evaluated ${impact.evaluated} existing resources, would deny ${impact.wouldDeny}`);
  for (const e of impact.examples) out(`  ${e.kind} ${e.namespace ? `${e.namespace}/` : ''}${e.name}  ${e.rule}: ${e.message}`);
  const dependent = [...requestDependentRules(compiled)];
  if (dependent.length > 0 && !replay) out(`rules reading the request (${dependent.join(', ')}) are not previewed on stored objects: give --decisions FILE to replay recent admissions`);
  if (replay) {
    out(`decision log replay of ${replay.rules.join(', ') || '(no replayable rules)'}: ${replay.replayed} recorded requests, would deny ${replay.wouldDeny}`);
    for (const e of replay.examples) out(`  ${e.operation} ${e.resource} by ${e.user}  ${e.rule}: ${e.message}`);
    if (replay.notReplayable.length > 0) out(`not replayable (read oldObject, which the decision log does not keep): ${replay.notReplayable.join(', ')}`);
  }
  return 0;
}
