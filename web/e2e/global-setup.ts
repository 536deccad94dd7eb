// Starts a real `synthral serve` (SQLite, or PostgreSQL with E2E_DB=postgres) with the
// http plugin, three users and a small site to fetch, for the whole run.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

export default async function globalSetup(): Promise<() => Promise<void>> {
  const python = process.env.SYNTHRAL_PYTHON ?? path.join(ROOT, '.venv', 'bin', 'python');
  const args = ['-m', 'tests.support.e2e_server', '--db', process.env.E2E_DB ?? 'sqlite'];
  const child = spawn(python, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const info = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the e2e server exited with ${code} before it was ready`)));
    lines.once('line', resolve);
  });
  process.env.E2E_INFO = info;
  return async () => {
    child.stdin!.end();
    await new Promise((resolve) => child.once('exit', resolve));
  };
}
