import { describe, expect, it, vi } from 'vitest';
import { createClient } from './client';
import { ApiError } from './errors';

function json(status: number, body: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}
const unauthorized = () => json(401, { error: { code: 'unauthorized', message: 'expired', details: [] } });

type Call = { url: string; init: RequestInit };
function fakeFetch(answers: ((c: Call) => Response)[]) {
  const calls: Call[] = [];
  const fn = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    const call = { url: String(url), init: init ?? {} };
    calls.push(call);
    const next = answers.shift();
    if (!next) throw new Error(`unexpected request ${call.url}`);
    return next(call);
  });
  return { fn: fn as unknown as typeof fetch, calls };
}
const header = (c: Call | undefined, name: string) => (c?.init.headers as Record<string, string> | undefined)?.[name];

describe('api client', () => {
  it('sends the access token it holds in memory', async () => {
    const { fn, calls } = fakeFetch([() => json(200, { ok: 1 })]);
    const c = createClient({ fetch: fn });
    c.setToken('t1');
    await expect(c.get('/api/v1/me')).resolves.toEqual({ ok: 1 });
    expect(header(calls[0], 'Authorization')).toBe('Bearer t1');
  });

  it('refreshes once on 401 with the CSRF header and retries with the new token', async () => {
    const { fn, calls } = fakeFetch([
      unauthorized,
      () => json(200, { access_token: 't2', token_type: 'Bearer', expires_in: 900 }),
      () => json(200, { ok: 2 }),
    ]);
    const lost = vi.fn();
    const c = createClient({ fetch: fn, onAuthLost: lost });
    c.setToken('old');
    await expect(c.get('/api/v1/me')).resolves.toEqual({ ok: 2 });
    expect(calls.map((x) => x.url)).toEqual(['/api/v1/me', '/api/v1/auth/refresh', '/api/v1/me']);
    expect(calls[1]?.init.method).toBe('POST');
    expect(header(calls[1], 'X-Requested-With')).toBe('stsd');
    expect(header(calls[1], 'Authorization')).toBeUndefined();
    expect(calls[1]?.init.credentials).toBe('same-origin');
    expect(header(calls[2], 'Authorization')).toBe('Bearer t2');
    expect(lost).not.toHaveBeenCalled();
  });

  it('gives up after one refresh and reports the lost session', async () => {
    const { fn, calls } = fakeFetch([unauthorized, () => json(200, { access_token: 't2' }), unauthorized]);
    const lost = vi.fn();
    const c = createClient({ fetch: fn, onAuthLost: lost });
    c.setToken('old');
    await expect(c.get('/x')).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    expect(calls).toHaveLength(3);
    expect(lost).toHaveBeenCalledTimes(1);
    expect(c.hasToken()).toBe(false);
  });

  it('returns to login when the refresh cookie is refused', async () => {
    const { fn, calls } = fakeFetch([unauthorized, unauthorized]);
    const lost = vi.fn();
    const c = createClient({ fetch: fn, onAuthLost: lost });
    await expect(c.get('/x')).rejects.toBeInstanceOf(ApiError);
    expect(calls.map((x) => x.url)).toEqual(['/x', '/api/v1/auth/refresh']);
    expect(lost).toHaveBeenCalledTimes(1);
  });

  it('shares one refresh between concurrent requests', async () => {
    let refreshes = 0;
    const fn = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
      if (String(url).endsWith('/refresh')) {
        refreshes += 1;
        await new Promise((r) => setTimeout(r, 5));
        return json(200, { access_token: 'fresh' });
      }
      const auth = (init?.headers as Record<string, string>).Authorization;
      return auth === 'Bearer fresh' ? json(200, { url: String(url) }) : unauthorized();
    }) as unknown as typeof fetch;
    const c = createClient({ fetch: fn });
    const results = await Promise.all([c.get('/a'), c.get('/b'), c.get('/c')]);
    expect(results).toHaveLength(3);
    expect(refreshes).toBe(1);
  });

  it('does not refresh for unauthenticated calls such as login', async () => {
    const { fn, calls } = fakeFetch([unauthorized]);
    const c = createClient({ fetch: fn });
    await expect(c.request('POST', '/api/v1/auth/login', { body: {}, auth: false })).rejects.toMatchObject({ status: 401 });
    expect(calls).toHaveLength(1);
  });

  it('turns network failures and non-JSON errors into ApiError', async () => {
    const c1 = createClient({ fetch: (async () => { throw new TypeError('failed'); }) as unknown as typeof fetch });
    await expect(c1.get('/x')).rejects.toMatchObject({ status: 0, code: 'network' });
    const c2 = createClient({ fetch: (async () => new Response('<html>', { status: 502 })) as unknown as typeof fetch });
    await expect(c2.get('/x')).rejects.toMatchObject({ status: 502, code: 'http_error' });
  });
});
