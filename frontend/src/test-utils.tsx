import type { ReactElement } from 'react';
import { render } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes } from 'react-router';
import { AuthProvider } from './auth';
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

/**
 * Renders `element` at `path` (matched by `pattern`) with a fake API: `answer` gets each
 * request and returns the response. The caller's role comes from a cached `me`.
 */
export function renderPage(
  element: ReactElement,
  { path, pattern, role, answer }: { path: string; pattern: string; role: string; answer: (r: Recorded, init?: RequestInit) => Response },
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
  client.setToken('t');
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  qc.setQueryData(['me'], meAs(role));
  render(
    <QueryClientProvider client={qc}>
      <AuthProvider client={client}>
        <MemoryRouter initialEntries={[path]}>
          <Routes>
            <Route path={pattern} element={element} />
            <Route path="*" element={<p>elsewhere</p>} />
          </Routes>
        </MemoryRouter>
      </AuthProvider>
    </QueryClientProvider>,
  );
  return requests;
}
