#!/usr/bin/env node
// The `kubectl-kidp` bin (package.json "bin"): kubectl runs any `kubectl-<name>` on PATH as
// `kubectl <name>`, so `kubectl kidp validate ...` is `kidp validate ...`; help says so.
import { runCli } from './run.js';

const result = await runCli(
  process.argv.slice(2),
  {
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
    now: () => new Date(),
  },
  { name: 'kubectl kidp' },
);
if (result.daemon) process.exit(result.exit);
process.exitCode = result.exit;
