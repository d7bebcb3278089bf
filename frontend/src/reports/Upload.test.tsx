import { describe, expect, it } from 'vitest';
import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { json, renderPage } from '../test-utils';
import { UploadForm } from './Upload';

const PATH = '/api/v1/tenants/ten1/domains/example.com/reports';

function render(answer: (body: unknown, type: string | undefined) => Response) {
  return renderPage(<UploadForm tenant="ten1" domain="example.com" />, {
    path: '/t/ten1/domains/example.com/reports',
    pattern: '/t/:tenant/domains/:name/reports',
    role: 'editor',
    answer: (r, init) => answer(r.body, (init?.headers as Record<string, string> | undefined)?.['Content-Type']),
  });
}

const stored = (over: Record<string, unknown> = {}) => ({
  id: 'r1',
  duplicate: false,
  organization: 'Google Inc.',
  report_id: '2026-03-01Z_example.com',
  policy_domain: 'example.com',
  media_type_flagged: false,
  domain_mismatch: false,
  ...over,
});

describe('report upload', () => {
  it('asks for a file before sending anything', async () => {
    const requests = render(() => json(201, stored()));
    await userEvent.click(screen.getByRole('button', { name: 'Upload' }));
    expect(screen.getByRole('alert').textContent).toBe('Choose one or more report files.');
    expect(screen.getByLabelText('Report files').getAttribute('aria-invalid')).toBe('true');
    expect(requests).toEqual([]);
  });

  it('sends each file with its media type and says what happened to it', async () => {
    const types: (string | undefined)[] = [];
    let n = 0;
    const requests = render((_body, type) => {
      types.push(type);
      n += 1;
      return n === 1 ? json(201, stored()) : json(200, stored({ duplicate: true, report_id: 'old-1' }));
    });
    const plain = new File(['{"organization-name":"Google Inc."}'], 'google.json', { type: 'application/json' });
    const gz = new File([new Uint8Array([0x1f, 0x8b, 8, 0])], 'old.json.gz');
    await userEvent.upload(screen.getByLabelText('Report files'), [plain, gz]);
    await userEvent.click(screen.getByRole('button', { name: 'Upload' }));

    expect(await screen.findByText(/imported: report 2026-03-01Z_example.com from Google Inc\./)).toBeTruthy();
    expect(await screen.findByText(/already stored \(report old-1 from Google Inc\.\); not counted again\./)).toBeTruthy();
    expect(requests.map((r) => [r.method, r.url])).toEqual([
      ['POST', PATH],
      ['POST', PATH],
    ]);
    expect(requests[0]?.body).toBe(plain);
    expect(types).toEqual(['application/tlsrpt+json', 'application/tlsrpt+gzip']);
  });

  it('shows the API’s error for a file it refuses, and flags a report for another domain', async () => {
    let n = 0;
    render(() => {
      n += 1;
      if (n === 1) {
        return json(422, { error: { code: 'invalid_report', message: 'missing field `policies`', details: [] } });
      }
      return json(201, stored({ domain_mismatch: true, policy_domain: 'other.example' }));
    });
    await userEvent.upload(screen.getByLabelText('Report files'), [new File(['{}'], 'bad.json'), new File(['{}'], 'other.json')]);
    await userEvent.click(screen.getByRole('button', { name: 'Upload' }));
    expect(await screen.findByText('not imported: missing field `policies`')).toBeTruthy();
    expect(await screen.findByText(/names the policy domain other\.example, not this domain/)).toBeTruthy();
    expect(screen.getByText('bad.json').closest('li')?.className).toContain('notice-bad');
  });

  it('does not send a file over 10 MiB', async () => {
    const requests = render(() => json(201, stored()));
    const big = new File([new Uint8Array(10 * 1024 * 1024 + 1)], 'huge.json');
    await userEvent.upload(screen.getByLabelText('Report files'), big);
    await userEvent.click(screen.getByRole('button', { name: 'Upload' }));
    expect(await screen.findByText('not imported: larger than 10 MiB; not sent.')).toBeTruthy();
    expect(requests).toEqual([]);
  });
});
