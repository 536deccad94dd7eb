// The one HTTP client of the app: bearer tokens (refreshed once on expiry), the workspace
// header, and every error as an ApiError carrying the server's problem+json.
import type { Problem, Tokens } from './types';

export const API = '/api/v1';
const TOKENS_KEY = 'synthral.tokens';
const WORKSPACE_KEY = 'synthral.workspace';

export class ApiError extends Error {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail || problem.title);
    this.problem = problem;
  }
  get status(): number {
    return this.problem.status;
  }
}

type Listener = () => void;

class Session {
  private tokens: Tokens | null = null;
  private listeners = new Set<Listener>();
  workspace: string | null = null;
  private refreshing: Promise<boolean> | null = null;

  constructor() {
    try {
      const raw = sessionStorage.getItem(TOKENS_KEY);
      this.tokens = raw ? (JSON.parse(raw) as Tokens) : null;
      this.workspace = localStorage.getItem(WORKSPACE_KEY);
    } catch {
      this.tokens = null;
    }
  }

  get accessToken(): string | null {
    return this.tokens?.access_token ?? null;
  }

  get signedIn(): boolean {
    return this.tokens !== null;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }

  setTokens(tokens: Tokens | null): void {
    this.tokens = tokens;
    if (tokens) sessionStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
    else sessionStorage.removeItem(TOKENS_KEY);
    this.emit();
  }

  setWorkspace(slug: string | null): void {
    this.workspace = slug;
    if (slug) localStorage.setItem(WORKSPACE_KEY, slug);
    else localStorage.removeItem(WORKSPACE_KEY);
    this.emit();
  }

  /** Exchange the refresh token once, however many requests found the access token expired. */
  refresh(): Promise<boolean> {
    const refreshToken = this.tokens?.refresh_token;
    if (!refreshToken) return Promise.resolve(false);
    this.refreshing ??= fetch(`${API}/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: refreshToken }),
    })
      .then(async (answer) => {
        if (!answer.ok) {
          this.setTokens(null);
          return false;
        }
        this.setTokens((await answer.json()) as Tokens);
        return true;
      })
      .catch(() => false)
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }
}

export const session = new Session();

function headers(extra: HeadersInit | undefined, json: boolean): Headers {
  const result = new Headers(extra);
  if (session.accessToken && !result.has('authorization')) result.set('authorization', `Bearer ${session.accessToken}`);
  if (session.workspace && !result.has('x-workspace')) result.set('x-workspace', session.workspace);
  if (json && !result.has('content-type')) result.set('content-type', 'application/json');
  return result;
}

async function problemOf(answer: Response): Promise<Problem> {
  const text = await answer.text();
  try {
    const body = JSON.parse(text) as Partial<Problem>;
    if (typeof body.detail === 'string' || typeof body.title === 'string') {
      return {
        type: body.type ?? 'about:blank',
        title: body.title ?? answer.statusText,
        status: body.status ?? answer.status,
        detail: body.detail ?? body.title ?? answer.statusText,
        code: body.code ?? `http_${answer.status}`,
        details: body.details,
        errors: body.errors,
      };
    }
  } catch {
    // not JSON: described below
  }
  return {
    type: 'about:blank',
    title: answer.statusText || 'Error',
    status: answer.status,
    detail: `the server answered ${answer.status} ${answer.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`,
    code: `http_${answer.status}`,
  };
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  form?: FormData;
  headers?: HeadersInit;
  signal?: AbortSignal;
}

/** Call the API; resolve with the JSON answer (undefined for 204), reject with an ApiError. */
export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const send = () =>
    fetch(`${API}${path}`, {
      method: options.method ?? (options.body !== undefined || options.form ? 'POST' : 'GET'),
      headers: headers(options.headers, options.body !== undefined),
      body: options.form ?? (options.body !== undefined ? JSON.stringify(options.body) : undefined),
      signal: options.signal,
      credentials: 'same-origin',
    });
  let answer: Response;
  try {
    answer = await send();
    if (answer.status === 401 && session.signedIn && (await session.refresh())) answer = await send();
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError({
      type: 'about:blank',
      title: 'No connection',
      status: 0,
      detail: 'the server could not be reached; check that synthral serve is running, then try again',
      code: 'network',
    });
  }
  if (!answer.ok) throw new ApiError(await problemOf(answer));
  if (answer.status === 204) return undefined as T;
  const type = answer.headers.get('content-type') ?? '';
  return (type.includes('json') ? await answer.json() : await answer.text()) as T;
}

/** A URL for the browser to load directly (images): same origin, so the cookie or a token query is not needed. */
export async function blobUrl(executionId: string, digest: string): Promise<string> {
  const answer = await fetch(`${API}/executions/${encodeURIComponent(executionId)}/blobs/${digest}`, {
    headers: headers(undefined, false),
  });
  if (!answer.ok) throw new ApiError(await problemOf(answer));
  return URL.createObjectURL(await answer.blob());
}
