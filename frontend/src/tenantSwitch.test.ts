import { describe, expect, it } from 'vitest';
import { SECTIONS, switchTenantPath } from './tenantSwitch';

describe('switchTenantPath', () => {
  it('keeps each section of the main navigation', () => {
    for (const section of SECTIONS) {
      expect(switchTenantPath(`/t/old/${section}`, 'new')).toBe(`/t/new/${section}`);
      expect(switchTenantPath(`/t/old/${section}/`, 'new')).toBe(`/t/new/${section}`);
    }
  });

  it("turns a page of one of the old tenant's domains into the section's list", () => {
    expect(switchTenantPath('/t/old/domains/example.com', 'new')).toBe('/t/new/domains');
    expect(switchTenantPath('/t/old/domains/example.com/reports', 'new')).toBe('/t/new/reports');
    expect(switchTenantPath('/t/old/domains/example.com/reports/r-123', 'new')).toBe('/t/new/reports');
  });

  it('keeps the add-domain page', () => {
    expect(switchTenantPath('/t/old/domains/new', 'new')).toBe('/t/new/domains/new');
  });

  it('sends anything else to the domains, with the tenant id encoded', () => {
    expect(switchTenantPath('/', 'a b')).toBe('/t/a%20b/domains');
    expect(switchTenantPath('/t/old/nope', 'x')).toBe('/t/x/domains');
    expect(switchTenantPath('/t/old', 'x')).toBe('/t/x/domains');
    expect(switchTenantPath('/login', 'x')).toBe('/t/x/domains');
  });
});
