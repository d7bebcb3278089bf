import { describe, expect, it } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import { MxCoverageView } from './MxCoverage';

describe('MX coverage view', () => {
  it('marks each host covered or not, and lists patterns matching nothing', () => {
    render(<MxCoverageView patterns={['mx1.example.com', '*.mail.example.com', 'gone.example.com']} hosts={['mx1.example.com', 'in.mail.example.com', 'backup.example.net']} />);
    const row = (host: string) => screen.getByRole('row', { name: new RegExp(host.replace(/\./g, '\\.')) });
    expect(within(row('in.mail.example.com')).getByText('covered')).toBeTruthy();
    expect(within(row('in.mail.example.com')).getByText('*.mail.example.com')).toBeTruthy();
    expect(within(row('backup.example.net')).getByText('not covered')).toBeTruthy();
    expect(within(row('backup.example.net')).getByText('no pattern')).toBeTruthy();
    expect(screen.getByText(/1 MX host matches no pattern: backup\.example\.net/)).toBeTruthy();
    expect(screen.getByText(/This pattern matches no current MX host/)).toBeTruthy();
    expect(screen.getByText('gone.example.com')).toBeTruthy();
  });

  it('says when every host is covered', () => {
    render(<MxCoverageView patterns={['*.example.com']} hosts={['mx1.example.com', 'mx2.example.com']} />);
    expect(screen.getByText('All 2 MX hosts are covered by the policy.')).toBeTruthy();
    expect(screen.queryByText(/matches no current MX host/)).toBeNull();
  });
});
