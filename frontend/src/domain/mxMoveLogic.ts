import { canonicalPattern, patternProblem, MAX_MX, type PatternProblem } from './policyLogic';

/** The earliest and latest move date the API accepts, from now. */
export const MIN_LEAD_SECONDS = 3_600;
export const MAX_LEAD_SECONDS = 400 * 86_400;

/** The hosts typed into the plan form: one per line, or separated by commas or spaces. */
export function parseHosts(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/[\s,]+/)) {
    if (raw.trim() === '') continue;
    const host = canonicalPattern(raw);
    if (!out.includes(host)) out.push(host);
  }
  return out;
}

/** The first problem among the typed hosts, with the host it is about. */
export function hostsProblem(hosts: readonly string[]): { host: string; problem: PatternProblem | 'none' | 'tooMany' } | null {
  if (hosts.length === 0) return { host: '', problem: 'none' };
  if (hosts.length > MAX_MX) return { host: '', problem: 'tooMany' };
  for (const host of hosts) {
    const problem = patternProblem(host);
    if (problem) return { host, problem };
  }
  return null;
}

/**
 * A `datetime-local` input's value (the user's local time) as Unix seconds; null when empty
 * or not a date.
 */
export function moveAtFromInput(value: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(value)) return null;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : null;
}

/** Unix seconds as a `datetime-local` value in the user's local time (minutes). */
export function inputFromUnix(unix: number): string {
  const d = new Date(unix * 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** What is wrong with a move date, seen from `now` (Unix seconds). */
export function moveAtProblem(moveAt: number | null, now: number): 'required' | 'tooSoon' | 'tooLate' | null {
  if (moveAt === null) return 'required';
  if (moveAt < now + MIN_LEAD_SECONDS) return 'tooSoon';
  if (moveAt > now + MAX_LEAD_SECONDS) return 'tooLate';
  return null;
}

/** How a step shows: done, due now or later, or waiting for the MX records. */
export function stepStatus(
  step: { step: string; done: boolean; due_at: number },
  plan: { state: string; waiting?: string },
  now: number,
): 'done' | 'waiting' | 'due' | 'later' | 'skipped' {
  if (step.done) return 'done';
  if (plan.state !== 'active') return 'skipped';
  if (step.step === 'finish' && plan.waiting) return 'waiting';
  return step.due_at <= now ? 'due' : 'later';
}
