// `kidp suggest -f service.yaml [-f others...] [--from-cluster]`: the Databases, Caches and
// Topics a Service could bind (issue 16 item 2, "dependency discovery"). A candidate is in
// the Service's namespace, of its environment, and part of its application (owned by it, or
// labelled with it); a Database the Service's selector already selects is listed too.
// Binding is by labels where the Service has a selector (Databases:
// spec.dependencies.databaseSelector); Caches and Topics have none in crds/service.yaml, so
// the suggestion names them in the environment, as the archetypes do.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { LABELS, PLATFORM_GROUP, PLATFORM_VERSION, kindInfo } from '../crds/registry.js';
import { readWithRetry } from './cluster-read.js';
import { renderData, type DataFormat } from './output.js';
import { EXIT, UsageError, type CliIo } from './program.js';

export const PART_OF_LABEL = 'app.kubernetes.io/part-of';
const BINDABLE = ['Database', 'Cache', 'Topic'] as const;
type Bindable = (typeof BINDABLE)[number];
/** The variable the archetypes name a dependency in, for kinds a Service cannot select. */
const ENV_NAME: Record<Exclude<Bindable, 'Database'>, string> = { Cache: 'CACHE_NAME', Topic: 'KAFKA_TOPIC' };

interface Obj {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
}

export interface Suggestion {
  kind: Bindable;
  name: string;
  namespace: string;
  /** Why it is a candidate. */
  reason: string;
  /** Whether the Service binds it as written. */
  bound: boolean;
  /** What to write to bind it (empty when bound). */
  bind: string;
  /** Where it was found: a file, or `cluster`. */
  source: string;
}

export interface SuggestResult {
  service: string;
  environment: string;
  application: string;
  suggestions: Suggestion[];
}

function environmentOf(o: Obj): string {
  const fromSpec = o.spec?.environment;
  return typeof fromSpec === 'string' ? fromSpec : (o.metadata?.labels?.environment ?? 'development');
}

function selectorOf(service: Obj): Record<string, string> {
  const deps = service.spec?.dependencies as { databaseSelector?: { matchLabels?: Record<string, string> } } | undefined;
  return deps?.databaseSelector?.matchLabels ?? {};
}

const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Pure: the candidates among `others` for `service`. */
export function suggestBindings(service: Obj, others: readonly { object: Obj; source: string }[]): SuggestResult {
  const namespace = service.metadata?.namespace ?? 'default';
  const environment = environmentOf(service);
  const owner = service.spec?.owner as { kind?: string; name?: string } | undefined;
  const application = owner?.kind === 'Application' && owner.name ? owner.name : '';
  const partOf = service.metadata?.labels?.[PART_OF_LABEL] ?? application;
  const selector = selectorOf(service);
  const envValues = new Set(((service.spec?.env ?? []) as { value?: string }[]).map((e) => e.value));
  const seen = new Set<string>();
  const suggestions: Suggestion[] = [];
  for (const { object: o, source } of others) {
    const kind = o.kind as Bindable;
    if (!BINDABLE.includes(kind) || o.apiVersion?.split('/')[0] !== PLATFORM_GROUP) continue;
    const name = o.metadata?.name ?? '';
    const ns = o.metadata?.namespace ?? 'default';
    if (ns !== namespace || environmentOf(o) !== environment || seen.has(`${kind}/${name}`)) continue;
    const labels = o.metadata?.labels ?? {};
    const resourceOwner = o.spec?.owner as { kind?: string; name?: string } | undefined;
    const selected = kind === 'Database' && matches(selector, labels);
    const reason =
      application && resourceOwner?.kind === 'Application' && resourceOwner.name === application ? `owned by Application ${application}`
      : application && labels[LABELS.application] === application ? `labelled ${LABELS.application}=${application}`
      : partOf && labels[PART_OF_LABEL] === partOf ? `labelled ${PART_OF_LABEL}=${partOf}`
      : selected ? 'selected by spec.dependencies.databaseSelector'
      : '';
    if (!reason) continue;
    seen.add(`${kind}/${name}`);
    let bound: boolean;
    let bind = '';
    if (kind === 'Database') {
      bound = selected;
      if (!bound) {
        const key = labels[PART_OF_LABEL] ? PART_OF_LABEL : labels[LABELS.application] ? LABELS.application : '';
        bind = key
          ? `spec.dependencies.databaseSelector.matchLabels: {${key}: ${labels[key]}}`
          : `label the Database ${PART_OF_LABEL}: ${partOf || name} and set spec.dependencies.databaseSelector.matchLabels to the same`;
      }
    } else {
      bound = envValues.has(name);
      if (!bound) bind = `spec.env: {name: ${ENV_NAME[kind]}, value: ${name}} (Services have no ${kind} selector)`;
    }
    suggestions.push({ kind, name, namespace: ns, reason, bound, bind, source });
  }
  suggestions.sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
  return { service: `${namespace}/${service.metadata?.name ?? ''}`, environment, application, suggestions };
}

function files(paths: readonly string[]): string[] {
  return paths.flatMap((p) => (statSync(p).isDirectory() ? readdirSync(p).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(p, f)) : [p]));
}

function readObjects(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new UsageError(`${file}: invalid YAML: ${d.errors[0]!.message}`);
    return d.toJS() as Obj;
  }).filter((o) => typeof o === 'object' && o !== null);
}

async function fromCluster(namespace: string, kubeconfig: string | undefined): Promise<Obj[]> {
  const { CustomObjectsApi } = await import('@kubernetes/client-node');
  const { loadKubeConfig } = await import('../kube/index.js');
  const api = loadKubeConfig({ ...(kubeconfig ? { kubeconfig } : {}), keepAlive: false }).makeApiClient(CustomObjectsApi);
  const out: Obj[] = [];
  for (const kind of BINDABLE) {
    const plural = kindInfo(kind).plural;
    const list = (await readWithRetry(`listing ${plural} in ${namespace}`, () => api.listNamespacedCustomObject({ group: PLATFORM_GROUP, version: PLATFORM_VERSION, namespace, plural }))) as { items: Obj[] };
    out.push(...list.items.map((o) => ({ ...o, apiVersion: `${PLATFORM_GROUP}/${PLATFORM_VERSION}`, kind })));
  }
  return out;
}

export interface SuggestOptions {
  files: readonly string[];
  fromCluster: boolean;
  kubeconfig?: string;
  format: DataFormat;
}

export async function suggestCommand(options: SuggestOptions, io: CliIo): Promise<number> {
  const [first, ...rest] = options.files;
  if (first === undefined) throw new UsageError('suggest needs -f <service.yaml>');
  const own = readObjects(first);
  const service = own.find((o) => o.kind === 'Service' && o.apiVersion?.startsWith(`${PLATFORM_GROUP}/`));
  if (!service) throw new UsageError(`${first}: no ${PLATFORM_GROUP} Service in it`);
  const others = [
    ...own.filter((o) => o !== service).map((object) => ({ object, source: first })),
    ...files(rest).flatMap((f) => readObjects(f).map((object) => ({ object, source: f }))),
  ];
  if (options.fromCluster) for (const object of await fromCluster(service.metadata?.namespace ?? 'default', options.kubeconfig)) others.push({ object, source: 'cluster' });
  const result = suggestBindings(service, others);
  const lines = await renderData(options.format, result, {
    rows: result.suggestions,
    columns: [['kind', (s) => s.kind], ['name', (s) => s.name], ['bound', (s) => (s.bound ? 'yes' : 'no')], ['reason', (s) => s.reason], ['to bind', (s) => s.bind || '-']],
  });
  if (options.format === 'table' && result.suggestions.length === 0) io.stdout(`no Databases, Caches or Topics in ${result.service} (${result.environment}) to bind`);
  else for (const l of lines) io.stdout(l);
  return EXIT.ok;
}
