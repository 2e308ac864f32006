// Logical backups for Databases with spec.backup.enabled (issue 15 item 1): the broker runs
// pg_dump (custom format) on the Database's cron schedule into <dir>/<database>/<time>.dump,
// keeps retentionDays of them, and reports the last backup time in the Database's status
// (status.backup, through a status event of the request that set the schedule).
//
// Schedules live in the broker process, set by each provision of the Database and cleared
// by its delete; a restarted broker sets them again at start from the Ready Databases its
// targets hold (Provisioner.resume, reference/broker.ts). The next backup is derived from the
// last one (status.backup.lastBackupTime, else the newest dump on disk): a scheduled time
// that passed while no broker ran is caught up at once, so a restart loses no backup.
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

  /**
   * Sets (or, with undefined, clears) the schedule of the Database with this uid. With
   * `lastBackupTime` (a resumed schedule), the next backup follows from it: when the schedule's
   * first time after it has passed already, one backup runs now (the returned promise resolves
   * with its file); otherwise the schedule simply continues.
   */
  set(uid: string, job: BackupJob | undefined, resumed?: { lastBackupTime?: string }): Promise<string | undefined> {
    const current = this.jobs.get(uid);
    if (current && job && current.job.schedule === job.schedule && current.job.database === job.database) {
      current.job = job;
      return Promise.resolve(undefined);
    }
    current?.cron.stop();
    this.jobs.delete(uid);
    if (!job) return Promise.resolve(undefined);
    const entry = { job, cron: new Cron(job.schedule, { timezone: 'UTC', protect: true, catch: true }, () => this.backup(uid).then(() => undefined)) };
    this.jobs.set(uid, entry);
    return resumed ? this.catchUp(uid, resumed.lastBackupTime) : Promise.resolve(undefined);
  }

  /** The backup a resumed schedule owes: the schedule's first time after the last backup, if it is past. */
  async due(uid: string, lastBackupTime: string | undefined): Promise<Date | undefined> {
    const entry = this.jobs.get(uid);
    if (!entry) return undefined;
    const last = lastBackupTime !== undefined && Number.isFinite(Date.parse(lastBackupTime)) ? new Date(lastBackupTime) : await this.newestDump(entry.job.database);
    // Never backed up: nothing was owed before the schedule was set; the cron takes it from here.
    if (!last) return undefined;
    const next = entry.cron.nextRun(last);
    return next && next.getTime() <= this.now().getTime() ? next : undefined;
  }

  private async catchUp(uid: string, lastBackupTime: string | undefined): Promise<string | undefined> {
    const owed = await this.due(uid, lastBackupTime);
    if (!owed) return undefined;
    this.options.logger.info({ database: this.jobs.get(uid)?.job.database, owed: owed.toISOString() }, 'a scheduled backup passed while no broker ran; taking it now');
    return this.backup(uid);
  }

  /** When the newest dump of the database was written, from the backup directory (the broker's own record of its backups). */
  private async newestDump(database: string): Promise<Date | undefined> {
    let newest: number | undefined;
    try {
      for (const name of await readdir(join(this.options.dir, database))) {
        if (!name.endsWith('.dump')) continue;
        const { mtimeMs } = await stat(join(this.options.dir, database, name));
        newest = newest === undefined ? mtimeMs : Math.max(newest, mtimeMs);
      }
    } catch {
      return undefined;
    }
    return newest === undefined ? undefined : new Date(newest);
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
