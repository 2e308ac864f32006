#!/usr/bin/env node
// The `kidp` bin (package.json "bin"): real process I/O around runCli().
import { runCli } from './run.js';

const result = await runCli(process.argv.slice(2), {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
  now: () => new Date(),
});
// A daemon that stopped may leave sockets and timers of its clients open: end with it.
if (result.daemon) process.exit(result.exit);
process.exitCode = result.exit;
