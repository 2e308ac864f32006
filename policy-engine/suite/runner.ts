// The one runner for policy test suites (STYLE.md §6): each suite is a directory with a
// policy.yaml (one Policy, optionally PolicyExceptions) and a tests.yaml listing cases as
// data — a manifest, the request around it, and the expected verdict. `kidp test` runs
// this, and so does the jest test of the built-in library in policies/.
//
// tests.yaml:
//   now: 2026-01-01T00:00:00Z        # optional clock for exceptions (default: real now)
//   namespaces: [<Namespace>...]     # optional, become namespaceObject by name
//   exceptions: [<PolicyException>...]
//   params: [<object>...]            # param objects of a Policy with a paramKind (with
//                                    # any other objects in policy.yaml); `params` binds as paramRef says
//   authorizer: [{match, decision, reason}]  # answers for `authorizer` checks; none: "no authorizer offline"
//   cases:
//     - name: production database without backup is denied
//       operation: CREATE            # default CREATE
//       object: <manifest>           # or oldObject for DELETE; both for UPDATE
//       userInfo: {username: alice}  # optional
//       exceptions: [...]            # optional, in addition to the suite's
//       params: [...]                # optional, instead of the suite's
//       authorizer: [{match, decision, reason}]  # optional answers for `authorizer` checks
//                                    # (kidp validate --authz's format; default: the suite's, else none)
//       now: ...                     # optional, overrides the suite's
//       expect:
//         applies: true              # default true; false = the policy must not match
//         verdict: DENIED            # optional: DENIED | WARN | AUDIT | ADMITTED
//         rules:                     # outcome of every rule; unlisted rules must pass
//           require-backup: fail
//           retention: {result: fail, message: exact message}

import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { validateManifest } from '../../crds/index.js';
import { compilePolicy, type CompiledPolicy } from '../policy/compile.js';
import { decide, type PolicyDecision, type PolicyEvaluation, type RuleOutcome } from '../policy/decision.js';
import { KidpPolicyError, SuiteInvalidError } from '../policy/errors.js';
import { evaluatePolicy, PARAMS_RULE } from '../policy/evaluate.js';
import { MemoryParamSource } from '../policy/params.js';
import { tableBackend, type AuthzRule } from '../policy/cel.js';
import { syntheticRequest } from '../policy/request.js';
import type { KubeObject, Operation, Policy, PolicyException, UserInfo } from '../policy/types.js';
import { readYamlFile } from './yaml-input.js';

export type Verdict = 'DENIED' | 'WARN' | 'AUDIT' | 'ADMITTED';

export interface CaseResult {
  suite: string;
  name: string;
  passed: boolean;
  /** What differed from the expectation, or why the case could not run. */
  problems: string[];
}

export interface SuiteRun {
  results: CaseResult[];
  passed: number;
  failed: number;
}

export interface RunOptions {
  /** The clock when a suite or case gives none. */
  now?: () => Date;
}

const OUTCOMES: readonly RuleOutcome[] = ['pass', 'fail', 'error', 'exempt'];
const VERDICTS: readonly Verdict[] = ['DENIED', 'WARN', 'AUDIT', 'ADMITTED'];
const OPERATIONS: readonly Operation[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];

export function verdictOf(decision: PolicyDecision): Verdict {
  if (!decision.allowed) return 'DENIED';
  if (decision.warnings.length > 0) return 'WARN';
  if (Object.keys(decision.auditAnnotations).length > 0) return 'AUDIT';
  return 'ADMITTED';
}

/** Directories under `dir` (or `dir` itself) that hold a policy.yaml, sorted. */
export function findSuites(dir: string): string[] {
  if (existsSync(join(dir, 'policy.yaml'))) return [dir];
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch (err) {
    throw new SuiteInvalidError(`${dir}: cannot read the directory`, { cause: err, locations: [{ where: dir }] });
  }
  return entries.map((e) => join(dir, e)).filter((p) => statSync(p).isDirectory()).flatMap(findSuites);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface ExpectedRule {
  result: RuleOutcome;
  message?: string;
}

interface Case {
  name: string;
  operation: Operation;
  object: KubeObject | null;
  oldObject: KubeObject | null;
  userInfo?: UserInfo;
  exceptions: PolicyException[];
  params?: KubeObject[];
  authorizer?: AuthzRule[];
  now?: Date;
  applies: boolean;
  verdict?: Verdict;
  rules: Record<string, ExpectedRule>;
}

function parseDate(v: unknown, where: string): Date | undefined {
  if (v === undefined) return undefined;
  const d = v instanceof Date ? v : new Date(String(v));
  if (Number.isNaN(d.getTime())) throw new SuiteInvalidError(`${where}: now must be an RFC 3339 date-time`, { locations: [{ where }] });
  return d;
}

function parseCase(raw: unknown, where: string, policy: CompiledPolicy): Case {
  if (!isRecord(raw) || typeof raw.name !== 'string') {
    throw new SuiteInvalidError(`${where}: each case needs a name`, { locations: [{ where }] });
  }
  const at = `${where} "${raw.name}"`;
  const operation = (raw.operation ?? 'CREATE') as Operation;
  if (!OPERATIONS.includes(operation)) throw new SuiteInvalidError(`${at}: unknown operation ${JSON.stringify(raw.operation)}`);
  const object = raw.object === undefined ? null : (raw.object as KubeObject);
  const oldObject = raw.oldObject === undefined ? null : (raw.oldObject as KubeObject);
  if (object !== null && !isRecord(object)) throw new SuiteInvalidError(`${at}: object must be a manifest (a mapping)`);
  if (oldObject !== null && !isRecord(oldObject)) throw new SuiteInvalidError(`${at}: oldObject must be a manifest (a mapping)`);
  if (object === null && oldObject === null) throw new SuiteInvalidError(`${at}: give an object (or oldObject for DELETE)`);
  const expect = raw.expect;
  if (!isRecord(expect)) throw new SuiteInvalidError(`${at}: expect is required (applies, verdict, rules)`);
  if (expect.verdict !== undefined && !VERDICTS.includes(expect.verdict as Verdict)) {
    throw new SuiteInvalidError(`${at}: expect.verdict must be one of ${VERDICTS.join(', ')}`);
  }
  const rules: Record<string, ExpectedRule> = {};
  if (expect.rules !== undefined && !isRecord(expect.rules)) throw new SuiteInvalidError(`${at}: expect.rules must map rule names to outcomes`);
  for (const [rule, want] of Object.entries(expect.rules ?? {})) {
    // `(params)` is where a params problem is reported (a Policy with a paramKind).
    if (!policy.rules.some((r) => r.name === rule) && !(rule === PARAMS_RULE && policy.paramKind)) {
      throw new SuiteInvalidError(`${at}: expect.rules names "${rule}", which policy ${policy.name} does not have`);
    }
    const spec = typeof want === 'string' ? { result: want } : want;
    if (!isRecord(spec) || !OUTCOMES.includes(spec.result as RuleOutcome)) {
      throw new SuiteInvalidError(`${at}: expect.rules.${rule} must be one of ${OUTCOMES.join(', ')} (or {result, message})`);
    }
    rules[rule] = { result: spec.result as RuleOutcome, ...(typeof spec.message === 'string' ? { message: spec.message } : {}) };
  }
  const now = parseDate(raw.now, at);
  return {
    name: raw.name,
    operation,
    object,
    oldObject,
    ...(isRecord(raw.userInfo) ? { userInfo: raw.userInfo as unknown as UserInfo } : {}),
    exceptions: Array.isArray(raw.exceptions) ? (raw.exceptions as PolicyException[]) : [],
    ...(raw.params !== undefined ? { params: objectList(raw.params, `${at}: params`) } : {}),
    ...(raw.authorizer !== undefined ? { authorizer: authzRules(raw.authorizer, `${at}: authorizer`) } : {}),
    ...(now ? { now } : {}),
    applies: expect.applies !== false,
    ...(expect.verdict !== undefined ? { verdict: expect.verdict as Verdict } : {}),
    rules,
  };
}

/** Differences between what a case expects and what the policy did; empty when it passed. */
export function compareCase(expected: Case, evaluation: PolicyEvaluation, policy: CompiledPolicy): string[] {
  const problems: string[] = [];
  if (!evaluation.applied) {
    if (expected.applies) problems.push(`expected the policy to apply, but it did not: ${evaluation.reason}`);
    return problems;
  }
  if (!expected.applies) {
    problems.push('expected the policy not to apply, but it did');
    return problems;
  }
  if (evaluation.matchConditionError !== undefined) {
    problems.push(`matchConditions errored: ${evaluation.matchConditionError}`);
    return problems;
  }
  // A params problem is the Policy's one result; a case may expect it under `(params)`.
  const paramsFailed = evaluation.rules.some((r) => r.rule === PARAMS_RULE);
  const checked = paramsFailed ? [{ name: PARAMS_RULE }] : [...policy.rules, ...(expected.rules[PARAMS_RULE] ? [{ name: PARAMS_RULE }] : [])];
  for (const rule of checked) {
    const want = expected.rules[rule.name] ?? { result: 'pass' };
    const got = evaluation.rules.find((r) => r.rule === rule.name);
    if (!got) {
      problems.push(`rule ${rule.name}: no result`);
      continue;
    }
    if (got.result !== want.result) {
      problems.push(`rule ${rule.name}: expected ${want.result}, got ${got.result}${got.message ? ` (${got.message})` : ''}`);
    } else if (want.message !== undefined && got.message !== want.message) {
      problems.push(`rule ${rule.name}: expected message ${JSON.stringify(want.message)}, got ${JSON.stringify(got.message)}`);
    }
  }
  if (expected.verdict !== undefined) {
    const verdict = verdictOf(decide([evaluation]));
    if (verdict !== expected.verdict) problems.push(`expected verdict ${expected.verdict}, got ${verdict}`);
  }
  return problems;
}

function describe(err: unknown): string {
  if (err instanceof KidpPolicyError) return err.message;
  return `unexpected error: ${err instanceof Error ? err.message : String(err)}`;
}

interface LoadedSuite {
  policy: CompiledPolicy;
  exceptions: PolicyException[];
  params: KubeObject[];
  authorizer?: AuthzRule[];
  namespaces: Map<string, KubeObject>;
  now?: Date;
  cases: { where: string; raw: unknown }[];
}

function loadSuite(dir: string): LoadedSuite {
  const policyFile = join(dir, 'policy.yaml');
  const docs = readYamlFile(policyFile);
  const policies = docs.filter((d) => isRecord(d.value) && d.value.kind === 'Policy');
  if (policies.length !== 1) {
    throw new SuiteInvalidError(`${policyFile}: expected exactly one Policy, found ${policies.length}`, { locations: [{ where: policyFile }] });
  }
  const policyDoc = policies[0]!;
  const verdict = validateManifest(policyDoc.value);
  if (!verdict.valid) {
    throw new SuiteInvalidError(
      `${policyFile}:${policyDoc.line}: the Policy does not match its schema: ${verdict.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
      { locations: [{ where: policyFile, line: policyDoc.line }] },
    );
  }
  const policy = compilePolicy(policyDoc.value as Policy);
  const exceptions = docs.filter((d) => isRecord(d.value) && d.value.kind === 'PolicyException').map((d) => d.value as PolicyException);
  const paramDocs = docs.filter((d) => isRecord(d.value) && d.value.kind !== 'Policy' && d.value.kind !== 'PolicyException').map((d) => d.value as KubeObject);

  const testsFile = join(dir, 'tests.yaml');
  if (!existsSync(testsFile)) throw new SuiteInvalidError(`${dir}: no tests.yaml beside policy.yaml`, { locations: [{ where: dir }] });
  const testDocs = readYamlFile(testsFile);
  const tests = testDocs[0]?.value;
  if (testDocs.length !== 1 || !isRecord(tests) || !Array.isArray(tests.cases) || tests.cases.length === 0) {
    throw new SuiteInvalidError(`${testsFile}: expected one document with a non-empty cases: list`, { locations: [{ where: testsFile }] });
  }
  const namespaces = new Map<string, KubeObject>();
  for (const ns of Array.isArray(tests.namespaces) ? tests.namespaces : []) {
    const name = isRecord(ns) && isRecord(ns.metadata) ? ns.metadata.name : undefined;
    if (typeof name !== 'string') throw new SuiteInvalidError(`${testsFile}: namespaces entries need metadata.name`);
    namespaces.set(name, ns as KubeObject);
  }
  if (tests.exceptions !== undefined && !Array.isArray(tests.exceptions)) throw new SuiteInvalidError(`${testsFile}: exceptions must be a list`);
  const now = parseDate(tests.now, testsFile);
  return {
    policy,
    params: [...paramDocs, ...objectList(tests.params, `${testsFile}: params`)],
    ...(tests.authorizer !== undefined ? { authorizer: authzRules(tests.authorizer, `${testsFile}: authorizer`) } : {}),
    exceptions: [...exceptions, ...((tests.exceptions as PolicyException[] | undefined) ?? [])],
    namespaces,
    ...(now ? { now } : {}),
    cases: tests.cases.map((raw, i) => ({ where: `${testsFile} cases[${i}]`, raw })),
  };
}

function authzRules(v: unknown, where: string): AuthzRule[] {
  const decisions = ['allow', 'deny', 'no-opinion'];
  if (!Array.isArray(v) || !v.every((r) => isRecord(r) && isRecord(r.match) && decisions.includes(r.decision as string))) {
    throw new SuiteInvalidError(`${where} must be a list of {match: {...}, decision: allow|deny|no-opinion, reason?}`, { locations: [{ where }] });
  }
  return v as AuthzRule[];
}

function objectList(v: unknown, where: string): KubeObject[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every(isRecord)) throw new SuiteInvalidError(`${where} must be a list of objects`, { locations: [{ where }] });
  return v as KubeObject[];
}

/** Runs one suite directory. A suite that cannot load is one failed case saying why. */
export function runSuite(dir: string, options: RunOptions = {}): CaseResult[] {
  const suite = basename(dir);
  let loaded: LoadedSuite;
  try {
    loaded = loadSuite(dir);
  } catch (err) {
    return [{ suite, name: '(load)', passed: false, problems: [describe(err)] }];
  }
  return loaded.cases.map(({ where, raw }) => {
    const name = isRecord(raw) && typeof raw.name === 'string' ? raw.name : where;
    try {
      const c = parseCase(raw, where, loaded.policy);
      const request = syntheticRequest(c.object, {
        operation: c.operation,
        oldObject: c.oldObject,
        ...(c.userInfo ? { userInfo: c.userInfo } : {}),
      });
      const nsName = request.namespace;
      const rules = c.authorizer ?? loaded.authorizer;
      const evaluation = evaluatePolicy(
        loaded.policy,
        {
          request,
          namespaceObject: nsName ? (loaded.namespaces.get(nsName) ?? null) : null,
          ...(rules ? { authorizer: tableBackend(rules, { decision: 'no-opinion', reason: `no rule in ${where}` }) } : {}),
        },
        {
          now: c.now ?? loaded.now ?? options.now?.() ?? new Date(),
          exceptions: [...loaded.exceptions, ...c.exceptions],
          params: new MemoryParamSource(c.params ?? loaded.params),
        },
      );
      const problems = compareCase(c, evaluation, loaded.policy);
      return { suite, name, passed: problems.length === 0, problems };
    } catch (err) {
      return { suite, name, passed: false, problems: [describe(err)] };
    }
  });
}

/** Runs every suite under `dir` (a suite directory, or a directory of them). */
export function runSuites(dir: string, options: RunOptions = {}): SuiteRun {
  const suites = findSuites(dir);
  if (suites.length === 0) {
    throw new SuiteInvalidError(`${dir}: no policy suites found (a suite is a directory with policy.yaml and tests.yaml)`, {
      locations: [{ where: dir }],
    });
  }
  const results = suites.flatMap((s) => runSuite(s, options));
  const passed = results.filter((r) => r.passed).length;
  return { results, passed, failed: results.length - passed };
}

/** Per-case lines and the closing `N passed, N failed` line. */
export function formatSuiteRun(run: SuiteRun): string[] {
  const lines: string[] = [];
  let current: string | undefined;
  for (const r of run.results) {
    if (r.suite !== current) {
      lines.push(r.suite);
      current = r.suite;
    }
    lines.push(`  ${r.passed ? 'PASS' : 'FAIL'}  ${r.name}`);
    for (const p of r.problems) lines.push(`        ${p}`);
  }
  lines.push(`${run.passed} passed, ${run.failed} failed`);
  return lines;
}
