// The webhook's Prometheus metrics (DESIGN.md §6). One registry per server so tests and
// two servers in one process do not share counters.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Decision } from './decision.js';
import type { AdmissionRequest } from './review.js';
import { CORE_RESOURCES } from './webhook-config.js';
import { kindsOfGroup } from '../crds/index.js';

/**
 * The kinds a metric may be labelled with: KIDP's and the core kinds Policies can select.
 * `kind` comes from the request body, so anything else (a crafted review, a kind added
 * later) is `other`: label values are a fixed set, and so is the number of series.
 */
const METRIC_KINDS: ReadonlySet<string> = new Set([
  ...kindsOfGroup('platform.kidp.io').map((k) => `platform.kidp.io/${k.kind}`),
  ...Object.entries(CORE_RESOURCES).map(([type, { group }]) => `${group}/${type.split('.')[0] ?? type}`),
]);

export function kindLabel(request: Pick<AdmissionRequest, 'kind'>): string {
  return METRIC_KINDS.has(`${request.kind.group}/${request.kind.kind}`) ? request.kind.kind : 'other';
}

export type DecisionLabel = 'admit' | 'deny' | 'warn' | 'audit' | 'error';

/** The one word a decision is filed under, in metrics and the decision log. */
export function decisionLabel(d: Decision): DecisionLabel {
  if (!d.allowed) return (d.code ?? 403) >= 500 || d.reason === 'BadRequest' ? 'error' : 'deny';
  if (d.warnings.length > 0) return 'warn';
  if (Object.keys(d.auditAnnotations).length > 0) return 'audit';
  return 'admit';
}

export class AdmissionMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'operation' | 'kind' | 'decision' | 'webhook'>;
  private readonly duration: Histogram<'webhook'>;
  /**
   * Rule evaluations counted as plain numbers, policy → rule → result → count, and handed
   * to prom-client only when scraped: a request evaluates up to ~100 rules, and a labelled
   * inc() hashes its label set every time (10 % of a review's CPU when measured).
   */
  private readonly evaluationCounts = new Map<string, Map<string, Record<string, number>>>();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'kidp_admission_requests_total',
      help: 'Admission requests answered, by operation, kind, decision and webhook.',
      labelNames: ['operation', 'kind', 'decision', 'webhook'],
      registers: [this.registry],
    });
    this.duration = new Histogram({
      name: 'kidp_admission_duration_seconds',
      help: 'Time from decoded AdmissionReview to decision.',
      labelNames: ['webhook'],
      // Sub-millisecond buckets: the budget is p99 <= 5 ms.
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      registers: [this.registry],
    });
    const counts = this.evaluationCounts;
    new Counter({
      name: 'kidp_policy_evaluations_total',
      help: 'Policy rule evaluations at admission, by policy, rule and result.',
      labelNames: ['policy', 'rule', 'result'],
      registers: [this.registry],
      collect(this: Counter<'policy' | 'rule' | 'result'>) {
        this.reset();
        for (const [policy, rules] of counts) {
          for (const [rule, results] of rules) {
            for (const result in results) this.inc({ policy, rule, result }, results[result]);
          }
        }
      },
    });
  }

  observe(webhook: 'validate' | 'mutate', request: AdmissionRequest, decision: Decision, seconds: number): void {
    this.requests.inc({ operation: request.operation, kind: kindLabel(request), decision: decisionLabel(decision), webhook });
    this.duration.observe({ webhook }, seconds);
    for (const ev of decision.evaluations ?? []) {
      if (!ev.applied) continue;
      if (ev.matchConditionError !== undefined) this.countEvaluation(ev.policy, '(matchConditions)', 'error');
      for (const r of ev.rules) this.countEvaluation(ev.policy, r.rule, r.result);
    }
  }

  private countEvaluation(policy: string, rule: string, result: string): void {
    let rules = this.evaluationCounts.get(policy);
    if (!rules) this.evaluationCounts.set(policy, (rules = new Map()));
    let results = rules.get(rule);
    if (!results) rules.set(rule, (results = {}));
    results[result] = (results[result] ?? 0) + 1;
  }
}
