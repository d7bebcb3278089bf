import { describe, expect, it } from 'vitest';
import { canAdminister, canWrite, grantableRoles, isRole, removalBlocked, roleChangeBlocked } from './roles';

const owner = { user_id: 'o', role: 'owner' };
const owner2 = { user_id: 'o2', role: 'owner' };
const admin = { user_id: 'a', role: 'admin' };
const viewer = { user_id: 'v', role: 'viewer' };

describe('roles', () => {
  it('knows the four roles and nothing else', () => {
    expect(['owner', 'admin', 'editor', 'viewer'].every(isRole)).toBe(true);
    expect(isRole('root')).toBe(false);
    expect(isRole(null)).toBe(false);
  });

  it('editors and above write; owners and admins administer', () => {
    expect([canWrite('owner'), canWrite('admin'), canWrite('editor'), canWrite('viewer'), canWrite(null)]).toEqual([true, true, true, false, false]);
    expect([canAdminister('owner'), canAdminister('admin'), canAdminister('editor'), canAdminister('viewer'), canAdminister(undefined)]).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  it('only owners grant owner', () => {
    expect(grantableRoles('owner')).toEqual(['owner', 'admin', 'editor', 'viewer']);
    expect(grantableRoles('admin')).toEqual(['admin', 'editor', 'viewer']);
    expect(grantableRoles('editor')).toEqual([]);
    expect(grantableRoles('viewer')).toEqual([]);
  });

  it('role changes: admins not on owners, never the last owner, nobody below admin', () => {
    const team = [owner, admin, viewer];
    expect(roleChangeBlocked('owner', viewer, team)).toBeNull();
    expect(roleChangeBlocked('admin', viewer, team)).toBeNull();
    expect(roleChangeBlocked('admin', owner, [owner, owner2, admin])).toBe('ownerOnly');
    expect(roleChangeBlocked('owner', owner, team)).toBe('lastOwner');
    expect(roleChangeBlocked('owner', owner, [owner, owner2])).toBeNull();
    expect(roleChangeBlocked('editor', viewer, team)).toBe('notAdmin');
    expect(roleChangeBlocked('viewer', viewer, team)).toBe('notAdmin');
  });

  it('removal: anyone may leave, admins remove others but not owners, the last owner stays', () => {
    const team = [owner, admin, viewer];
    expect(removalBlocked('viewer', 'v', viewer, team)).toBeNull();
    expect(removalBlocked('viewer', 'v', admin, team)).toBe('notAdmin');
    expect(removalBlocked('admin', 'a', viewer, team)).toBeNull();
    expect(removalBlocked('admin', 'a', owner, [owner, owner2, admin])).toBe('ownerOnly');
    expect(removalBlocked('owner', 'o', owner, team)).toBe('lastOwner');
    expect(removalBlocked('owner', 'o', owner2, [owner, owner2])).toBeNull();
    expect(removalBlocked('owner', 'o2', owner2, [owner, owner2])).toBeNull();
  });
});
