import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export default async function globalTeardown(): Promise<void> {
  if (process.env.KIDP_ENV_STARTED_BY_TESTS !== '1' || process.env.KIDP_KEEP_ENV === '1') return;
  execFileSync('bash', [join(dirname(fileURLToPath(import.meta.url)), 'env.sh'), 'stop'], { stdio: ['ignore', 'inherit', 'inherit'] });
}
