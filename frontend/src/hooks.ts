import { useQuery } from '@tanstack/react-query';
import { useAuth } from './auth';
import type { UserMe } from './api/types';
import type { Me } from './api/types';

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
