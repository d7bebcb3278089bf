import { describe, expect, it } from 'vitest';
import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useLocation } from 'react-router';
import { json, renderPage } from '../test-utils';
import { PublicOnly, RequireAuth } from '../App';
import { useAuth } from '../auth';
import { LoginPage, returnTarget, SignupPage } from './Auth';

function Here() {
  const { pathname, search, hash } = useLocation();
  return <p>here: {pathname + search + hash}</p>;
}

function LogoutButton() {
  const { logout } = useAuth();
  return (
    <button type="button" onClick={() => void logout()}>
      log out
    </button>
  );
}

describe('where login returns to', () => {
  it('is the path the visitor came from, with its query and hash', () => {
    expect(returnTarget({ from: '/invite#stsdinv_abc' })).toBe('/invite#stsdinv_abc');
    expect(returnTarget({ from: '/t/ten1/audit?x=1#y' })).toBe('/t/ten1/audit?x=1#y');
  });
  it('is the start page for anything else', () => {
    for (const state of [null, undefined, {}, { from: 3 }, { from: 'https://evil.example/' }, { from: '//evil.example/' }, { from: '/\\evil.example' }, { from: '/login' }, { from: '/login#x' }, { from: '/signup' }]) {
      expect(returnTarget(state)).toBe('/');
    }
  });
});

describe('auth pages', () => {
  it('sign-up without an invitation creates a tenant of its own', async () => {
    const requests = renderPage(<SignupPage />, {
      path: '/signup',
      pattern: '/signup',
      role: null,
      status: 'out',
      answer: () => json(201, { user: { id: 'u1', email: 'a@example.com' }, tenant: { id: 'ten9', name: 'A', role: 'owner' }, access_token: 'jwt', token_type: 'Bearer', expires_in: 900 }),
    });
    await userEvent.type(screen.getByLabelText('E-mail'), 'a@example.com');
    await userEvent.type(screen.getByLabelText('Password'), 'violet quarry lantern 42');
    await userEvent.type(screen.getByLabelText('Organization'), 'A');
    await userEvent.click(screen.getByRole('button', { name: 'Sign up' }));
    expect(await screen.findByText('elsewhere: /t/ten9/domains')).toBeTruthy();
    expect(requests).toEqual([
      { method: 'POST', url: '/api/v1/auth/signup', body: { email: 'a@example.com', password: 'violet quarry lantern 42', tenant_name: 'A' } },
    ]);
  });

  it('a protected page sends to login and back, hash included', async () => {
    renderPage(
      <RequireAuth>
        <Here />
      </RequireAuth>,
      {
        path: '/t/ten1/audit?x=1#frag',
        pattern: '/t/:tenant/audit',
        role: null,
        status: 'out',
        routes: [{ pattern: '/login', element: <LoginPage /> }],
        answer: () => json(200, { access_token: 'jwt', token_type: 'Bearer', expires_in: 900 }),
      },
    );
    await userEvent.type(await screen.findByLabelText('E-mail'), 'me@example.com');
    await userEvent.type(screen.getByLabelText('Password'), 'violet quarry lantern 42');
    // A plain login page offers the plain sign-up.
    expect(screen.getByRole('link', { name: 'Sign up' }).getAttribute('href')).toBe('/signup');
    await userEvent.click(screen.getByRole('button', { name: 'Log in' }));
    expect(await screen.findByText('here: /t/ten1/audit?x=1#frag')).toBeTruthy();
  });

  it('after logging out, the next login starts afresh (not on the page left)', async () => {
    renderPage(
      <RequireAuth>
        <Here />
        <LogoutButton />
      </RequireAuth>,
      {
        path: '/t/ten1/audit',
        pattern: '/t/:tenant/audit',
        role: 'owner',
        status: 'in',
        routes: [{ pattern: '/login', element: <LoginPage /> }],
        answer: (r) => (r.url === '/api/v1/auth/logout' ? new Response(null, { status: 204 }) : json(200, { access_token: 'jwt', token_type: 'Bearer', expires_in: 900 })),
      },
    );
    await userEvent.click(await screen.findByRole('button', { name: 'log out' }));
    await userEvent.type(await screen.findByLabelText('E-mail'), 'someone@example.com');
    await userEvent.type(screen.getByLabelText('Password'), 'violet quarry lantern 42');
    await userEvent.click(screen.getByRole('button', { name: 'Log in' }));
    expect(await screen.findByText('elsewhere: /')).toBeTruthy();
  });

  it('a logged-in visitor on the login page goes on to where they were going', async () => {
    renderPage(
      <PublicOnly>
        <LoginPage />
      </PublicOnly>,
      { path: { pathname: '/login', state: { from: '/invite#stsdinv_abc' } }, pattern: '/login', role: 'viewer', status: 'in', answer: () => json(404, null) },
    );
    expect(await screen.findByText('elsewhere: /invite#stsdinv_abc')).toBeTruthy();
  });
});
