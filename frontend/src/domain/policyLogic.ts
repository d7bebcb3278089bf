/**
 * The policy editor's rules, mirroring the API's (crates/core: MxPattern, Policy, MaxAge) so that
 * mistakes show while typing. The API stays the judge: its 422 errors land on the same rows.
 */
import { coverage, normalizeHost, type Coverage } from '../mxCoverage';
import { canAdminister, type Role } from '../roles';
import type { FieldErrors } from '../api/errors';

export const MODES = ['none', 'testing', 'enforce'] as const;
export type Mode = (typeof MODES)[number];
export const isMode = (m: unknown): m is Mode => typeof m === 'string' && (MODES as readonly string[]).includes(m);

export const DAY = 86_400;
export const WEEK = 7 * DAY;
/** RFC 8461 §3.2: at most 31557600 seconds (about a year). */
export const MAX_AGE_MAX = 31_557_600;
/** RFC 8461 §3.2 has no hard limit; stsd allows 64 patterns. */
export const MAX_MX = 64;

export type PatternProblem =
  | 'required'
  | 'wildcard'
  | 'emptyLabel'
  | 'characters'
  | 'hyphen'
  | 'labelLong'
  | 'tooLong'
  | 'singleLabel'
  | 'ip'
  | 'numericTld'
  | 'duplicate';

/** What is wrong with one `mx` pattern on its own (null: nothing the dashboard can see). */
export function patternProblem(raw: string): PatternProblem | null {
  const trimmed = raw.trim();
  if (trimmed === '') return 'required';
  const wildcard = trimmed.startsWith('*.');
  const rest = wildcard ? trimmed.slice(2) : trimmed;
  if (rest.includes('*') || trimmed === '*') return 'wildcard';
  const host = normalizeHost(rest);
  if (host === '') return 'wildcard';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':') || host.startsWith('[')) return 'ip';
  const labels = host.split('.');
  if (labels.some((l) => l === '')) return 'emptyLabel';
  if (labels.some((l) => !/^[a-z0-9-]+$/.test(l))) return 'characters';
  if (labels.some((l) => l.startsWith('-') || l.endsWith('-'))) return 'hyphen';
  if (labels.some((l) => l.length > 63)) return 'labelLong';
  if ((wildcard ? host.length + 2 : host.length) > 253) return 'tooLong';
  if (labels.length < 2) return 'singleLabel';
  if (/^\d+$/.test(labels[labels.length - 1] ?? '')) return 'numericTld';
  return null;
}

/** The pattern as senders compare it: trimmed, lower case, no trailing dot, A-labels. */
export function canonicalPattern(raw: string): string {
  const trimmed = raw.trim();
  if (trimmed.startsWith('*.')) return `*.${normalizeHost(trimmed.slice(2))}`;
  return normalizeHost(trimmed);
}

export interface Draft {
  mode: Mode;
  mx: string[];
  /** As typed, in seconds. */
  maxAge: string;
}

export interface DraftErrors {
  mode?: 'invalid';
  /** Per row, by index. */
  rows: (PatternProblem | null)[];
  /** About the list as a whole. */
  list?: 'noMx' | 'tooMany';
  maxAge?: 'invalid' | 'range';
}

export function parseMaxAge(value: string): number | null {
  const v = value.trim();
  if (!/^\d+$/.test(v)) return null;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : null;
}

export function validateDraft(draft: Draft): DraftErrors {
  const seen = new Set<string>();
  const rows = draft.mx.map((raw) => {
    const problem = patternProblem(raw);
    if (problem) return problem;
    const canon = canonicalPattern(raw);
    if (seen.has(canon)) return 'duplicate';
    seen.add(canon);
    return null;
  });
  const errors: DraftErrors = { rows };
  if (!isMode(draft.mode)) errors.mode = 'invalid';
  const filled = draft.mx.filter((m) => m.trim() !== '').length;
  if (draft.mode !== 'none' && filled === 0) errors.list = 'noMx';
  else if (draft.mx.length > MAX_MX) errors.list = 'tooMany';
  const age = parseMaxAge(draft.maxAge);
  if (age === null) errors.maxAge = 'invalid';
  else if (age > MAX_AGE_MAX) errors.maxAge = 'range';
  return errors;
}

/** Whether the draft can be sent. Empty rows are dropped on save, so they never block it. */
export function draftValid(draft: Draft): boolean {
  const e = validateDraft(draft);
  const rowsOk = e.rows.every((p, i) => p === null || (p === 'required' && (draft.mx[i] ?? '').trim() === ''));
  return rowsOk && !e.mode && !e.list && !e.maxAge;
}

/** The PUT body: filled rows, trimmed. */
export function draftBody(
  draft: Draft,
  overrideReason?: string,
): { mode: Mode; mx: string[]; max_age: number; override?: boolean; override_reason?: string } {
  const body: { mode: Mode; mx: string[]; max_age: number; override?: boolean; override_reason?: string } = {
    mode: draft.mode,
    mx: draft.mx.map((m) => m.trim()).filter((m) => m !== ''),
    max_age: parseMaxAge(draft.maxAge) ?? 0,
  };
  if (overrideReason !== undefined) {
    body.override = true;
    body.override_reason = overrideReason.trim();
  }
  return body;
}

/**
 * The API's 422 errors mapped to the editor: `mx[i]` refers to the i-th *sent* pattern, which
 * is the i-th filled row.
 */
export function apiRowErrors(fields: FieldErrors, draft: Draft): { rows: Record<number, string[]>; other: FieldErrors } {
  const filledRows = draft.mx.map((m, i) => (m.trim() === '' ? -1 : i)).filter((i) => i >= 0);
  const rows: Record<number, string[]> = {};
  const other: FieldErrors = {};
  for (const [field, messages] of Object.entries(fields)) {
    const m = /^mx\[(\d+)\]$/.exec(field);
    const row = m ? filledRows[Number(m[1])] : undefined;
    if (row !== undefined) rows[row] = messages;
    else other[field] = messages;
  }
  return { rows, other };
}

/** Coverage of the valid, filled patterns against the current MX hosts. */
export function draftCoverage(draft: Draft, hosts: readonly string[]): Coverage {
  const errors = validateDraft(draft);
  const patterns = draft.mx.filter((m, i) => m.trim() !== '' && errors.rows[i] === null).map((m) => m.trim());
  return coverage(patterns, hosts);
}

/** Seconds as days, at most one decimal (0.5 days, 7 days). */
export function secondsToDays(seconds: number): number {
  return Math.round((seconds / DAY) * 10) / 10;
}

export type MaxAgeAdvice = 'underDay' | 'testingLong' | 'enforceShort' | 'noneLong' | 'ok';

/**
 * RFC 8461 §3.2 and common practice: short while testing (a day, so mistakes expire fast),
 * at least a week once enforce is stable (senders keep protecting mail between fetches).
 */
export function maxAgeAdvice(mode: Mode, seconds: number | null): MaxAgeAdvice {
  if (seconds === null) return 'ok';
  // RFC 8461 §3.2 advises weeks; under a day senders refetch so often that a policy outage
  // soon means no protection (the API warns too).
  if (mode !== 'none' && seconds < DAY) return 'underDay';
  if (mode === 'testing' && seconds > WEEK) return 'testingLong';
  if (mode === 'enforce' && seconds < WEEK) return 'enforceShort';
  if (mode === 'none' && seconds > WEEK) return 'noneLong';
  return 'ok';
}

/** The starting draft: the newest version, or a testing policy for a day without patterns. */
export function draftFrom(version: { mode: string; mx: string[]; max_age: number } | null | undefined): Draft {
  if (!version) return { mode: 'testing', mx: [''], maxAge: String(DAY) };
  return { mode: isMode(version.mode) ? version.mode : 'testing', mx: version.mx.length ? [...version.mx] : [''], maxAge: String(version.max_age) };
}

/** Whether the draft differs from the version it started from. */
export function draftChanged(draft: Draft, version: { mode: string; mx: string[]; max_age: number } | null | undefined): boolean {
  if (!version) return true;
  const body = draftBody(draft);
  return body.mode !== version.mode || body.max_age !== version.max_age || body.mx.join('\n') !== version.mx.join('\n');
}

// ---- Readiness (the enforce gate) ----

export interface ReadinessCheckLike {
  name: string;
  result: string;
  explanation: string;
  uncovered?: string[];
  /** `mx_starttls`: what each MX host came to when probed for this switch. */
  hosts?: { host: string; status: string; detail: string }[];
}

/**
 * Whether a check stops enforce, as the API decides: anything but a pass, except no TLS
 * reports yet (a warning). A check that could not run or finish blocks like a failure.
 */
export const blocks = (c: Pick<ReadinessCheckLike, 'name' | 'result'>) =>
  c.result !== 'pass' && !(c.name === 'tlsrpt_failures' && c.result === 'warn');

/** The shortest and longest override reason the API takes. */
export const REASON_MIN = 10;
export const REASON_MAX = 1000;
export const reasonValid = (reason: string) => {
  const n = [...reason.trim()].length;
  return n >= REASON_MIN && n <= REASON_MAX;
};

const RESULT_ORDER: Record<string, number> = { fail: 0, error: 1, not_run: 2, warn: 3, pass: 4 };
export const RESULT_TONE: Record<string, 'bad' | 'warn' | 'ok' | 'muted'> = { fail: 'bad', error: 'bad', not_run: 'warn', warn: 'warn', pass: 'ok' };

/** Checks out of a 409's details (anything else there is skipped). */
export function readinessChecks(details: readonly unknown[]): ReadinessCheckLike[] {
  return details.filter(
    (d): d is ReadinessCheckLike =>
      !!d && typeof d === 'object' && typeof (d as ReadinessCheckLike).name === 'string' && typeof (d as ReadinessCheckLike).result === 'string',
  );
}

/** Blocking checks first, then the ones to look at, then the passed ones. */
export function sortChecks<T extends ReadinessCheckLike>(checks: readonly T[]): T[] {
  return [...checks].sort((a, b) => (RESULT_ORDER[a.result] ?? 5) - (RESULT_ORDER[b.result] ?? 5));
}

/** Owners and admins may override a refused enforce (the API checks it too). */
export const mayOverride = (role: Role | null | undefined) => canAdminister(role);

/** The override needs the domain's name typed: either form, any case, a trailing dot allowed. */
export function overrideConfirmed(typed: string, names: readonly string[]): boolean {
  const t = typed.trim().toLowerCase().replace(/\.$/, '');
  return t !== '' && names.some((n) => n.toLowerCase() === t);
}
