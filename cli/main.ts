#!/usr/bin/env node
// The `kidp` bin (package.json "bin"): real process I/O around run().
import { run } from './run.js';

process.exitCode = run(process.argv.slice(2), {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
  now: () => new Date(),
});
