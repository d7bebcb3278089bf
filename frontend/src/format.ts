/** Unix seconds as a local date and time in the UI's language. */
export function formatTime(unix: number | null | undefined, lang: string): string {
  if (unix === null || unix === undefined) return '—';
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(unix * 1000));
}

/** Unix seconds as a local date in the UI's language. */
export function formatDate(unix: number | null | undefined, lang: string): string {
  if (unix === null || unix === undefined) return '—';
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium' }).format(new Date(unix * 1000));
}

/** Seconds as the largest whole unit (for `max_age`). */
export function formatDuration(seconds: number, lang: string): string {
  const units: [Intl.RelativeTimeFormatUnit, number][] = [
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60],
  ];
  for (const [unit, size] of units) {
    if (seconds >= size && seconds % size === 0) {
      return new Intl.NumberFormat(lang, { style: 'unit', unit, unitDisplay: 'long' }).format(seconds / size);
    }
  }
  return new Intl.NumberFormat(lang, { style: 'unit', unit: 'second', unitDisplay: 'long' }).format(seconds);
}
