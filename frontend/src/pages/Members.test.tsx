import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { apiError, json, renderPage, SELF, type Recorded } from '../test-utils';
import { ApiError } from '../api/errors';
import { inviteBody, MembersPage, noAccount as isNoAccount, sortMembers } from './Members';

const members = [
  { user_id: 'u-v', email: 'vera@example.com', role: 'viewer', joined_at: 1_700_000_300 },
  { user_id: SELF, email: 'me@example.com', role: 'owner', joined_at: 1_700_000_000 },
  { user_id: 'u-a', email: 'adam@example.com', role: 'admin', joined_at: 1_700_000_100 },
];

const INVITATIONS = '/api/v1/tenants/ten1/members/invitations';

interface Options {
  /** Answers to anything else than the invitations list (default: the members). */
  answer?: (r: Recorded) => Response;
  /** The pending invitations the list answers, read at each request. */
  pending?: () => unknown[];
}

function page(role: string, { answer = () => json(200, { items: members }), pending = () => [] }: Options = {}) {
  return renderPage(<MembersPage />, {
    path: '/t/ten1/members',
    pattern: '/t/:tenant/members',
    role,
    answer: (r) => (r.method === 'GET' && r.url === INVITATIONS ? json(200, { items: pending() }) : answer(r)),
  });
}

const noAccount = () =>
  apiError(422, 'validation_failed', 'email: no account', [
    { field: 'email', message: 'no account uses this e-mail; invite them instead (POST …/members/invitations)' },
  ]);

const invitation = {
  id: 'inv1',
  email: 'new@example.com',
  role: 'editor',
  invited_by: SELF,
  created_at: 1_700_000_000,
  expires_at: 1_700_000_000 + 7 * 86_400,
};

describe('member rules', () => {
  it('trims the invited e-mail', () => {
    expect(inviteBody('  vera@example.com ', 'viewer')).toEqual({ email: 'vera@example.com', role: 'viewer' });
  });
  it('offers an invitation only for the API’s “no account” answer (422 on email)', () => {
    expect(isNoAccount(new ApiError(422, 'validation_failed', 'x', [{ field: 'email', message: 'no account' }]))).toBe(true);
    expect(isNoAccount(new ApiError(422, 'validation_failed', 'x', [{ field: 'role', message: 'unknown' }]))).toBe(false);
    expect(isNoAccount(new ApiError(409, 'already_member', 'x'))).toBe(false);
    expect(isNoAccount(new Error('x'))).toBe(false);
  });
  it('sorts by role, then e-mail', () => {
    expect(sortMembers(members).map((m) => m.email)).toEqual(['me@example.com', 'adam@example.com', 'vera@example.com']);
  });
});

describe('members page', () => {
  it('adds an existing account directly, with the role chosen', async () => {
    const requests = page('owner', {
      answer: (r) => (r.method === 'POST' ? json(201, { user_id: 'u-n', email: 'new@example.com', role: 'editor' }) : json(200, { items: members })),
    });
    await screen.findByRole('row', { name: /vera@example\.com/ });
    await userEvent.type(screen.getByRole('textbox', { name: 'E-mail' }), ' new@example.com ');
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Role' }), 'editor');
    await userEvent.click(screen.getByRole('button', { name: 'Invite' }));
    expect(await screen.findByText('new@example.com was added as editor.')).toBeTruthy();
    expect(requests.filter((r) => r.method === 'POST')).toEqual([
      { method: 'POST', url: '/api/v1/tenants/ten1/members', body: { email: 'new@example.com', role: 'editor' } },
    ]);
    expect(screen.queryByRole('button', { name: 'Create an invitation link' })).toBeNull();
  });

  it('offers an invitation link when no account uses the e-mail, and creates it only when asked', async () => {
    const created: unknown[] = [];
    const requests = page('owner', {
      pending: () => created,
      answer: (r) => {
        if (r.method === 'POST' && r.url === '/api/v1/tenants/ten1/members') return noAccount();
        if (r.method === 'POST' && r.url === INVITATIONS) {
          created.push(invitation);
          return json(201, { invitation, token: 'stsdinv_AbC-123_x' });
        }
        return json(200, { items: members });
      },
    });
    await screen.findByRole('row', { name: /vera@example\.com/ });
    const email = screen.getByRole('textbox', { name: 'E-mail' });
    await userEvent.type(email, ' new@example.com ');
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Role' }), 'editor');
    await userEvent.click(screen.getByRole('button', { name: 'Invite' }));

    const offer = await screen.findByRole('button', { name: 'Create an invitation link' });
    expect(screen.getByText('No stsd account uses new@example.com yet.')).toBeTruthy();
    expect(screen.getByText(/sign up with this address and join as editor/)).toBeTruthy();
    // Not a mistake in the field: the address is fine, it just has no account.
    expect(email.getAttribute('aria-invalid')).toBeNull();
    // Nothing is created until the inviter asks for it.
    expect(requests.filter((r) => r.url === INVITATIONS && r.method === 'POST')).toHaveLength(0);
    const listsBefore = requests.filter((r) => r.url === INVITATIONS && r.method === 'GET').length;

    await userEvent.click(offer);
    expect(await screen.findByRole('heading', { name: 'Invitation for new@example.com' })).toBeTruthy();
    expect(requests.filter((r) => r.method === 'POST')).toEqual([
      { method: 'POST', url: '/api/v1/tenants/ten1/members', body: { email: 'new@example.com', role: 'editor' } },
      { method: 'POST', url: INVITATIONS, body: { email: 'new@example.com', role: 'editor' } },
    ]);
    const link = screen.getByRole('textbox', { name: 'Invitation link' }) as HTMLInputElement;
    expect(link.value).toBe(`${window.location.origin}/invite#stsdinv_AbC-123_x`);
    expect(screen.getByText('stsd sends no e-mail: send this link to new@example.com yourself.')).toBeTruthy();
    expect(screen.getByText(/It works once, for 7 days, only for an account with that address\. It is not shown again\./)).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Copy Invitation link' })).toBeTruthy();

    // The pending list is fetched again and shows it.
    const pendingRow = await screen.findByRole('row', { name: /new@example\.com/ });
    expect(within(pendingRow).getByText('editor')).toBeTruthy();
    expect(requests.filter((r) => r.url === INVITATIONS && r.method === 'GET').length).toBeGreaterThan(listsBefore);

    await userEvent.click(screen.getByRole('button', { name: 'I have copied it' }));
    expect(screen.queryByRole('textbox', { name: 'Invitation link' })).toBeNull();
    expect(document.body.textContent).not.toContain('stsdinv_AbC-123_x');
    const again = screen.getByRole('textbox', { name: 'E-mail' }) as HTMLInputElement;
    expect(again.value).toBe('');
    expect(document.activeElement).toBe(again);
  });

  it('forgets the offer when the e-mail changes', async () => {
    page('admin', { answer: (r) => (r.method === 'POST' ? noAccount() : json(200, { items: members })) });
    await screen.findByRole('row', { name: /vera@example\.com/ });
    const email = screen.getByRole('textbox', { name: 'E-mail' });
    await userEvent.type(email, 'new@example.com');
    await userEvent.click(screen.getByRole('button', { name: 'Invite' }));
    await screen.findByRole('button', { name: 'Create an invitation link' });
    await userEvent.type(email, 'x');
    expect(screen.queryByRole('button', { name: 'Create an invitation link' })).toBeNull();
  });

  it('shows why an invitation cannot be created next to the e-mail', async () => {
    page('owner', {
      answer: (r) => {
        if (r.method === 'POST' && r.url === INVITATIONS) return apiError(409, 'already_member', 'this user is already a member');
        if (r.method === 'POST') return noAccount();
        return json(200, { items: members });
      },
    });
    await screen.findByRole('row', { name: /vera@example\.com/ });
    const email = screen.getByRole('textbox', { name: 'E-mail' });
    await userEvent.type(email, 'late@example.com');
    await userEvent.click(screen.getByRole('button', { name: 'Invite' }));
    await userEvent.click(await screen.findByRole('button', { name: 'Create an invitation link' }));
    expect(await screen.findByText('this user is already a member')).toBeTruthy();
    expect(email.getAttribute('aria-invalid')).toBe('true');
    expect(screen.queryByRole('heading', { name: /Invitation for/ })).toBeNull();
  });

  it('lists pending invitations and revokes one after confirming', async () => {
    let pending = [invitation, { ...invitation, id: 'inv2', email: 'other@example.com', role: 'viewer', invited_by: null }];
    const requests = page('admin', {
      pending: () => pending,
      answer: (r) => {
        if (r.method === 'DELETE') {
          pending = pending.filter((i) => !r.url.endsWith(`/${i.id}`));
          return new Response(null, { status: 204 });
        }
        return json(200, { items: members });
      },
    });
    const section = await screen.findByRole('region', { name: 'Pending invitations' });
    const row = within(section).getByRole('row', { name: /new@example\.com/ });
    expect(within(row).getByText('editor')).toBeTruthy();
    expect(within(row).getByText('by me@example.com')).toBeTruthy();
    expect(within(section).getAllByRole('columnheader').map((h) => h.textContent)).toEqual(['E-mail', 'Role', 'Invited', 'Expires', 'Actions']);
    expect(within(section).getByRole('row', { name: /other@example\.com/ })).toBeTruthy();

    await userEvent.click(within(row).getByRole('button', { name: 'Revoke' }));
    expect(requests.some((r) => r.method === 'DELETE')).toBe(false);
    await userEvent.click(within(row).getByRole('button', { name: 'Revoke invitation' }));
    expect(await screen.findByText('The invitation for new@example.com was revoked.')).toBeTruthy();
    expect(requests.filter((r) => r.method === 'DELETE')).toEqual([{ method: 'DELETE', url: `${INVITATIONS}/inv1`, body: undefined }]);
    await waitFor(() => expect(within(section).queryByRole('row', { name: /new@example\.com/ })).toBeNull());
    expect(within(section).getByRole('row', { name: /other@example\.com/ })).toBeTruthy();

    // Revoking the last one hides the section.
    await userEvent.click(screen.getByRole('button', { name: 'Revoke' }));
    await userEvent.click(screen.getByRole('button', { name: 'Revoke invitation' }));
    await waitFor(() => expect(screen.queryByRole('region', { name: 'Pending invitations' })).toBeNull());
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
    const requests = page('owner', { answer: (r) => (r.method === 'PATCH' ? json(200, { user_id: 'u-v', role: 'editor' }) : json(200, { items: members })) });
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
    const requests = page('viewer', { answer: () => json(200, { items: asViewer }) });
    await screen.findByRole('row', { name: /olga@example\.com/ });
    expect(screen.getByText(/Only owners and admins can invite members/)).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Invite' })).toBeNull();
    expect(screen.queryAllByRole('combobox')).toHaveLength(0);
    expect(screen.queryByRole('button', { name: 'Remove' })).toBeNull();
    const own = screen.getByRole('row', { name: /me@example\.com/ });
    expect(within(own).getByRole('button', { name: 'Leave' })).toBeTruthy();
    // The API refuses them the invitations: the page does not ask.
    expect(screen.queryByRole('region', { name: 'Pending invitations' })).toBeNull();
    expect(requests.some((r) => r.url.includes('/invitations'))).toBe(false);
  });
});
