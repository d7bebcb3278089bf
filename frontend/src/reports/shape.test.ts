import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  addDays,
  bucketDays,
  bucketSize,
  daysSince,
  fillDays,
  formatRate,
  groupRows,
  isDay,
  mxRows,
  OTHER,
  presetRange,
  rangeError,
  rangeFromParams,
  rangeToParams,
  rate,
  reportMediaType,
  resultRows,
  spanDays,
  sumGroups,
  topWithOther,
  utcDay,
} from './shape';
import { formatPeriod } from './format';
import { reportsEn } from '../locales/reports.en';

const TODAY = '2026-03-15';

describe('date ranges', () => {
  it('counts UTC days', () => {
    expect(utcDay(new Date('2026-03-15T23:30:00-05:00'))).toBe('2026-03-16');
    expect(addDays('2026-02-27', 2)).toBe('2026-03-01');
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(spanDays('2026-03-01', '2026-03-01')).toBe(1);
    expect(spanDays('2025-12-31', '2026-01-02')).toBe(3);
    expect(spanDays('2026-01-02', '2026-01-01')).toBe(0);
  });

  it('presets end today and include it', () => {
    expect(presetRange(7, TODAY)).toEqual({ from: '2026-03-09', to: TODAY, preset: 7 });
    expect(presetRange(30, TODAY)).toEqual({ from: '2026-02-14', to: TODAY, preset: 30 });
    expect(spanDays(presetRange(365, TODAY).from, TODAY)).toBe(365);
  });

  it('checks custom ranges like the API', () => {
    expect(isDay('2026-02-29')).toBe(false);
    expect(isDay('2024-02-29')).toBe(true);
    expect(rangeError('', TODAY)).toBe('format');
    expect(rangeError('2026-03-16', TODAY)).toBe('order');
    expect(rangeError(addDays(TODAY, -399), TODAY)).toBeNull();
    expect(rangeError(addDays(TODAY, -400), TODAY)).toBe('tooLong');
  });

  it('reads the range from the URL and writes it back', () => {
    expect(rangeFromParams(new URLSearchParams(), TODAY)).toEqual(presetRange(30, TODAY));
    expect(rangeFromParams(new URLSearchParams('days=90'), TODAY)).toEqual(presetRange(90, TODAY));
    expect(rangeFromParams(new URLSearchParams('days=12'), TODAY)).toEqual(presetRange(30, TODAY));
    expect(rangeFromParams(new URLSearchParams('from=2026-01-01&to=2026-01-31'), TODAY)).toEqual({
      from: '2026-01-01',
      to: '2026-01-31',
      preset: null,
    });
    // A custom range that happens to be a preset is shown as that preset.
    expect(rangeFromParams(new URLSearchParams('from=2026-03-09&to=2026-03-15'), TODAY).preset).toBe(7);
    expect(rangeFromParams(new URLSearchParams('from=2026-03-10&to=2026-01-01'), TODAY)).toEqual(presetRange(30, TODAY));

    const keep = new URLSearchParams('org=google.com&days=7');
    expect(rangeToParams(presetRange(30, TODAY), keep).toString()).toBe('org=google.com');
    expect(rangeToParams(presetRange(365, TODAY), keep).toString()).toBe('org=google.com&days=365');
    expect(rangeToParams({ from: '2026-01-01', to: '2026-01-31', preset: null }).toString()).toBe('from=2026-01-01&to=2026-01-31');
  });
});

describe('rates', () => {
  it('is null without sessions', () => {
    expect(rate(0, 0)).toBeNull();
    expect(rate(3, 1)).toBe(0.75);
  });
  it('formats as a percentage in the language', () => {
    expect(formatRate(0.9876, 'en')).toBe('98.8%');
    expect(formatRate(1, 'en')).toBe('100%');
    expect(formatRate(0, 'en')).toBe('0%');
    expect(formatRate(null, 'en')).toBe('—');
    expect(formatRate(0.95, 'en')).toBe('95%');
    expect(formatRate(0.99996, 'en')).toBe('99.9%');
    expect(formatRate(0.00001, 'en')).toBe('0.1%');
    expect(formatRate(0.505, 'de')).toBe('50,5\u00a0%');
  });
});

describe('days', () => {
  it('fills every day of the range, with gaps as null rates', () => {
    const points = fillDays(
      [
        { key: '2026-03-02', reports: 2, successful_sessions: 90, failed_sessions: 10 },
        { key: '2026-03-04', reports: 1, successful_sessions: 0, failed_sessions: 0 },
      ],
      '2026-03-01',
      '2026-03-04',
    );
    expect(points).toEqual([
      { day: '2026-03-01', reports: 0, ok: 0, failed: 0, rate: null },
      { day: '2026-03-02', reports: 2, ok: 90, failed: 10, rate: 0.9 },
      { day: '2026-03-03', reports: 0, ok: 0, failed: 0, rate: null },
      { day: '2026-03-04', reports: 1, ok: 0, failed: 0, rate: null },
    ]);
  });

  it('sums long ranges into weeks', () => {
    expect(bucketSize(90)).toBe(1);
    expect(bucketSize(365)).toBe(7);
    const points = fillDays([{ key: '2026-01-03', reports: 1, successful_sessions: 3, failed_sessions: 1 }, { key: '2026-01-09', reports: 1, successful_sessions: 4, failed_sessions: 0 }], '2026-01-01', '2026-01-10');
    const weeks = bucketDays(points, 7);
    expect(weeks).toEqual([
      { day: '2026-01-01', reports: 1, ok: 3, failed: 1, rate: 0.75 },
      { day: '2026-01-08', reports: 1, ok: 4, failed: 0, rate: 1 },
    ]);
    expect(bucketDays(points, 1)).toEqual(points);
  });
});

describe('grouping', () => {
  it('lists success first, then failures by sessions, with shares', () => {
    const rows = resultRows([
      { key: 'success', successful_sessions: 90, failed_sessions: 0, explanation: 'ok', fix: 'nothing' },
      { key: 'certificate-expired', failed_sessions: 2, explanation: 'e', fix: 'f' },
      { key: 'starttls-not-supported', failed_sessions: 8, explanation: 'e2', fix: 'f2' },
    ]);
    expect(rows.map((r) => [r.key, r.sessions, r.share])).toEqual([
      ['success', 90, 0.9],
      ['starttls-not-supported', 8, 0.08],
      ['certificate-expired', 2, 0.02],
    ]);
    expect(rows[1]).toMatchObject({ success: false, explanation: 'e2', fix: 'f2' });
  });

  it('leaves out an empty success row', () => {
    expect(resultRows([{ key: 'success', successful_sessions: 0, failed_sessions: 0 }])).toEqual([]);
  });

  it('orders organizations by failures, then volume, then name', () => {
    const rows = groupRows([
      { key: 'b.example', reports: 1, successful_sessions: 10, failed_sessions: 0 },
      { key: 'a.example', reports: 1, successful_sessions: 10, failed_sessions: 0 },
      { key: 'big.example', reports: 5, successful_sessions: 500, failed_sessions: 0 },
      { key: 'bad.example', reports: 1, successful_sessions: 1, failed_sessions: 3 },
    ]);
    expect(rows.map((r) => r.key)).toEqual(['bad.example', 'big.example', 'a.example', 'b.example']);
    expect(rows[0]).toEqual({ key: 'bad.example', reports: 1, ok: 1, failed: 3, rate: 0.25 });
  });

  it('sums the tail into one row for charts', () => {
    const rows = groupRows(['a', 'b', 'c', 'd'].map((k, i) => ({ key: k, reports: 1, successful_sessions: 10 - i, failed_sessions: 0 })));
    expect(topWithOther(rows, 4, sumGroups)).toHaveLength(4);
    const top = topWithOther(rows, 3, sumGroups);
    expect(top.map((r) => r.key)).toEqual(['a', 'b', OTHER]);
    expect(top[2]).toEqual({ key: OTHER, reports: 2, ok: 15, failed: 0, rate: 1 });
  });

  it('orders MX hosts by failed sessions', () => {
    expect(mxRows([{ key: 'mx2', failed_sessions: 1 }, { key: 'mx1', failed_sessions: 5 }]).map((r) => r.key)).toEqual(['mx1', 'mx2']);
  });
});

describe('reports', () => {
  it('tells gzip from JSON by the first bytes', () => {
    expect(reportMediaType(new Uint8Array([0x1f, 0x8b]))).toBe('application/tlsrpt+gzip');
    expect(reportMediaType(new TextEncoder().encode('{"'))).toBe('application/tlsrpt+json');
  });

  it('names a one-day period by its day', () => {
    expect(formatPeriod('2026-03-01T00:00:00Z', '2026-03-01T23:59:59Z', 'en')).toBe('Mar 1, 2026');
    expect(formatPeriod('2026-03-01T00:00:00Z', '2026-03-02T00:00:00Z', 'en')).toBe('Mar 1, 2026');
    expect(formatPeriod('2026-03-01T00:00:00Z', '2026-03-03T00:00:00Z', 'en')).toBe('Mar 1, 2026 – Mar 2, 2026');
  });

  it('counts days since a time', () => {
    expect(daysSince('2026-03-10T12:00:00Z', new Date('2026-03-15T11:00:00Z'))).toBe(4);
  });
});

describe('result type texts', () => {
  // The English catalogue repeats the API's explanations (so German can translate them): they
  // must say exactly what crates/core/src/tlsrpt/results.rs says.
  it('match the API', () => {
    const rust = readFileSync(resolve(process.cwd(), '../crates/core/src/tlsrpt/results.rs'), 'utf8').replace(/\\\n\s*/g, '');
    const pairs = [...rust.matchAll(/"([a-z-]+)" => \(\s*"((?:[^"\\]|\\.)*)",\s*"((?:[^"\\]|\\.)*)",/g)];
    expect(pairs.length).toBe(12);
    const types = reportsEn.resultTypes as Record<string, { explanation: string; fix: string }>;
    for (const [, key, explanation, fix] of pairs) {
      expect(types[key!], key).toMatchObject({ explanation, fix });
    }
    expect(Object.keys(types).sort()).toEqual(pairs.map((p) => p[1]).sort());
    const unknown = /explanation: "((?:[^"\\]|\\.)*)",\s*fix: "((?:[^"\\]|\\.)*)"/.exec(rust);
    expect([reportsEn.results.unknownExplanation, reportsEn.results.unknownFix]).toEqual([unknown?.[1], unknown?.[2]]);
  });
});
