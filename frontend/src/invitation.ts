import { ApiError } from './api/errors';

/** Invitation tokens start with this (API tokens with `stsd_`). */
export const INVITATION_PREFIX = 'stsdinv_';

/**
 * The link to send the invitee. The token goes in the fragment, which browsers send neither to
 * the server (its logs) nor in a Referer.
 */
export function invitationLink(origin: string, token: string): string {
  return `${origin}/invite#${token}`;
}

/** The token in an invitation link's fragment (`#stsdinv_…`), or null when missing or malformed. */
export function tokenFromHash(hash: string): string | null {
  let raw = hash.startsWith('#') ? hash.slice(1) : hash;
  try {
    raw = decodeURIComponent(raw).trim();
  } catch {
    return null;
  }
  // Tokens are the prefix and base64url: anything else was mangled on the way.
  return raw.startsWith(INVITATION_PREFIX) && /^[A-Za-z0-9_-]+$/.test(raw.slice(INVITATION_PREFIX.length)) ? raw : null;
}

/** Whole days an invitation lasts (the server's setting, 7 by default). */
export function invitationDays(inv: { created_at: number; expires_at: number }): number {
  return Math.max(1, Math.round((inv.expires_at - inv.created_at) / 86_400));
}

/** Why an invitation cannot be used, in the words the dashboard explains. */
export type Refusal = 'mismatch' | 'notFound' | 'alreadyMember' | 'expired' | 'used';

/** The refusal an API error stands for (accepting, or a race while signing up), if any. */
export function refusalOf(error: unknown): Refusal | null {
  if (!(error instanceof ApiError)) return null;
  switch (error.code) {
    case 'invitation_email_mismatch':
      return 'mismatch';
    case 'not_found':
      return 'notFound';
    case 'already_member':
      return 'alreadyMember';
    case 'invitation_expired':
      return 'expired';
    case 'invitation_used':
      return 'used';
    default:
      return null;
  }
}

/**
 * Sign-up answers an unusable invitation as a 422 on its `invitation` field, in words only
 * (crates/api/src/invitations.rs, `Refusal::field_message`): the same refusals, recognised.
 */
export function refusalOfFieldMessage(message: string): Refusal | null {
  if (/another e-mail/i.test(message)) return 'mismatch';
  if (/expired/i.test(message)) return 'expired';
  if (/already used/i.test(message)) return 'used';
  if (/not a valid invitation|revoked|replaced/i.test(message)) return 'notFound';
  return null;
}
