// The `kidp` command tree (commander): every command, its flags, help with examples, and an
// action that imports the module doing the work only when that command runs, so that
// `kidp cel eval` never loads the webhook server, client-node or kafkajs (issue 16 item 1).
// This file imports nothing else heavy: it is loaded by every invocation, help included.

import { Argument, Command, Option } from 'commander';
import { DATA_FORMATS, isDataFormat, type DataFormat } from './output.js';

export interface CliIo {
  stdout(line: string): void;
  stderr(line: string): void;
  /** Injected clock (STYLE.md §4): decides which PolicyExceptions are in force. */
  now(): Date;
}

/** Exit codes, the same for every command (cli/README.md). */
export const EXIT = {
  ok: 0,
  /** The command ran and found something wrong: a denial, a failed test case, an evaluation error. */
  failed: 1,
  /** The command could not run as asked: unknown command or flag, bad flag value, unusable input. */
  usage: 2,
  /** A bug in kidp; the message carries the stack. */
  internal: 3,
} as const;

/** A user error found by an action after parsing; printed like a parser error, exit 2. */
export class UsageError extends Error {}

/** The command could not do its work (the cluster could not be read, ...): its message, exit 2, no usage hint. */
export class CommandError extends Error {}

/** What actions share with run(): where to write, the clock, the exit code they decide. */
export interface ProgramContext {
  io: CliIo;
  /** `kidp`, or `kubectl kidp` when run as a kubectl plugin: help and examples say it. */
  name: string;
  exit: number;
  /** Set by the long-running commands: their process ends when they do (main.ts). */
  daemon: boolean;
}

const OUTPUT_HELP = `output format: ${DATA_FORMATS.join(', ')}`;

function outputOption(description = OUTPUT_HELP, formats: readonly string[] = DATA_FORMATS): Option {
  return new Option('-o, --output <format>', description).choices(formats);
}

function examples(ctx: ProgramContext, lines: readonly string[]): string {
  return `\nExamples:\n${lines.map((l) => (l.startsWith('#') ? `  ${l}` : `  $ ${ctx.name} ${l}`)).join('\n')}`;
}

export function parseNow(value: string | undefined, io: CliIo): Date {
  if (value === undefined) return io.now();
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--now: ${JSON.stringify(value)} is not an RFC 3339 date-time`);
  return d;
}

function dataFormat(value: string | undefined): DataFormat | undefined {
  if (value === undefined) return undefined;
  if (!isDataFormat(value)) throw new UsageError(`--output: ${JSON.stringify(value)} is not one of ${DATA_FORMATS.join(', ')}`);
  return value;
}

/**
 * A long-running command hands the arguments after its command path, as typed, to its own
 * strict parser (node:util parseArgs in daemons.ts, platform-daemons.ts, reports-daemons.ts),
 * which stays the authority on its flags; the options declared here are its help,
 * completion and suggestions.
 */
type Daemon = (args: string[], stderr: (line: string) => void) => Promise<number>;

/** A long-running command: flags are declared for help; its own parser reads them. */
function daemon(parent: Command, ctx: ProgramContext, argv: readonly string[], spec: { name: string; summary: string; description: string; options: readonly (readonly [flags: string, description: string])[]; examples: string[]; load: () => Promise<Daemon> }): Command {
  const cmd = parent.command(spec.name).summary(spec.summary).description(spec.description).allowUnknownOption().allowExcessArguments();
  for (const [flags, description] of spec.options) cmd.option(flags, description);
  cmd.addHelpText('after', examples(ctx, spec.examples));
  cmd.action(async (_opts: unknown, self: Command) => {
    ctx.daemon = true;
    const args = argv.slice(commandDepth(self));
    const run = await spec.load();
    try {
      ctx.exit = await run(args, ctx.io.stderr);
    } catch (err) {
      const unknown = unknownFlag(err);
      if (unknown === undefined) throw err;
      const suggestion = closest(unknown, self.options.map((o) => o.long).filter((l): l is string => l !== undefined));
      throw new UsageError(`unknown option '${unknown}'${suggestion ? `\n(Did you mean ${suggestion}?)` : ''}`);
    }
  });
  return cmd;
}

function commandDepth(cmd: Command): number {
  let n = 0;
  for (let c: Command | null = cmd; c?.parent; c = c.parent) n += 1;
  return n;
}

/** The flag node:util parseArgs refused as unknown, if that is what `err` is. */
function unknownFlag(err: unknown): string | undefined {
  // By code, not instanceof: node's errors may come from another realm (jest's VM contexts).
  const e = err as { code?: unknown; message?: unknown } | null;
  if (typeof e !== 'object' || e === null || e.code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || typeof e.message !== 'string') return undefined;
  return /'(-[^']*)'/.exec(e.message)?.[1];
}

/** Optimal string alignment distance: how commander ranks its suggestions, for the flags parseArgs refuses. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = distance(word.replace(/^-+/, ''), c.replace(/^-+/, ''));
    // As commander: a suggestion within 40% of the word's length.
    if ((d - 1) / c.length < 0.4 && (!best || d < best.d)) best = { c, d };
  }
  return best?.c;
}

/** CliIo writes lines; commander writes text ending in a newline. */
export const lines = (text: string): string[] => text.replace(/\n$/, '').split('\n');

/** The whole command tree. `argv` is what the user typed after the program name. */
export function buildProgram(ctx: ProgramContext, argv: readonly string[]): Command {
  const program = new Command(ctx.name)
    .description('KIDP: an admission-first internal developer platform for Kubernetes.')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => lines(s).forEach((l) => ctx.io.stdout(l)),
      writeErr: (s) => lines(s).forEach((l) => ctx.io.stderr(l)),
      // run.ts prints parser errors itself, with the help hint.
      outputError: () => undefined,
    })
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false });
  program.addHelpText(
    'after',
    `\nExit codes: 0 ok; 1 the command found something wrong (a denial, a failed case); 2 usage or input error; 3 internal error.` +
      examples(ctx, ['validate -f app.yaml --policies policies/', 'new http-api --team payments --app checkout --env production --out manifests/', "cel eval 'size([1, 2]) == 2'", 'completion bash > /etc/bash_completion.d/kidp']),
  );

  // --- one-shot commands -------------------------------------------------------------

  const cel = program.command('cel').description('CEL in the policy environment.');
  cel
    .command('eval')
    .description(
      'Evaluate a CEL expression in the policy environment and print {"type": T, "value": V}.\n' +
        'Exit 1 on evaluation errors (cost limit included), 2 when it does not compile.',
    )
    .argument('<expression>', 'the CEL expression')
    .option('--vars <file>', 'JSON or YAML mapping variable names to values (declared dyn; integers are int, other numbers double)')
    .addHelpText('after', examples(ctx, ["cel eval '1 + 2'", "cel eval 'replicas >= 2' --vars vars.yaml", "cel eval \"quantity('1Gi').isGreaterThan(quantity('512Mi'))\""]))
    .action(async (expression: string, opts: { vars?: string }) => {
      const { celEval } = await import('./cel-eval.js');
      const vars = opts.vars !== undefined ? (await import('./cel-vars.js')).readVars(opts.vars) : {};
      const outcome = celEval(expression, vars);
      if (outcome.exit === 0) ctx.io.stdout(outcome.line);
      else ctx.io.stderr(outcome.error);
      ctx.exit = outcome.exit;
    });

  program
    .command('validate')
    .description(
      'Offline admission on CREATE: the mutating webhook, the CRD schema, ownership rules that\n' +
        'need no cluster (owner present and of an allowed kind; owners found in the input; team\n' +
        'namespaces), and every matching Policy. One line per resource; exit 1 if any is denied.',
    )
    .argument('[files...]', 'more files or directories (as after -f)')
    .option('-f, --file <paths...>', 'manifest files or directories (YAML, multi-document)')
    .option('--policies <dir>', 'Policies and PolicyExceptions to enforce (e.g. policies/, the built-in library); other objects there are params')
    .option('--params <paths...>', "objects a Policy's paramRef may bind; a Policy whose param object is missing fails as its parameterNotFoundAction says")
    .option('--authz <file>', 'answers for `authorizer` checks, a list of {match, decision, reason}; without it every check is not allowed ("no authorizer offline")')
    .option('--require-owners', 'also deny resources whose owner is not in the input')
    .option('--now <time>', 'RFC 3339 time that decides which PolicyExceptions are in force')
    // Free text, checked in the action: text, json, junit and github are validate-output.ts's
    // (json with file, line and a summary); yaml and table are output.ts's, as elsewhere.
    .option('-o, --output <format>', 'output format: text (default), json, junit, github (GitHub Actions annotations), yaml, table')
    .addHelpText('after', examples(ctx, ['validate -f service.yaml', 'validate -f manifests/ --policies policies/ --require-owners', 'validate -f app.yaml -o json', 'validate -f manifests/ --policies policies/ -o github', 'validate -f topic.yaml --policies policies/ --params limits.yaml']))
    .action(async (files: string[], opts: { file?: string[]; policies?: string; params?: string[]; authz?: string; requireOwners?: boolean; now?: string; output?: string }) => {
      const all = [...(opts.file ?? []), ...files];
      if (all.length === 0) throw new UsageError(`${ctx.name} validate needs at least one -f <file|dir>`);
      const output = opts.output ?? 'text';
      const { isOutputFormat, OUTPUT_FORMATS } = await import('./validate-output.js');
      if (!isOutputFormat(output) && output !== 'yaml' && output !== 'table') {
        throw new UsageError(`--output: ${JSON.stringify(output)} is not one of ${[...OUTPUT_FORMATS, 'yaml', 'table'].join(', ')}`);
      }
      const { validateResources } = await import('./validate.js');
      const verdicts = validateResources({
        files: all,
        ...(opts.policies !== undefined ? { policies: opts.policies } : {}),
        ...(opts.params !== undefined ? { params: opts.params } : {}),
        ...(opts.authz !== undefined ? { authz: opts.authz } : {}),
        now: parseNow(opts.now, ctx.io),
        requireOwners: opts.requireOwners ?? false,
      });
      if (isOutputFormat(output)) {
        const { formatVerdicts } = await import('./validate-output.js');
        for (const l of formatVerdicts(output, verdicts, { cwd: process.cwd() })) ctx.io.stdout(l);
      } else {
        const format = dataFormat(output)!;
        const { renderData } = await import('./output.js');
        const lines = await renderData(format, verdicts, { rows: verdicts, columns: [['resource', (v) => v.resource], ['verdict', (v) => v.verdict], ['message', (v) => v.messages.join('; ')]] });
        for (const l of lines) ctx.io.stdout(l);
      }
      ctx.exit = verdicts.some((v) => v.verdict === 'DENIED') ? EXIT.failed : EXIT.ok;
    });

  program
    .command('test')
    .description('Run policy test suites (a directory with policy.yaml and tests.yaml, or a directory of them).\nPrints each case and "N passed, N failed"; exit 1 if any failed.')
    .argument('<dir>', 'a suite or a directory of suites')
    .option('--now <time>', 'RFC 3339 time the suites run at')
    .addHelpText('after', examples(ctx, ['test policies/', 'test policies/production-databases-require-backup']))
    .action(async (dir: string, opts: { now?: string }) => {
      const now = parseNow(opts.now, ctx.io);
      const { formatSuiteRun, runSuites } = await import('../policy-engine/suite/runner.js');
      const result = runSuites(dir, { now: () => now });
      for (const line of formatSuiteRun(result)) ctx.io.stdout(line);
      ctx.exit = result.failed > 0 ? EXIT.failed : EXIT.ok;
    });

  const policy = program.command('policy').description('Policies against a cluster.');
  policy
    .command('impact')
    .description(
      'What a Policy would deny among existing resources if it were Enforced, with up to 10\n' +
        'examples; rules that read the request are replayed against the decision log.',
    )
    .requiredOption('-f, --file <file>', 'the Policy manifest')
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, then ~/.kube/config)')
    .option('--decisions <file>', 'decision log (JSON lines, as written by webhook serve --decision-log)')
    .option('--json', 'print JSON (as --output json)')
    .addOption(outputOption('output format: json, yaml, or table (the default: the report as text)'))
    .addHelpText('after', examples(ctx, ['policy impact -f policies/service-resource-limits/policy.yaml', 'policy impact -f p.yaml --decisions decisions.jsonl -o json']))
    .action(async (opts: { file: string; kubeconfig?: string; decisions?: string; json?: boolean; output?: string }) => {
      const args = ['-f', opts.file];
      if (opts.kubeconfig !== undefined) args.push('--kubeconfig', opts.kubeconfig);
      if (opts.decisions !== undefined) args.push('--decisions', opts.decisions);
      const format = opts.json ? 'json' : dataFormat(opts.output);
      if (format === 'json') args.push('--json');
      const { policyImpact } = await import('./policy-impact.js');
      if (format === 'yaml') {
        const lines: string[] = [];
        ctx.exit = await policyImpact([...args, '--json'], (l) => lines.push(l), ctx.io.stderr);
        const { stringify } = await import('yaml');
        if (lines.length > 0) ctx.io.stdout(stringify(JSON.parse(lines.join('\n'))).trimEnd());
        return;
      }
      ctx.exit = await policyImpact(args, ctx.io.stdout, ctx.io.stderr);
    });

  // --- paved paths -------------------------------------------------------------------

  program
    .command('archetypes')
    .description('List the archetypes `new` scaffolds from, with what each creates.')
    .addOption(outputOption())
    .addHelpText('after', examples(ctx, ['archetypes', 'archetypes -o yaml']))
    .action(async (opts: { output?: string }) => {
      const { listArchetypes } = await import('./new.js');
      for (const l of await listArchetypes(dataFormat(opts.output) ?? 'table')) ctx.io.stdout(l);
    });

  program
    .command('new')
    .description(
      'Write the manifests of an archetype (a paved path): an Application and what it runs,\n' +
        'owned by the team, labelled so its Service binds what it uses, and passing schema,\n' +
        'ownership and every built-in Policy. Without --out, prints them (YAML) to stdout.',
    )
    .argument('<archetype>', `one of the archetypes (${ctx.name} archetypes lists them)`)
    .requiredOption('--team <team>', 'the owning Team (its namespace by default)')
    .requiredOption('--app <app>', 'the Application name; resources are named after it')
    .addOption(new Option('--env <environment>', 'the environment').choices(['development', 'staging', 'production']).default('development'))
    .option('-n, --namespace <namespace>', 'the namespace (default: the team name)')
    .option('--image <image>', 'the container image (default: registry.kidp.io/<team>/<app>:0.1.0)')
    .option('--out <dir>', 'write one file per resource into this directory')
    .addOption(new Option('-o, --output <format>', 'output format when printing: yaml (default), json').choices(['yaml', 'json']))
    .addHelpText('after', examples(ctx, ['new http-api --team payments --app checkout', 'new worker --team payments --app ledger --env production --out manifests/', 'new scheduled-job --team data --app nightly-export -o json']))
    .action(async (archetype: string, opts: { team: string; app: string; env: string; namespace?: string; image?: string; out?: string; output?: 'yaml' | 'json' }) => {
      const { newCommand } = await import('./new.js');
      ctx.exit = await newCommand(archetype, opts, ctx.io);
    });

  program
    .command('suggest')
    .description(
      'List the Databases, Caches and Topics a Service could bind by labels: in its namespace,\n' +
        'of its environment, and part of its application; says whether its selector binds them\n' +
        'already and what to write where it does not.',
    )
    .requiredOption('-f, --file <paths...>', 'the Service (first file), then other manifests to look in')
    .option('--from-cluster', 'look in the cluster as well (kubeconfig)')
    .option('--kubeconfig <file>', 'kubeconfig for --from-cluster (default: $KUBECONFIG, then ~/.kube/config)')
    .addOption(outputOption())
    .addHelpText('after', examples(ctx, ['suggest -f service.yaml -f manifests/', 'suggest -f service.yaml --from-cluster -o json']))
    .action(async (opts: { file: string[]; fromCluster?: boolean; kubeconfig?: string; output?: string }) => {
      const { suggestCommand } = await import('./suggest.js');
      ctx.exit = await suggestCommand({ files: opts.file, fromCluster: opts.fromCluster ?? false, ...(opts.kubeconfig !== undefined ? { kubeconfig: opts.kubeconfig } : {}), format: dataFormat(opts.output) ?? 'table' }, ctx.io);
    });

  program
    .command('mcp')
    .description('Serve the Model Context Protocol over stdio: tools an assistant uses to scaffold, validate and explain manifests (cli/README.md).')
    .option('--policies <dir>', 'Policies to validate against (default: the built-in library)')
    .addHelpText('after', examples(ctx, ['mcp', 'mcp --policies ./my-policies']))
    .action(async (opts: { policies?: string }) => {
      ctx.daemon = true;
      const { serveMcp } = await import('./mcp.js');
      ctx.exit = await serveMcp({ ...(opts.policies !== undefined ? { policies: opts.policies } : {}), now: ctx.io.now });
    });

  program
    .command('completion')
    .description('Print a shell completion script.')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
    .addHelpText(
      'after',
      examples(ctx, ['# bash: load it now, or install it', 'completion bash > ~/.local/share/bash-completion/completions/kidp', '# zsh: a directory on $fpath', 'completion zsh > "${fpath[1]}/_kidp"']),
    )
    .action(async (shell: 'bash' | 'zsh') => {
      const { completionScript } = await import('./completion.js');
      const { archetypeNames } = await import('../archetypes/index.js');
      ctx.io.stdout(completionScript(shell, program, ctx.name, { new: archetypeNames() }));
    });

  // --- long-running commands ---------------------------------------------------------

  const webhook = program.command('webhook').description('The admission webhooks.');
  daemon(webhook, ctx, argv, {
    name: 'serve',
    summary: 'Run the admission webhooks over HTTPS.',
    description:
      'Run the admission webhooks over HTTPS. With --policies: standalone, Policies,\n' +
      'PolicyExceptions and owner objects from files, no cluster lookups. Otherwise: against the\n' +
      'cluster (informer caches). Runs until SIGINT/SIGTERM.',
    options: [
      ['--policies <dir>', 'standalone: Policies, PolicyExceptions and owners from this directory'],
      ['--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, then in-cluster)'],
      ['--port <port>', 'HTTPS port (default 9443)'],
      ['--host <host>', 'listen address (default 0.0.0.0)'],
      ['--cert-dir <dir>', 'serving certificate directory (created when missing)'],
      ['--cert-secret <namespace/name>', 'serving certificate from a Secret'],
      ['--namespace <namespace>', 'platform namespace (default kidp-system)'],
      ['--register', 'point the webhook configurations at https://127.0.0.1:<port>'],
      ['--register-url <url>', 'point the webhook configurations at this URL'],
      ['--decision-log <file>', 'append one JSON line per decision (- for stdout)'],
      ['--decision-stream-brokers <host:port,...>', 'publish decisions to kidp.admission-decisions (buffered; never delays)'],
      ['--decision-stream-tls-dir <dir>', 'Kafka client certificate (ca.crt, tls.crt, tls.key)'],
      ['--client-ca-file <pem>', 'accept reviews only from client certificates this CA signed'],
      ['--client-name <cn>', 'and only from these CNs (repeatable)'],
      ['--max-exception-days <days>', 'cap how far ahead a PolicyException may expire'],
      ['--core-failure-policy <Ignore|Fail>', 'what the apiserver does with a core kind a Policy selects when the webhook cannot answer (default Ignore)'],
    ],
    examples: ['webhook serve --policies policies/ --port 9443', 'webhook serve --kubeconfig ~/.kube/config --register --decision-log decisions.jsonl'],
    load: async () => (await import('./daemons.js')).webhookServe,
  });

  const controllers = program.command('controllers').description('The reconcilers.');
  daemon(controllers, ctx, argv, {
    name: 'run',
    summary: 'Run the reconcilers and the status service.',
    description:
      'Run the reconcilers (leader-elected on a Lease) and the status service: the JWT-authenticated\n' +
      'status API on HTTPS and the status-topic consumer. Requests are signed with the dispatch key\n' +
      '(ES256, created when missing, public key beside it as FILE.pub). Runs until SIGINT/SIGTERM.',
    options: [
      ['--kafka <host:port,...>', 'Kafka bootstrap servers (required)'],
      ['--kafka-tls-dir <dir>', 'Kafka client certificate, principal kidp-controllers (required)'],
      ['--cert-dir <dir>', 'status API serving certificate (required)'],
      ['--dispatch-signing-key-file <file>', 'dispatch signing key, PKCS#8 PEM (required)'],
      ['--kubeconfig <file>', 'kubeconfig'],
      ['--status-host <host>', 'status API address (default 127.0.0.1)'],
      ['--status-port <port>', 'status API port (default 9444)'],
      ['--lease-namespace <namespace>', 'leader election namespace (default kidp-system)'],
      ['--identity <name>', 'leader election identity (default host-pid)'],
      ['--workers <n>', 'workers per kind (default 16)'],
    ],
    examples: ['controllers run --kafka 127.0.0.1:9093 --kafka-tls-dir certs/controllers --cert-dir certs/status --dispatch-signing-key-file keys/dispatch.pem'],
    load: async () => {
      const { controllersRun } = await import('./platform-daemons.js');
      return (args) => controllersRun(args);
    },
  });

  const broker = program.command('broker').description('Brokers.');
  daemon(broker, ctx, argv, {
    name: 'run',
    summary: 'Run the reference kubernetes broker.',
    description:
      'Run a broker (--provider: kubernetes, postgresql, redis, aws). Every request must be signed by the controllers\'\n' +
      'dispatch key; status events are signed with --signing-key-file (created when missing).\n' +
      'Objects land only in one of --namespace. Runs until SIGINT/SIGTERM.',
    options: [
      ['--kafka <host:port,...>', 'Kafka bootstrap servers (required)'],
      ['--kafka-tls-dir <dir>', 'Kafka client certificate (required)'],
      ['--cert-dir <dir>', 'webhook serving certificate (required)'],
      ['--signing-key-file <file>', 'status event signing key, PKCS#8 PEM (required)'],
      ['--platform-public-key-file <file>', "the controllers' dispatch public key (required)"],
      ['--namespace <ns>', 'namespace (or PREFIX*) objects may land in; repeatable (required)'],
      ['--platform-namespace <namespace>', 'never deployed into (default kidp-system)'],
      ['--identity <name>', 'broker identity (default kubernetes-broker)'],
      ['--kubeconfig <file>', 'kubeconfig of the target cluster'],
      ['--webhook-port <port>', 'HTTPS webhook transport port (default 9445)'],
      ['--status-api-url <url>', 'status API for the webhook transport'],
      ['--concurrency <n>', 'requests applied at once (default 16)'],
      ['--kafka-app-issuer-dir <dir>', "the name-constrained issuer of Applications' Kafka certificates for their Topics (ca.crt, tls.crt, tls.key)"],
      ['--provider <name>', 'kubernetes (default), postgresql, redis or aws: what a request becomes'],
      ['--backup-dir <dir>', "postgresql: where the Databases' spec.backup dumps go (default $XDG_STATE_HOME/kidp/backups)"],
      ['--price-table <file>', 'JSON price table usage is priced from, {class: {hourly, perGiBHourly?}} in USD (default: illustrative figures, brokers/usage.ts)'],
      ['--usage-report-interval-seconds <n>', 'how often each resource\'s usage is re-reported (default 3600)'],
    ],
    examples: ['broker run --kafka 127.0.0.1:9093 --kafka-tls-dir certs/broker --cert-dir certs/broker-web --signing-key-file keys/broker.pem --platform-public-key-file keys/dispatch.pem.pub --namespace kidp-workloads'],
    load: async () => {
      const { brokerRun } = await import('./platform-daemons.js');
      return (args) => brokerRun(args);
    },
  });

  const kafka = program.command('kafka').description('Kafka topics and ACLs.');
  daemon(kafka, ctx, argv, {
    name: 'setup',
    summary: "Create KIDP's Kafka topics and ACLs.",
    description: "Create KIDP's Kafka topics and the ACLs of each principal, as an operator principal (a Kafka\nsuper user). Idempotent.",
    options: [
      ['--kafka <host:port,...>', 'Kafka bootstrap servers (required)'],
      ['--kafka-tls-dir <dir>', 'operator client certificate (required)'],
      ['--broker-identity <name>', 'a broker identity to grant; repeatable (required)'],
    ],
    examples: ['kafka setup --kafka 127.0.0.1:9093 --kafka-tls-dir certs/operator --broker-identity kubernetes-broker'],
    load: async () => {
      const { kafkaSetup } = await import('./platform-daemons.js');
      return (args) => kafkaSetup(args);
    },
  });

  const reports = program.command('reports').description('PolicyReports and the background audit.');
  daemon(reports, ctx, argv, {
    name: 'run',
    summary: 'Run the background audit controller.',
    description:
      'Audit every stored resource of the KIDP kinds, Namespaces and the kinds the Policies select\n' +
      'against the Policies; write PolicyReports, PolicyCompliant, Policy status.impact and the\n' +
      'compliance trend. Runs until SIGINT/SIGTERM.',
    options: [
      ['--kubeconfig <file>', 'kubeconfig'],
      ['--lease-namespace <namespace>', 'only the Lease holder writes'],
      ['--rescan-minutes <minutes>', 'full rescan period (default 10)'],
      ['--platform-namespace <namespace>', 'where the trend ConfigMap lives (default kidp-system)'],
      ['--trend-interval-minutes <minutes>', 'one trend point per interval (default 60)'],
      ['--trend-retention-days <days>', 'trend points kept (default 30)'],
    ],
    examples: ['reports run --kubeconfig ~/.kube/config --lease-namespace kidp-system'],
    load: async () => (await import('./reports-daemons.js')).reportsRun,
  });

  const dashboard = program.command('dashboard').description('The read-only portal.');
  daemon(dashboard, ctx, argv, {
    name: 'serve',
    summary: 'Serve the read-only portal and compliance page.',
    description:
      'Serve the read-only portal (Teams, Applications, Services, Databases, Caches, Topics: phase,\n' +
      'conditions, owners, selector connections, policy results, events, cost) and the compliance page\n' +
      '(per team, namespace, policy; violations; the trend). Users sign in with their Kubernetes bearer\n' +
      'token and see what their RBAC lets them read (TokenReview + SubjectAccessReview).\n' +
      'Runs until SIGINT/SIGTERM.',
    options: [
      ['--kubeconfig <file>', 'kubeconfig'],
      ['--port <port>', 'HTTP port (default 8080)'],
      ['--host <host>', 'listen address (default 0.0.0.0)'],
      ['--platform-namespace <namespace>', 'where the trend ConfigMap lives (default kidp-system)'],
      ['--secure-cookie', 'mark the login cookie Secure (when TLS is terminated in front)'],
    ],
    examples: ['dashboard serve --port 8080', 'dashboard serve --host 127.0.0.1 --secure-cookie'],
    load: async () => (await import('./reports-daemons.js')).dashboardServe,
  });

  return program;
}
