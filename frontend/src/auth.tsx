import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { createClient, type Client } from './api/client';
import type { SignupRequest, SignupResponse, TokenResponse } from './api/types';

export type Status = 'unknown' | 'in' | 'out';

/**
 * What a new account joins: a tenant of its own (named here), or the tenant whose invitation
 * token it holds. Exactly one, as the API demands.
 */
export type SignupJoin = { tenantName: string } | { invitation: string };

/** The sign-up request body for `join`. */
export function signupBody(email: string, password: string, join: SignupJoin): SignupRequest {
  return 'invitation' in join ? { email, password, invitation: join.invitation } : { email, password, tenant_name: join.tenantName };
}

interface Auth {
  client: Client;
  status: Status;
  /**
   * Whether the session ended by logging out here (not by expiring): the next login then
   * starts afresh instead of returning to the page left, which may be someone else's.
   */
  loggedOut: boolean;
  /** Tries the refresh cookie once at start. */
  resume(): Promise<void>;
  login(email: string, password: string): Promise<void>;
  signup(email: string, password: string, join: SignupJoin): Promise<SignupResponse>;
  logout(): Promise<void>;
}

const AuthContext = createContext<Auth | null>(null);

/**
 * Whether this browser probably holds a refresh cookie (which is HttpOnly, so unreadable):
 * a hint only, kept so that a visitor without a session is not sent a refresh that must fail.
 */
const HINT = 'stsd.session';
function hint(on?: boolean): boolean {
  try {
    if (on === true) localStorage.setItem(HINT, '1');
    else if (on === false) localStorage.removeItem(HINT);
    return localStorage.getItem(HINT) === '1';
  } catch {
    return true;
  }
}

export function AuthProvider({
  children,
  client: given,
  initialStatus = 'unknown',
}: {
  children: ReactNode;
  client?: Client;
  /** Where the session starts (tests); the app starts unknown and resumes. */
  initialStatus?: Status;
}) {
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<Status>(initialStatus);
  const [loggedOut, setLoggedOut] = useState(false);
  const client = useMemo(
    () =>
      given ??
      createClient({
        onAuthLost: () => {
          hint(false);
          queryClient.clear();
          setStatus('out');
        },
      }),
    [given, queryClient],
  );

  const resume = useCallback(async () => {
    const ok = hint() && (await client.refresh());
    hint(ok);
    setStatus(ok ? 'in' : 'out');
  }, [client]);

  const login = useCallback(
    async (email: string, password: string) => {
      const t = await client.request<TokenResponse>('POST', '/api/v1/auth/login', {
        body: { email, password },
        auth: false,
      });
      client.setToken(t.access_token);
      hint(true);
      setLoggedOut(false);
      setStatus('in');
    },
    [client],
  );

  const signup = useCallback(
    async (email: string, password: string, join: SignupJoin) => {
      const r = await client.request<SignupResponse>('POST', '/api/v1/auth/signup', {
        body: signupBody(email, password, join),
        auth: false,
      });
      client.setToken(r.access_token);
      hint(true);
      setLoggedOut(false);
      setStatus('in');
      return r;
    },
    [client],
  );

  const logout = useCallback(async () => {
    try {
      await client.request('POST', '/api/v1/auth/logout', { auth: false, csrf: true });
    } finally {
      client.setToken(null);
      hint(false);
      queryClient.clear();
      setLoggedOut(true);
      setStatus('out');
    }
  }, [client, queryClient]);

  const value = useMemo(
    () => ({ client, status, loggedOut, resume, login, signup, logout }),
    [client, status, loggedOut, resume, login, signup, logout],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const a = useContext(AuthContext);
  if (!a) throw new Error('useAuth outside AuthProvider');
  return a;
}
