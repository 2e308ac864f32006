// Runs the generated cases through KIDP's engine (declared as a Policy's expressions are:
// object/oldObject dyn as VAP has them, request and namespaceObject typed, params dyn as
// for a Policy with a paramKind, variables compiled in order) and through the reference evaluator, and compares the outcomes:
// same CEL type and JSON value, or the same error class (compile / evaluation / cost).
// `tsx test/oracle/differential.ts` prints the agreement and every disagreement.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuthorizerValue, CelCompileError, CelEvalError, createEnvironment, requestResourceCheck, tableBackend, toJson, types, celTypeName, type CelTypeRef } from '../../policy-engine/cel/index.js';
import { objectType } from '../../policy-engine/policy/cel.js';
import { admissionRequestSchema, coreSchemas } from '../../policy-engine/schemas/index.js';
import { generateCases, type OracleCase } from './cases.js';

export type Outcome = { type: string; value: unknown } | { error: string; message: string };

const here = dirname(fileURLToPath(import.meta.url));

/** Builds (or finds in the cache) the reference evaluator; returns its path. */
export function oracleBinary(): string {
  const out = execFileSync('bash', [join(here, 'build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 900_000 });
  return out.trim().split('\n').pop() as string;
}

export function runOracle(cases: readonly OracleCase[], binary = oracleBinary()): Map<string, Outcome> {
  const input = cases.map((c) => JSON.stringify(c)).join('\n');
  const out = execFileSync(binary, [], { input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 600_000 });
  const m = new Map<string, Outcome>();
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const { id, ...rest } = JSON.parse(line) as { id: string } & Outcome;
    m.set(id, rest as Outcome);
  }
  return m;
}

const base: Record<string, CelTypeRef> = {
  object: types.dyn,
  oldObject: types.dyn,
  request: types.fromOpenApiSchema(admissionRequestSchema),
  namespaceObject: types.fromOpenApiSchema(coreSchemas.Namespace as never),
  // The oracle declares params as a policy with a paramKind has it (dyn; null when unbound).
  params: types.dyn,
  authorizer: types.authorizer,
  'authorizer.requestResource': types.resourceCheck,
};

/** main.go's fixedAuthorizer, as a table. */
const fixedAuthorizer = tableBackend(
  [
    { match: { username: 'alice', verb: 'get', apiGroup: '', resource: 'secrets' }, decision: 'allow', reason: 'alice reads secrets' },
    { match: { path: '/healthz', verb: 'get' }, decision: 'allow', reason: 'public' },
    { match: { resource: 'pods' }, decision: 'no-opinion', reason: '', error: 'authorizer down' },
  ],
  { decision: 'deny', reason: 'no rule' },
);

/** The admission request as the apiserver hands VAP expressions `request`. */
function requestOf(c: OracleCase): Record<string, unknown> {
  const r = c.request ?? {
    operation: 'CREATE', namespace: '', name: '', kind: { group: '', version: 'v1', kind: 'ConfigMap' },
    resource: { group: '', version: 'v1', resource: 'configmaps' }, username: 'alice', groups: [], dryRun: false,
  };
  return {
    uid: '',
    kind: r.kind,
    resource: r.resource,
    subResource: r.subResource ?? '',
    requestKind: r.kind,
    requestResource: r.resource,
    requestSubResource: r.subResource ?? '',
    name: r.name,
    namespace: r.namespace,
    operation: r.operation,
    userInfo: { username: r.username, groups: r.groups },
    dryRun: r.dryRun,
  };
}

export function kidpOutcome(c: OracleCase): Outcome {
  try {
    const variableTypes: Record<string, CelTypeRef> = {};
    const programs: [string, ReturnType<ReturnType<typeof createEnvironment>['compile']>][] = [];
    for (const v of c.variables ?? []) {
      const env = createEnvironment({ variables: { ...base, variables: objectType('variables', variableTypes) } });
      const p = env.compile(v.expression);
      variableTypes[v.name] = p.outputType;
      programs.push([v.name, p]);
    }
    const env = createEnvironment({ variables: { ...base, variables: objectType('variables', variableTypes) } });
    const program = env.compile(c.expression);
    const activation: Record<string, unknown> = {
      object: c.object ?? null,
      oldObject: c.oldObject ?? null,
      request: requestOf(c),
      namespaceObject: c.namespaceObject ?? null,
      params: c.params ?? null,
    };
    const req = requestOf(c) as { userInfo: { username: string; groups: string[] }; resource: { group: string; resource: string }; subResource: string; namespace: string; name: string };
    const authorizer = new AuthorizerValue(fixedAuthorizer, { username: req.userInfo.username, groups: req.userInfo.groups ?? [] });
    activation.authorizer = authorizer;
    activation['authorizer.requestResource'] = requestResourceCheck(authorizer, { group: req.resource.group, resource: req.resource.resource, subresource: req.subResource, namespace: req.namespace, name: req.name });
    const values: Record<string, unknown> = {};
    // Variables evaluate lazily in Kubernetes: an erroring one fails only its users.
    const lazy: Record<string, unknown> = {};
    for (const [name, p] of programs) {
      try {
        lazy[name] = p.evaluate({ ...activation, variables: values });
        values[name] = toJson(lazy[name]);
      } catch {
        /* left undefined: a use of it fails below */
      }
    }
    const v = program.evaluate({ ...activation, variables: values });
    return { type: celTypeName(v), value: toJson(v) };
  } catch (e) {
    if (e instanceof CelCompileError) return { error: e.code, message: e.issues.map((i) => `${i.line}:${i.column}: ${i.message}`).join('; ') };
    if (e instanceof CelEvalError) return { error: e.code, message: e.message };
    return { error: 'CRASH', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export function agrees(a: Outcome, b: Outcome): boolean {
  if ('error' in a || 'error' in b) return 'error' in a && 'error' in b && a.error === b.error;
  return a.type === b.type && canonical(a.value) === canonical(b.value);
}

export interface Disagreement {
  id: string;
  expression: string;
  kidp: Outcome;
  kubernetes: Outcome;
}

export interface DifferentialResult {
  total: number;
  agreed: number;
  disagreements: Disagreement[];
}

export function runDifferential(binary?: string): DifferentialResult {
  const cases = generateCases();
  const reference = runOracle(cases, binary);
  const disagreements: Disagreement[] = [];
  for (const c of cases) {
    const k8s = reference.get(c.id) ?? { error: 'MISSING', message: 'no answer from the oracle' };
    const ours = kidpOutcome(c);
    if (!agrees(ours, k8s)) disagreements.push({ id: c.id, expression: c.expression, kidp: ours, kubernetes: k8s });
  }
  return { total: cases.length, agreed: cases.length - disagreements.length, disagreements };
}

/** Listed disagreements: case id -> reason. */
export function expectations(): Record<string, string> {
  return JSON.parse(readFileSync(join(here, 'expectations.json'), 'utf8')) as Record<string, string>;
}

if (process.argv[1]?.endsWith('differential.ts')) {
  const r = runDifferential();
  const listed = expectations();
  const unlisted = r.disagreements.filter((d) => listed[d.id] === undefined);
  for (const d of unlisted) console.log(JSON.stringify(d));
  console.log(`agreement: ${r.agreed}/${r.total} (${((100 * r.agreed) / r.total).toFixed(2)} %); listed ${r.disagreements.length - unlisted.length}, unlisted ${unlisted.length}`);
}
