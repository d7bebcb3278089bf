import { describe, expect, it } from 'vitest';
import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { json, renderPage, type Recorded } from '../test-utils';
import { DomainPage } from '../pages/Domain';

const NAME = 'example.com';
const version = (over: Record<string, unknown> = {}) => ({
  version_id: 'v1',
  id: '20260101T000000',
  mode: 'testing',
  mx: ['mx1.example.com'],
  max_age: 86400,
  body: 'version: STSv1\n',
  author: 'user:u-self',
  created_at: 1_760_000_000,
  published_at: null,
  dns_at: null,
  ...over,
});
const domain = (policy = version()) => ({
  name: NAME,
  display_name: NAME,
  label: 'l1',
  state: 'active',
  ownership: 'cname',
  mode: policy.mode,
  created_at: 1_760_000_000,
  state_changed_at: 1_760_000_000,
  serve_until: null,
  records: [],
  zone_file: '',
  note: '',
  policy,
  checks: null,
});

type Handler = (r: Recorded) => Response | undefined;

function render(role: string, handler: Handler = () => undefined, opts: { cert?: unknown } = {}) {
  return renderPage(<DomainPage />, {
    path: `/t/ten1/domains/${NAME}`,
    pattern: '/t/:tenant/domains/:name',
    role,
    answer: (r) => {
      const own = handler(r);
      if (own) return own;
      const u = r.url;
      if (u.endsWith('/members')) return json(200, { items: [] });
      if (u.endsWith(`/domains/${NAME}`) && r.method === 'GET') return json(200, domain());
      if (u.endsWith('/policy/versions')) return json(200, { items: [version()] });
      if (u.endsWith('/policy') && r.method === 'GET') return json(200, { live: version(), pending: null, dns_version_id: 'v1' });
      if (u.endsWith('/mx'))
        return json(200, {
          status: 'found',
          hosts: [
            { preference: 10, host: 'mx1.example.com', covered_by: 'mx1.example.com' },
            { preference: 20, host: 'mx2.backup.example.net', covered_by: null },
          ],
          unused_patterns: [],
        });
      if (u.endsWith('/certificate'))
        return json(200, opts.cert ?? { host: `mta-sts.${NAME}`, current: null, renewal: null });
      if (u.endsWith('/checks')) return json(200, { state: 'active', checked_at: null, items: [] });
      return json(404, { error: { code: 'not_found', message: 'nope', details: [] } });
    },
  });
}

describe('policy editor', () => {
  it('validates rows and previews coverage as the patterns are typed, then saves a version', async () => {
    const user = userEvent.setup();
    const requests = render('editor', (r) =>
      r.url.endsWith('/policy') && r.method === 'PUT'
        ? json(201, { changed: true, version: version({ version_id: 'v2', id: '20260102T000000', mx: ['mx1.example.com', '*.backup.example.net'] }), checks: [] })
        : undefined,
    );
    const editor = await screen.findByRole('form', { name: 'Edit policy' });
    const coverage = await within(editor).findByRole('region', { name: 'Coverage of the patterns above' });
    expect(within(coverage).getByText(/1 MX host matches no pattern: mx2\.backup\.example\.net/)).toBeTruthy();
    expect(within(editor).getByText('matches mx1.example.com')).toBeTruthy();

    await user.click(within(editor).getByRole('button', { name: '+ Add pattern' }));
    const row2 = within(editor).getByRole('textbox', { name: 'MX pattern 2' });
    expect(document.activeElement).toBe(row2);
    await user.type(row2, '*.*.example.net');
    expect(within(editor).getByText(/A wildcard is allowed only as the whole first label/)).toBeTruthy();
    expect(row2.getAttribute('aria-invalid')).toBe('true');
    await user.clear(row2);
    await user.type(row2, '*.backup.example.net');
    expect(within(coverage).getByText('All 2 MX hosts are covered by the policy.')).toBeTruthy();
    expect(within(editor).getByText('matches mx2.backup.example.net')).toBeTruthy();

    const age = within(editor).getByLabelText('Max age (seconds)');
    await user.clear(age);
    await user.type(age, '604800');
    expect(within(editor).getByText('= 7 days')).toBeTruthy();
    expect(within(editor).queryByText(/While testing, a short max age/)).toBeNull();

    await user.click(within(editor).getByRole('button', { name: 'Save as new version' }));
    await within(editor).findByText(/Saved as version v2 \(policy id 20260102T000000\)/);
    const put = requests.find((r) => r.method === 'PUT');
    expect(put?.body).toEqual({ mode: 'testing', mx: ['mx1.example.com', '*.backup.example.net'], max_age: 604800 });
  });

  it('advises on max_age by mode and refuses to send a broken draft', async () => {
    const user = userEvent.setup();
    const requests = render('editor');
    const editor = await screen.findByRole('form', { name: 'Edit policy' });
    await user.click(within(editor).getByRole('button', { name: '30 days' }));
    expect(within(editor).getByText(/While testing, a short max age/)).toBeTruthy();
    await user.click(within(editor).getByRole('radio', { name: /^Enforce/ }));
    await user.click(within(editor).getByRole('button', { name: '1 day' }));
    expect(within(editor).getByText(/Once enforce works, use at least a week/)).toBeTruthy();
    await user.click(within(editor).getByRole('button', { name: 'Remove pattern 1' }));
    await user.click(within(editor).getByRole('button', { name: 'Save as new version' }));
    expect(within(editor).getByText('Testing and enforce need at least one MX pattern.')).toBeTruthy();
    expect(requests.some((r) => r.method === 'PUT')).toBe(false);
  });

  it('is not shown to viewers', async () => {
    render('viewer');
    await screen.findByRole('heading', { name: 'Version history' });
    expect(screen.queryByRole('form', { name: 'Edit policy' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Enforce…' })).toBeNull();
  });
});

