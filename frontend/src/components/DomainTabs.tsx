import { NavLink } from 'react-router';
import { useTranslation } from 'react-i18next';

/** The sections of a domain: its overview (policy, records, checks) and its TLS reports. */
export function DomainTabs({ tenant, name }: { tenant: string; name: string }) {
  const { t } = useTranslation();
  const base = `/t/${encodeURIComponent(tenant)}/domains/${encodeURIComponent(name)}`;
  return (
    <nav className="tabs" aria-label={t('domainTabs.label')}>
      <NavLink to={base} end>
        {t('domainTabs.overview')}
      </NavLink>
      <NavLink to={`${base}/reports`}>{t('domainTabs.reports')}</NavLink>
    </nav>
  );
}
