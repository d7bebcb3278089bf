import { describe, expect, it } from 'vitest';
import { screen } from '@testing-library/react';
import { Link } from 'react-router';
import userEvent from '@testing-library/user-event';
import { apiError, json, meAs, renderPage, type Recorded } from '../test-utils';
import { ApiError } from '../api/errors';
import { invitationDays, invitationLink, refusalOf, refusalOfFieldMessage, tokenFromHash } from '../invitation';
import { InvitePage, signupFailure } from './Invite';
import { LoginPage } from './Auth';

const TOKEN = 'stsdinv_Zm9vYmFy-_09';
const joined = { id: 'ten2', name: 'Inviting Co', role: 'editor' };

function invite(status: 'in' | 'out', answer: (r: Recorded) => Response, hash = `#${TOKEN}`) {
  return renderPage(<InvitePage />, {
    path: `/invite${hash}`,
    pattern: '/invite',
    role: status === 'in' ? 'viewer' : null,
    status,
    answer: (r) => (r.method === 'GET' && r.url === '/api/v1/me' ? json(200, meAs('viewer')) : answer(r)),
  });
}

describe('invitation links', () => {
  it('carry the token in the fragment', () => {
    expect(invitationLink('https://stsd.example', TOKEN)).toBe(`https://stsd.example/invite#${TOKEN}`);
  });

  it('read the token from the fragment, or nothing when it is missing or mangled', () => {
    expect(tokenFromHash(`#${TOKEN}`)).toBe(TOKEN);
    expect(tokenFromHash(`#${encodeURIComponent(TOKEN)}%20`)).toBe(TOKEN);
    expect(tokenFromHash('')).toBeNull();
    expect(tokenFromHash('#')).toBeNull();
    expect(tokenFromHash('#stsdinv_')).toBeNull();
    expect(tokenFromHash('#stsd_Zm9vYmFy')).toBeNull();
    expect(tokenFromHash('#stsdinv_abc def')).toBeNull();
    expect(tokenFromHash('#stsdinv_%E0%A4%A')).toBeNull();
  });

  it('last the days the API gives them', () => {
    expect(invitationDays({ created_at: 0, expires_at: 7 * 86_400 })).toBe(7);
    expect(invitationDays({ created_at: 0, expires_at: 3600 })).toBe(1);
  });

  it('are refused for reasons named by code, or in sign-up’s words', () => {
    expect(refusalOf(new ApiError(403, 'invitation_email_mismatch', 'x'))).toBe('mismatch');
    expect(refusalOf(new ApiError(404, 'not_found', 'x'))).toBe('notFound');
    expect(refusalOf(new ApiError(409, 'already_member', 'x'))).toBe('alreadyMember');
    expect(refusalOf(new ApiError(410, 'invitation_expired', 'x'))).toBe('expired');
    expect(refusalOf(new ApiError(410, 'invitation_used', 'x'))).toBe('used');
    expect(refusalOf(new ApiError(500, 'internal', 'x'))).toBeNull();
    // The API's field messages (crates/api/src/invitations.rs, Refusal::field_message).
    expect(refusalOfFieldMessage('is not a valid invitation (revoked, replaced or mistyped)')).toBe('notFound');
    expect(refusalOfFieldMessage('has expired; ask for a new one')).toBe('expired');
    expect(refusalOfFieldMessage('was already used')).toBe('used');
    expect(refusalOfFieldMessage('was issued to another e-mail address')).toBe('mismatch');
    expect(refusalOfFieldMessage('something new')).toBeNull();
  });

  it('explain a failed sign-up where it belongs', () => {
    const texts = { mismatch: 'MISMATCH', emailTaken: 'TAKEN' };
    const field = (field: string, message: string) => new ApiError(422, 'validation_failed', 'x', [{ field, message }]);
    expect(signupFailure(field('invitation', 'was issued to another e-mail address'), texts)).toEqual({
      fields: { email: ['MISMATCH'] },
      form: null,
      refusal: null,
    });
    expect(signupFailure(field('invitation', 'was already used'), texts)).toEqual({ fields: {}, form: null, refusal: 'used' });
    expect(signupFailure(field('invitation', 'something new'), texts)).toEqual({ fields: {}, form: 'invitation: something new', refusal: null });
    expect(signupFailure(field('password', 'is too short'), texts)).toEqual({ fields: { password: ['is too short'] }, form: null, refusal: null });
    expect(signupFailure(new ApiError(409, 'email_taken', 'x'), texts)).toEqual({ fields: { email: ['TAKEN'] }, form: null, refusal: null });
    expect(signupFailure(new ApiError(410, 'invitation_used', 'x'), texts)).toEqual({ fields: {}, form: null, refusal: 'used' });
  });
});

describe('invitation page', () => {
  it.each(['', '#', '#stsd_notaninvitation', '#stsdinv_cut off'])('explains an incomplete link (%j)', async (hash) => {
    const requests = invite('out', () => json(500, null), hash);
    expect(await screen.findByRole('heading', { level: 1, name: 'This invitation link is incomplete' })).toBeTruthy();
    expect(screen.getByText(/missing its invitation code, or part of it was cut off/)).toBeTruthy();
    expect(screen.queryByRole('button')).toBeNull();
    expect(requests).toHaveLength(0);
  });

  it('logged in: accepts as this account, then opens the tenant', async () => {
    const requests = invite('in', (r) => (r.method === 'POST' ? json(200, joined) : json(404, null)));
    expect(await screen.findByRole('heading', { level: 1, name: 'You were invited to join a tenant on stsd' })).toBeTruthy();
    expect(await screen.findByText('me@example.com')).toBeTruthy();
    expect(screen.queryByLabelText('Password')).toBeNull();
    const mes = () => requests.filter((r) => r.url === '/api/v1/me').length;
    const before = mes();
    await userEvent.click(screen.getByRole('button', { name: 'Accept invitation' }));
    expect(await screen.findByText('elsewhere: /t/ten2/domains')).toBeTruthy();
    expect(requests.filter((r) => r.method === 'POST')).toEqual([{ method: 'POST', url: '/api/v1/invitations/accept', body: { token: TOKEN } }]);
    // The new membership is fetched before the tenant's pages ask for it.
    expect(mes()).toBeGreaterThan(before);
  });

  it.each([
    [404, 'not_found', 'invitation not found', /it was revoked, or replaced by a newer one/],
    [409, 'already_member', 'you are already a member of this tenant', /You are already a member of this tenant/],
    [410, 'invitation_expired', 'this invitation has expired; ask for a new one', /This invitation has expired\. Ask whoever invited you for a new link\./],
    [410, 'invitation_used', 'this invitation was already used', /This invitation was already used: each link works once/],
  ])('logged in: a %i %s is explained, and accepting is not offered again', async (status, code, message, text) => {
    invite('in', (r) => (r.method === 'POST' ? apiError(status, code, message) : json(404, null)));
    await userEvent.click(await screen.findByRole('button', { name: 'Accept invitation' }));
    expect((await screen.findByRole('alert')).textContent).toMatch(text);
    expect(screen.queryByRole('button', { name: 'Accept invitation' })).toBeNull();
    expect(screen.queryByText('elsewhere', { exact: false })).toBeNull();
  });

  it('logged in with another address: says so, and logging out leads to the sign-up form', async () => {
    const requests = invite('in', (r) => {
      if (r.url === '/api/v1/invitations/accept') return apiError(403, 'invitation_email_mismatch', 'this invitation was issued to another e-mail address');
      if (r.url === '/api/v1/auth/logout') return new Response(null, { status: 204 });
      return json(404, null);
    });
    await userEvent.click(await screen.findByRole('button', { name: 'Accept invitation' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('This invitation was sent to another e-mail address, not to me@example.com. Log out, then sign up or log in');
    await userEvent.click(screen.getByRole('button', { name: 'Log out' }));
    expect(await screen.findByRole('button', { name: 'Create account and join' })).toBeTruthy();
    expect(requests.some((r) => r.method === 'POST' && r.url === '/api/v1/auth/logout')).toBe(true);
  });

  it('logged out: signs up with the invitation and no tenant name, then opens the tenant', async () => {
    const requests = invite('out', (r) =>
      r.url === '/api/v1/auth/signup'
        ? json(201, { user: { id: 'u-new', email: 'new@example.com' }, tenant: joined, access_token: 'jwt', token_type: 'Bearer', expires_in: 900 })
        : json(404, null),
    );
    expect(await screen.findByRole('heading', { level: 1, name: 'You were invited to join a tenant on stsd' })).toBeTruthy();
    expect(screen.queryByLabelText('Organization')).toBeNull();
    await userEvent.type(screen.getByLabelText('E-mail'), 'new@example.com');
    await userEvent.type(screen.getByLabelText('Password'), 'violet quarry lantern 42');
    await userEvent.click(screen.getByRole('button', { name: 'Create account and join' }));
    expect(await screen.findByText('elsewhere: /t/ten2/domains')).toBeTruthy();
    const signup = requests.filter((r) => r.method === 'POST');
    expect(signup).toEqual([
      { method: 'POST', url: '/api/v1/auth/signup', body: { email: 'new@example.com', password: 'violet quarry lantern 42', invitation: TOKEN } },
    ]);
    expect(signup[0]?.body).not.toHaveProperty('tenant_name');
  });

  it('logged out: field errors go next to their fields, an unusable invitation replaces the form', async () => {
    let answer = () => apiError(422, 'validation_failed', 'x', [{ field: 'password', message: 'is too short (at least 12 characters)' }]);
    invite('out', () => answer());
    const email = await screen.findByLabelText('E-mail');
    await userEvent.type(email, 'new@example.com');
    await userEvent.type(screen.getByLabelText('Password'), 'short');
    const submit = screen.getByRole('button', { name: 'Create account and join' });
    await userEvent.click(submit);
    expect(await screen.findByText('is too short (at least 12 characters)')).toBeTruthy();
    expect(screen.getByLabelText('Password').getAttribute('aria-invalid')).toBe('true');

    answer = () => apiError(422, 'validation_failed', 'x', [{ field: 'invitation', message: 'was issued to another e-mail address' }]);
    await userEvent.click(submit);
    expect(await screen.findByText('This invitation was sent to another e-mail address: sign up with the address it was sent to.')).toBeTruthy();
    expect(email.getAttribute('aria-invalid')).toBe('true');

    answer = () => apiError(409, 'email_taken', 'an account with this e-mail exists; log in instead');
    await userEvent.click(submit);
    expect(await screen.findByText('An account with this e-mail exists: log in instead, then accept the invitation.')).toBeTruthy();

    answer = () => apiError(422, 'validation_failed', 'x', [{ field: 'invitation', message: 'has expired; ask for a new one' }]);
    await userEvent.click(submit);
    expect((await screen.findByRole('alert')).textContent).toContain('This invitation has expired.');
    expect(screen.queryByLabelText('Password')).toBeNull();
    expect(screen.getByRole('link', { name: 'Log in' })).toBeTruthy();
  });

  it('another link opened in the same tab starts afresh', async () => {
    renderPage(
      <>
        <InvitePage />
        <Link to="/invite#stsdinv_other">other link</Link>
      </>,
      {
        path: `/invite#${TOKEN}`,
        pattern: '/invite',
        role: null,
        status: 'out',
        answer: () => apiError(422, 'validation_failed', 'x', [{ field: 'invitation', message: 'was already used' }]),
      },
    );
    await userEvent.type(await screen.findByLabelText('E-mail'), 'new@example.com');
    await userEvent.type(screen.getByLabelText('Password'), 'violet quarry lantern 42');
    await userEvent.click(screen.getByRole('button', { name: 'Create account and join' }));
    expect((await screen.findByRole('alert')).textContent).toContain('already used');
    await userEvent.click(screen.getByRole('link', { name: 'other link' }));
    expect(await screen.findByRole('button', { name: 'Create account and join' })).toBeTruthy();
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('logged out: “Log in” comes back to the invitation, logged in', async () => {
    const requests = renderPage(<InvitePage />, {
      path: `/invite#${TOKEN}`,
      pattern: '/invite',
      role: null,
      status: 'out',
      routes: [{ pattern: '/login', element: <LoginPage /> }],
      answer: (r) => {
        if (r.url === '/api/v1/auth/login') return json(200, { access_token: 'jwt', token_type: 'Bearer', expires_in: 900 });
        if (r.url === '/api/v1/me') return json(200, meAs('viewer'));
        return json(404, null);
      },
    });
    await userEvent.click(await screen.findByRole('link', { name: 'Log in' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Log in' })).toBeTruthy();
    // Without an account, “Sign up” leads back to the invitation, not to a tenant of one's own.
    expect(screen.getByRole('link', { name: 'Sign up' }).getAttribute('href')).toBe(`/invite#${TOKEN}`);
    await userEvent.type(screen.getByLabelText('E-mail'), 'me@example.com');
    await userEvent.type(screen.getByLabelText('Password'), 'violet quarry lantern 42');
    await userEvent.click(screen.getByRole('button', { name: 'Log in' }));
    expect(await screen.findByRole('button', { name: 'Accept invitation' })).toBeTruthy();
    expect(await screen.findByText('me@example.com')).toBeTruthy();
    expect(requests.map((r) => r.url)).toContain('/api/v1/auth/login');
  });
});
