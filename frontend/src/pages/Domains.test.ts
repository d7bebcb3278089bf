import { describe, expect, it } from 'vitest';
import { listQuery, successCell } from './Domains';
import { tenantPath } from '../api/types';

describe('domain list query', () => {
  it('sends only the filters in use', () => {
    expect(listQuery('', '', null)).toBe('limit=50');
    expect(listQuery('  exa ', 'active', 'b.example', 10)).toBe('q=exa&state=active&cursor=b.example&limit=10');
    expect(listQuery('', '', null, 50, 'enforce')).toBe('mode=enforce&limit=50');
  });
  it('encodes path segments', () => {
    expect(tenantPath('t 1', 'domains', 'bücher.example')).toBe('/api/v1/tenants/t%201/domains/b%C3%BCcher.example');
  });
});

describe('domain list report column', () => {
  const t = (key: string, opts?: Record<string, unknown>) => (opts ? `${key}:${JSON.stringify(opts)}` : key);
  it('says when there are no reports instead of a made-up rate', () => {
    expect(successCell(null, 0, 'en', t)).toBe('domains.noReports');
    expect(successCell(1, 0, 'en', t)).toBe('domains.noReports');
  });
  it('shows the rate with the number of reports behind it', () => {
    expect(successCell(40 / 42, 3, 'en', t)).toBe('95.2% · domains.reportCount:{"count":3}');
    expect(successCell(1, 1, 'de', t)).toBe('100\u00a0% · domains.reportCount:{"count":1}');
  });
});
