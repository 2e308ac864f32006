// The rules on KIDP's own kinds in deploy/'s ClusterRoles, generated from the registry
// (issue 13 item 1): kustomize cannot derive plurals, so each of these roles carries a block
// between two marker comments that `npm run generate:deploy` rewrites from the table below;
// crds/deploy-rbac.test.ts fails when a committed block differs. Everything else in the
// files (other API groups, comments, bindings) stays hand-written. A new kind then reaches
// every role that reads "every platform kind" without anyone editing YAML, and a role that
// names kinds one by one keeps its narrow list, also stated here once.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { crdDirectory } from './index.js';
import { DEPLOYABLE_KINDS, kindInfo, PLATFORM_GROUP, PLATFORM_KINDS, TENANT_KINDS } from './registry.js';

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export interface GeneratedRules {
  /** Under deploy/. */
  file: string;
  /** The ClusterRole whose platform.kidp.io rules are generated. */
  role: string;
  rules: PolicyRule[];
}

const READ = ['get', 'list', 'watch'];
const WRITE = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];

const platform = (resources: string[], verbs: string[]): PolicyRule => ({ apiGroups: [PLATFORM_GROUP], resources, verbs });

/** The platform.kidp.io rules of every deploy/ ClusterRole that has any, from the registry. */
export function deployRbac(): GeneratedRules[] {
  const every = PLATFORM_KINDS.map((k) => k.plural);
  const policyKinds = [kindInfo('Policy').plural, kindInfo('PolicyException').plural];
  return [
    // Ownership, policies and exceptions need every kind; the webhook writes none.
    { file: 'rbac.yaml', role: 'kidp-webhook', rules: [platform(every, READ)] },
    // Reports read every kind; they write only PolicyCompliant on deployables and Policy status.impact.
    {
      file: 'reports.yaml',
      role: 'kidp-reports',
      rules: [platform(every, READ), platform([...DEPLOYABLE_KINDS.map((k) => `${kindInfo(k).plural}/status`), `${kindInfo('Policy').plural}/status`], ['get', 'patch'])],
    },
    // The portal (dashboard/) caches the tenant kinds it shows: Teams, Applications, the deployables.
    { file: 'reports.yaml', role: 'kidp-dashboard', rules: [platform(TENANT_KINDS.map((k) => k.plural), READ)] },
    // The controllers reconcile every kind of the group (spec untouched: no create or delete).
    { file: 'controllers.yaml', role: 'kidp-controllers', rules: [platform(['*'], ['get', 'list', 'watch', 'update', 'patch'])] },
    // Placement reads the DeploymentTargets; relationships list the Databases a Service's
    // databaseSelector may match (brokers/reference/relationships.ts; they hold no credentials).
    { file: 'controllers.yaml', role: 'kidp-broker-kubernetes', rules: [platform([kindInfo('DeploymentTarget').plural], ['get']), platform([kindInfo('Database').plural], ['list'])] },
    // Policy authors write Policies and PolicyExceptions and read what they apply to.
    {
      file: 'people.yaml',
      role: 'kidp-policy-author',
      rules: [platform(policyKinds, WRITE), platform([...every.filter((p) => !policyKinds.includes(p)), ...policyKinds.map((p) => `${p}/status`)], READ)],
    },
  ];
}

export const GENERATE_COMMAND = 'npm run generate:deploy';

function beginMarker(role: string): string {
  return `# ${role}: platform.kidp.io rules generated from crds/registry.ts by crds/deploy-rbac.ts (${GENERATE_COMMAND}); do not edit`;
}
const END_MARKER = '# end of generated rules';

/** `[a, b]` the way deploy/ writes lists: flow style, quoting only what YAML would misread. */
function flow(items: readonly string[]): string {
  return `[${items.map((i) => (/^[a-z0-9][a-z0-9./-]*$/i.test(i) ? i : JSON.stringify(i))).join(', ')}]`;
}

export function renderRules(rules: readonly PolicyRule[], indent = '  '): string[] {
  return rules.flatMap((r) => [`${indent}- apiGroups: ${flow(r.apiGroups)}`, `${indent}  resources: ${flow(r.resources)}`, `${indent}  verbs: ${flow(r.verbs)}`]);
}

/**
 * `text` with the generated block of `entry.role` rewritten. The block sits in the role's
 * `rules:` list between its begin marker and the end marker; a file without the markers is
 * an error naming the role (so a new role cannot silently escape generation).
 */
export function withGeneratedRules(text: string, entry: GeneratedRules): string {
  const lines = text.split('\n');
  const begin = lines.findIndex((l) => l.trim() === beginMarker(entry.role));
  const end = begin < 0 ? -1 : lines.findIndex((l, i) => i > begin && l.trim() === END_MARKER);
  if (begin < 0 || end < 0) {
    throw new Error(`deploy/${entry.file}: ClusterRole ${entry.role} has no generated block; put the lines "${beginMarker(entry.role)}" and "${END_MARKER}" in its rules and run ${GENERATE_COMMAND}`);
  }
  const indent = /^\s*/.exec(lines[begin] ?? '')?.[0] ?? '  ';
  return [...lines.slice(0, begin + 1), ...renderRules(entry.rules, indent), ...lines.slice(end)].join('\n');
}

export function deployDirectory(): string {
  return join(crdDirectory(), '..', 'deploy');
}

/** Every deploy/ file with generated rules, as the generator would write it. */
export function generatedDeployFiles(): Map<string, { committed: string; generated: string }> {
  const files = new Map<string, { committed: string; generated: string }>();
  for (const entry of deployRbac()) {
    const current = files.get(entry.file) ?? { committed: readFileSync(join(deployDirectory(), entry.file), 'utf8'), generated: '' };
    current.generated = withGeneratedRules(current.generated || current.committed, entry);
    files.set(entry.file, current);
  }
  return files;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const [file, { committed, generated }] of generatedDeployFiles()) {
    if (committed === generated) continue;
    writeFileSync(join(deployDirectory(), file), generated);
    console.log(`wrote ${join(deployDirectory(), file)}`);
  }
}
