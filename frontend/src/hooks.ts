import { useMemo } from 'react';
import { useQuery } from '@tanstack/react-query';
import { useAuth } from './auth';
import { tenantPath, type Me, type MemberList, type UserMe } from './api/types';
import { isRole, type Role } from './roles';

/** The logged-in user and memberships (GET /api/v1/me). */
export function useMe() {
  const { client, status } = useAuth();
  return useQuery({
    queryKey: ['me'],
    enabled: status === 'in',
    queryFn: async ({ signal }) => {
      const me = await client.get<Me>('/api/v1/me', signal);
      if (!('user' in me)) throw new Error('not a user session');
      return me as UserMe;
    },
  });
}

/** The caller's role in `tenant`: undefined while loading, null when not a member. */
export function useTenantRole(tenant: string): Role | null | undefined {
  const me = useMe();
  if (!me.data) return me.isError ? null : undefined;
  const role = me.data.memberships.find((m) => m.tenant.id === tenant)?.role;
  return isRole(role) ? role : null;
}

/** The tenant's members (any member may list them). */
export function useMembers(tenant: string) {
  const { client } = useAuth();
  return useQuery({
    queryKey: ['members', tenant],
    queryFn: ({ signal }) => client.get<MemberList>(tenantPath(tenant, 'members'), signal),
  });
}

/** User id → e-mail for the tenant's members, to name `user:<id>` actors and authors. */
export function useMemberEmails(tenant: string): Map<string, string> {
  const members = useMembers(tenant);
  return useMemo(() => new Map((members.data?.items ?? []).map((m) => [m.user_id, m.email])), [members.data]);
}
