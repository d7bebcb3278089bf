import { describe, expect, it } from 'vitest';
import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { json, renderPage, SELF } from '../test-utils';
import { auditQuery, AuditPage } from './Audit';

const entry = (id: number, action: string, actor: string, target: string, details: unknown = {}) => ({
  id,
  action,
  actor,
  target,
  details,
  client_ip: '127.0.0.1',
  at: 1_700_000_000 + id,
});

const first = {
  items: [
    entry(9, 'member.role', `user:${SELF}`, 'u-v', { before: { role: 'viewer' }, after: { role: 'editor' } }),
    entry(8, 'token.create', `user:${SELF}`, 'k1', { after: { name: 'Terraform', scope: 'write' } }),
  ],
  next_before: 8,
};
const second = { items: [entry(3, 'domain.create', 'token:k1', 'example.com', { after: { label: 'k7q2', policy: null } })], next_before: null };
const members = {
  items: [
    { user_id: SELF, email: 'me@example.com', role: 'owner', joined_at: 1 },
    { user_id: 'u-v', email: 'vera@example.com', role: 'editor', joined_at: 2 },
  ],
};

describe('audit log', () => {
  it('pages with the previous page’s cursor', () => {
    expect(auditQuery(null)).toBe('limit=50');
    expect(auditQuery(42, 10)).toBe('before=42&limit=10');
  });

  it('names people and tokens, loads older entries, and filters what is loaded', async () => {
    const requests = renderPage(<AuditPage />, {
      path: '/t/ten1/audit',
      pattern: '/t/:tenant/audit',
      role: 'owner',
      answer: (r) => {
        if (r.url.includes('/members')) return json(200, members);
        if (r.url.includes('/tokens')) return json(200, { items: [{ id: 'k1', name: 'Terraform' }] });
        return json(200, r.url.includes('before=8') ? second : first);
      },
    });
    const roleRow = await screen.findByRole('row', { name: /Role changed: vera@example\.com/ });
    expect(within(roleRow).getAllByText('me@example.com').length).toBeGreaterThan(0);
    expect(within(roleRow).getByText('viewer')).toBeTruthy();
    expect(within(roleRow).getByText('editor')).toBeTruthy();
    expect(await screen.findByRole('row', { name: /API token created: Terraform/ })).toBeTruthy();
    expect(screen.getByText(/2 entries loaded\./)).toBeTruthy();

    await userEvent.click(screen.getByRole('button', { name: 'Load older entries' }));
    const domainRow = await screen.findByRole('row', { name: /Domain added: example\.com/ });
    expect(within(domainRow).getAllByText('API token Terraform').length).toBeGreaterThan(0);
    expect(requests.filter((r) => r.url.includes('/audit')).map((r) => r.url)).toEqual([
      '/api/v1/tenants/ten1/audit?limit=50',
      '/api/v1/tenants/ten1/audit?before=8&limit=50',
    ]);
    expect(screen.queryByRole('button', { name: 'Load older entries' })).toBeNull();

    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Kind of change' }), 'domain');
    expect(screen.getByText('1 of 3 loaded entries match.')).toBeTruthy();
    expect(screen.queryByRole('row', { name: /Role changed/ })).toBeNull();
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Changed by' }), `user:${SELF}`);
    expect(screen.getByText('No loaded entry matches these filters')).toBeTruthy();
    await userEvent.click(screen.getByRole('button', { name: 'Clear filters' }));
    expect(screen.getAllByRole('row')).toHaveLength(4);
  });

  it('says so when nothing is recorded, and does not ask viewers’ forbidden questions', async () => {
    const requests = renderPage(<AuditPage />, {
      path: '/t/ten1/audit',
      pattern: '/t/:tenant/audit',
      role: 'viewer',
      answer: (r) => (r.url.includes('/members') ? json(200, members) : json(200, { items: [], next_before: null })),
    });
    expect(await screen.findByText('Nothing recorded yet')).toBeTruthy();
    expect(requests.some((r) => r.url.includes('/tokens'))).toBe(false);
  });
});
