/** The sections of a tenant, as in the main navigation. */
export const SECTIONS = ['domains', 'reports', 'members', 'tokens', 'alerts', 'audit'] as const;
export type Section = (typeof SECTIONS)[number];

/**
 * Where the tenant switcher goes when `tenant` is chosen while at `pathname`: the same section
 * of the new tenant. A page of one of the old tenant's domains (or reports) has no counterpart
 * there, so it becomes that section's list: a domain page → the domains, a domain's reports or
 * one report → the reports. The add-domain page is kept. Anything else goes to the domains.
 */
export function switchTenantPath(pathname: string, tenant: string): string {
  const base = `/t/${encodeURIComponent(tenant)}`;
  const parts = pathname.split('/').filter(Boolean);
  if (parts[0] !== 't' || parts.length < 3) return `${base}/domains`;
  const section = parts[2] as Section;
  if (!SECTIONS.includes(section)) return `${base}/domains`;
  const rest = parts.slice(3);
  if (section === 'domains') {
    if (rest.length === 0 || (rest.length === 1 && rest[0] === 'new')) return `${base}/domains${rest.length ? '/new' : ''}`;
    // /domains/<name>/reports[/<id>]: the reports of a domain of the old tenant.
    if (rest[1] === 'reports') return `${base}/reports`;
    return `${base}/domains`;
  }
  return `${base}/${section}`;
}
