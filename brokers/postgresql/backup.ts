// Logical backups for Databases with spec.backup.enabled (issue 15 item 1): the broker runs
// pg_dump (custom format) on the Database's cron schedule into <dir>/<database>/<time>.dump,
// keeps retentionDays of them, and reports the last backup time in the Database's status
// (status.backup, through a status event of the request that set the schedule).
//
// Schedules live in the broker process, set by each provision of the Database and cleared
// by its delete. Not done: a restarted broker learns a schedule again only from the next
// request for that Database (the Database's COMMENT would be the place to read them from).
import { spawn } from 'node:child_process';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Cron } from 'croner';
import type { Logger } from 'pino';
import type { ServerCredentials } from './provisioner.js';

export interface BackupJob {
  database: string;
  server: ServerCredentials;
  /** Five-field cron (spec.backup.schedule), UTC. */
  schedule: string;
  retentionDays: number;
  /** Called after each successful backup. */
  report(backup: { lastBackupTime: string; location: string }): Promise<void>;
}

export interface BackupSchedulerOptions {
  dir: string;
  logger: Logger;
  /** pg_dump to run (default: the one on PATH). */
  pgDump?: string;
  now?: () => Date;
}

const DAY_MS = 86_400_000;

function run(command: string, args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4096)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited ${code}: ${stderr.trim()}`))));
  });
}

/** pg_dump of one database as the operator, custom format, written atomically to `file`. */
export async function dumpDatabase(options: { server: ServerCredentials; database: string; file: string; pgDump?: string }): Promise<void> {
  const { server } = options;
  const partial = `${options.file}.partial`;
  // The password goes by environment, never on the command line (visible in ps).
  await run(options.pgDump ?? 'pg_dump', ['--format=custom', '--no-password', '-h', server.host, '-p', String(server.port), '-U', server.user, '-d', options.database, '-f', partial], { PGPASSWORD: server.password });
  await rename(partial, options.file);
}

/** Restores a dump into `database` (which must exist and be empty), owned by whoever restores. */
export async function restoreDump(options: { server: ServerCredentials; database: string; file: string; pgRestore?: string }): Promise<void> {
  const { server } = options;
  await run(options.pgRestore ?? 'pg_restore', ['--no-owner', '--no-privileges', '--no-password', '--exit-on-error', '-h', server.host, '-p', String(server.port), '-U', server.user, '-d', options.database, options.file], { PGPASSWORD: server.password });
}

export class BackupScheduler {
  private readonly jobs = new Map<string, { job: BackupJob; cron: Cron }>();
  private readonly now: () => Date;

  constructor(private readonly options: BackupSchedulerOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /** Sets (or, with undefined, clears) the schedule of the Database with this uid. */
  set(uid: string, job: BackupJob | undefined): void {
    const current = this.jobs.get(uid);
    if (current && job && current.job.schedule === job.schedule && current.job.database === job.database) {
      current.job = job;
      return;
    }
    current?.cron.stop();
    this.jobs.delete(uid);
    if (!job) return;
    const entry = { job, cron: new Cron(job.schedule, { timezone: 'UTC', protect: true, catch: true }, () => this.backup(uid).then(() => undefined)) };
    this.jobs.set(uid, entry);
  }

  scheduled(uid: string): { database: string; schedule: string; next: Date | null } | undefined {
    const entry = this.jobs.get(uid);
    return entry ? { database: entry.job.database, schedule: entry.job.schedule, next: entry.cron.nextRun() } : undefined;
  }

  /** One backup now, then the retention sweep and the report; resolves with the file. */
  async backup(uid: string): Promise<string | undefined> {
    const entry = this.jobs.get(uid);
    if (!entry) return undefined;
    const { job } = entry;
    const log = this.options.logger.child({ database: job.database });
    const at = this.now();
    const dir = join(this.options.dir, job.database);
    const file = join(dir, `${at.toISOString().replace(/[:.]/g, '-')}.dump`);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await dumpDatabase({ server: job.server, database: job.database, file, ...(this.options.pgDump ? { pgDump: this.options.pgDump } : {}) });
      await this.prune(dir, job.retentionDays, at);
      await job.report({ lastBackupTime: at.toISOString(), location: file });
      log.info({ file }, 'backup taken');
      return file;
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'backup failed');
      return undefined;
    }
  }

  private async prune(dir: string, retentionDays: number, at: Date): Promise<void> {
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.dump')) continue;
      const path = join(dir, name);
      if (at.getTime() - (await stat(path)).mtimeMs > retentionDays * DAY_MS) await rm(path, { force: true });
    }
  }

  close(): void {
    for (const { cron } of this.jobs.values()) cron.stop();
    this.jobs.clear();
  }
}
