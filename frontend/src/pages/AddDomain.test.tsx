import { describe, expect, it } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes } from 'react-router';
import { AuthProvider } from '../auth';
import { createClient } from '../api/client';
import { AddDomainPage } from './AddDomain';

function setup(answer: (body: unknown) => Response) {
  const requests: { url: string; body: unknown }[] = [];
  const client = createClient({
    fetch: (async (url: RequestInfo | URL, init?: RequestInit) => {
      const body = init?.body ? JSON.parse(String(init.body)) : undefined;
      requests.push({ url: String(url), body });
      return answer(body);
    }) as typeof fetch,
  });
  client.setToken('t');
  render(
    <QueryClientProvider client={new QueryClient()}>
      <AuthProvider client={client}>
        <MemoryRouter initialEntries={['/t/ten1/domains/new']}>
          <Routes>
            <Route path="/t/:tenant/domains/new" element={<AddDomainPage />} />
          </Routes>
        </MemoryRouter>
      </AuthProvider>
    </QueryClientProvider>,
  );
  return requests;
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

describe('add domain form', () => {
  it('shows the API’s 422 message next to the name field', async () => {
    const requests = setup(() =>
      json(422, {
        error: { code: 'validation_failed', message: 'name: bad', details: [{ field: 'name', message: 'label `a b` contains ` `' }] },
      }),
    );
    const field = screen.getByLabelText('Domain name');
    await userEvent.type(field, 'a b');
    await userEvent.click(screen.getByRole('button', { name: 'Add domain' }));
    expect(await screen.findByText('label `a b` contains ` `')).toBeTruthy();
    expect(field.getAttribute('aria-invalid')).toBe('true');
    expect(field.getAttribute('aria-describedby')).toContain('-err');
    expect(requests[0]).toEqual({ url: '/api/v1/tenants/ten1/domains', body: { name: 'a b' } });
  });

  it('shows a duplicate next to the field too', async () => {
    setup(() => json(409, { error: { code: 'domain_exists', message: 'example.com is already registered', details: [] } }));
    await userEvent.type(screen.getByLabelText('Domain name'), 'example.com');
    await userEvent.click(screen.getByRole('button', { name: 'Add domain' }));
    expect(await screen.findByText('example.com is already registered')).toBeTruthy();
  });
});

describe('added domain', () => {
  it('shows the proposed policy against the MX hosts found', async () => {
    setup((body) =>
      body
        ? json(201, {
            name: 'example.com',
            display_name: 'example.com',
            state: 'pending',
            mode: 'testing',
            state_changed_at: 1,
            label: 'k7q2m9x4c1',
            mx_discovery: { status: 'found', hosts: [{ host: 'mx1.example.com', preference: 10 }, { host: 'mx2.example.com', preference: 20 }] },
            policy: { mode: 'testing', mx: ['mx1.example.com', 'mx2.example.com'] },
            existing: { status: 'none', problems: [], warnings: [], uncovered: [], tlsrpt_rua: [], tlsrpt_kept: false, imported: false },
            records: [],
            zone_file: '',
            note: '',
          })
        : json(200, { state: 'pending', checked_at: null, items: [] }),
    );
    await userEvent.type(screen.getByLabelText('Domain name'), 'example.com');
    await userEvent.click(screen.getByRole('button', { name: 'Add domain' }));
    expect(await screen.findByRole('heading', { name: 'MX coverage' })).toBeTruthy();
    expect(screen.getByText('All 2 MX hosts are covered by the policy.')).toBeTruthy();
  });

  it('shows the state the checks find, not the one the domain was created in', async () => {
    setup((body) =>
      body
        ? json(201, {
            name: 'example.com',
            display_name: 'example.com',
            state: 'pending',
            mode: 'testing',
            state_changed_at: 1,
            label: 'k7q2m9x4c1',
            mx_discovery: { status: 'none', hosts: [] },
            policy: null,
            existing: { status: 'none', problems: [], warnings: [], uncovered: [], tlsrpt_rua: [], tlsrpt_kept: false, imported: false },
            records: [],
            zone_file: '',
            note: '',
          })
        : json(200, { state: 'verified', checked_at: 1, items: [] }),
    );
    await userEvent.type(screen.getByLabelText('Domain name'), 'example.com');
    await userEvent.click(screen.getByRole('button', { name: 'Add domain' }));
    const lead = (await screen.findByText(/Publish the records below/)).closest('p')!;
    await within(lead).findByText('Verified');
    expect(within(lead).queryByText('Pending')).toBeNull();
  });

  it('says what stsd keeps of a policy the domain already hosts', async () => {
    setup((body) =>
      body
        ? json(201, {
            name: 'self.example',
            display_name: 'self.example',
            state: 'pending',
            mode: 'enforce',
            state_changed_at: 1,
            label: 'k7q2m9x4c1',
            mx_discovery: { status: 'found', hosts: [{ host: 'mx1.self.example', preference: 10 }, { host: 'mx2.self.example', preference: 20 }] },
            existing: {
              status: 'found',
              sts_id: '20240101T000000',
              policy: { mode: 'enforce', mx: ['mx1.self.example'], max_age: 1209600 },
              problems: [],
              warnings: [],
              uncovered: ['mx2.self.example'],
              tlsrpt_rua: ['mailto:tls@self.example'],
              tlsrpt_kept: true,
              imported: true,
            },
            policy: { mode: 'enforce', mx: ['mx1.self.example'] },
            records: [],
            zone_file: '',
            note: '',
          })
        : json(200, { state: 'pending', checked_at: null, items: [] }),
    );
    await userEvent.type(screen.getByLabelText('Domain name'), 'self.example');
    await userEvent.click(screen.getByRole('button', { name: 'Add domain' }));
    const card = (await screen.findByRole('heading', { name: 'Your current MTA-STS' })).closest('section')!;
    expect(within(card).getByText(/mode Enforce, 1 MX pattern, max_age 14 days, id 20240101T000000/)).toBeTruthy();
    expect(within(card).getByText(/stsd keeps this policy as its first version/)).toBeTruthy();
    expect(within(card).getByRole('alert').textContent).toContain('mx2.self.example');
    expect(within(card).getByText(/mailto:tls@self.example/).textContent).toContain('keeps that destination');
  });

  it('reports a policy senders cannot use, with the reasons', async () => {
    setup((body) =>
      body
        ? json(201, {
            name: 'self.example',
            display_name: 'self.example',
            state: 'pending',
            mode: 'testing',
            state_changed_at: 1,
            label: 'k7q2m9x4c1',
            mx_discovery: { status: 'none', hosts: [] },
            existing: {
              status: 'invalid',
              sts_id: 'old1',
              problems: ['the policy at https://mta-sts.self.example/.well-known/mta-sts.txt is not valid: no mx'],
              warnings: [],
              uncovered: [],
              tlsrpt_rua: [],
              tlsrpt_kept: false,
              imported: false,
            },
            policy: null,
            records: [],
            zone_file: '',
            note: '',
          })
        : json(200, { state: 'pending', checked_at: null, items: [] }),
    );
    await userEvent.type(screen.getByLabelText('Domain name'), 'self.example');
    await userEvent.click(screen.getByRole('button', { name: 'Add domain' }));
    const card = (await screen.findByRole('heading', { name: 'Your current MTA-STS' })).closest('section')!;
    expect(within(card).getByText(/senders cannot use it/)).toBeTruthy();
    expect(within(card).getByText(/is not valid: no mx/)).toBeTruthy();
  });
});
