import { describe, expect, it, vi } from 'vitest';
import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { json, renderPage, type Recorded } from '../test-utils';
import { retentionError, TenantReportsPage } from './TenantReports';

vi.mock('./Charts', () => ({
  COLORS: { ok: 'green', failed: 'red' },
  DailyChart: ({ text }: { text: { label: string } }) => <div role="img" aria-label={text.label} />,
  BarsChart: ({ text }: { text: { label: string } }) => <div role="img" aria-label={text.label} />,
}));

function answer(r: Recorded): Response {
  const url = new URL(r.url, 'http://localhost');
  if (url.pathname.endsWith('/settings')) {
    if (r.method === 'PUT') return json(200, { count_unverified_https: false, ...(r.body as object) });
    return json(200, { retention_days: 400, count_unverified_https: false });
  }
  const groupBy = url.searchParams.get('group_by');
  const groups =
    groupBy === 'domain'
      ? [
          { key: 'quiet.example', reports: 1, successful_sessions: 10, failed_sessions: 0, success_rate: 1 },
          { key: 'broken.example', reports: 2, successful_sessions: 10, failed_sessions: 30, success_rate: 0.25 },
        ]
      : [];
  return json(200, {
    from: url.searchParams.get('from'),
    to: url.searchParams.get('to'),
    group_by: groupBy,
    totals: { reports: 3, successful_sessions: 20, failed_sessions: 30, success_rate: 0.4 },
    left_out: { total: 4, unverified_https: 4, unauthenticated_mail: 0, domain_mismatch: 0 },
    count_unverified_https: false,
    groups,
  });
}

const show = (role: string) => renderPage(<TenantReportsPage />, { path: '/t/ten1/reports?days=90', pattern: '/t/:tenant/reports', role, answer });

describe('tenant reports page', () => {
  it('lists domains, most failures first, linking to their reports in the same range', async () => {
    show('viewer');
    const table = (await screen.findByRole('heading', { name: 'By domain' })).closest('section')!;
    const rows = await within(table).findAllByRole('row');
    expect(rows.slice(1).map((r) => within(r).getByRole('link').textContent)).toEqual(['broken.example', 'quiet.example']);
    expect(within(rows[1]!).getByRole('link').getAttribute('href')).toBe('/t/ten1/domains/broken.example/reports?days=90');
    expect(within(rows[1]!).getByText('25%')).toBeTruthy();
  });

  it('lets admins change the retention, checked before it is sent', async () => {
    const requests = show('admin');
    const field = await screen.findByLabelText('Keep reports for (days)');
    expect((field as HTMLInputElement).value).toBe('400');
    await userEvent.clear(field);
    await userEvent.type(field, '5');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(screen.getByText('Choose 7 to 3650 days.')).toBeTruthy();
    expect(requests.some((r) => r.method === 'PUT')).toBe(false);
    await userEvent.clear(field);
    await userEvent.type(field, '90');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByText('Reports are now kept for 90 days.')).toBeTruthy();
    expect(requests.find((r) => r.method === 'PUT')).toEqual({ method: 'PUT', url: '/api/v1/tenants/ten1/reports/settings', body: { retention_days: 90 } });
  });

  it('says what the tenant-wide numbers leave out', async () => {
    show('viewer');
    expect(await screen.findByText('4 reports in this range are left out of these numbers:')).toBeTruthy();
    expect(screen.getByText(/^4 sent over HTTPS from addresses not tied/)).toBeTruthy();
    // There is no report list on this page to point to.
    expect(screen.queryByText('They are in the report list, marked.')).toBeNull();
  });

  it('lets admins count unverified HTTPS reports, off until they do', async () => {
    const requests = show('owner');
    const box = (await screen.findByRole('checkbox', { name: 'Count reports sent over HTTPS from unverified addresses' })) as HTMLInputElement;
    expect(box.checked).toBe(false);
    await userEvent.click(box);
    await userEvent.click(screen.getByRole('button', { name: 'Save choice' }));
    expect(await screen.findByText('Unverified HTTPS reports are now counted.')).toBeTruthy();
    expect(requests.find((r) => r.method === 'PUT')).toEqual({
      method: 'PUT',
      url: '/api/v1/tenants/ten1/reports/settings',
      body: { retention_days: 400, count_unverified_https: true },
    });
  });

  it('shows others the retention read-only', async () => {
    show('editor');
    expect(await screen.findByText('Reports are kept for 400 days.')).toBeTruthy();
    expect(screen.getByText('Unverified HTTPS reports are left out of counts.')).toBeTruthy();
    expect(screen.queryByRole('checkbox')).toBeNull();
    expect(screen.getAllByText('Only owners and admins can change this.')).toHaveLength(2);
    expect(screen.queryByLabelText('Keep reports for (days)')).toBeNull();
  });

  it('checks retention values', () => {
    expect(retentionError('30')).toBeNull();
    expect(retentionError('3.5')).toBe('whole');
    expect(retentionError('')).toBe('whole');
    expect(retentionError('6')).toBe('range');
    expect(retentionError('3651')).toBe('range');
  });
});
