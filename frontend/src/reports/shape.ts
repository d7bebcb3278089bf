/**
 * Shaping TLS report summaries for charts and tables: date ranges (UTC days, as the API counts
 * them), filled day series, rates, result types in a useful order, and "top N + other" groups.
 * No React, no I/O: everything here is unit-tested.
 */

/** The range presets, in days (today included). */
export const PRESETS = [7, 30, 90, 365] as const;
export const DEFAULT_PRESET = 30;
/** The API refuses longer ranges (crates/api/src/reports.rs, MAX_RANGE_DAYS). */
export const MAX_RANGE_DAYS = 400;

export interface DayRange {
  /** First day, `YYYY-MM-DD`, inclusive. */
  from: string;
  /** Last day, inclusive. */
  to: string;
  /** The preset this range is (counted back from today), or null for a custom range. */
  preset: number | null;
}

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;

/** Whether `s` is a real calendar day written `YYYY-MM-DD`. */
export function isDay(s: string): boolean {
  if (!DAY_RE.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

/** The UTC day of `now`, `YYYY-MM-DD` (reports are counted per UTC day). */
export function utcDay(now: Date): string {
  return now.toISOString().slice(0, 10);
}

export function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
}

/** Days from `from` to `to` inclusive (1 for the same day; 0 or less when reversed). */
export function spanDays(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS) + 1;
}

/** The last `days` days up to and including `today`. */
export function presetRange(days: number, today: string): DayRange {
  return { from: addDays(today, -(days - 1)), to: today, preset: days };
}

export type RangeError = 'format' | 'order' | 'tooLong';

/** What is wrong with a custom range, or null. */
export function rangeError(from: string, to: string): RangeError | null {
  if (!isDay(from) || !isDay(to)) return 'format';
  const span = spanDays(from, to);
  if (span < 1) return 'order';
  if (span > MAX_RANGE_DAYS) return 'tooLong';
  return null;
}

/**
 * The range a page's search parameters ask for: `?days=N` (a preset), `?from=…&to=…` (custom),
 * else the default preset. Anything invalid falls back to the default.
 */
export function rangeFromParams(params: URLSearchParams, today: string): DayRange {
  const from = params.get('from');
  const to = params.get('to');
  if (from && to && rangeError(from, to) === null) {
    const span = spanDays(from, to);
    return { from, to, preset: to === today && (PRESETS as readonly number[]).includes(span) ? span : null };
  }
  const days = Number(params.get('days'));
  if ((PRESETS as readonly number[]).includes(days)) return presetRange(days, today);
  return presetRange(DEFAULT_PRESET, today);
}

/** Search parameters that keep `range` (a preset stays relative to today). */
export function rangeToParams(range: DayRange, params = new URLSearchParams()): URLSearchParams {
  const p = new URLSearchParams(params);
  p.delete('from');
  p.delete('to');
  p.delete('days');
  if (range.preset !== null) {
    if (range.preset !== DEFAULT_PRESET) p.set('days', String(range.preset));
  } else {
    p.set('from', range.from);
    p.set('to', range.to);
  }
  return p;
}

/** Successful / all sessions, or null when there were none. */
export function rate(ok: number, failed: number): number | null {
  const all = ok + failed;
  return all > 0 ? ok / all : null;
}

/**
 * A rate as a percentage in the UI's language, to one decimal at most. Anything short of all
 * (or above none) never rounds to 100 % (or 0 %): a single failure must stay visible.
 */
export function formatRate(r: number | null | undefined, lang: string): string {
  if (r === null || r === undefined) return '—';
  const shown = r > 0 && r < 1 ? Math.min(Math.max(r, 0.001), 0.999) : r;
  return new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 1 }).format(shown);
}

export function formatCount(n: number, lang: string): string {
  return new Intl.NumberFormat(lang).format(n);
}

/** A group of a summary, as the API sends it. */
export interface GroupLike {
  key: string;
  reports?: number | null;
  successful_sessions?: number | null;
  failed_sessions: number;
  success_rate?: number | null;
  explanation?: string | null;
  fix?: string | null;
}

export interface DayPoint {
  day: string;
  reports: number;
  ok: number;
  failed: number;
  /** Null on days without sessions: a gap in the chart, not 0 %. */
  rate: number | null;
}

/** One point for every day from `from` to `to`, zero where the API sent nothing. */
export function fillDays(groups: readonly GroupLike[], from: string, to: string): DayPoint[] {
  const byDay = new Map(groups.map((g) => [g.key, g]));
  const out: DayPoint[] = [];
  const n = spanDays(from, to);
  for (let i = 0; i < n; i++) {
    const day = addDays(from, i);
    const g = byDay.get(day);
    const ok = g?.successful_sessions ?? 0;
    const failed = g?.failed_sessions ?? 0;
    out.push({ day, reports: g?.reports ?? 0, ok, failed, rate: rate(ok, failed) });
  }
  return out;
}

/**
 * Days summed into buckets of `size` days (weeks for long ranges, so a year stays readable on a
 * phone); each bucket is named by its first day. The rate is recomputed from the sums.
 */
export function bucketDays(points: readonly DayPoint[], size: number): DayPoint[] {
  if (size <= 1) return [...points];
  const out: DayPoint[] = [];
  for (let i = 0; i < points.length; i += size) {
    const chunk = points.slice(i, i + size);
    const ok = chunk.reduce((s, p) => s + p.ok, 0);
    const failed = chunk.reduce((s, p) => s + p.failed, 0);
    out.push({
      day: chunk[0]!.day,
      reports: chunk.reduce((s, p) => s + p.reports, 0),
      ok,
      failed,
      rate: rate(ok, failed),
    });
  }
  return out;
}

/** Days per chart bar: one for up to 90 days, a week beyond. */
export function bucketSize(days: number): number {
  return days > 90 ? 7 : 1;
}

export interface ResultRow {
  key: string;
  sessions: number;
  /** Share of all sessions in the range (successful and failed), or null without sessions. */
  share: number | null;
  success: boolean;
  explanation: string | null;
  fix: string | null;
}

/**
 * Result-type groups: `success` first, then failures by sessions, most first. `success` is
 * left out when there were no sessions at all (nothing to say).
 */
export function resultRows(groups: readonly GroupLike[]): ResultRow[] {
  const rows = groups.map((g) => {
    const success = g.key === 'success';
    return {
      key: g.key,
      sessions: success ? (g.successful_sessions ?? 0) : g.failed_sessions,
      share: null as number | null,
      success,
      explanation: g.explanation ?? null,
      fix: g.fix ?? null,
    };
  });
  const total = rows.reduce((s, r) => s + r.sessions, 0);
  for (const r of rows) r.share = total > 0 ? r.sessions / total : null;
  const ok = rows.filter((r) => r.success && r.sessions > 0);
  const failures = rows.filter((r) => !r.success).sort((a, b) => b.sessions - a.sessions || a.key.localeCompare(b.key));
  return [...ok, ...failures];
}

export interface GroupRow {
  key: string;
  reports: number;
  ok: number;
  failed: number;
  rate: number | null;
}

/** Organization or domain groups: most failed sessions first, then most sessions, then by name. */
export function groupRows(groups: readonly GroupLike[]): GroupRow[] {
  return groups
    .map((g) => {
      const ok = g.successful_sessions ?? 0;
      return { key: g.key, reports: g.reports ?? 0, ok, failed: g.failed_sessions, rate: rate(ok, g.failed_sessions) };
    })
    .sort((a, b) => b.failed - a.failed || b.ok + b.failed - (a.ok + a.failed) || a.key.localeCompare(b.key));
}

/** Receiving MX groups (failed sessions only): most failed first. */
export function mxRows(groups: readonly GroupLike[]): { key: string; failed: number }[] {
  return groups
    .map((g) => ({ key: g.key, failed: g.failed_sessions }))
    .sort((a, b) => b.failed - a.failed || a.key.localeCompare(b.key));
}

/** The key of the row that sums the rest (no real key starts with a NUL). */
export const OTHER = '\u0000other';

/**
 * The first `n - 1` rows and one row (`merge` of the rest) keyed {@link OTHER}: charts stay
 * readable, tables show every row. Rows must already be in the order to keep.
 */
export function topWithOther<T extends { key: string }>(rows: readonly T[], n: number, merge: (rest: T[]) => Omit<T, 'key'>): T[] {
  if (rows.length <= n) return [...rows];
  const rest = rows.slice(n - 1);
  return [...rows.slice(0, n - 1), { ...merge(rest), key: OTHER } as T];
}

/** Sums group rows (for {@link topWithOther}). */
export function sumGroups(rows: readonly GroupRow[]): Omit<GroupRow, 'key'> {
  const ok = rows.reduce((s, r) => s + r.ok, 0);
  const failed = rows.reduce((s, r) => s + r.failed, 0);
  return { reports: rows.reduce((s, r) => s + r.reports, 0), ok, failed, rate: rate(ok, failed) };
}

/** The media type to send for a report file: gzip by its magic bytes, else JSON. */
export function reportMediaType(firstBytes: Uint8Array): string {
  return firstBytes[0] === 0x1f && firstBytes[1] === 0x8b ? 'application/tlsrpt+gzip' : 'application/tlsrpt+json';
}

/** Largest report file the API accepts. */
export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;

/** Days since `iso` at `now` (whole days, rounded down). */
export function daysSince(iso: string, now: Date): number {
  return Math.floor((now.getTime() - Date.parse(iso)) / DAY_MS);
}
