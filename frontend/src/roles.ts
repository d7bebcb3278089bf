/**
 * What each role may do, as the API decides it (crates/api/src/auth/access.rs and tenants.rs):
 * the dashboard hides or disables what the API would refuse, and says why. The API stays the
 * judge; these rules only spare the user a refused click.
 */

/** Strongest first. */
export const ROLES = ['owner', 'admin', 'editor', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Editors and above change domains and policies. */
export function canWrite(role: Role | null | undefined): boolean {
  return role === 'owner' || role === 'admin' || role === 'editor';
}

/** Owners and admins manage members and API tokens and read the tokens list. */
export function canAdminister(role: Role | null | undefined): boolean {
  return role === 'owner' || role === 'admin';
}

/** The roles `actor` may give to someone: only an owner grants `owner`. */
export function grantableRoles(actor: Role | null | undefined): Role[] {
  if (actor === 'owner') return [...ROLES];
  if (actor === 'admin') return ['admin', 'editor', 'viewer'];
  return [];
}

export interface MemberLike {
  user_id: string;
  role: string;
}

/** Why a member's role cannot be changed or the member removed by this caller; null if it can. */
export type Blocked = 'notAdmin' | 'ownerOnly' | 'lastOwner' | null;

function ownerCount(members: readonly MemberLike[]): number {
  return members.filter((m) => m.role === 'owner').length;
}

/** Whether `actor` may change `target`'s role (to some other role). */
export function roleChangeBlocked(actor: Role | null | undefined, target: MemberLike, members: readonly MemberLike[]): Blocked {
  if (!canAdminister(actor)) return 'notAdmin';
  if (target.role === 'owner' && actor !== 'owner') return 'ownerOnly';
  if (target.role === 'owner' && ownerCount(members) <= 1) return 'lastOwner';
  return null;
}

/**
 * Whether `actor` (user `self`) may remove `target`: anyone may leave, admins remove others,
 * only owners remove owners, and the last owner stays.
 */
export function removalBlocked(
  actor: Role | null | undefined,
  self: string | null | undefined,
  target: MemberLike,
  members: readonly MemberLike[],
): Blocked {
  const leaving = !!self && target.user_id === self;
  if (!leaving && !canAdminister(actor)) return 'notAdmin';
  if (!leaving && target.role === 'owner' && actor !== 'owner') return 'ownerOnly';
  if (target.role === 'owner' && ownerCount(members) <= 1) return 'lastOwner';
  return null;
}
