import { useEffect, useRef, type ReactNode } from 'react';
import { Link, NavLink, Outlet, useLocation, useNavigate, useParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { useMe } from '../hooks';
import { LanguageSelect } from './LanguageSelect';
import { SECTIONS, switchTenantPath } from '../tenantSwitch';

/** A page's heading: sets the document title and takes focus after navigation. */
export function PageTitle({ children, title }: { children: ReactNode; title: string }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · stsd`;
    ref.current?.focus();
  }, [title]);
  return (
    <h1 ref={ref} tabIndex={-1} className="page-title">
      {children}
    </h1>
  );
}

function TenantSwitcher() {
  const { t } = useTranslation();
  const { tenant } = useParams();
  const me = useMe();
  const navigate = useNavigate();
  const { pathname } = useLocation();
  const memberships = me.data?.memberships ?? [];
  if (memberships.length === 0) return null;
  return (
    <label className="tenant-switcher">
      <span className="label-text">{t('nav.tenant')}</span>
      <select value={tenant ?? ''} onChange={(e) => navigate(switchTenantPath(pathname, e.target.value))}>
        {!tenant && <option value="">{t('nav.chooseTenant')}</option>}
        {memberships.map((m) => (
          <option key={m.tenant.id} value={m.tenant.id}>
            {m.tenant.name} ({t(`roles.${m.role}`, { defaultValue: m.role })})
          </option>
        ))}
      </select>
    </label>
  );
}

export function Layout() {
  const { t } = useTranslation();
  const { logout } = useAuth();
  const { tenant } = useParams();
  const me = useMe();
  const navigate = useNavigate();
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        {t('nav.skip')}
      </a>
      <header className="topbar">
        <Link to="/" className="brand" aria-label={t('nav.home')}>
          <img src="/favicon.svg" alt="" width="24" height="24" />
          <span>stsd</span>
        </Link>
        {tenant && (
          <nav aria-label={t('nav.main')} className="mainnav">
            {SECTIONS.map((section) => (
              <NavLink key={section} to={`/t/${encodeURIComponent(tenant)}/${section}`}>
                {t(`nav.${section}`)}
              </NavLink>
            ))}
          </nav>
        )}
        <div className="topbar-right">
          <TenantSwitcher />
          <LanguageSelect />
          {me.data && <span className="user muted small">{me.data.user.email}</span>}
          <button
            type="button"
            className="btn"
            onClick={async () => {
              await logout().catch(() => undefined);
              navigate('/login', { replace: true });
            }}
          >
            {t('nav.logout')}
          </button>
        </div>
      </header>
      <main id="main" className="content">
        <Outlet />
      </main>
    </div>
  );
}
