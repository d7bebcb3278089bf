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
  /** A body sent as is (a file upload) with its media type, instead of JSON. */
  raw?: { body: BodyInit; type: string };
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
    if (o.raw) headers['Content-Type'] = o.raw.type;
    else if (o.body !== undefined) headers['Content-Type'] = 'application/json';
    if (o.csrf) headers[CSRF_HEADER] = 'stsd';
    if ((o.auth ?? true) && token) headers.Authorization = `Bearer ${token}`;
    try {
      return await doFetch(path, {
        method,
        headers,
        body: o.raw ? o.raw.body : o.body === undefined ? undefined : JSON.stringify(o.body),
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

  /** Sends with the token; on 401 refreshes once and retries; gives the final response. */
  async function exchange(method: string, path: string, o: RequestOptions): Promise<Response> {
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
    return res;
  }

  async function request<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    return parse<T>(await exchange(method, path, o));
  }

  /** A file's bytes (a download): the API's error when it answers one. */
  async function blob(path: string, signal?: AbortSignal): Promise<Blob> {
    const res = await exchange('GET', path, { signal });
    if (!res.ok) return parse<never>(res);
    return res.blob();
  }

  return {
    request,
    refresh,
    blob,
    get: <T>(path: string, signal?: AbortSignal) => request<T>('GET', path, { signal }),
    post: <T>(path: string, body?: unknown) => request<T>('POST', path, { body }),
    setToken(t: string | null) {
      token = t;
    },
    hasToken: () => token !== null,
  };
}

export type Client = ReturnType<typeof createClient>;
