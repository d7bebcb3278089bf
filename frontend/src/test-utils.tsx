import type { ReactElement } from 'react';
import { render } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes, useLocation, type InitialEntry } from 'react-router';
import { AuthProvider, type Status } from './auth';
import { createClient } from './api/client';
import type { UserMe } from './api/types';

export interface Recorded {
  method: string;
  url: string;
  body: unknown;
}

export const json = (status: number, body: unknown) =>
  new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

export const SELF = 'u-self';

/** The `me` of a user with `role` in tenant `ten1`. */
export function meAs(role: string): UserMe {
  return {
    user: { id: SELF, email: 'me@example.com' },
    memberships: [{ tenant: { id: 'ten1', name: 'Ten One' }, role }],
  } as UserMe;
}

/** Where navigation led, for tests to find: `elsewhere: /t/ten1/domains`. */
function Elsewhere() {
  const { pathname, search, hash } = useLocation();
  return <p>elsewhere: {pathname + search + hash}</p>;
}

/**
 * Renders `element` at `path` (matched by `pattern`) with a fake API: `answer` gets each
 * request and returns the response. The caller's role comes from a cached `me`.
 */
export function renderPage(
  element: ReactElement,
  {
    path,
    pattern,
    role,
    answer,
    status,
    routes = [],
  }: {
    path: InitialEntry;
    pattern: string;
    /** The caller's role in `ten1`; null: logged out, no `me` at all. */
    role: string | null;
    answer: (r: Recorded, init?: RequestInit) => Response;
    /** The session's state (default: unknown, so that the cached `me` is not fetched again). */
    status?: Status;
    /** More routes to navigate to (the rest render where navigation led). */
    routes?: { pattern: string; element: ReactElement }[];
  },
) {
  const requests: Recorded[] = [];
  const client = createClient({
    fetch: (async (url: RequestInfo | URL, init?: RequestInit) => {
      const raw = init?.body;
      // JSON bodies are parsed; files and other raw bodies are kept as sent.
      const body = typeof raw === 'string' ? JSON.parse(raw) : (raw ?? undefined);
      const r = { method: init?.method ?? 'GET', url: String(url), body };
      requests.push(r);
      return answer(r, init);
    }) as typeof fetch,
  });
  if (status !== 'out') client.setToken('t');
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  if (role !== null) qc.setQueryData(['me'], meAs(role));
  render(
    <QueryClientProvider client={qc}>
      <AuthProvider client={client} initialStatus={status}>
        <MemoryRouter initialEntries={[path]}>
          <Routes>
            <Route path={pattern} element={element} />
            {routes.map((r) => (
              <Route key={r.pattern} path={r.pattern} element={r.element} />
            ))}
            <Route path="*" element={<Elsewhere />} />
          </Routes>
        </MemoryRouter>
      </AuthProvider>
    </QueryClientProvider>,
  );
  return requests;
}

/** A JSON error envelope answer. */
export const apiError = (status: number, code: string, message: string, details: unknown[] = []) =>
  json(status, { error: { code, message, details } });
