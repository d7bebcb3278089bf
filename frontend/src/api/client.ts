import { ApiError } from './errors';

/** The header the API demands on cookie-authenticated requests (CSRF protection). */
export const CSRF_HEADER = 'X-Requested-With';
const REFRESH = '/api/v1/auth/refresh';

export interface ClientOptions {
  fetch?: typeof fetch;
  /** Called when the session is gone (refresh refused): the app returns to login. */
  onAuthLost?: () => void;
}

export interface RequestOptions {
  body?: unknown;
  /** Send the access token and retry once after a refresh on 401 (default true). */
  auth?: boolean;
  /** Send the CSRF header (cookie-authenticated endpoints). */
  csrf?: boolean;
  signal?: AbortSignal;
}

/**
 * The API client. The access token lives in this closure only (never in storage); the refresh
 * token is the HttpOnly cookie. A 401 triggers one refresh (shared by concurrent requests) and
 * one retry; a refused refresh ends the session.
 */
export function createClient(opts: ClientOptions = {}) {
  const doFetch = opts.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  let token: string | null = null;
  let refreshing: Promise<boolean> | null = null;

  async function send(method: string, path: string, o: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (o.body !== undefined) headers['Content-Type'] = 'application/json';
    if (o.csrf) headers[CSRF_HEADER] = 'stsd';
    if ((o.auth ?? true) && token) headers.Authorization = `Bearer ${token}`;
    try {
      return await doFetch(path, {
        method,
        headers,
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
        credentials: 'same-origin',
        signal: o.signal,
      });
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e;
      throw new ApiError(0, 'network', 'network error');
    }
  }

  async function parse<T>(res: Response): Promise<T> {
    const text = await res.text();
    let body: unknown = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = null;
      }
    }
    if (!res.ok) throw ApiError.fromBody(res.status, body);
    return body as T;
  }

  /** Exchanges the refresh cookie for a new access token; one request at a time. */
  function refresh(): Promise<boolean> {
    refreshing ??= (async () => {
      try {
        const res = await send('POST', REFRESH, { auth: false, csrf: true });
        if (!res.ok) {
          token = null;
          return false;
        }
        const body = await parse<{ access_token: string }>(res);
        token = body.access_token;
        return true;
      } catch {
        token = null;
        return false;
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }

  async function request<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const auth = o.auth ?? true;
    let res = await send(method, path, o);
    if (res.status === 401 && auth) {
      if (await refresh()) {
        res = await send(method, path, o);
      }
      if (res.status === 401) {
        token = null;
        opts.onAuthLost?.();
      }
    }
    return parse<T>(res);
  }

  return {
    request,
    refresh,
    get: <T>(path: string, signal?: AbortSignal) => request<T>('GET', path, { signal }),
    post: <T>(path: string, body?: unknown) => request<T>('POST', path, { body }),
    setToken(t: string | null) {
      token = t;
    },
    hasToken: () => token !== null,
  };
}

export type Client = ReturnType<typeof createClient>;
