// The command tree: help with examples everywhere, suggestions for typos, the exit codes,
// the daemons' flags (declared here for help, parsed by their own modules), and completion
// scripts run by a real bash.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildProgram, type ProgramContext } from './program.js';
import { run } from './run.js';
import { DAEMON_USAGE } from './daemons.js';
import { PLATFORM_DAEMON_USAGE } from './platform-daemons.js';
import { REPORTS_USAGE } from './reports-daemons.js';

async function kidp(...argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exit = await run(argv, { stdout: (l) => stdout.push(l), stderr: (l) => stderr.push(l), now: () => new Date('2026-06-01T00:00:00Z') });
  return { exit, stdout, stderr };
}

function tree(): Command {
  const ctx: ProgramContext = { io: { stdout: () => undefined, stderr: () => undefined, now: () => new Date() }, name: 'kidp', exit: 0, daemon: false };
  return buildProgram(ctx, []);
}

/** Every command path, groups and leaves: ['cel'], ['cel', 'eval'], ... */
function paths(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.flatMap((c) => [[...prefix, c.name()], ...paths(c, [...prefix, c.name()])]);
}

const leaves = paths(tree()).filter((p) => {
  let c: Command | undefined = tree();
  for (const w of p) c = c?.commands.find((x) => x.name() === w);
  return c !== undefined && c.commands.length === 0;
});

test('the commands of the issue and the existing ones are all there', () => {
  expect(leaves.map((p) => p.join(' '))).toEqual([
    'cel eval', 'validate', 'test', 'policy impact', 'archetypes', 'new', 'suggest', 'mcp', 'completion',
    'webhook serve', 'controllers run', 'broker run', 'kafka setup', 'reports run', 'dashboard serve',
  ]);
});

test.each(leaves.map((p) => [p.join(' '), p]))('kidp %s --help: usage, options and examples, exit 0', async (_name, path) => {
  const got = await kidp(...path, '--help');
  const text = got.stdout.join('\n');
  expect({ exit: got.exit, stderr: got.stderr }).toEqual({ exit: 0, stderr: [] });
  expect(text).toContain(`Usage: kidp ${path.join(' ')}`);
  expect(text).toMatch(/\nExamples:\n {2}(\$ kidp|#)/);
  expect(text).toContain('-h, --help');
});

test('kidp --help names the exit codes; kidp alone is a usage error', async () => {
  expect((await kidp('--help')).stdout.join('\n')).toContain('Exit codes: 0 ok; 1 the command found something wrong (a denial, a failed case); 2 usage or input error; 3 internal error.');
  const none = await kidp();
  expect({ exit: none.exit, first: none.stderr[0] }).toEqual({ exit: 2, first: 'kidp: no command given' });
  const group = await kidp('cel');
  expect({ exit: group.exit, usage: group.stderr[0] }).toEqual({ exit: 2, usage: 'Usage: kidp cel [options] [command]' });
});

test.each([
  [['valdate', '-f', 'x.yaml'], ['kidp: unknown command "valdate"', '(Did you mean validate?)', "run 'kidp --help' for usage"]],
  [['validate', '-f', 'x.yaml', '--polices', 'p/'], ["kidp: unknown option '--polices'", '(Did you mean --policies?)', "run 'kidp validate --help' for usage"]],
  [['cel', 'eval', '1', '--var', 'v.yaml'], ["kidp: unknown option '--var'", '(Did you mean --vars?)', "run 'kidp cel eval --help' for usage"]],
  [['validate', '-f', 'x.yaml', '-o', 'xml'], ['kidp: --output: "xml" is not one of text, json, junit, github, yaml, table', "run 'kidp validate --help' for usage"]],
  [['completion', 'fish'], ["kidp: command-argument value 'fish' is invalid for argument 'shell'. Allowed choices are bash, zsh.", "run 'kidp completion --help' for usage"]],
  // A daemon's own parser refuses the flag before anything starts; the suggestion comes from the declared flags.
  [['webhook', 'serve', '--prot', '9443'], ["kidp: unknown option '--prot'", '(Did you mean --port?)', "run 'kidp webhook serve --help' for usage"]],
])('kidp %j: exit 2 with a suggestion', async (argv, stderr) => {
  expect(await kidp(...argv)).toEqual({ exit: 2, stdout: [], stderr });
});

describe('the daemons: every flag their usage text names is declared for help and completion', () => {
  const usages = `${DAEMON_USAGE}\n${PLATFORM_DAEMON_USAGE}\n${REPORTS_USAGE}`;
  const sections = [...usages.matchAll(/^ {2}kidp (\S+ \S+)([\s\S]*?)(?=^ {2}kidp |(?![\s\S]))/gm)].map((m) => [m[1]!, [...new Set([...m[2]!.matchAll(/--[a-z][-a-z]*/g)].map((f) => f[0]))]] as const);
  test('the usage texts cover the six daemons', () => {
    expect(sections.map(([c]) => c).sort()).toEqual(['broker run', 'controllers run', 'dashboard serve', 'kafka setup', 'reports run', 'webhook serve']);
  });
  test.each(sections)('%s', (command, flags) => {
    let c: Command | undefined = tree();
    for (const w of command.split(' ')) c = c?.commands.find((x) => x.name() === w);
    const declared = c!.options.map((o) => o.long);
    expect(flags.filter((f) => !declared.includes(f))).toEqual([]);
  });
});

describe('completion', () => {
  let dir: string;
  let script: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kidp-completion-'));
    script = join(dir, 'kidp.bash');
    writeFileSync(script, (await kidp('completion', 'bash')).stdout.join('\n'));
    writeFileSync(join(dir, 'service.yaml'), 'kind: Service\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** What bash offers after typing `line` (the cursor at its end) and pressing TAB. */
  function complete(line: string): string[] {
    const words = line.split(' ');
    const program = `source ${JSON.stringify(script)}; COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(' ')}); COMP_CWORD=${words.length - 1}; _kidp; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['-c', program], { cwd: dir, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    return r.stdout.split('\n').filter(Boolean).sort();
  }

  test.each([
    ['kidp val', ['validate']],
    ['kidp c', ['cel', 'completion', 'controllers']],
    ['kidp cel ', ['--help', 'eval']],
    ['kidp validate --pol', ['--policies']],
    ['kidp new ', ['--app', '--env', '--help', '--image', '--namespace', '--out', '--output', '--team', '-n', '-o', 'cached-web', 'http-api', 'scheduled-job', 'worker']],
    ['kidp new http-api --env p', ['production']],
    ['kidp validate -f serv', ['service.yaml']],
    ['kidp completion ', ['--help', 'bash', 'zsh']],
    ['kidp broker run --kafka-t', ['--kafka-tls-dir']],
  ])('%j', (line, want) => {
    expect(complete(line)).toEqual(want);
  });

  const zsh = spawnSync('zsh', ['--version']).status === 0;
  (zsh ? test : test.skip)('the zsh script parses', async () => {
    const file = join(dir, '_kidp');
    writeFileSync(file, (await kidp('completion', 'zsh')).stdout.join('\n'));
    expect(spawnSync('zsh', ['-n', file], { encoding: 'utf8' }).stderr).toBe('');
  });
});
