import { describe, expect, it } from 'vitest';
import { listQuery } from './Domains';
import { tenantPath } from '../api/types';

describe('domain list query', () => {
  it('sends only the filters in use', () => {
    expect(listQuery('', '', null)).toBe('limit=50');
    expect(listQuery('  exa ', 'active', 'b.example', 10)).toBe('q=exa&state=active&cursor=b.example&limit=10');
  });
  it('encodes path segments', () => {
    expect(tenantPath('t 1', 'domains', 'bücher.example')).toBe('/api/v1/tenants/t%201/domains/b%C3%BCcher.example');
  });
});
