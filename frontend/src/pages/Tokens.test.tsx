import { describe, expect, it } from 'vitest';
import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { json, renderPage } from '../test-utils';
import { sortTokens, tokenBody, tokenFormErrors, tokenStatus, TokensPage } from './Tokens';

const base = { created_at: 100, expires_at: null, revoked_at: null };

describe('token rules', () => {
  it('checks the name like the API does', () => {
    expect(tokenFormErrors({ name: '  ', scope: 'read', expiresInDays: 0 })).toEqual({ name: 'required' });
    expect(tokenFormErrors({ name: 'x'.repeat(101), scope: 'read', expiresInDays: 0 })).toEqual({ name: 'tooLong' });
    expect(tokenFormErrors({ name: ` ${'é'.repeat(100)} `, scope: 'read', expiresInDays: 0 })).toEqual({});
  });

  it('sends a trimmed name and an expiry only when one was chosen', () => {
    expect(tokenBody({ name: ' ci ', scope: 'write', expiresInDays: 0 })).toEqual({ name: 'ci', scope: 'write' });
    expect(tokenBody({ name: 'ci', scope: 'read', expiresInDays: 90 })).toEqual({ name: 'ci', scope: 'read', expires_in_days: 90 });
  });

  it('tells active, expired and revoked apart', () => {
    expect(tokenStatus(base, 200)).toBe('active');
    expect(tokenStatus({ ...base, expires_at: 300 }, 200)).toBe('active');
    expect(tokenStatus({ ...base, expires_at: 200 }, 200)).toBe('expired');
    expect(tokenStatus({ ...base, expires_at: 300, revoked_at: 150 }, 400)).toBe('revoked');
  });

  it('lists working tokens first, newest first', () => {
    const tokens = [
      { ...base, id: 'old', created_at: 1 },
      { ...base, id: 'revoked', created_at: 9, revoked_at: 10 },
      { ...base, id: 'new', created_at: 5 },
    ];
    expect(sortTokens(tokens, 50).map((t) => t.id)).toEqual(['new', 'old', 'revoked']);
  });
});

const token = {
  id: 'k1',
  name: 'Terraform',
  scope: 'write',
  created_by: { id: 'u1', email: 'admin@example.com' },
  created_at: 1_700_000_000,
  expires_at: null,
  last_used_at: null,
  revoked_at: null,
};

describe('tokens page', () => {
  it('shows a new token once, with a warning, then lists it', async () => {
    let created = false;
    const requests = renderPage(<TokensPage />, {
      path: '/t/ten1/tokens',
      pattern: '/t/:tenant/tokens',
      role: 'admin',
      answer: (r) => {
        if (r.method === 'POST') {
          created = true;
          return json(201, { ...token, token: 'stsd_secret123' });
        }
        return json(200, { items: created ? [token] : [] });
      },
    });
    expect(await screen.findByText('No API tokens yet')).toBeTruthy();
    await userEvent.click(screen.getByRole('button', { name: 'Create token' }));
    expect(screen.getByText('Give the token a name.')).toBeTruthy();
    expect(requests.filter((r) => r.method === 'POST')).toHaveLength(0);

    await userEvent.type(screen.getByLabelText('Name'), ' Terraform ');
    await userEvent.click(screen.getByLabelText(/^Write/));
    await userEvent.click(screen.getByRole('button', { name: 'Create token' }));
    expect(await screen.findByRole('heading', { name: 'Token “Terraform” created' })).toBeTruthy();
    expect((screen.getByLabelText('Token') as HTMLInputElement).value).toBe('stsd_secret123');
    expect(screen.getByText(/only time the token is shown/)).toBeTruthy();
    expect(requests.find((r) => r.method === 'POST')).toEqual({
      method: 'POST',
      url: '/api/v1/tenants/ten1/tokens',
      body: { name: 'Terraform', scope: 'write' },
    });
    const row = await screen.findByRole('row', { name: /Terraform/ });
    // Scope, last used, created, then who created it.
    const cells = within(row).getAllByRole('cell');
    expect(cells[0]?.textContent).toBe('Write');
    expect(cells[1]?.textContent).toBe('never');
    expect(cells[3]?.textContent).toBe('admin@example.com');

    await userEvent.click(screen.getByRole('button', { name: 'I have stored it' }));
    expect(screen.queryByDisplayValue('stsd_secret123')).toBeNull();
    expect(screen.getByRole('heading', { name: 'Create a token' })).toBeTruthy();
  });

  it('revokes only after confirmation', async () => {
    const requests = renderPage(<TokensPage />, {
      path: '/t/ten1/tokens',
      pattern: '/t/:tenant/tokens',
      role: 'owner',
      answer: (r) => (r.method === 'DELETE' ? json(204, undefined) : json(200, { items: [token] })),
    });
    await userEvent.click(await screen.findByRole('button', { name: 'Revoke' }));
    expect(requests.some((r) => r.method === 'DELETE')).toBe(false);
    expect(screen.getByText(/Revoke “Terraform”\?/)).toBeTruthy();
    const confirm = screen.getByRole('button', { name: 'Revoke token' });
    expect(document.activeElement).toBe(confirm);
    await userEvent.keyboard('{Escape}');
    expect(screen.queryByRole('button', { name: 'Revoke token' })).toBeNull();
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Revoke' }));

    await userEvent.click(screen.getByRole('button', { name: 'Revoke' }));
    await userEvent.click(screen.getByRole('button', { name: 'Revoke token' }));
    expect(await screen.findByText('“Terraform” was revoked.')).toBeTruthy();
    expect(requests.find((r) => r.method === 'DELETE')?.url).toBe('/api/v1/tenants/ten1/tokens/k1');
  });

  it('explains to editors and viewers why they see no tokens, without asking the API', async () => {
    const requests = renderPage(<TokensPage />, {
      path: '/t/ten1/tokens',
      pattern: '/t/:tenant/tokens',
      role: 'editor',
      answer: () => json(200, { items: [token] }),
    });
    expect(await screen.findByText('Only owners and admins manage API tokens')).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Create token' })).toBeNull();
    expect(requests).toEqual([]);
  });
});
