import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { json, renderPage, type Recorded } from '../test-utils';
import { DomainReportsPage, SignalBanners } from './DomainReports';

// Canvas charts do not draw in jsdom: stand-ins show the label they would carry.
vi.mock('./Charts', () => ({
  COLORS: { ok: 'green', failed: 'red' },
  DailyChart: ({ text }: { text: { label: string } }) => <div role="img" aria-label={text.label} />,
  BarsChart: ({ text }: { text: { label: string } }) => <div role="img" aria-label={text.label} />,
}));

const TOTALS = { reports: 2, successful_sessions: 95, failed_sessions: 5, success_rate: 0.95 };
const SIGNALS = { last_received_at: new Date().toISOString(), silent: false, recent_failed_sessions: 5, recent_successful_sessions: 95 };
const report = {
  id: 'r1',
  organization: 'Google Inc.',
  report_id: 'g-1',
  policy_domain: 'example.com',
  contact: null,
  start: '2026-03-01T00:00:00Z',
  end: '2026-03-01T23:59:59Z',
  transport: 'https',
  media_type: 'application/tlsrpt+gzip',
  media_type_flagged: false,
  domain_mismatch: false,
  counted: true,
  origin: 'verified_https',
  successful_sessions: 95,
  failed_sessions: 5,
  received_at: '2026-03-02T06:00:00Z',
  dkim: null,
  flags: [],
};

const NONE_LEFT_OUT = { total: 0, unverified_https: 0, unauthenticated_mail: 0, domain_mismatch: 0 };

function summary(url: URL, empty: boolean, leftOut = NONE_LEFT_OUT) {
  const groupBy = url.searchParams.get('group_by');
  const from = url.searchParams.get('from');
  const to = url.searchParams.get('to');
  const base = {
    from,
    to,
    group_by: groupBy,
    totals: empty ? { reports: 0, successful_sessions: 0, failed_sessions: 0 } : TOTALS,
    left_out: leftOut,
    count_unverified_https: false,
    signals: empty ? { ...SIGNALS, last_received_at: leftOut.total > 0 ? SIGNALS.last_received_at : null, recent_failed_sessions: 0, recent_successful_sessions: 0 } : SIGNALS,
  };
  if (empty) return { ...base, groups: [] };
  switch (groupBy) {
    case 'day':
      return { ...base, groups: [{ key: to, reports: 2, successful_sessions: 95, failed_sessions: 5, success_rate: 0.95 }] };
    case 'result':
      return {
        ...base,
        groups: [
          { key: 'success', successful_sessions: 95, failed_sessions: 0, explanation: 'api ok', fix: 'api nothing' },
          { key: 'certificate-expired', failed_sessions: 5, explanation: 'api expired', fix: 'api renew' },
          { key: 'x-new-thing', failed_sessions: 0, explanation: 'A result type not defined by RFC 8460.', fix: 'Ask them.' },
        ],
      };
    case 'organization':
      return { ...base, groups: [{ key: 'Google Inc.', reports: 2, successful_sessions: 95, failed_sessions: 5, success_rate: 0.95 }] };
    default:
      return { ...base, groups: [{ key: 'mx1.example.com', failed_sessions: 5 }] };
  }
}

function answer({ empty = false, pages = 1, leftOut = NONE_LEFT_OUT, items = [report] as Record<string, unknown>[] } = {}) {
  return (r: Recorded) => {
    const url = new URL(r.url, 'http://localhost');
    if (url.pathname.endsWith('/summary')) return json(200, summary(url, empty, leftOut));
    const offset = Number(url.searchParams.get('offset'));
    const page = items.map((it, i) => ({ ...it, id: i === 0 ? `r${offset}` : `r${offset}-${i}` }));
    return json(200, { items: empty && leftOut.total === 0 ? [] : page, next_offset: offset / 20 + 1 < pages ? offset + 20 : null });
  };
}

const show = (role: string, a: (r: Recorded) => Response) =>
  renderPage(<DomainReportsPage />, { path: '/t/ten1/domains/example.com/reports', pattern: '/t/:tenant/domains/:name/reports', role, answer: a });

describe('domain reports page', () => {
  it('explains an empty domain and offers the import', async () => {
    show('editor', answer({ empty: true }));
    expect(await screen.findByText('No reports yet')).toBeTruthy();
    expect(screen.getByText(/Reports arrive daily once _smtp._tls points at stsd/)).toBeTruthy();
    expect(screen.getByRole('heading', { name: 'Import report files' })).toBeTruthy();
  });

  it('hides the import from viewers', async () => {
    show('viewer', answer({ empty: true }));
    await screen.findByText('No reports yet');
    expect(screen.queryByRole('heading', { name: 'Import report files' })).toBeNull();
  });

  it('shows totals, result types with their explanation and fix, and the recent failures', async () => {
    const requests = show('viewer', answer());
    const totals = await screen.findByLabelText('Totals for the range');
    expect(within(totals).getByText('95%')).toBeTruthy();
    // Known types in the UI's words; unknown ones with the API's.
    const expired = (await screen.findByText('Certificate expired')).closest('li')!;
    expect(within(expired).getByText('Your mail server presented an expired certificate.')).toBeTruthy();
    expect(within(expired).getByText('Renew the certificate on the MX host and automate renewal.')).toBeTruthy();
    expect(screen.getByText('A result type not defined by RFC 8460.')).toBeTruthy();
    expect(screen.getByText('5 failed sessions in the last 14 days (95% succeeded).')).toBeTruthy();
    expect(screen.getByRole('img', { name: /Chart of sessions and success rate per day; 95% succeeded/ })).toBeTruthy();
    // The default range: the last 30 days, every summary asked for it.
    const summaries = requests.filter((r) => r.url.includes('/summary'));
    expect(new Set(summaries.map((r) => new URL(r.url, 'http://x').searchParams.get('group_by')))).toEqual(new Set(['day', 'result', 'organization', 'mx']));
    const q = new URL(summaries[0]!.url, 'http://x').searchParams;
    expect((Date.parse(q.get('to')!) - Date.parse(q.get('from')!)) / 86_400_000).toBe(29);
  });

  it('filters the list by organization and pages through it', async () => {
    const requests = show('viewer', answer({ pages: 2 }));
    await screen.findByRole('button', { name: 'Show the reports of Google Inc.' });
    await userEvent.click(screen.getByRole('button', { name: 'Show the reports of Google Inc.' }));
    await screen.findByText('Page 1');
    const list = () => requests.filter((r) => /\/reports\?/.test(r.url)).map((r) => new URL(r.url, 'http://x').searchParams);
    expect(list().at(-1)?.get('organization')).toBe('Google Inc.');
    expect((screen.getByLabelText('Organization') as HTMLSelectElement).value).toBe('Google Inc.');
    await userEvent.click(screen.getByRole('button', { name: 'Next' }));
    await screen.findByText('Page 2');
    expect(list().at(-1)?.get('offset')).toBe('20');
    expect(screen.getByRole('link', { name: 'Mar 1, 2026' }).getAttribute('href')).toBe('/t/ten1/domains/example.com/reports/r20');
  });

  it('marks reports sent over HTTPS from unverified addresses', async () => {
    const forged = { ...report, organization: 'Mallory', report_id: 'f-1', counted: false, origin: 'unverified_https', successful_sessions: 0, failed_sessions: 999_999 };
    show('viewer', answer({ items: [report, forged] }));
    const row = (await screen.findByText('Mallory')).closest('tr')!;
    expect(within(row).getByText('Not counted')).toBeTruthy();
    expect(within(row).getByText('unverified sender')).toBeTruthy();
    expect(within(row).getByText('sent over HTTPS from an address not tied to the organization it names')).toBeTruthy();
    // A verified report carries no such mark.
    const google = screen.getByText('Google Inc.', { selector: 'td' }).closest('tr')!;
    expect(within(google).getByText('counted')).toBeTruthy();
    expect(within(google).queryByText('unverified sender')).toBeNull();
  });

  it('says how many reports the numbers leave out, and why', async () => {
    show('viewer', answer({ leftOut: { total: 3, unverified_https: 2, unauthenticated_mail: 1, domain_mismatch: 0 } }));
    await screen.findByLabelText('Totals for the range');
    const notice = screen.getByText('3 reports in this range are left out of these numbers:').closest('.notice') as HTMLElement;
    expect(within(notice).getByText(/^2 sent over HTTPS from addresses not tied to the organizations they name/)).toBeTruthy();
    expect(within(notice).getByText('1 by mail without a valid DKIM signature')).toBeTruthy();
    expect(within(notice).queryByText(/about another domain|about other domains/)).toBeNull();
    expect(within(notice).getByText('They are in the report list, marked.')).toBeTruthy();
  });

  it('does not pass off reports that count for nothing as no reports', async () => {
    const forged = { ...report, counted: false, origin: 'unverified_https' };
    show('viewer', answer({ empty: true, leftOut: { total: 1, unverified_https: 1, unauthenticated_mail: 0, domain_mismatch: 0 }, items: [forged] }));
    expect(await screen.findByText('1 report in this range is left out of these numbers:')).toBeTruthy();
    expect(within(screen.getByLabelText('Totals for the range')).getAllByText('0')).toHaveLength(3);
    expect(screen.queryByText('No reports yet')).toBeNull();
    expect(screen.queryByText('No reports in this range')).toBeNull();
    expect(await screen.findByText('unverified sender')).toBeTruthy();
  });

  it('asks for the range a preset or a custom range names, and refuses a reversed one', async () => {
    const requests = show('viewer', answer());
    await screen.findByLabelText('Totals for the range');
    await userEvent.click(screen.getByRole('button', { name: 'Last 7 days' }));
    const last = () => new URL(requests.filter((r) => r.url.includes('group_by=day')).at(-1)!.url, 'http://x').searchParams;
    await vi.waitFor(() => expect((Date.parse(last().get('to')!) - Date.parse(last().get('from')!)) / 86_400_000).toBe(6));
    await userEvent.click(screen.getByRole('button', { name: 'Custom' }));
    await userEvent.clear(screen.getByLabelText('From'));
    await userEvent.type(screen.getByLabelText('From'), '2026-02-10');
    await userEvent.clear(screen.getByLabelText('To'));
    await userEvent.type(screen.getByLabelText('To'), '2026-02-01');
    await userEvent.click(screen.getByRole('button', { name: 'Show' }));
    expect(screen.getByRole('alert').textContent).toBe('The start must not be after the end.');
    await userEvent.clear(screen.getByLabelText('To'));
    await userEvent.type(screen.getByLabelText('To'), '2026-02-20');
    await userEvent.click(screen.getByRole('button', { name: 'Show' }));
    await vi.waitFor(() => expect([last().get('from'), last().get('to')]).toEqual(['2026-02-10', '2026-02-20']));
  });
});

describe('signal banners', () => {
  it('says when reports stopped', () => {
    render(
      <SignalBanners
        signals={{ last_received_at: '2026-03-01T06:00:00Z', silent: true, recent_failed_sessions: 0, recent_successful_sessions: 0 }}
        now={new Date('2026-03-06T12:00:00Z')}
      />,
    );
    expect(screen.getByText('No report for 5 days.')).toBeTruthy();
    expect(screen.getByText(/_smtp._tls record no longer points at stsd/)).toBeTruthy();
  });

  it('says when the reports support enforce', () => {
    render(<SignalBanners signals={{ last_received_at: null, silent: false, recent_failed_sessions: 0, recent_successful_sessions: 1200 }} now={new Date()} />);
    expect(screen.getByText('No failed sessions in the last 14 days (1,200 successful): the reports support switching to enforce.')).toBeTruthy();
  });
});
