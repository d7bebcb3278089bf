import { describe, expect, it } from 'vitest';
import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { json, renderPage, SELF, type Recorded } from '../test-utils';
import { inviteBody, MembersPage, sortMembers } from './Members';

const members = [
  { user_id: 'u-v', email: 'vera@example.com', role: 'viewer', joined_at: 1_700_000_300 },
  { user_id: SELF, email: 'me@example.com', role: 'owner', joined_at: 1_700_000_000 },
  { user_id: 'u-a', email: 'adam@example.com', role: 'admin', joined_at: 1_700_000_100 },
];

function page(role: string, answer: (r: Recorded) => Response = () => json(200, { items: members })) {
  return renderPage(<MembersPage />, { path: '/t/ten1/members', pattern: '/t/:tenant/members', role, answer });
}

describe('member rules', () => {
  it('trims the invited e-mail', () => {
    expect(inviteBody('  vera@example.com ', 'viewer')).toEqual({ email: 'vera@example.com', role: 'viewer' });
  });
  it('sorts by role, then e-mail', () => {
    expect(sortMembers(members).map((m) => m.email)).toEqual(['me@example.com', 'adam@example.com', 'vera@example.com']);
  });
});

describe('members page', () => {
  it('invites with a role, and shows the API’s answer next to the e-mail', async () => {
    const requests = page('owner', (r) =>
      r.method === 'POST'
        ? json(422, {
            error: {
              code: 'validation_failed',
              message: 'email: no account',
              details: [{ field: 'email', message: 'no account uses this e-mail; ask them to sign up first' }],
            },
          })
        : json(200, { items: members }),
    );
    await screen.findByRole('row', { name: /vera@example\.com/ });
    const email = screen.getByRole('textbox', { name: 'E-mail' });
    await userEvent.type(email, ' new@example.com ');
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Role' }), 'editor');
    await userEvent.click(screen.getByRole('button', { name: 'Invite' }));
    expect(await screen.findByText('no account uses this e-mail; ask them to sign up first')).toBeTruthy();
    expect(email.getAttribute('aria-invalid')).toBe('true');
    expect(requests.find((r) => r.method === 'POST')).toEqual({
      method: 'POST',
      url: '/api/v1/tenants/ten1/members',
      body: { email: 'new@example.com', role: 'editor' },
    });
  });

  it('admins cannot grant owner or touch owners', async () => {
    page('admin');
    await screen.findByRole('row', { name: /vera@example\.com/ });
    const roles = within(screen.getByRole('combobox', { name: 'Role' })).getAllByRole('option').map((o) => o.textContent);
    expect(roles).toEqual(['admin', 'editor', 'viewer']);
    const ownerRow = screen.getByRole('row', { name: /me@example\.com/ });
    expect(within(ownerRow).queryByRole('combobox')).toBeNull();
    expect(within(ownerRow).getAllByText('Only an owner can change an owner.').length).toBeGreaterThan(0);
  });

  it('changes a role only when saved', async () => {
    const requests = page('owner', (r) => (r.method === 'PATCH' ? json(200, { user_id: 'u-v', role: 'editor' }) : json(200, { items: members })));
    const row = await screen.findByRole('row', { name: /vera@example\.com/ });
    await userEvent.selectOptions(within(row).getByRole('combobox', { name: 'Role of vera@example.com' }), 'editor');
    expect(requests.some((r) => r.method === 'PATCH')).toBe(false);
    await userEvent.click(within(row).getByRole('button', { name: 'Save role' }));
    expect(await screen.findByText('vera@example.com is now editor.')).toBeTruthy();
    expect(requests.find((r) => r.method === 'PATCH')).toEqual({
      method: 'PATCH',
      url: '/api/v1/tenants/ten1/members/u-v',
      body: { role: 'editor' },
    });
  });

  it('the last owner cannot be demoted or removed', async () => {
    page('owner');
    const row = await screen.findByRole('row', { name: /me@example\.com/ });
    expect(within(row).queryByRole('combobox')).toBeNull();
    expect(within(row).queryByRole('button')).toBeNull();
    expect(within(row).getAllByText('The last owner stays: make someone else owner first.').length).toBe(1);
  });

  it('viewers read the list, are told why they cannot change it, and may only leave', async () => {
    const asViewer = [
      { user_id: 'u-o', email: 'olga@example.com', role: 'owner', joined_at: 1 },
      { user_id: SELF, email: 'me@example.com', role: 'viewer', joined_at: 2 },
    ];
    page('viewer', () => json(200, { items: asViewer }));
    await screen.findByRole('row', { name: /olga@example\.com/ });
    expect(screen.getByText(/Only owners and admins can invite members/)).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Invite' })).toBeNull();
    expect(screen.queryAllByRole('combobox')).toHaveLength(0);
    expect(screen.queryByRole('button', { name: 'Remove' })).toBeNull();
    const own = screen.getByRole('row', { name: /me@example\.com/ });
    expect(within(own).getByRole('button', { name: 'Leave' })).toBeTruthy();
  });
});
