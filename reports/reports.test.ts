// Pure parts of the reports: request dependence, the audit of one object (exceptions under
// an injected clock), sharding under the 500 KB bound, impact and PolicyCompliant.
import { compilePolicy, MemoryParamSource, type Policy, type PolicyException } from '../policy-engine/policy/index.js';
import { AuditCache, auditObject, SKIP_REQUEST_MESSAGE } from './audit.js';
import { complianceCondition } from './compliance.js';
import { impactOf, impactsOf } from './impact.js';
import { requestDependentRules, oldObjectRules } from './request-dependence.js';
import { buildReports, digestOf, MAX_REPORT_BYTES } from './shard.js';
import { summarize } from './result.js';

const V = 'platform.kidp.io/v1alpha1';
const policy = (rules: { name: string; expression: string }[], variables: { name: string; expression: string }[] = [], mode: 'Audit' | 'Enforce' | 'Warn' = 'Audit') =>
  compilePolicy({ apiVersion: V, kind: 'Policy', metadata: { name: 'p' }, spec: { mode, selector: { resourceTypes: ['Topic'] }, variables, rules: rules.map((r) => ({ ...r, message: `${r.name} failed` })) } } as Policy);
const topic = (name: string, partitions: number) => ({ apiVersion: V, kind: 'Topic', metadata: { name, namespace: 'ns1', uid: `uid-${name}`, generation: 2 }, spec: { owner: { kind: 'Team', name: 't' }, partitions } });

describe('requestDependentRules', () => {
  it('finds request and oldObject reads, through variables, ignoring strings and comprehension variables', () => {
    const p = policy(
      [
        { name: 'object-only', expression: "object.spec.partitions > 0 && 'request' != 'oldObject'" },
        { name: 'user', expression: "request.userInfo.username != 'x'" },
        { name: 'immutable', expression: 'oldObject.spec.partitions <= object.spec.partitions' },
        { name: 'via-variable', expression: 'variables.isCreate || true' },
        { name: 'shadowed', expression: '[1, 2].all(request, request > 0)' },
      ],
      [{ name: 'isCreate', expression: "request.operation == 'CREATE'" }],
    );
    expect([...requestDependentRules(p)].sort()).toEqual(['immutable', 'user', 'via-variable']);
    expect([...oldObjectRules(p)]).toEqual(['immutable']);
  });
});

describe('auditObject with params', () => {
  const p = compilePolicy({
    apiVersion: V,
    kind: 'Policy',
    metadata: { name: 'limits' },
    spec: {
      mode: 'Enforce',
      selector: { resourceTypes: ['Topic'] },
      paramKind: { apiVersion: 'v1', kind: 'ConfigMap' },
      paramRef: { name: 'limits' },
      rules: [{ name: 'max', expression: 'object.spec.partitions <= int(params.data.max)', messageExpression: "'at most ' + params.data.max" }],
    },
  } as Policy);
  const limits = (max: string) => new MemoryParamSource([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'limits', namespace: 'ns1' }, data: { max } }]);
  const now = new Date('2030-01-01T00:00:00Z');
  const verdicts = (params?: MemoryParamSource) => auditObject([p], topic('t', 6), { now, exceptions: [], namespaceObject: null, ...(params ? { params } : {}) }).verdicts;

  it('binds the param object as admission does: its values decide, a missing one is an error that would deny', () => {
    expect(verdicts(limits('8'))).toEqual([{ policy: 'limits', rule: 'max', severity: 'medium', result: 'pass', wouldDeny: false }]);
    expect(verdicts(limits('4'))).toEqual([{ policy: 'limits', rule: 'max', severity: 'medium', result: 'fail', message: 'at most 4', wouldDeny: true }]);
    expect(verdicts(new MemoryParamSource([], new Map([['v1/ConfigMap', true]])))).toEqual([
      {
        policy: 'limits',
        rule: '(params)',
        severity: 'high',
        result: 'error',
        message: 'params: no ConfigMap (v1) named limits in namespace ns1 (parameterNotFoundAction: Deny): create it or fix spec.paramRef',
        wouldDeny: true,
      },
    ]);
  });
});

describe('auditObject', () => {
  const p = policy([
    { name: 'enough-partitions', expression: 'object.spec.partitions >= 3' },
    { name: 'user', expression: "request.userInfo.username != 'x'" },
  ]);
  const now = new Date('2030-01-01T00:00:00Z');
  const ex = (expiresAt: string): PolicyException => ({ apiVersion: V, kind: 'PolicyException', metadata: { name: 'ex', namespace: 'ns1' }, spec: { policyName: 'p', ruleNames: ['enough-partitions'], match: { names: ['small'] }, expiresAt, reason: 'r' } }) as PolicyException;

  it('fails, skips request rules, and honours only exceptions in force at the injected now', () => {
    const noEx = auditObject([p], topic('small', 1), { now, exceptions: [], namespaceObject: null });
    expect(noEx).toEqual({
      ref: { apiVersion: V, kind: 'Topic', name: 'small', namespace: 'ns1', uid: 'uid-small' },
      key: 'Topic/ns1/small',
      applied: ['p'],
      verdicts: [
        { policy: 'p', rule: 'enough-partitions', result: 'fail', severity: 'medium', message: 'enough-partitions failed', wouldDeny: true },
        { policy: 'p', rule: 'user', result: 'skip', severity: 'medium', message: SKIP_REQUEST_MESSAGE, wouldDeny: false },
      ],
    });
    const expired = auditObject([p], topic('small', 1), { now, exceptions: [ex('2029-12-31T23:59:59Z')], namespaceObject: null });
    expect(expired.verdicts[0]).toMatchObject({ result: 'fail', wouldDeny: true });
    const active = auditObject([p], topic('small', 1), { now, exceptions: [ex('2030-01-01T00:00:01Z')], namespaceObject: null });
    expect(active.verdicts[0]).toEqual({ policy: 'p', rule: 'enough-partitions', result: 'skip', severity: 'medium', message: 'exempted by PolicyException ns1/ex until 2030-01-01T00:00:01Z', wouldDeny: false });
  });

  it('feeds impact (as if Enforce) and PolicyCompliant', () => {
    const audits = [auditObject([p], topic('small', 1), { now, exceptions: [], namespaceObject: null }), auditObject([p], topic('big', 5), { now, exceptions: [], namespaceObject: null })];
    expect(impactOf('p', audits, now)).toEqual({ evaluated: 2, wouldDeny: 1, examples: [{ kind: 'Topic', namespace: 'ns1', name: 'small', rule: 'enough-partitions', message: 'enough-partitions failed' }], lastScanTime: '2030-01-01T00:00:00Z' });
    const c = complianceCondition(audits[0]!, 2, undefined, now);
    expect(c).toEqual({ type: 'PolicyCompliant', status: 'False', reason: 'PolicyViolations', message: '1 of 2 policy rules fail: p/enough-partitions: enough-partitions failed', observedGeneration: 2, lastTransitionTime: '2030-01-01T00:00:00Z' });
    // Unchanged: nothing to write.
    expect(complianceCondition(audits[0]!, 2, c, new Date('2030-02-01T00:00:00Z'))).toBeUndefined();
  });
});

describe('buildReports', () => {
  it('shards so that every object stays under 500 KB, every result is kept once, and a rebuild is identical', () => {
    const rules = Array.from({ length: 20 }, (_, i) => ({ name: `rule-${i}`, expression: `object.spec.partitions > ${i}` }));
    const p = policy(rules);
    const now = new Date('2030-01-01T00:00:00Z');
    const audits = Array.from({ length: 1_500 }, (_, i) => auditObject([p], topic(`topic-${String(i).padStart(5, '0')}`, i % 25), { now, exceptions: [], namespaceObject: null }));
    const reports = buildReports({ namespace: 'ns1', team: 't' }, audits, now);
    const sizes = reports.map((r) => Buffer.byteLength(JSON.stringify(r)));
    expect(reports.length).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThan(MAX_REPORT_BYTES);
    expect(reports.reduce((s, r) => s + r.results.length, 0)).toBe(30_000);
    expect(reports.map((r) => r.metadata.name)).toEqual(reports.map((_, i) => `kidp-${i}`));
    expect(reports.every((r) => r.metadata.labels['reports.kidp.io/shards'] === String(reports.length))).toBe(true);
    // A resource's results stay together, in one shard.
    const shardOf = new Map<string, string>();
    for (const r of reports) for (const x of r.results) expect(shardOf.get(x.resources[0]!.name) ?? shardOf.set(x.resources[0]!.name, r.metadata.name).get(x.resources[0]!.name)).toBe(r.metadata.name);
    expect(buildReports({ namespace: 'ns1', team: 't' }, audits, new Date('2030-01-02T00:00:00Z')).map((r) => r.metadata.annotations)).toEqual(reports.map((r) => r.metadata.annotations));
    expect(buildReports({}, [], now)).toEqual([]);
  });
});

describe('AuditCache', () => {
  const named = (name: string, min: number) =>
    compilePolicy({ apiVersion: V, kind: 'Policy', metadata: { name }, spec: { mode: 'Audit', selector: { resourceTypes: ['Topic'] }, rules: [{ name: 'partitions', expression: `object.spec.partitions >= ${min}`, message: `${name} wants ${min}` }] } } as Policy);
  const now = new Date('2030-01-01T00:00:00Z');
  const stored = (name: string, partitions: number, resourceVersion: string) => ({ ...topic(name, partitions), metadata: { ...topic(name, partitions).metadata, resourceVersion } });
  const scan = (cache: AuditCache, policies: ReturnType<typeof named>[], objects: ReturnType<typeof stored>[], exceptions: PolicyException[] = []) => {
    cache.begin();
    const out = objects.map((o) => auditObject(policies, o, { now, exceptions, namespaceObject: null }, cache));
    cache.finish();
    return out;
  };

  it('reuses an audit only while the object and every Policy are the same, and says what a fresh audit says', () => {
    const cache = new AuditCache();
    const a = named('a', 2);
    const b = named('b', 4);
    const first = scan(cache, [a, b], [stored('t', 3, '10')]);
    expect(first).toEqual([auditObject([a, b], stored('t', 3, '10'), { now, exceptions: [], namespaceObject: null })]);
    // Nothing changed: the very same audit (the report builder keys its serialization on it).
    expect(scan(cache, [a, b], [stored('t', 3, '10')])[0]).toBe(first[0]);
    // One Policy replaced (a new generation compiles a new object): a new audit with its verdict.
    const b2 = named('b', 3);
    const edited = scan(cache, [a, b2], [stored('t', 3, '10')]);
    expect(edited[0]).not.toBe(first[0]);
    expect(edited).toEqual([auditObject([a, b2], stored('t', 3, '10'), { now, exceptions: [], namespaceObject: null })]);
    // The object changed (new resourceVersion): evaluated again.
    expect(scan(cache, [a, b2], [stored('t', 1, '11')])[0]!.verdicts.map((v) => v.result)).toEqual(['fail', 'fail']);
    // A Policy removed, or the order changed: not the old audit.
    expect(scan(cache, [b2], [stored('t', 1, '11')])[0]!.applied).toEqual(['b']);
    expect(cache.size).toBe(1);
    expect(scan(cache, [a], [])).toEqual([]);
    expect(cache.size).toBe(0);
  });

  it('never reuses the outcome of a Policy that a PolicyException names: exceptions expire with time', () => {
    const cache = new AuditCache();
    const a = named('a', 5);
    const ex = { apiVersion: V, kind: 'PolicyException', metadata: { name: 'ex', namespace: 'ns1' }, spec: { policyName: 'a', ruleNames: ['partitions'], match: { names: ['t'] }, expiresAt: '2030-01-01T00:00:01Z', reason: 'r' } } as PolicyException;
    const first = scan(cache, [a], [stored('t', 1, '10')], [ex]);
    expect(first[0]!.verdicts[0]!.result).toBe('skip');
    cache.begin();
    const later = auditObject([a], stored('t', 1, '10'), { now: new Date('2030-01-01T00:00:02Z'), exceptions: [ex], namespaceObject: null }, cache);
    cache.finish();
    expect(later.verdicts[0]).toMatchObject({ result: 'fail', message: 'a wants 5' });
  });

  it('impactsOf says per Policy what impactOf says', () => {
    const a = named('a', 2);
    const b = named('b', 4);
    const audits = [1, 3, 5].map((n) => auditObject([a, b], stored(`t${n}`, n, '1'), { now, exceptions: [], namespaceObject: null }));
    const all = impactsOf(['a', 'b', 'none'], audits, now);
    for (const p of ['a', 'b', 'none']) expect(all.get(p)).toEqual(impactOf(p, audits, now));
    expect(all.get('b')).toMatchObject({ evaluated: 3, wouldDeny: 2 });
  });
});

describe('buildReports digests', () => {
  it('are the digest of the results written, as before the serialization was cached (no rewrite on upgrade)', () => {
    const p = policy([{ name: 'enough-partitions', expression: 'object.spec.partitions >= 3' }]);
    const now = new Date('2030-01-01T00:00:00Z');
    const audits = Array.from({ length: 50 }, (_, i) => auditObject([p], topic(`t${i}`, i % 5), { now, exceptions: [], namespaceObject: null }));
    const reports = buildReports({ namespace: 'ns1' }, audits, now);
    for (const r of reports) expect(r.metadata.annotations['reports.kidp.io/digest']).toBe(digestOf(r.results));
    expect(reports.flatMap((r) => r.results)).toHaveLength(50);
    expect(reports.map((r) => r.summary)).toEqual(reports.map((r) => summarize(r.results)));
    // With a memo: the same digests; one audit changed changes its shard's digest only, to the true one.
    const memo = new Map();
    expect(buildReports({ namespace: 'ns1' }, audits, now, memo).map((r) => r.metadata.annotations)).toEqual(reports.map((r) => r.metadata.annotations));
    const changed = [...audits];
    changed[7] = auditObject([p], topic('t7', 4), { now, exceptions: [], namespaceObject: null });
    const again = buildReports({ namespace: 'ns1' }, changed, now, memo);
    for (const r of again) expect(r.metadata.annotations['reports.kidp.io/digest']).toBe(digestOf(r.results));
    expect(again.filter((r, i) => r.metadata.annotations['reports.kidp.io/digest'] !== reports[i]!.metadata.annotations['reports.kidp.io/digest'])).toHaveLength(1);
  });
});
