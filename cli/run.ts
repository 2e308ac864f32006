// The `kidp` command as a function: tests call run(argv, io) directly; main.ts is the bin.

import { parseArgs } from 'node:util';
import { KidpPolicyError } from '../policy-engine/policy/index.js';
import { formatSuiteRun, runSuites } from '../policy-engine/suite/runner.js';
import { celEval, readVars } from './cel-eval.js';
import { validateResources } from './validate.js';
import { formatVerdicts, isOutputFormat, OUTPUT_FORMATS } from './validate-output.js';
import { DAEMON_USAGE } from './daemons.js';
import { PLATFORM_DAEMON_USAGE } from './platform-daemons.js';

export interface CliIo {
  stdout(line: string): void;
  stderr(line: string): void;
  /** Injected clock (STYLE.md §4): decides which PolicyExceptions are in force. */
  now(): Date;
}

export const USAGE = `usage:
  kidp cel eval '<expression>' [--vars FILE]
      Evaluate a CEL expression in the policy environment. FILE (JSON or YAML) maps
      variable names to values (declared dyn; integers are int, other numbers double).
      Prints {"type": T, "value": V}. Exit 1 on evaluation errors, 2 on compile errors.
  kidp validate -f <file|dir>... [--policies <dir>] [--require-owners] [--now <RFC 3339>]
                [--output text|json|junit|github]
      Offline admission on CREATE: CRD schema, ownership rules that need no cluster
      (owner present and of an allowed kind; owners found in the input; team namespaces),
      and every matching Policy. One line per resource; exit 1 if any is denied.
      --require-owners also denies resources whose owner is not in the input.
      Directories are read recursively (*.yaml, *.yml, *.json; kustomization files skipped).
      --output json|junit: machine-readable verdicts; github: workflow-command annotations
      (::error file=...,line=...::) for GitHub Actions.
  kidp test <dir> [--now <RFC 3339>]
      Run policy test suites (a directory with policy.yaml and tests.yaml, or a directory
      of them). Prints each case and "N passed, N failed"; exit 1 if any failed.
${DAEMON_USAGE}
${PLATFORM_DAEMON_USAGE}`;

class UsageError extends Error {}

function parseNow(value: string | undefined, io: CliIo): Date {
  if (value === undefined) return io.now();
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--now: ${JSON.stringify(value)} is not an RFC 3339 date-time`);
  return d;
}

function celCommand(args: string[], io: CliIo): number {
  const { positionals, values } = parseArgs({ args, options: { vars: { type: 'string' } }, allowPositionals: true, strict: true });
  if (positionals[0] !== 'eval' || positionals.length !== 2) throw new UsageError("expected: kidp cel eval '<expression>' [--vars FILE]");
  const vars = values.vars !== undefined ? readVars(values.vars) : {};
  const outcome = celEval(positionals[1]!, vars);
  if (outcome.exit === 0) io.stdout(outcome.line);
  else io.stderr(outcome.error);
  return outcome.exit;
}

function validateCommand(args: string[], io: CliIo): number {
  const { values, positionals } = parseArgs({
    args,
    options: {
      file: { type: 'string', short: 'f', multiple: true },
      policies: { type: 'string' },
      'require-owners': { type: 'boolean' },
      now: { type: 'string' },
      output: { type: 'string', short: 'o', default: 'text' },
    },
    allowPositionals: true,
    strict: true,
  });
  const output = values.output;
  if (!isOutputFormat(output)) throw new UsageError(`--output: ${JSON.stringify(output)} is not one of ${OUTPUT_FORMATS.join(', ')}`);
  // `-f a.yaml b.yaml` takes several paths after one -f, as the usage line reads.
  const files = [...(values.file ?? []), ...positionals];
  if (files.length === 0) throw new UsageError('kidp validate needs at least one -f <file|dir>');
  const verdicts = validateResources({
    files,
    ...(values.policies !== undefined ? { policies: values.policies } : {}),
    now: parseNow(values.now, io),
    requireOwners: values['require-owners'] ?? false,
  });
  for (const line of formatVerdicts(output, verdicts, { cwd: process.cwd() })) io.stdout(line);
  return verdicts.some((v) => v.verdict === 'DENIED') ? 1 : 0;
}

function testCommand(args: string[], io: CliIo): number {
  const { values, positionals } = parseArgs({ args, options: { now: { type: 'string' } }, allowPositionals: true, strict: true });
  if (positionals.length !== 1) throw new UsageError('expected: kidp test <dir>');
  const now = parseNow(values.now, io);
  const run = runSuites(positionals[0]!, { now: () => now });
  for (const line of formatSuiteRun(run)) io.stdout(line);
  return run.failed > 0 ? 1 : 0;
}

/** Runs the CLI; returns the exit code. Never throws for user errors. */
export function run(argv: readonly string[], io: CliIo): number {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'cel':
        return celCommand(rest, io);
      case 'validate':
        return validateCommand(rest, io);
      case 'test':
        return testCommand(rest, io);
      case 'help':
      case '--help':
      case '-h':
        io.stdout(USAGE);
        return 0;
      default:
        throw new UsageError(command === undefined ? 'no command given' : `unknown command ${JSON.stringify(command)}`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
      io.stderr(`kidp: ${err.message}`);
      io.stderr(USAGE);
      return 2;
    }
    if (err instanceof KidpPolicyError) {
      io.stderr(`kidp: ${err.message} [${err.code}]`);
      return 2;
    }
    // A bug, not a user error: say so plainly, with the stack for the report.
    io.stderr(`kidp: internal error: ${err instanceof Error ? err.message : String(err)}`);
    if (err instanceof Error && err.stack) io.stderr(err.stack);
    return 3;
  }
}
