/** Shaping the audit log for display: categories, filters, who did it, what changed. */

export interface EntryLike {
  actor: string;
  action: string;
  details: unknown;
}

/** Filter categories: the first part of an action (`domain.create` → `domain`). */
export const AUDIT_CATEGORIES = ['domain', 'policy', 'member', 'token', 'tenant', 'account', 'report', 'webhook'] as const;

export function auditCategory(action: string): string {
  const head = action.split('.')[0] ?? '';
  // A stolen refresh token being replayed is an account matter; invitations are about members.
  if (head === 'session') return 'account';
  if (head === 'reports') return 'report';
  return head === 'invitation' ? 'member' : head;
}

export interface AuditFilter {
  category: string;
  actor: string;
}

export function filterEntries<T extends EntryLike>(entries: readonly T[], f: AuditFilter): T[] {
  return entries.filter((e) => (!f.category || auditCategory(e.action) === f.category) && (!f.actor || e.actor === f.actor));
}

/** Distinct actors in the order they first appear (newest first). */
export function distinctActors(entries: readonly EntryLike[]): string[] {
  return [...new Set(entries.map((e) => e.actor))];
}

export interface Actor {
  kind: 'user' | 'token' | 'other';
  /** An e-mail or token name when known, else the raw id. */
  label: string;
  known: boolean;
}

/** `user:<id>` → the member's e-mail, `token:<id>` → the token's name, when known. */
export function describeActor(actor: string, users: ReadonlyMap<string, string>, tokens: ReadonlyMap<string, string>): Actor {
  const i = actor.indexOf(':');
  const kind = i > 0 ? actor.slice(0, i) : '';
  const id = i > 0 ? actor.slice(i + 1) : actor;
  if (kind === 'user') {
    const email = users.get(id);
    return { kind: 'user', label: email ?? id, known: email !== undefined };
  }
  if (kind === 'token') {
    const name = tokens.get(id);
    return { kind: 'token', label: name ?? id, known: name !== undefined };
  }
  return { kind: 'other', label: actor, known: false };
}

/**
 * Token names the log itself records (`token.create` keeps the name): callers who may not list
 * tokens still see names instead of ids, and so does everyone for tokens revoked long ago.
 */
export function tokenNamesFromEntries(entries: readonly (EntryLike & { target: string })[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const e of entries) {
    if (e.action !== 'token.create' || typeof e.details !== 'object' || e.details === null) continue;
    const after = (e.details as { after?: unknown }).after;
    const name = typeof after === 'object' && after !== null ? (after as { name?: unknown }).name : undefined;
    if (typeof name === 'string' && name !== '') names.set(e.target, name);
  }
  return names;
}

/** A target is a user id for member changes and a token id for token changes: name them. */
export function describeTarget(action: string, target: string, users: ReadonlyMap<string, string>, tokens: ReadonlyMap<string, string>): string {
  const cat = auditCategory(action);
  if (cat === 'member') return users.get(target) ?? target;
  if (cat === 'token') return tokens.get(target) ?? target;
  return target;
}

export interface FieldChange {
  field: string;
  before: string | null;
  after: string | null;
}

export interface DetailSummary {
  /** Short before → after values (role, state, scope, …). */
  changes: FieldChange[];
  /** Long text before/after, e.g. a policy file. */
  text: { before: string | null; after: string | null } | null;
  /** Whether an owner/admin override was used (policy changes). */
  override: boolean;
}

function scalar(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads the API's `{before, after}` details into what changed; unknown shapes give nothing. */
export function summarizeDetails(details: unknown): DetailSummary {
  const out: DetailSummary = { changes: [], text: null, override: false };
  if (!isObject(details)) return out;
  const { before, after } = details;
  out.override = details.override === true;
  if (typeof before === 'string' || typeof after === 'string') {
    out.text = { before: typeof before === 'string' ? before : null, after: typeof after === 'string' ? after : null };
    return out;
  }
  const b = isObject(before) ? before : {};
  const a = isObject(after) ? after : {};
  const fields = [...new Set([...Object.keys(b), ...Object.keys(a)])];
  for (const field of fields) {
    const bv = b[field];
    const av = a[field];
    // Long values (a policy file proposed at creation) go to the text view.
    if ((typeof av === 'string' && av.includes('\n')) || (typeof bv === 'string' && bv.includes('\n'))) {
      out.text = { before: typeof bv === 'string' ? bv : null, after: typeof av === 'string' ? av : null };
      continue;
    }
    if (av === null && bv === undefined) continue;
    out.changes.push({ field, before: scalar(bv), after: scalar(av) });
  }
  return out;
}
