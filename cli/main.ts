#!/usr/bin/env node
// The `kidp` bin (package.json "bin"): real process I/O around run() and the daemons.
import { run } from './run.js';
import { daemonFor } from './daemons.js';
import { platformDaemonFor } from './platform-daemons.js';
import { kidpErrorCode } from '../errors/catalogue.js';

const argv = process.argv.slice(2);
const platformDaemon = platformDaemonFor(argv);
const daemon = platformDaemon ? () => platformDaemon() : daemonFor(argv);
if (daemon) {
  daemon((line) => process.stderr.write(`${line}\n`)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      // The code, as the commands print it, so that errors/catalogue.ts can be looked up.
      const code = kidpErrorCode(e);
      process.stderr.write(`kidp: ${e instanceof Error ? e.message : String(e)}${code ? ` [${code}]` : ''}\n`);
      process.exit(1);
    },
  );
} else {
  process.exitCode = run(argv, {
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
    now: () => new Date(),
  });
}
