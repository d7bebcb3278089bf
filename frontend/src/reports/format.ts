/** Dates of reports: UTC days, as the API counts them. */

/** `YYYY-MM-DD` as a medium date (e.g. "12 Mar 2026"). */
export function formatDay(day: string, lang: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return day;
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeZone: 'UTC' }).format(d);
}

/** `YYYY-MM-DD` as a short axis label (e.g. "12 Mar"). */
export function formatShortDay(day: string, lang: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return day;
  return new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short', timeZone: 'UTC' }).format(d);
}

/** An RFC 3339 time as a UTC date and time. */
export function formatUtc(iso: string, lang: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }).format(d) + ' UTC';
}

/** A reporting period: one day when it covers one UTC day, else start – end. */
export function formatPeriod(start: string, end: string, lang: string): string {
  if (Number.isNaN(Date.parse(start)) || Number.isNaN(Date.parse(end))) return `${start} – ${end}`;
  const s = new Date(start).toISOString().slice(0, 10);
  // A period ends at midnight or a second before it: both mean the day before ended it.
  const e = new Date(Math.max(Date.parse(start), Date.parse(end) - 1000)).toISOString().slice(0, 10);
  return s === e ? formatDay(s, lang) : `${formatDay(s, lang)} – ${formatDay(e, lang)}`;
}
