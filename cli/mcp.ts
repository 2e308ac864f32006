// `kidp mcp`: a Model Context Protocol server over stdio (the official SDK) with the tools an
// assistant needs to turn intent into an admitted manifest (issue 16 item 4): list the
// archetypes and the schemas, scaffold from an archetype, validate (the very pipeline of
// `kidp validate`), explain a denial with its fix, and read a resource's status from the
// cluster when KUBECONFIG is set. Every tool answers JSON text; a tool error is a result
// with isError, never a dead server.

import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { ENVIRONMENTS, archetypeNames } from '../archetypes/index.js';
import { crdDirectory, schemaForKind } from '../crds/index.js';
import { findKind, PLATFORM_GROUP, PLATFORM_VERSION } from '../crds/registry.js';
import type { Policy } from '../policy-engine/policy/index.js';
import { archetypeSummaries, scaffold } from './new.js';
import { formatVerdict, loadPolicies, validateResources, type ResourceVerdict } from './validate.js';

export interface McpOptions {
  /** Policies validate and explain use; default the built-in library (policies/). */
  policies?: string;
  now: () => Date;
}

export function builtInPolicies(): string {
  return join(crdDirectory(), '..', 'policies');
}

type ToolResult = { content: { type: 'text'; text: string }[]; isError?: boolean };

const ok = (value: unknown): ToolResult => ({ content: [{ type: 'text', text: JSON.stringify(value, null, 2) }] });
const failure = (message: string): ToolResult => ({ content: [{ type: 'text', text: message }], isError: true });

/** The same call as `kidp validate -f FILE --policies DIR`, on YAML given as text. */
export function validateText(manifests: string, options: McpOptions): ResourceVerdict[] {
  const dir = mkdtempSync(join(tmpdir(), 'kidp-mcp-'));
  try {
    const file = join(dir, 'manifests.yaml');
    writeFileSync(file, manifests);
    // The temporary file is the server's business: messages name the input `manifests`.
    const named = (text: string) => text.split(file).join('manifests');
    try {
      return validateResources({ files: [file], policies: options.policies ?? builtInPolicies(), now: options.now() }).map((v) => ({ ...v, resource: named(v.resource), messages: v.messages.map(named) }));
    } catch (err) {
      if (err instanceof Error) err.message = named(err.message);
      throw err;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface Explanation {
  policy: string;
  rule: string;
  severity?: string;
  description?: string;
  expression: string;
  message: string;
  /** The fields the message names: what to change. */
  fields: string[];
  /** A manifest of the same kind that the policy's own test suite expects admitted. */
  admittedExample?: unknown;
}

/** The failing `policy/rule: message` parts of a denial, each with the rule, its policy and how to pass it. */
export function explainDenial(denial: string, options: McpOptions): { explanations: Explanation[]; other: string[] } {
  const dir = options.policies ?? builtInPolicies();
  const { sources } = loadPolicies(dir);
  const byName = new Map(sources.map((p) => [p.metadata?.name ?? '', p]));
  const explanations: Explanation[] = [];
  const other: string[] = [];
  // Rule failures are `policy/rule: message`, several joined with '; ' (admission/validate.ts).
  for (const part of denial.split(/;\s+(?=[a-z0-9][-a-z0-9.]*\/[a-z0-9][-a-z0-9]*: )/)) {
    const m = /^([a-z0-9][-a-z0-9.]*)\/([a-z0-9][-a-z0-9]*): ([\s\S]*)$/.exec(part.trim());
    const policy = m ? byName.get(m[1]!) : undefined;
    const rule = policy?.spec.rules.find((r) => r.name === m![2]);
    if (!m || !policy || !rule) {
      other.push(part.trim());
      continue;
    }
    const fields = [...new Set([...m[3]!.matchAll(/\b(spec|metadata)\.[A-Za-z0-9_.]+[A-Za-z0-9_]/g)].map((f) => f[0]))];
    const example = admittedExample(dir, policy);
    explanations.push({
      policy: m[1]!,
      rule: m[2]!,
      ...(rule.severity ? { severity: rule.severity } : {}),
      ...(policy.spec.description ? { description: policy.spec.description } : {}),
      expression: rule.expression,
      message: m[3]!,
      fields,
      ...(example !== undefined ? { admittedExample: example } : {}),
    });
  }
  return { explanations, other };
}

/** The first case a policy's tests.yaml (policies/<name>/, STYLE.md §6) expects ADMITTED. */
function admittedExample(dir: string, policy: Policy): unknown {
  const file = join(dir, policy.metadata?.name ?? '', 'tests.yaml');
  if (!existsSync(file)) return undefined;
  const suite = parse(readFileSync(file, 'utf8')) as { cases?: { object?: unknown; expect?: { verdict?: string } }[] } | null;
  return suite?.cases?.find((c) => c.expect?.verdict === 'ADMITTED' && c.object !== undefined)?.object;
}

async function resourceStatus(args: { kind: string; name: string; namespace?: string | undefined }): Promise<ToolResult> {
  if (!process.env.KUBECONFIG) return failure('no cluster: KUBECONFIG is not set for the kidp mcp process');
  const info = findKind(args.kind);
  if (!info) return failure(`unknown kind ${JSON.stringify(args.kind)}; KIDP kinds are in ${PLATFORM_GROUP}`);
  if (info.scope === 'Namespaced' && !args.namespace) return failure(`${args.kind} is namespaced: give namespace`);
  const { CoreV1Api, CustomObjectsApi } = await import('@kubernetes/client-node');
  const { isNotFound, loadKubeConfig } = await import('../kube/index.js');
  const { ClusterReadError, readWithRetry } = await import('./cluster-read.js');
  const kc = loadKubeConfig({ keepAlive: false });
  const custom = kc.makeApiClient(CustomObjectsApi);
  const base = { group: PLATFORM_GROUP, version: PLATFORM_VERSION, plural: info.plural, name: args.name };
  let object: { metadata?: { namespace?: string; generation?: number; labels?: Record<string, string> }; spec?: { owner?: unknown }; status?: Record<string, unknown> };
  const what = `${args.kind} ${args.namespace ? `${args.namespace}/` : ''}${args.name}`;
  try {
    object = (await readWithRetry(`reading ${what}`, () => (info.scope === 'Namespaced' ? custom.getNamespacedCustomObject({ ...base, namespace: args.namespace! }) : custom.getClusterCustomObject(base)))) as typeof object;
  } catch (err) {
    if (err instanceof ClusterReadError && isNotFound(err.cause)) return failure(`${what} does not exist`);
    return failure(err instanceof Error ? err.message : String(err));
  }
  let events: { type?: string; reason?: string; message?: string; lastTimestamp?: unknown }[] = [];
  if (args.namespace) {
    const core = kc.makeApiClient(CoreV1Api);
    const list = await readWithRetry(`listing the events of ${what}`, () => core.listNamespacedEvent({ namespace: args.namespace!, fieldSelector: `involvedObject.kind=${args.kind},involvedObject.name=${args.name}` }));
    events = list.items.slice(-10).map((e) => ({ type: e.type, reason: e.reason, message: e.message, lastTimestamp: e.lastTimestamp ?? e.eventTime }));
  }
  const status = object.status ?? {};
  return ok({
    kind: args.kind,
    name: args.name,
    ...(args.namespace ? { namespace: args.namespace } : {}),
    phase: status.phase ?? 'Unknown',
    observedGeneration: status.observedGeneration,
    generation: object.metadata?.generation,
    conditions: status.conditions ?? [],
    owner: object.spec?.owner,
    events,
  });
}

export function createMcpServer(options: McpOptions): McpServer {
  const server = new McpServer({ name: 'kidp', version: '0.1.0' });
  const names = archetypeNames();

  server.registerTool(
    'list_archetypes',
    { title: 'List archetypes', description: 'The paved-path archetypes kidp scaffolds from, the resources each creates, and the environments.' },
    () => ok({ archetypes: archetypeSummaries(), environments: ENVIRONMENTS }),
  );

  server.registerTool(
    'get_schema',
    {
      title: 'Get a kind\'s schema',
      description: `The OpenAPI v3 schema (from the CRD) of a KIDP kind in ${PLATFORM_GROUP}/${PLATFORM_VERSION}: Team, Application, Service, Database, Cache, Topic, DeploymentTarget, Policy, PolicyException.`,
      inputSchema: { kind: z.string().describe('the kind, e.g. Service') },
    },
    ({ kind }) => {
      const schema = schemaForKind(kind);
      return schema ? ok({ apiVersion: `${PLATFORM_GROUP}/${PLATFORM_VERSION}`, kind, schema }) : failure(`unknown kind ${JSON.stringify(kind)}`);
    },
  );

  server.registerTool(
    'scaffold',
    {
      title: 'Scaffold from an archetype',
      description: 'The manifests of an archetype for a team and application (the same as `kidp new`), as multi-document YAML that passes validate.',
      inputSchema: {
        archetype: z.enum(names as [string, ...string[]]),
        team: z.string(),
        app: z.string(),
        environment: z.enum(ENVIRONMENTS).default('development'),
        namespace: z.string().optional(),
        image: z.string().optional(),
      },
    },
    (args) => {
      try {
        const resources = scaffold(args.archetype, { team: args.team, app: args.app, env: args.environment, ...(args.namespace ? { namespace: args.namespace } : {}), ...(args.image ? { image: args.image } : {}) });
        return ok({ manifests: resources.map((r) => stringify(r.manifest).trimEnd()).join('\n---\n') });
      } catch (err) {
        return failure(err instanceof Error ? err.message : String(err));
      }
    },
  );

  server.registerTool(
    'validate',
    {
      title: 'Validate manifests',
      description:
        'Offline admission of multi-document YAML, the pipeline of `kidp validate`: mutating webhook, CRD schema, ownership, every matching Policy. ' +
        'Each resource is ADMITTED, WARN or DENIED with the messages; a DENIED message goes to explain_denial.',
      inputSchema: { manifests: z.string().describe('YAML, documents separated by ---') },
    },
    ({ manifests }) => {
      try {
        const verdicts = validateText(manifests, options);
        return ok({ admitted: !verdicts.some((v) => v.verdict === 'DENIED'), verdicts, lines: verdicts.map(formatVerdict) });
      } catch (err) {
        return failure(err instanceof Error ? err.message : String(err));
      }
    },
  );

  server.registerTool(
    'explain_denial',
    {
      title: 'Explain a denial',
      description: 'For a DENIED message from validate: each failing policy rule with its description, CEL expression, the fields to change, and a manifest the policy admits.',
      inputSchema: { denial: z.string().describe('the message of a DENIED verdict') },
    },
    ({ denial }) => {
      try {
        const { explanations, other } = explainDenial(denial, options);
        return ok({
          explanations,
          // Schema and ownership denials carry their fix in the message itself.
          other: other.map((m) => ({ message: m, fix: m.startsWith('schema:') ? 'the field does not fit the CRD schema: see get_schema for the kind' : 'the message says what to change (ownership rules)' })),
        });
      } catch (err) {
        return failure(err instanceof Error ? err.message : String(err));
      }
    },
  );

  server.registerTool(
    'resource_status',
    {
      title: 'Read resource status',
      description: 'Phase, conditions, owner and recent events of a KIDP resource in the cluster (needs KUBECONFIG in the server\'s environment).',
      inputSchema: { kind: z.string(), name: z.string(), namespace: z.string().optional() },
    },
    (args) => resourceStatus(args),
  );

  return server;
}

/** Serves until stdin closes (the client went away). */
export async function serveMcp(options: McpOptions): Promise<number> {
  const server = createMcpServer(options);
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  await server.connect(transport);
  await closed;
  await server.close();
  return 0;
}
