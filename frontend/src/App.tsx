import { lazy, Suspense, useEffect, type ReactNode } from 'react';
import { BrowserRouter, Link, Navigate, Route, Routes, useLocation } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useAuth } from './auth';
import { useMe } from './hooks';
import { Layout, PageTitle } from './components/Layout';
import { Empty, ErrorState, Loading } from './components/common';
import { LoginPage, returnTarget, SignupPage } from './pages/Auth';
import { DomainsPage } from './pages/Domains';

// The domains list is where everyone lands: it comes with the app. Every other page is
// loaded on its first visit, so that the first screen parses only what it shows.
const AddDomainPage = lazy(() => import('./pages/AddDomain').then((m) => ({ default: m.AddDomainPage })));
const DomainPage = lazy(() => import('./pages/Domain').then((m) => ({ default: m.DomainPage })));
const MembersPage = lazy(() => import('./pages/Members').then((m) => ({ default: m.MembersPage })));
const TokensPage = lazy(() => import('./pages/Tokens').then((m) => ({ default: m.TokensPage })));
const AuditPage = lazy(() => import('./pages/Audit').then((m) => ({ default: m.AuditPage })));

// The report pages carry the chart library: loaded on first visit, not with the app.
const reports = () => import('./reports');
const DomainReportsPage = lazy(() => reports().then((m) => ({ default: m.DomainReportsPage })));
const ReportDetailPage = lazy(() => reports().then((m) => ({ default: m.ReportDetailPage })));
const TenantReportsPage = lazy(() => reports().then((m) => ({ default: m.TenantReportsPage })));
// Alerts are an admin page, visited rarely: loaded on first visit too.
const AlertsPage = lazy(() => import('./pages/Alerts').then((m) => ({ default: m.AlertsPage })));
// Opened once per invited person, from the link they were sent: loaded on first visit too.
const InvitePage = lazy(() => import('./pages/Invite').then((m) => ({ default: m.InvitePage })));

function Lazy({ children }: { children: ReactNode }) {
  return <Suspense fallback={<Loading />}>{children}</Suspense>;
}

export function RequireAuth({ children }: { children: ReactNode }) {
  const { status, loggedOut } = useAuth();
  const location = useLocation();
  if (status === 'out') {
    // A lost session comes back here after login; a logout starts afresh.
    const from = loggedOut ? undefined : { from: location.pathname + location.search + location.hash };
    return <Navigate to="/login" replace state={from} />;
  }
  return <>{children}</>;
}

export function PublicOnly({ children }: { children: ReactNode }) {
  const { status } = useAuth();
  const location = useLocation();
  // Logged in (or just now): on to where the visitor was going, e.g. back to an invitation.
  if (status === 'in') return <Navigate to={returnTarget(location.state)} replace />;
  return <>{children}</>;
}

/** `/`: the first tenant's domains. */
function Home() {
  const { t } = useTranslation();
  const me = useMe();
  if (me.isPending) return <Loading />;
  if (me.isError) return <ErrorState error={me.error} onRetry={() => void me.refetch()} />;
  const first = me.data.memberships[0];
  if (!first) {
    return (
      <>
        <PageTitle title={t('home.noTenantTitle')}>{t('home.noTenantTitle')}</PageTitle>
        <Empty title={t('home.noTenant')} />
      </>
    );
  }
  return <Navigate to={`/t/${encodeURIComponent(first.tenant.id)}/domains`} replace />;
}

function NotFound() {
  const { t } = useTranslation();
  return (
    <>
      <PageTitle title={t('notFound.title')}>{t('notFound.title')}</PageTitle>
      <p>
        <Link to="/">{t('notFound.home')}</Link>
      </p>
    </>
  );
}

export function App() {
  const { status, resume } = useAuth();
  useEffect(() => {
    if (status === 'unknown') void resume();
  }, [status, resume]);
  if (status === 'unknown') {
    return (
      <main id="main" className="auth">
        <Loading />
      </main>
    );
  }
  return (
    <BrowserRouter>
      <Routes>
        <Route path="/login" element={<PublicOnly><LoginPage /></PublicOnly>} />
        <Route path="/signup" element={<PublicOnly><SignupPage /></PublicOnly>} />
        {/* Public: logged in it accepts, logged out it signs up (the token is in the hash). */}
        <Route
          path="/invite"
          element={
            <Suspense fallback={<main id="main" className="auth"><Loading /></main>}>
              <InvitePage />
            </Suspense>
          }
        />
        <Route element={<RequireAuth><Layout /></RequireAuth>}>
          <Route index element={<Home />} />
          <Route path="t/:tenant/domains" element={<DomainsPage />} />
          <Route path="t/:tenant/domains/new" element={<Lazy><AddDomainPage /></Lazy>} />
          <Route path="t/:tenant/domains/:name" element={<Lazy><DomainPage /></Lazy>} />
          <Route path="t/:tenant/domains/:name/reports" element={<Lazy><DomainReportsPage /></Lazy>} />
          <Route path="t/:tenant/domains/:name/reports/:id" element={<Lazy><ReportDetailPage /></Lazy>} />
          <Route path="t/:tenant/reports" element={<Lazy><TenantReportsPage /></Lazy>} />
          <Route path="t/:tenant/members" element={<Lazy><MembersPage /></Lazy>} />
          <Route path="t/:tenant/tokens" element={<Lazy><TokensPage /></Lazy>} />
          <Route path="t/:tenant/alerts" element={<Lazy><AlertsPage /></Lazy>} />
          <Route path="t/:tenant/audit" element={<Lazy><AuditPage /></Lazy>} />
          <Route path="*" element={<NotFound />} />
        </Route>
      </Routes>
    </BrowserRouter>
  );
}
