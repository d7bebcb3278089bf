import { describe, expect, it } from 'vitest';
import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { json, renderPage, type Recorded } from '../test-utils';
import { DomainPage } from '../pages/Domain';
import { daysLeft, expiryTone } from './CertificatePanel';

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
  silent_reporters: [] as { organization: string; last_received: number }[],
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
      if (u.endsWith('/mx-move') && r.method === 'GET') return json(200, { plan: null });
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

  it('saving enforce runs the gate: a refusal shows the checks, an admin overrides with the name typed', async () => {
    const user = userEvent.setup();
    let puts = 0;
    const requests = render('admin', (r) => {
      if (!(r.url.endsWith('/policy') && r.method === 'PUT')) return undefined;
      puts += 1;
      return puts === 1
        ? json(409, {
            error: {
              code: 'not_ready',
              message: 'not ready',
              details: [{ name: 'mx_coverage', result: 'fail', explanation: '1 MX host(s) match no mx pattern', uncovered: ['mx2.backup.example.net'] }],
            },
          })
        : json(201, { changed: true, version: version({ version_id: 'v9', mode: 'enforce' }), checks: [] });
    });
    const editor = await screen.findByRole('form', { name: 'Edit policy' });
    await user.click(within(editor).getByRole('radio', { name: /^Enforce/ }));
    await user.click(within(editor).getByRole('button', { name: 'Save as new version' }));
    const refused = await within(editor).findByRole('region', { name: 'Not saved: enforce is not ready' });
    expect(within(refused).getByText('mx2.backup.example.net')).toBeTruthy();
    await user.type(within(refused).getByLabelText(`Type ${NAME} to confirm`), NAME);
    await user.type(within(refused).getByLabelText(/Why is enforce safe anyway/), 'mx2 is retired on Friday');
    await user.click(within(refused).getByRole('button', { name: 'Enforce anyway' }));
    await within(editor).findByText(/Saved as version v9/);
    const puts2 = requests.filter((r) => r.method === 'PUT').map((r) => r.body as { override?: boolean; override_reason?: string });
    expect(puts2.map((b) => b.override)).toEqual([undefined, true]);
    expect(puts2[1]?.override_reason).toBe('mx2 is retired on Friday');
  });

  it('is not shown to viewers', async () => {
    render('viewer');
    await screen.findByRole('heading', { name: 'Mode' });
    expect(screen.queryByRole('form', { name: 'Edit policy' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Enforce…' })).toBeNull();
  });
});

const notReady = () => json(409, {
  error: {
    code: 'not_ready',
    message: 'the readiness checks for enforce failed; fix them or override',
    details: [
      { name: 'mx_coverage', result: 'fail', explanation: '1 MX host(s) match no mx pattern', uncovered: ['mx2.backup.example.net'] },
      {
        name: 'mx_starttls',
        result: 'fail',
        explanation: 'Senders enforcing the policy would refuse: mx1.example.com (192.0.2.1) does not offer STARTTLS.',
        hosts: [{ host: 'mx1.example.com', status: 'no_starttls', detail: 'mx1.example.com (192.0.2.1) does not offer STARTTLS' }],
      },
      { name: 'tlsrpt_failures', result: 'warn', explanation: 'no counted TLS reports' },
    ],
  },
});

describe('one-click enforce', () => {
  it('confirms, shows each failing check, and lets an owner override after typing the name', async () => {
    const user = userEvent.setup();
    let tries = 0;
    const requests = render('owner', (r) => {
      if (!r.url.endsWith('/mode')) return undefined;
      tries += 1;
      return tries === 1 ? notReady() : json(201, { changed: true, version: version({ version_id: 'v3', mode: 'enforce' }), checks: [] });
    });
    await user.click(await screen.findByRole('button', { name: 'Enforce…' }));
    const dialog = screen.getByRole('dialog', { name: `Switch ${NAME} to enforce?` });
    expect(within(dialog).getByText(/only to MX hosts matching these patterns: mx1\.example\.com/)).toBeTruthy();
    await user.click(within(dialog).getByRole('button', { name: 'Run checks and enforce' }));

    const refused = await screen.findByRole('region', { name: 'Enforce refused: fix these checks first' });
    const items = within(refused).getAllByRole('listitem');
    expect(items[0]?.textContent).toContain('MX coverage');
    expect(items[0]?.textContent).toContain('mx2.backup.example.net');
    expect(items[0]?.textContent).toContain('Add a pattern for each uncovered MX host');
    expect(items[1]?.textContent).toContain('STARTTLS on the MX hosts');
    expect(within(refused).getByRole('list', { name: 'MX hosts that failed the probe' }).textContent).toBe(
      'mx1.example.com: does not offer STARTTLS',
    );
    expect(requests.filter((r) => r.url.endsWith('/mode'))[0]?.body).toEqual({ mode: 'enforce' });

    const typed = within(refused).getByLabelText(`Type ${NAME} to confirm`);
    await user.type(typed, 'example.org');
    await user.click(within(refused).getByRole('button', { name: 'Enforce anyway' }));
    expect(within(refused).getByText(`The typed name does not match ${NAME}.`)).toBeTruthy();
    expect(requests.filter((r) => r.url.endsWith('/mode'))).toHaveLength(1);

    await user.clear(typed);
    await user.type(typed, 'Example.com');
    // The name is right, but no reason yet.
    await user.click(within(refused).getByRole('button', { name: 'Enforce anyway' }));
    expect(within(refused).getByText('Write the reason in 10 to 1000 characters.')).toBeTruthy();
    expect(requests.filter((r) => r.url.endsWith('/mode'))).toHaveLength(1);
    await user.type(within(refused).getByLabelText(/Why is enforce safe anyway/), 'backup MX takes no outside mail');
    await user.click(within(refused).getByRole('button', { name: 'Enforce anyway' }));
    await screen.findByText(/Enforce is on: version v3/);
    expect(screen.getByText(/Senders now deliver only over verified TLS/)).toBeTruthy();
    expect(requests.filter((r) => r.url.endsWith('/mode'))[1]?.body).toEqual({
      mode: 'enforce',
      override: true,
      override_reason: 'backup MX takes no outside mail',
    });
  });

  it('tells an editor that only owners and admins can override', async () => {
    const user = userEvent.setup();
    render('editor', (r) => (r.url.endsWith("/mode") ? notReady() : undefined));
    await user.click(await screen.findByRole('button', { name: 'Enforce…' }));
    await user.click(screen.getByRole('button', { name: 'Run checks and enforce' }));
    await screen.findByText(/Only owners and admins can override the checks/);
    expect(screen.queryByRole('button', { name: 'Enforce anyway' })).toBeNull();
  });

  it('turns off with a confirmation', async () => {
    const user = userEvent.setup();
    const requests = render('editor', (r) =>
      r.url.endsWith('/mode') ? json(201, { changed: true, version: version({ version_id: 'v4', mode: 'none' }), checks: [] }) : undefined,
    );
    await user.click(await screen.findByRole('button', { name: 'Turn off…' }));
    const dialog = screen.getByRole('dialog', { name: `Turn off MTA-STS for ${NAME}?` });
    await user.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('dialog')).toBeNull();
    await user.click(screen.getByRole('button', { name: 'Turn off…' }));
    await user.click(screen.getByRole('button', { name: 'Publish mode none' }));
    await screen.findByText('Mode none published as version v4.');
    expect(requests.find((r) => r.url.endsWith('/mode'))?.body).toEqual({ mode: 'none' });
  });

  it('the editor follows a new version from the mode switch when its draft was untouched', async () => {
    const user = userEvent.setup();
    let switched = false;
    render('editor', (r) => {
      if (r.url.endsWith('/mode')) {
        switched = true;
        return json(201, { changed: true, version: version({ version_id: 'v4', mode: 'none' }), checks: [] });
      }
      if (switched && r.url.endsWith(`/domains/${NAME}`) && r.method === 'GET') {
        return json(200, domain(version({ version_id: 'v4', mode: 'none' })));
      }
      return undefined;
    });
    expect((await screen.findByRole<HTMLInputElement>('radio', { name: /Testing/ })).checked).toBe(true);
    await user.click(await screen.findByRole('button', { name: 'Turn off…' }));
    await user.click(screen.getByRole('button', { name: 'Publish mode none' }));
    await screen.findByText('Mode none published as version v4.');
    await expect.poll(() => screen.getByRole<HTMLInputElement>('radio', { name: /None/ }).checked).toBe(true);
  });

  it('removes a served domain: explains offboarding, then shows until when the records stay', async () => {
    const user = userEvent.setup();
    const until = Date.UTC(2027, 0, 15) / 1000;
    render('admin', (r) =>
      r.method === 'DELETE'
        ? json(202, { ...domain(), state: 'offboarding', serve_until: until, keep_records_until: until, policy: version({ version_id: 'v5', mode: 'none' }) })
        : undefined,
    );
    await user.click(await screen.findByRole('button', { name: 'Remove domain…' }));
    const dialog = screen.getByRole('dialog', { name: `Remove ${NAME} from stsd?` });
    expect(within(dialog).getByText(/Keep the three DNS records until then/)).toBeTruthy();
    await user.click(within(dialog).getByRole('button', { name: 'Start removal' }));
    await screen.findByText(/Keep the DNS records until Jan 15, 2027/);
    expect(screen.getByText(/mode none is served as version v5/)).toBeTruthy();
  });

  it('says so when a never-served domain is removed at once', async () => {
    const user = userEvent.setup();
    render('editor', (r) => (r.method === 'DELETE' ? json(200, { ...domain(), state: 'removed' }) : undefined));
    await user.click(await screen.findByRole('button', { name: 'Remove domain…' }));
    await user.click(screen.getByRole('button', { name: 'Start removal' }));
    await screen.findByText(/was removed at once/);
    expect(screen.getByRole('link', { name: 'Back to the domains' })).toBeTruthy();
  });
});

describe('MX drift', () => {
  it('warns when an MX host is outside the enforced policy and adds it in one click, through the gate', async () => {
    const user = userEvent.setup();
    const enforced = version({ mode: 'enforce', mx: ['mx1.example.com'] });
    const requests = render('editor', (r) => {
      if (r.url.endsWith(`/domains/${NAME}`) && r.method === 'GET')
        return json(200, {
          ...domain(enforced),
          checks: [
            { name: 'mx_coverage', record: NAME, result: 'fail', explanation: 'uncovered', fix: null, uncovered: ['mx2.new-provider.example'] },
          ],
        });
      if (r.url.endsWith('/policy') && r.method === 'PUT')
        return json(201, { changed: true, version: version({ version_id: 'v7', mode: 'enforce', mx: ['mx1.example.com', 'mx2.new-provider.example'] }), checks: [] });
      return undefined;
    });
    const banner = await screen.findByRole('alert', { name: 'An MX host is not covered by the enforced policy' });
    expect(within(banner).getByText('mx2.new-provider.example')).toBeTruthy();
    await user.click(within(banner).getByRole('button', { name: 'Add this host to the policy' }));
    await within(banner).findByText(/Added: version v7 covers them/);
    const put = requests.find((r) => r.method === 'PUT');
    expect(put?.body).toEqual({ mode: 'enforce', mx: ['mx1.example.com', 'mx2.new-provider.example'], max_age: enforced.max_age });
  });

  it('offers viewers no button, only who can add the hosts', async () => {
    render('viewer', (r) =>
      r.url.endsWith(`/domains/${NAME}`) && r.method === 'GET'
        ? json(200, {
            ...domain(version({ mode: 'enforce' })),
            checks: [{ name: 'mx_coverage', record: NAME, result: 'fail', explanation: 'x', fix: null, uncovered: ['mx9.example.org'] }],
          })
        : undefined,
    );
    const banner = await screen.findByRole('alert', { name: 'An MX host is not covered by the enforced policy' });
    expect(within(banner).queryByRole('button')).toBeNull();
    expect(within(banner).getByText(/An editor, admin or owner can add them/)).toBeTruthy();
  });
});

describe('certificate', () => {
  it('shows issuer, validity, next renewal and the last error with attempts', async () => {
    const now = Date.now() / 1000;
    render('viewer', undefined, {
      cert: {
        host: `mta-sts.${NAME}`,
        current: { not_before: now - 86400 * 30, not_after: now + 86400 * 60, issuer: "CN=R11, O=Let's Encrypt, C=US", serial: '0a1b' },
        renewal: { next_attempt_at: now + 3600, attempts: 2, last_error: 'CAA record forbids the CA' },
      },
    });
    const panel = await screen.findByRole('region', { name: 'Certificate' });
    await within(panel).findByText("CN=R11, O=Let's Encrypt, C=US");
    expect(within(panel).getByText(/days left/)).toBeTruthy();
    expect(within(panel).getByText('Next attempt')).toBeTruthy();
    expect(within(panel).getByText(/failed 2 times/)).toBeTruthy();
    expect(within(panel).getByText('CAA record forbids the CA')).toBeTruthy();
  });

  it('shows the renewal window, where it comes from, and "now" when the CA asks for it', async () => {
    const now = Date.now() / 1000;
    render('viewer', undefined, {
      cert: {
        host: `mta-sts.${NAME}`,
        current: { not_before: now - 86400 * 30, not_after: now + 86400 * 60, issuer: 'CN=Pebble', serial: '0a1b' },
        renewal: { next_attempt_at: now + 60, attempts: 0, last_error: null },
        window: {
          source: 'ari',
          start: now - 7200,
          end: now - 3600,
          renew_at: now - 5400,
          explanation_url: 'https://ca.example/incident',
          next_check_at: now + 21600,
        },
      },
    });
    const panel = await screen.findByRole('region', { name: 'Certificate' });
    await within(panel).findByText('(suggested by the CA (ARI))');
    expect(within(panel).getByText('Renewal planned')).toBeTruthy();
    expect(within(panel).getByText(/^now \(the CA asks for it/)).toBeTruthy();
    expect(within(panel).getByRole('link', { name: 'The CA explains why' }).getAttribute('href')).toBe('https://ca.example/incident');
  });

  it('rates the time left', () => {
    expect(daysLeft(86400 * 10, 0)).toBe(10);
    expect(expiryTone(30)).toBe('ok');
    expect(expiryTone(14)).toBe('warn');
    expect(expiryTone(-1)).toBe('bad');
  });
});


describe('publishing', () => {
  const v = (id: string) => ({ version_id: id }) as never;
  it('polls a served domain until its newest version is live and its id in DNS', async () => {
    const { publishing } = await import('../pages/Domain');
    expect(publishing('active', { live: null, pending: v('v1'), dns_version_id: null })).toBe(true);
    expect(publishing('active', { live: v('v1'), pending: null, dns_version_id: null })).toBe(true);
    expect(publishing('degraded', { live: v('v1'), pending: v('v2'), dns_version_id: 'v1' })).toBe(true);
    expect(publishing('active', { live: v('v2'), pending: null, dns_version_id: 'v2' })).toBe(false);
    // Not served yet: nothing will be published until the domain is active.
    expect(publishing('pending', { live: null, pending: v('v1'), dns_version_id: null })).toBe(false);
    expect(publishing('verified', { live: null, pending: v('v1'), dns_version_id: null })).toBe(false);
    expect(publishing('active', undefined)).toBe(false);
  });
});

const DAY = 86_400;
const plan = (over: Record<string, unknown> = {}) => {
  const now = Math.floor(Date.now() / 1000);
  const moveAt = now + 30 * DAY;
  return {
    state: 'active',
    old_mx: ['mx1.example.com'],
    new_mx: ['*.newmail.example'],
    move_at: moveAt,
    original_max_age: 604_800,
    short_max_age: 86_400,
    steps: [
      { step: 'cover', due_at: now, done: true, version_id: 'v2', mx: ['mx1.example.com', '*.newmail.example'], max_age: 604_800 },
      { step: 'shorten', due_at: moveAt - 7 * DAY, done: false, mx: ['mx1.example.com', '*.newmail.example'], max_age: 86_400 },
      { step: 'move', due_at: moveAt, done: false, mx: [] },
      { step: 'finish', due_at: moveAt + DAY, done: false, mx: ['*.newmail.example'], max_age: 604_800 },
    ],
    created_by: 'user:u-self',
    created_at: now,
    ...over,
  };
};

describe('moving to a new mail provider', () => {
  it('plans a move: checks the hosts and the date, sends them, then shows each step with its date', async () => {
    const user = userEvent.setup();
    let planned = false;
    const requests = render('editor', (r) => {
      if (!r.url.endsWith('/mx-move')) return undefined;
      if (r.method === 'POST') {
        planned = true;
        return json(201, { plan: plan() });
      }
      return json(200, { plan: planned ? plan() : null });
    });
    const panel = await screen.findByRole('region', { name: 'Moving to a new mail provider' });
    await user.click(within(panel).getByRole('button', { name: 'Plan a move to new MX hosts' }));
    const hosts = within(panel).getByLabelText('New MX hosts');
    await user.type(hosts, 'mx1.new_mail.example');
    await user.click(within(panel).getByRole('button', { name: 'Plan the move' }));
    expect(within(panel).getByText(/^mx1\.new_mail\.example: Only letters, digits/)).toBeTruthy();
    expect(requests.some((r) => r.method === 'POST')).toBe(false);
    await user.clear(hosts);
    await user.type(hosts, '*.NewMail.example');
    const when = within(panel).getByLabelText('MX records switch on');
    await user.clear(when);
    await user.type(when, '2020-01-01T10:00');
    await user.click(within(panel).getByRole('button', { name: 'Plan the move' }));
    expect(within(panel).getByText('The switch must be at least an hour from now.')).toBeTruthy();
    await user.clear(when);
    const later = new Date((Math.floor(Date.now() / 1000) + 30 * DAY) * 1000);
    const pad = (n: number) => String(n).padStart(2, '0');
    const value = `${later.getFullYear()}-${pad(later.getMonth() + 1)}-${pad(later.getDate())}T09:30`;
    await user.type(when, value);
    await user.click(within(panel).getByRole('button', { name: 'Plan the move' }));
    await within(panel).findByText('Cover old and new hosts');
    const post = requests.find((r) => r.method === 'POST');
    expect(post?.body).toEqual({ new_mx: ['*.newmail.example'], move_at: Math.floor(new Date(value).getTime() / 1000) });
    const steps = within(panel).getAllByRole('listitem');
    expect(steps.map((li) => li.querySelector('strong')?.textContent)).toEqual([
      'Cover old and new hosts',
      'Shorten max_age',
      'Switch the MX records',
      'Drop the old hosts',
    ]);
    expect(within(steps[1] as HTMLElement).getByText(/max_age 1 day/)).toBeTruthy();
    expect(within(steps[3] as HTMLElement).getByText('Policy lists *.newmail.example only; max_age back to 7 days.')).toBeTruthy();
    expect(within(panel).getByRole('button', { name: 'Cancel the plan' })).toBeTruthy();
  });

  it('says when the last step waits for the MX records and when the move is too soon; viewers cannot cancel', async () => {
    const now = Math.floor(Date.now() / 1000);
    render('viewer', (r) =>
      r.url.endsWith('/mx-move') ? json(200, { plan: plan({ waiting: 'the MX records still name mx1.example.com', early_until: now + 3 * DAY }) }) : undefined,
    );
    const panel = await screen.findByRole('region', { name: 'Moving to a new mail provider' });
    await within(panel).findByText(/Dropping the old hosts waits/);
    expect(within(panel).getByText(/The move is sooner than senders' caches expire/)).toBeTruthy();
    expect(within(panel).getByText('Waiting')).toBeTruthy();
    expect(within(panel).queryByRole('button', { name: 'Cancel the plan' })).toBeNull();
    expect(within(panel).queryByRole('button', { name: 'Plan a move to new MX hosts' })).toBeNull();
  });
});

describe('silent reporters', () => {
  it('names each usual reporter that went quiet, with its last report, and what to check', async () => {
    render('viewer', (r) =>
      r.url.endsWith(`/domains/${NAME}`) && r.method === 'GET'
        ? json(200, { ...domain(), silent_reporters: [{ organization: 'Google Inc.', last_received: 1_760_000_000 }] })
        : undefined,
    );
    const banner = await screen.findByRole('region', { name: 'A usual reporter stopped sending TLS reports' });
    expect(within(banner).getByText(/^Google Inc\.: last report /)).toBeTruthy();
    expect(within(banner).getByText(/_smtp\._tls record still points to stsd/)).toBeTruthy();
  });
});

describe('version history', () => {
  it('shows each version\'s policy and change, and restores an older one after a confirmation', async () => {
    const user = userEvent.setup();
    const older = version({ version_id: 'v1', id: '20260101T000000', mx: ['mx1.example.com', 'mx9.old.example'], max_age: 86_400 });
    const newer = version({ version_id: 'v2', id: '20260102T000000', mode: 'enforce', mx: ['mx1.example.com'], max_age: 604_800 });
    const requests = render('editor', (r) => {
      if (r.url.endsWith('/policy/versions')) return json(200, { items: [newer, older] });
      if (r.url.endsWith('/policy') && r.method === 'PUT')
        return json(201, { changed: true, version: version({ version_id: 'v3', id: '20260103T000000', mx: older.mx }), checks: [] });
      return undefined;
    });
    const history = await screen.findByRole('region', { name: 'Version history' });
    const rows = await within(history).findAllByRole('row');
    const newest = rows[1] as HTMLElement;
    expect(within(newest).getByText('mode Testing → Enforce')).toBeTruthy();
    expect(within(newest).getByText('− mx9.old.example')).toBeTruthy();
    expect(within(newest).getByText('max_age 1 day → 7 days')).toBeTruthy();
    expect(within(newest).queryByRole('button', { name: 'Restore…' })).toBeNull();
    const oldest = rows[2] as HTMLElement;
    await user.click(within(oldest).getByRole('button', { name: 'Restore…' }));
    await user.click(within(oldest).getByRole('button', { name: 'Restore as a new version' }));
    await within(history).findByText('The policy of version v1 is now version v3.');
    const put = requests.find((r) => r.method === 'PUT');
    expect(put?.body).toEqual({ mode: 'testing', mx: ['mx1.example.com', 'mx9.old.example'], max_age: 86_400 });
  });
});
