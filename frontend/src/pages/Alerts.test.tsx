import { describe, expect, it } from 'vitest';
import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { json, renderPage } from '../test-utils';
import { AlertsPage } from './Alerts';
import { deliveryTone, urlProblem, webhookBody, webhookFormErrors } from './alertsLogic';

describe('webhook form rules', () => {
  it('wants a public https URL without credentials', () => {
    expect(urlProblem(' ')).toBe('required');
    expect(urlProblem('hooks.example.com')).toBe('notUrl');
    expect(urlProblem('http://hooks.example.com/x')).toBe('https');
    expect(urlProblem('https://u:p@hooks.example.com/x')).toBe('credentials');
    expect(urlProblem('https://localhost/x')).toBe('private');
    expect(urlProblem('https://10.1.2.3/x')).toBe('private');
    expect(urlProblem('https://192.168.0.1/x')).toBe('private');
    expect(urlProblem('https://[::1]/x')).toBe('private');
    expect(urlProblem('https://hooks.example.com/x?a=1')).toBeNull();
    expect(urlProblem('https://203.0.113.9/x')).toBeNull();
  });

  it('needs an event unless all are chosen, and sends * for all', () => {
    expect(webhookFormErrors({ url: 'https://h.example.com', all: false, events: [] })).toEqual({ events: 'none' });
    expect(webhookBody({ url: ' https://h.example.com/x ', all: true, events: ['certificate.failed'] })).toEqual({ url: 'https://h.example.com/x', events: ['*'] });
    expect(webhookBody({ url: 'https://h.example.com', all: false, events: ['certificate.failed', 'domain.state_changed'] }).events).toEqual([
      'domain.state_changed',
      'certificate.failed',
    ]);
  });

  it('colours delivery states', () => {
    expect(deliveryTone('delivered')).toBe('ok');
    expect(deliveryTone('pending')).toBe('warn');
    expect(deliveryTone('failed')).toBe('bad');
  });
});

const hook = { id: 'w1', url: 'https://hooks.example.com/x', events: ['*'], created_at: 1_760_000_000 };

describe('alerts page', () => {
  it('creates a webhook and shows its secret once', async () => {
    const user = userEvent.setup();
    let hooks: (typeof hook)[] = [];
    const requests = renderPage(<AlertsPage />, {
      path: '/t/ten1/alerts',
      pattern: '/t/:tenant/alerts',
      role: 'admin',
      answer: (r) => {
        if (r.url.endsWith('/webhooks') && r.method === 'POST') {
          hooks = [hook];
          return json(201, { webhook: hook, secret: 'whsec_abcdef0123456789' });
        }
        if (r.url.endsWith('/webhooks')) return json(200, { items: hooks });
        return json(404, { error: { code: 'not_found', message: 'no', details: [] } });
      },
    });
    await screen.findByText('No webhooks yet');
    const url = screen.getByLabelText('URL');
    await user.type(url, 'http://hooks.example.com/x');
    await user.click(screen.getByRole('button', { name: 'Add webhook' }));
    expect(screen.getByText('Use an https:// URL.')).toBeTruthy();
    await user.click(screen.getByRole('checkbox', { name: /All events/ }));
    await user.click(screen.getByRole('button', { name: 'Add webhook' }));
    expect(screen.getByText('Choose at least one event.')).toBeTruthy();
    await user.click(screen.getByRole('checkbox', { name: /Certificate failed/ }));
    await user.clear(url);
    await user.type(url, 'https://hooks.example.com/x');
    await user.click(screen.getByRole('button', { name: 'Add webhook' }));
    await screen.findByRole('heading', { name: 'Webhook added' });
    expect((screen.getByLabelText('Signing secret') as HTMLInputElement).value).toBe('whsec_abcdef0123456789');
    expect(screen.getByText(/only time the signing secret is shown/)).toBeTruthy();
    expect(requests.find((r) => r.method === 'POST')?.body).toEqual({ url: 'https://hooks.example.com/x', events: ['certificate.failed'] });
    await user.click(screen.getByRole('button', { name: 'I have stored it' }));
    expect(screen.queryByDisplayValue('whsec_abcdef0123456789')).toBeNull();
    await screen.findByRole('listitem', { name: hook.url });
  });

  it('sends a test, shows deliveries with their status, deletes after confirmation', async () => {
    const user = userEvent.setup();
    let pinged = false;
    let deleted = false;
    const requests = renderPage(<AlertsPage />, {
      path: '/t/ten1/alerts',
      pattern: '/t/:tenant/alerts',
      role: 'owner',
      answer: (r) => {
        if (r.url.endsWith('/ping')) {
          pinged = true;
          return new Response(null, { status: 202 });
        }
        if (r.url.endsWith('/deliveries'))
          return json(200, {
            items: pinged
              ? [{ id: 'd1', event: 'ping', status: 'failed', attempts: 3, last_status: 502, last_error: 'bad gateway', body: '{}', created_at: 1_760_000_100 }]
              : [],
          });
        if (r.method === 'DELETE') {
          deleted = true;
          return new Response(null, { status: 204 });
        }
        if (r.url.endsWith('/webhooks')) return json(200, { items: deleted ? [] : [hook] });
        return json(404, { error: { code: 'not_found', message: 'no', details: [] } });
      },
    });
    const card = await screen.findByRole('listitem', { name: hook.url });
    await user.click(within(card).getByRole('button', { name: 'Show deliveries' }));
    await within(card).findByText('No deliveries yet. Send a test to try the receiver.');
    await user.click(within(card).getByRole('button', { name: 'Send test' }));
    await screen.findByText(`Test queued for ${hook.url}: it appears in the deliveries.`);
    const row = await within(card).findByRole('row', { name: /Test/ });
    expect(row.textContent).toContain('failed');
    expect(row.textContent).toContain('HTTP 502');
    expect(row.textContent).toContain('bad gateway');

    await user.click(within(card).getByRole('button', { name: 'Delete' }));
    expect(screen.getByText(/Alerts stop at once and its delivery history is deleted/)).toBeTruthy();
    await user.click(screen.getByRole('button', { name: 'Delete webhook' }));
    await screen.findByText(`The webhook to ${hook.url} was deleted.`);
    await screen.findByText('No webhooks yet');
    expect(requests.some((r) => r.method === 'DELETE' && r.url.endsWith('/webhooks/w1'))).toBe(true);
  });

  it('tells editors and viewers that only owners and admins manage alerts', async () => {
    const requests = renderPage(<AlertsPage />, { path: '/t/ten1/alerts', pattern: '/t/:tenant/alerts', role: 'editor', answer: () => json(200, {}) });
    await screen.findByText('Only owners and admins manage alerts');
    expect(screen.queryByLabelText('URL')).toBeNull();
    expect(requests.some((r) => r.url.includes('/webhooks'))).toBe(false);
  });
});
