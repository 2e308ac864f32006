// metav1.Condition handling, once for every KIDP writer of conditions: a condition's
// lastTransitionTime moves only when its status changes (Kubernetes API conventions), so
// reconciling twice writes nothing new; times have second precision, as the apiserver
// stores metav1.Time.
import { isDeepStrictEqual } from 'node:util';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

/** RFC 3339 at second precision, the way metav1.Time serializes. */
export function conditionTime(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/**
 * Returns `conditions` with `next` set: order kept, lastTransitionTime kept unless the
 * status changes or `transition` forces it (a new request is a new transition even when
 * Dispatched stays True).
 */
export function setCondition(conditions: readonly Condition[] | undefined, next: ConditionInput, now: Date, transition = false): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const old = i >= 0 ? list[i] : undefined;
  const lastTransitionTime = old && old.status === next.status && !transition ? old.lastTransitionTime : conditionTime(now);
  const value: Condition = { ...next, lastTransitionTime };
  if (i >= 0) list[i] = value;
  else list.push(value);
  return list;
}

export function sameJson(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(JSON.parse(JSON.stringify(a ?? null)), JSON.parse(JSON.stringify(b ?? null)));
}
