import { describe, expect, it } from 'vitest';
import { screen, within } from '@testing-library/react';
import { json, renderPage } from '../test-utils';
import { DomainPage } from '../pages/Domain';
import { checksPollInterval } from './Setup';

describe('checksPollInterval', () => {
  it('polls fast while the certificate is issued, slowly while set up, not once active', () => {
    expect(checksPollInterval('verified')).toBe(3_000);
    expect(checksPollInterval('pending')).toBe(10_000);
    expect(checksPollInterval('degraded')).toBe(10_000);
    expect(checksPollInterval(undefined)).toBe(10_000);
    expect(checksPollInterval('active')).toBe(false);
  });
});

describe('checks panel', () => {
  it('refreshes the page when a poll of the checks finds the domain in another state', async () => {
    let state = 'verified';
    const detail = () => ({
      name: 'example.com',
      display_name: 'example.com',
      label: 'l1',
      state,
      ownership: 'cname',
      mode: 'testing',
      created_at: 1_760_000_000,
      state_changed_at: 1_760_000_000,
      serve_until: null,
      records: [],
      zone_file: '',
      note: '',
      policy: null,
      checks: null,
    });
    const checks = () => ({ state, checked_at: 1_760_000_000, items: [] });
    renderPage(<DomainPage />, {
      path: '/t/ten1/domains/example.com',
      pattern: '/t/:tenant/domains/:name',
      role: 'owner',
      answer: (r) => {
        const u = r.url;
        if (u.endsWith('/checks')) return json(200, checks());
        if (u.endsWith('/domains/example.com')) return json(200, detail());
        if (u.endsWith('/members')) return json(200, { items: [] });
        if (u.endsWith('/policy/versions')) return json(200, { items: [] });
        if (u.endsWith('/policy')) return json(200, { live: null, pending: null, dns_version_id: null });
        if (u.endsWith('/certificate')) return json(200, { host: 'mta-sts.example.com', current: null, renewal: null });
        return json(404, { error: { code: 'not_found', message: 'nope', details: [] } });
      },
    });
    const head = async () => (await screen.findByRole('heading', { level: 1, name: 'example.com' })).parentElement!;
    await within(await head()).findByText('Verified');
    // The certificate is issued: the next poll (3 s while verified) sees the domain active,
    // and the page's own copy of the domain follows without a reload.
    state = 'active';
    await within(await head()).findByText('Active', {}, { timeout: 6_000 });
  }, 10_000);
});
