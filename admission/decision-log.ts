// The decision log (DESIGN.md §6): one JSON record per admission decision, for audit
// review. Records are written off the response path; a sink that fails is logged, never
// allowed to fail admission.
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Decision } from './decision.js';
import { decisionLabel, type DecisionLabel } from './metrics.js';
import type { AdmissionRequest } from './review.js';

export interface DecisionRecord {
  time: string;
  uid: string;
  webhook: 'validate' | 'mutate';
  user: string;
  groups: string[];
  operation: string;
  resource: { group: string; version: string; resource: string; kind: string; namespace?: string; name?: string };
  dryRun: boolean;
  result: DecisionLabel;
  allowed: boolean;
  code?: number;
  reason?: string;
  message?: string;
  warnings: string[];
  auditAnnotations: Record<string, string>;
  policies: { policy: string; mode: string; applied: boolean; rules: { rule: string; result: string; message?: string; exception?: string }[]; matchConditionError?: string }[];
  durationMs: number;
}

export interface DecisionSink {
  write(record: DecisionRecord): void;
  close(): Promise<void>;
}

export function decisionRecord(webhook: 'validate' | 'mutate', req: AdmissionRequest, d: Decision, seconds: number, now: Date): DecisionRecord {
  return {
    time: now.toISOString(),
    uid: req.uid,
    webhook,
    user: req.userInfo.username ?? '',
    groups: req.userInfo.groups ?? [],
    operation: req.operation,
    resource: {
      group: req.resource.group,
      version: req.resource.version,
      resource: req.resource.resource,
      kind: req.kind.kind,
      ...(req.namespace ? { namespace: req.namespace } : {}),
      ...(req.name ? { name: req.name } : {}),
    },
    dryRun: req.dryRun === true,
    result: decisionLabel(d),
    allowed: d.allowed,
    ...(d.code !== undefined ? { code: d.code } : {}),
    ...(d.reason ? { reason: d.reason } : {}),
    ...(d.message ? { message: d.message } : {}),
    warnings: d.warnings,
    auditAnnotations: d.auditAnnotations,
    policies: (d.evaluations ?? []).map((ev) =>
      ev.applied
        ? { policy: ev.policy, mode: ev.mode, applied: true, rules: ev.rules.map((r) => ({ rule: r.rule, result: r.result, ...(r.message ? { message: r.message } : {}), ...(r.exception ? { exception: r.exception } : {}) })), ...(ev.matchConditionError ? { matchConditionError: ev.matchConditionError } : {}) }
        : { policy: ev.policy, mode: ev.mode, applied: false, rules: [] },
    ),
    durationMs: Math.round(seconds * 1e6) / 1e3,
  };
}

/**
 * How much of the decision log may wait in memory for a slow disk or log reader. At ~5 KB a
 * record and thousands of reviews a second, an unbounded buffer would grow until the
 * webhook is killed, and then every KIDP apply fails (failurePolicy Fail). Past this bound
 * records are dropped and counted (kidp_decision_log_dropped_total, alert on it), like the
 * decision stream's.
 */
export const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

export interface SinkOptions {
  /** Called for every record dropped because the writer is MAX_BUFFERED_BYTES behind. */
  onDrop?: () => void;
  maxBufferedBytes?: number;
}

function boundedWriter(stream: NodeJS.WritableStream & { writableLength: number }, options: SinkOptions, line: (r: DecisionRecord) => string): (r: DecisionRecord) => void {
  const limit = options.maxBufferedBytes ?? MAX_BUFFERED_BYTES;
  return (r) => {
    if (stream.writableLength > limit) {
      options.onDrop?.();
      return;
    }
    stream.write(line(r));
  };
}

/** JSON lines appended to a file. */
export function fileSink(path: string, onError: (e: unknown) => void, options: SinkOptions = {}): DecisionSink {
  const stream: WriteStream = createWriteStream(path, { flags: 'a' });
  stream.on('error', onError);
  return {
    write: boundedWriter(stream, options, (r) => `${JSON.stringify(r)}\n`),
    close: () => new Promise((resolve) => stream.end(resolve)),
  };
}

/** JSON lines to standard output, for log collectors. */
export function stdoutSink(options: SinkOptions = {}): DecisionSink {
  return { write: boundedWriter(process.stdout, options, (r) => `${JSON.stringify({ decision: r })}\n`), close: async () => {} };
}

/** Keeps records in memory (the last `limit`), for tests and the impact preview. */
export function memorySink(limit = 10_000): DecisionSink & { records: DecisionRecord[] } {
  const records: DecisionRecord[] = [];
  return {
    records,
    write: (r) => {
      records.push(r);
      if (records.length > limit) records.shift();
    },
    close: async () => {},
  };
}
