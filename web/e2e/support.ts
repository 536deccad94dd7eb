import { expect, test as base, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

export interface E2EInfo {
  url: string;
  site: string;
  password: string;
  users: Record<string, string>;
  wheel: string;
  db: string;
}

export const info: E2EInfo = JSON.parse(process.env.E2E_INFO ?? '{}');
export const SHOTS = path.resolve(import.meta.dirname, '..', '..', 'docs', 'ui');

export const test = base.extend<{ baseURL: string; errors: string[]; diagnose: void }>({
  baseURL: async ({}, use) => use(info.url),
  // A failed test prints what the page's event stream received and what the server has
  // recorded of the latest runs: enough to tell a missed event from a run that never ended.
  diagnose: [
    async ({ page }, use, testInfo) => {
      const frames: string[] = [];
      page.on('websocket', (socket) =>
        socket.on('framereceived', (frame) => frames.push(`${new Date().toISOString()} ${String(frame.payload).slice(0, 300)}`)),
      );
      await use();
      if (testInfo.status === testInfo.expectedStatus) return;
      const runs = await page
        .evaluate(async () => {
          const tokens = JSON.parse(sessionStorage.getItem('synthral.tokens') ?? 'null');
          const headers: Record<string, string> = tokens ? { authorization: `Bearer ${tokens.access_token}` } : {};
          const page = await (await fetch('/api/v1/executions?limit=2', { headers })).json();
          const details = [];
          for (const item of page.items ?? []) details.push(await (await fetch(`/api/v1/executions/${item.id}`, { headers })).json());
          return JSON.stringify(details, null, 1);
        })
        .catch((error: unknown) => `(could not read the runs: ${String(error)})`);
      console.log(`--- event stream frames (last 40 of ${frames.length}):\n${frames.slice(-40).join('\n')}`);
      console.log(`--- latest runs as recorded:\n${runs.slice(0, 8000)}`);
    },
    { auto: true },
  ],
  // Every uncaught error in the page fails the test that caused it.
  errors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.stack ?? error.message));
      await use(errors);
      expect(errors, errors.join('\n')).toEqual([]);
    },
    { auto: true },
  ],
});
export { expect };

export async function signIn(page: Page, email = 'owner@example.com'): Promise<void> {
  await page.goto('/sign-in');
  await page.getByLabel('Email').fill(email);
  await page.getByRole('textbox', { name: 'Password' }).fill(info.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Workflows' })).toBeVisible();
}

/** A screenshot for the docs (SQLite pass only, so the two passes do not overwrite each other). */
export async function shot(page: Page, name: string): Promise<void> {
  if (info.db !== 'sqlite') return;
  mkdirSync(SHOTS, { recursive: true });
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

export async function api<T>(page: Page, method: string, url: string, body?: unknown): Promise<T> {
  const answer = await page.evaluate(
    async ([m, u, b]) => {
      const tokens = JSON.parse(sessionStorage.getItem('synthral.tokens') ?? 'null');
      const r = await fetch(`/api/v1${u}`, {
        method: m as string,
        headers: { 'content-type': 'application/json', ...(tokens ? { authorization: `Bearer ${tokens.access_token}` } : {}) },
        body: b === undefined ? undefined : JSON.stringify(b),
      });
      return { status: r.status, text: await r.text() };
    },
    [method, url, body] as const,
  );
  if (answer.status >= 400) throw new Error(`${method} ${url}: ${answer.status} ${answer.text}`);
  return (answer.text ? JSON.parse(answer.text) : undefined) as T;
}
