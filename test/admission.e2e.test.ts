// The admission webhooks through kubectl on the real apiserver (issue #4 item 9). The
// webhook runs in this process (serveWebhook, the same code `kidp webhook serve` runs),
// registers itself at https://127.0.0.1:<port>, and unregisters at the end.
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { kubectl, kubectlOk } from './kubectl.js';
import { serveWebhook, type RunningWebhook } from '../admission/serve.js';
import type { DecisionRecord } from '../admission/decision-log.js';
import { poll } from './until.js';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const work = mkdtempSync(join(tmpdir(), 'kidp-admission-e2e-'));
const decisionLogPath = join(work, 'decisions.jsonl');
let webhook: RunningWebhook;

const yaml = (obj: unknown) => JSON.stringify(obj);
const V = 'platform.kidp.io/v1alpha1';

function decisions(): DecisionRecord[] {
  if (!existsSync(decisionLogPath)) return [];
  return readFileSync(decisionLogPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as DecisionRecord);
}

const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number) => poll(what, probe, { timeoutMs, intervalMs: 200 });

function topic(name: string, spec: Record<string, unknown>, namespace = 'payments') {
  return { apiVersion: V, kind: 'Topic', metadata: { name, namespace }, spec: { owner: { kind: 'Team', name: 'payments' }, ...spec } };
}

/**
 * Starts from a clean slate on a shared or reused cluster: the example objects (not the
 * Namespace: without a controller manager it would never finish terminating) and what
 * this file creates are removed, finalizers first since no controller is running here.
 */
async function reset(): Promise<void> {
  const deployables = ['services.platform.kidp.io', 'databases', 'caches', 'topics'];
  for (const kind of deployables) {
    const names = (await kubectlOk(['get', kind, '-n', 'payments', '-o', 'name'])).trim().split('\n').filter(Boolean);
    for (const name of names) await kubectl(['patch', name, '-n', 'payments', '--type', 'merge', '-p', yaml({ metadata: { finalizers: null } })]);
  }
  await kubectlOk(['delete', deployables.join(','), '--all', '-n', 'payments', '--ignore-not-found', '--wait=true']);
  await kubectlOk(['delete', 'applications,policyexceptions', '--all', '-n', 'payments', '--ignore-not-found', '--wait=true']);
  await kubectlOk(['delete', 'teams,policies', '--all', '--ignore-not-found', '--wait=true']);
}

beforeAll(async () => {
  await kubectl(['delete', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', 'kidp', '--ignore-not-found']);
  await kubectlOk(['apply', '-f', join(root, 'examples', '00-namespace.yaml')]);
  await reset();
  webhook = await serveWebhook({
    kubeconfig: process.env.KUBECONFIG,
    host: '127.0.0.1',
    port: 0,
    certDir: join(work, 'certs'),
    registerUrl: true,
    decisionLog: decisionLogPath,
    logger: pino({ level: 'silent' }),
  });
}, 60_000);

afterAll(async () => {
  // Stop first: a running webhook re-registers configurations that disappear.
  await webhook?.stop();
  await kubectl(['delete', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', 'kidp', '--ignore-not-found']);
  // The cluster is shared with the other e2e files: leave no Policy of ours evaluating theirs.
  await kubectl(['delete', 'policies', 'topics-have-6-partitions', 'topics-audit-retention', 'production-databases-require-backup', 'services-set-resource-limits', 'topics-within-team-limits', 'topics-limits-optional', 'topics-need-secret-readers', '--ignore-not-found']);
  await kubectl(['delete', 'role,rolebinding', 'e2e-topic-writers', 'e2e-secret-readers', '-n', 'payments', '--ignore-not-found']);
  await kubectl(['delete', 'configmap', 'topic-limits', '-n', 'payments', '--ignore-not-found']);
  await kubectl(['delete', 'policyexceptions', '--all', '-n', 'payments', '--ignore-not-found']);
});

describe('admission through kubectl', () => {
  it('admits the example set and applies labels and finalizers', async () => {
    await kubectlOk(['apply', '-f', join(root, 'examples')]);
    const svc = JSON.parse(await kubectlOk(['get', 'services.platform.kidp.io', 'checkout-api', '-n', 'payments', '-o', 'json'])) as {
      metadata: { labels: Record<string, string>; finalizers: string[] };
    };
    expect(svc.metadata.labels).toEqual({
      environment: 'production',
      'platform.kidp.io/managed-by': 'kidp',
      'platform.kidp.io/team': 'payments',
      'platform.kidp.io/application': 'checkout',
    });
    expect(svc.metadata.finalizers).toEqual(['platform.kidp.io/cleanup']);
    const team = JSON.parse(await kubectlOk(['get', 'team', 'payments', '-o', 'json'])) as { metadata: { labels: Record<string, string>; finalizers?: string[] } };
    expect(team.metadata.labels['platform.kidp.io/team']).toBe('payments');
    expect(team.metadata.finalizers).toBeUndefined();
  });

  it('denies a change of spec.owner, naming the field', async () => {
    const r = await kubectl(['patch', 'topic', 'payment-events', '-n', 'payments', '--type', 'merge', '-p', yaml({ spec: { owner: { kind: 'Application', name: 'checkout' } } })]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('spec.owner is immutable (was Team/payments, now Application/checkout)');
  });

  it('denies a missing owner and a cross-team owner', async () => {
    const missing = await kubectl(['apply', '-f', '-'], { input: yaml({ apiVersion: V, kind: 'Service', metadata: { name: 'orphan', namespace: 'payments' }, spec: { owner: { kind: 'Application', name: 'ghost' }, image: 'registry.kidp.io/x/y:1.0.0' } }) });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('spec.owner refers to Application ghost, which does not exist in namespace payments');
    await kubectlOk(['apply', '-f', '-'], { input: yaml({ apiVersion: V, kind: 'Team', metadata: { name: 'search' }, spec: { displayName: 'Search', costCenter: 'CC-2000', members: [{ kind: 'User', name: 'sam' }] } }) });
    const cross = await kubectl(['apply', '-f', '-'], { input: yaml({ apiVersion: V, kind: 'Application', metadata: { name: 'indexer', namespace: 'payments' }, spec: { owner: { kind: 'Team', name: 'search' } } }) });
    expect(cross.code).toBe(1);
    expect(cross.stderr).toContain('namespace payments belongs to team payments, but this Application belongs to team search');
  });

  it('denies deleting a team that still owns resources, listing them', async () => {
    const r = await kubectl(['delete', 'team', 'payments', '--wait=false']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Team payments still owns 2 resources: Application payments/checkout, Topic payments/payment-events');
  });

  it("shows an Enforce policy's messageExpression in kubectl's error; dry-run has no side effects", async () => {
    const db = { apiVersion: V, kind: 'Database', metadata: { name: 'ledger', namespace: 'payments', labels: { environment: 'production' } }, spec: { owner: { kind: 'Application', name: 'checkout' }, engine: 'postgresql', version: '16' } };
    const denied = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: yaml(db) });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('production-databases-require-backup/require-backup: database ledger is production: set spec.backup.enabled to true');
    expect(denied.stderr).toContain('production-databases-require-backup/retention-at-least-7-days');
    const record = decisions().find((d) => d.resource.name === 'ledger' && d.webhook === 'validate');
    expect(record).toMatchObject({ dryRun: true, result: 'deny', operation: 'CREATE' });
    const fine = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: yaml({ ...db, spec: { ...db.spec, backup: { enabled: true, schedule: '0 1 * * *', retentionDays: 14 } } }) });
    expect(fine.code).toBe(0);
    expect((await kubectl(['get', 'database', 'ledger', '-n', 'payments'])).code).toBe(1);
  });

  it("shows a Warn policy's warning in kubectl's output", async () => {
    const svc = { apiVersion: V, kind: 'Service', metadata: { name: 'no-limits', namespace: 'payments' }, spec: { owner: { kind: 'Application', name: 'checkout' }, image: 'registry.kidp.io/payments/worker:2.0.0' } };
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: yaml(svc) });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('Warning: services-set-resource-limits/cpu-and-memory-limits: service no-limits should set spec.resources.limits.cpu and spec.resources.limits.memory');
  });

  it('rejects an invalid Policy at apply, with the rule and position', async () => {
    const r = await kubectl(['apply', '-f', '-'], {
      input: yaml({ apiVersion: V, kind: 'Policy', metadata: { name: 'broken' }, spec: { mode: 'Enforce', selector: { resourceTypes: ['Topic'] }, rules: [{ name: 'bad-syntax', expression: 'object.spec.partitions >' }] } }),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Policy broken: .*rule "bad-syntax" \(line 1, column 25\)/s);
  });

  it('a Policy created at runtime takes effect within 5 seconds, and an Audit policy admits with a decision record and audit annotation', async () => {
    await kubectlOk(['apply', '-f', '-'], {
      input: yaml({ apiVersion: V, kind: 'Policy', metadata: { name: 'topics-have-6-partitions' }, spec: { mode: 'Enforce', selector: { resourceTypes: ['Topic'] }, rules: [{ name: 'six', expression: 'object.spec.partitions >= 6', message: 'topics need at least 6 partitions' }] } }),
    });
    let last = '';
    const { ms } = await until(
      'the new policy to deny',
      async () => {
        const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: yaml(topic('small', { partitions: 2 })) });
        last = r.stderr;
        return r.code !== 0 && r.stderr.includes('topics need at least 6 partitions') ? true : undefined;
      },
      5_000,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}; kubectl said: ${last}`);
    });
    expect(ms).toBeLessThanOrEqual(5_000);

    await kubectlOk(['apply', '-f', '-'], {
      input: yaml({ apiVersion: V, kind: 'Policy', metadata: { name: 'topics-audit-retention' }, spec: { mode: 'Audit', selector: { resourceTypes: ['Topic'] }, rules: [{ name: 'a-week', expression: 'object.spec.retentionHours >= 168', severity: 'low', message: 'keep a week of data' }] } }),
    });
    await until(
      'the audit policy to be loaded',
      async () => {
        await kubectl(['apply', '-f', '-'], { input: yaml(topic('short-lived', { partitions: 6, retentionHours: 1 })) });
        const rec = decisions().find((d) => d.resource.name === 'short-lived' && d.webhook === 'validate' && d.result === 'audit');
        return rec ? true : undefined;
      },
      10_000,
    );
    const rec = decisions().filter((d) => d.resource.name === 'short-lived' && d.result === 'audit').at(-1);
    expect(rec?.allowed).toBe(true);
    expect(rec?.auditAnnotations).toEqual({ 'topics-audit-retention.a-week': JSON.stringify({ policy: 'topics-audit-retention', rule: 'a-week', severity: 'low', message: 'keep a week of data' }) });
    const auditLog = process.env.KIDP_AUDIT_LOG;
    if (auditLog) {
      // The apiserver prefixes our keys with the webhook name.
      const { value } = await until(
        'the audit annotation in the apiserver audit log',
        async () => (readFileSync(auditLog, 'utf8').includes('validate.platform.kidp.io/topics-audit-retention.a-week') ? true : undefined),
        10_000,
      );
      expect(value).toBe(true);
    }
  });

  it('an exception exempts until it expires, then exempts nothing', async () => {
    const expiresAt = new Date(Date.now() + 4_000).toISOString().replace(/\.\d+Z$/, 'Z');
    await kubectlOk(['apply', '-f', '-'], {
      input: yaml({ apiVersion: V, kind: 'PolicyException', metadata: { name: 'small-topics-ok', namespace: 'payments' }, spec: { policyName: 'topics-have-6-partitions', ruleNames: ['six'], match: { names: ['tiny*'] }, expiresAt, reason: 'migration', approvedBy: 'alice' } }),
    });
    await until(
      'the exception to exempt',
      async () => ((await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: yaml(topic('tiny-1', { partitions: 1 })) })).code === 0 ? true : undefined),
      3_000,
    );
    await until(
      'the expired exception to stop exempting',
      async () => {
        const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: yaml(topic('tiny-1', { partitions: 1 })) });
        return r.code !== 0 && r.stderr.includes('topics need at least 6 partitions') ? true : undefined;
      },
      10_000,
    );
    const past = await kubectl(['apply', '-f', '-'], {
      input: yaml({ apiVersion: V, kind: 'PolicyException', metadata: { name: 'already-expired', namespace: 'payments' }, spec: { policyName: 'topics-have-6-partitions', match: {}, expiresAt: '2020-01-01T00:00:00Z', reason: 'x' } }),
    });
    expect(past.code).toBe(1);
    expect(past.stderr).toContain('spec.expiresAt: 2020-01-01T00:00:00Z is not in the future');
  });
  it('binds params to the ConfigMap a Policy names: missing denies (Deny) or skips (Allow); a change of it changes the verdict', async () => {
    await kubectl(['delete', 'configmap', 'topic-limits', '-n', 'payments', '--ignore-not-found']);
    const limited = (name: string, action: 'Deny' | 'Allow') => ({
      apiVersion: V,
      kind: 'Policy',
      metadata: { name },
      spec: {
        mode: 'Enforce',
        selector: { resourceTypes: ['Topic'] },
        paramKind: { apiVersion: 'v1', kind: 'ConfigMap' },
        paramRef: { name: 'topic-limits', parameterNotFoundAction: action },
        rules: [{ name: 'max-partitions', expression: 'object.spec.partitions <= int(params.data.maxPartitions)', messageExpression: "'at most ' + params.data.maxPartitions + ' partitions in ' + params.metadata.namespace" }],
      },
    });
    await kubectlOk(['apply', '-f', '-'], { input: yaml(limited('topics-within-team-limits', 'Deny')) });
    const eight = yaml(topic('eight', { partitions: 8 }));
    const tryEight = () => kubectl(['apply', '--dry-run=server', '-f', '-'], { input: eight });
    const waitFor = async (what: string, ok: (r: { code: number; stderr: string }) => boolean) => {
      let last = '';
      await until(what, async () => {
        const r = await tryEight();
        last = `${r.code} ${r.stderr}`;
        return ok(r) ? true : undefined;
      }, 10_000).catch((e: unknown) => {
        throw new Error(`${String(e)}; kubectl said: ${last}`);
      });
    };
    await waitFor('a missing param object to deny', (r) => r.code !== 0 && r.stderr.includes('topics-within-team-limits/(params): params: no ConfigMap (v1) named topic-limits in namespace payments (parameterNotFoundAction: Deny)'));

    await kubectlOk(['create', 'configmap', 'topic-limits', '-n', 'payments', '--from-literal=maxPartitions=12']);
    await waitFor('the param object to admit 8 partitions', (r) => r.code === 0);

    await kubectlOk(['patch', 'configmap', 'topic-limits', '-n', 'payments', '--type', 'merge', '-p', yaml({ data: { maxPartitions: '7' } })]);
    await waitFor('the changed param object to deny 8 partitions', (r) => r.code !== 0 && r.stderr.includes('topics-within-team-limits/max-partitions: at most 7 partitions in payments'));

    // Allow: without the object the Policy does not apply; the Deny one still denies.
    await kubectlOk(['delete', 'policy', 'topics-within-team-limits']);
    await kubectlOk(['delete', 'configmap', 'topic-limits', '-n', 'payments']);
    await kubectlOk(['apply', '-f', '-'], { input: yaml(limited('topics-limits-optional', 'Allow')) });
    await until('Allow to admit without the param object, the Policy loaded and not applied', async () => {
      const r = await tryEight();
      const rec = decisions().filter((d) => d.resource.name === 'eight' && d.webhook === 'validate').at(-1);
      const ours = rec?.policies.find((p) => p.policy === 'topics-limits-optional');
      return r.code === 0 && rec?.allowed === true && ours?.applied === false ? true : undefined;
    }, 10_000);
    await kubectlOk(['create', 'configmap', 'topic-limits', '-n', 'payments', '--from-literal=maxPartitions=7']);
    await waitFor('the Allow policy to bind the object once it exists', (r) => r.code !== 0 && r.stderr.includes('topics-limits-optional/max-partitions: at most 7 partitions in payments'));
  });
  it('authorizer: a rule checks the requesting user through SubjectAccessReview; RBAC admits one user and denies another', async () => {
    const rbac = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'e2e-topic-writers', namespace: 'payments' }, rules: [{ apiGroups: ['platform.kidp.io'], resources: ['topics'], verbs: ['get', 'list', 'create', 'patch', 'update'] }] },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'e2e-topic-writers', namespace: 'payments' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'e2e-topic-writers' }, subjects: [{ kind: 'User', name: 'e2e-alice' }, { kind: 'User', name: 'e2e-bob' }] },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'e2e-secret-readers', namespace: 'payments' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'e2e-secret-readers', namespace: 'payments' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'e2e-secret-readers' }, subjects: [{ kind: 'User', name: 'e2e-alice' }] },
      ],
    };
    await kubectlOk(['apply', '-f', '-'], { input: yaml(rbac) });
    await kubectlOk(['apply', '-f', '-'], {
      input: yaml({
        apiVersion: V,
        kind: 'Policy',
        metadata: { name: 'topics-need-secret-readers' },
        spec: {
          mode: 'Enforce',
          selector: { resourceTypes: ['Topic'] },
          rules: [
            {
              name: 'reads-secrets',
              expression: "authorizer.group('').resource('secrets').namespace(object.metadata.namespace).check('get').allowed()",
              messageExpression: "request.userInfo.username + ' may not read secrets in ' + object.metadata.namespace",
            },
            { name: 'may-create-it', expression: "authorizer.requestResource.check('create').allowed()", message: 'the requester may not create topics here' },
          ],
        },
      }),
    });
    const as = (user: string) => kubectl(['apply', '--dry-run=server', `--as=${user}`, '-f', '-'], { input: yaml(topic('checked', { partitions: 6 })) });
    let last = '';
    await until('the authorizer policy to deny the user without RBAC', async () => {
      const r = await as('e2e-bob');
      last = `${r.code} ${r.stderr}`;
      return r.code !== 0 && r.stderr.includes('topics-need-secret-readers/reads-secrets: e2e-bob may not read secrets in payments') ? true : undefined;
    }, 10_000).catch((e: unknown) => {
      throw new Error(`${String(e)}; kubectl said: ${last}`);
    });
    // Bob may create topics (RBAC above): only the secrets rule denies him.
    const bob = await as('e2e-bob');
    expect(bob.stderr).not.toContain('may-create-it');
    const alice = await as('e2e-alice');
    expect({ code: alice.code, stderr: alice.stderr }).toEqual({ code: 0, stderr: '' });
    // Take alice's grant away: the next request asks again (answers live for one request only).
    await kubectlOk(['delete', 'rolebinding', 'e2e-secret-readers', '-n', 'payments']);
    await until('alice denied once her grant is gone', async () => {
      const r = await as('e2e-alice');
      return r.code !== 0 && r.stderr.includes('e2e-alice may not read secrets in payments') ? true : undefined;
    }, 10_000);
    await kubectlOk(['delete', 'policy', 'topics-need-secret-readers']);
  });
});
