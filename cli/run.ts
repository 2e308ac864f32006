// The `kidp` command as a function: tests call run(argv, io) directly; main.ts and
// kubectl-kidp.ts are the bins. Parsing, help and suggestions are commander's
// (program.ts); this file turns every outcome into one exit code (cli/README.md).

import { CommanderError, type Command } from 'commander';
import { buildProgram, CommandError, EXIT, lines, UsageError, type CliIo, type ProgramContext } from './program.js';

export type { CliIo } from './program.js';
export { EXIT } from './program.js';

export interface RunOptions {
  /** How help and examples name the command: `kidp`, or `kubectl kidp` for the plugin. */
  name?: string;
}

export interface RunResult {
  exit: number;
  /** A long-running command ended: its process should exit now, whatever is still open. */
  daemon: boolean;
}

/** Parser messages come as `error: ...`, commander's; ours say `kidp: ...`. */
function parserMessage(err: CommanderError): string {
  const text = err.message.replace(/^error: /, '');
  const unknown = /^unknown command '([^']*)'/.exec(text);
  if (err.code === 'commander.unknownCommand' && unknown) return text.replace(unknown[0], `unknown command ${JSON.stringify(unknown[1])}`);
  return text;
}

/** The help hint for the deepest command `argv` names. */
function helpHint(name: string, argv: readonly string[], program: Command): string {
  const path: string[] = [];
  let cmd = program;
  for (const word of argv) {
    const sub = word.startsWith('-') ? undefined : cmd.commands.find((c) => c.name() === word);
    if (!sub) break;
    path.push(word);
    cmd = sub;
  }
  return `run '${[name, ...path].join(' ')} --help' for usage`;
}

/** Runs the CLI; resolves with the exit code. Never rejects for user errors. */
export async function runCli(argv: readonly string[], io: CliIo, options: RunOptions = {}): Promise<RunResult> {
  const ctx: ProgramContext = { io, name: options.name ?? 'kidp', exit: EXIT.ok, daemon: false };
  const program = buildProgram(ctx, argv);
  if (argv.length === 0) {
    io.stderr(`${ctx.name}: no command given`);
    for (const l of lines(program.helpInformation())) io.stderr(l);
    return { exit: EXIT.usage, daemon: false };
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return { exit: ctx.exit, daemon: ctx.daemon };
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help asked for (or version): printed already.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return { exit: EXIT.ok, daemon: false };
      // A command group without its verb (`kidp cel`): commander printed its help to stderr.
      if (err.code === 'commander.help') return { exit: EXIT.usage, daemon: false };
      for (const l of lines(`${ctx.name}: ${parserMessage(err)}`)) io.stderr(l);
      io.stderr(helpHint(ctx.name, argv, program));
      return { exit: EXIT.usage, daemon: false };
    }
    if (err instanceof UsageError) {
      for (const l of lines(`${ctx.name}: ${err.message}`)) io.stderr(l);
      io.stderr(helpHint(ctx.name, argv, program));
      return { exit: EXIT.usage, daemon: ctx.daemon };
    }
    if (err instanceof CommandError) {
      for (const l of lines(`${ctx.name}: ${err.message}`)) io.stderr(l);
      return { exit: EXIT.usage, daemon: ctx.daemon };
    }
    // Only on failure: the catalogue names every folder's error classes (loads them all).
    const { kidpErrorCode } = await import('../errors/catalogue.js');
    const code = kidpErrorCode(err);
    const message = err instanceof Error ? err.message : String(err);
    if (ctx.daemon) {
      // A daemon that failed to start or stopped on an error: as before, exit 1 with its code.
      io.stderr(`${ctx.name}: ${message}${code ? ` [${code}]` : ''}`);
      return { exit: EXIT.failed, daemon: true };
    }
    const { KidpPolicyError } = await import('../policy-engine/policy/index.js');
    if (err instanceof KidpPolicyError) {
      io.stderr(`${ctx.name}: ${message} [${err.code}]`);
      return { exit: EXIT.usage, daemon: false };
    }
    // A bug, not a user error: say so plainly, with the stack for the report.
    io.stderr(`${ctx.name}: internal error: ${message}`);
    if (err instanceof Error && err.stack) io.stderr(err.stack);
    return { exit: EXIT.internal, daemon: false };
  }
}

/** runCli's exit code alone, for callers that run one-shot commands in-process (tests). */
export async function run(argv: readonly string[], io: CliIo, options: RunOptions = {}): Promise<number> {
  return (await runCli(argv, io, options)).exit;
}
