import { useEffect, useRef, useState } from 'react';
import { Link, useParams } from 'react-router';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { tenantPath, type DomainDetail, type PolicyState, type PolicyVersionList, type PolicyVersionView } from '../api/types';
import { formatDate, formatDuration, formatTime } from '../format';
import { ErrorState, Loading, ModeBadge, StateBadge } from '../components/common';
import { PageTitle } from '../components/Layout';
import { ChecksPanel, RecordsPanel } from '../components/Setup';
import { ExistingSetupPanel } from '../components/ExistingSetup';
import { ReadOnlyNotice } from '../components/ReadOnly';
import { DomainTabs } from '../components/DomainTabs';
import { useMemberEmails, useTenantRole } from '../hooks';
import { canWrite } from '../roles';
import { PolicyEditor } from '../domain/PolicyEditor';
import { ModePanel, RemovalNotice, type LeavingDomain } from '../domain/ModePanel';
import { CertificatePanel } from '../domain/CertificatePanel';
import { MxDriftBanner } from '../domain/MxDrift';
import { MxMovePanel } from '../domain/MxMove';
import { SilentReportersBanner } from '../domain/SilentReporters';
import { VersionHistory } from '../domain/History';


function PolicyCard({ title, version, dnsVersionId }: { title: string; version: PolicyVersionView; dnsVersionId: string | null }) {
  const { t, i18n } = useTranslation();
  return (
    <section className="card" aria-label={title}>
      <div className="card-head">
        <h3>{title}</h3>
        <ModeBadge mode={version.mode} />
      </div>
      <dl className="facts">
        <dt>{t('policy.id')}</dt>
        <dd><code>{version.id}</code></dd>
        <dt>{t('policy.versionId')}</dt>
        <dd><code>{version.version_id}</code></dd>
        <dt>{t('policy.mx')}</dt>
        <dd>{version.mx.length ? version.mx.map((m) => <code key={m} className="chip">{m}</code>) : <span className="muted">{t('policy.noMx')}</span>}</dd>
        <dt>{t('policy.maxAge')}</dt>
        <dd>{formatDuration(version.max_age, i18n.language)}</dd>
        <dt>{t('policy.edges')}</dt>
        <dd>{version.published_at ? formatTime(version.published_at, i18n.language) : t('policy.notYet')}</dd>
        <dt>{t('policy.dns')}</dt>
        <dd>
          {version.dns_at ? formatTime(version.dns_at, i18n.language) : t('policy.notYet')}
          {dnsVersionId === version.version_id && <span className="badge badge-ok">{t('policy.inDns')}</span>}
        </dd>
      </dl>
      <details>
        <summary>{t('policy.file')}</summary>
        <pre tabIndex={0}>{version.body}</pre>
      </details>
    </section>
  );
}

/**
 * Whether a served domain's newest policy is on its way out: a version not live on the edges
 * yet, or the live one's id not yet in DNS. The publisher finishes within seconds; the page
 * polls until it has, so "not yet" turns into the times without a reload.
 */
export function publishing(state: string | undefined, p: PolicyState | undefined): boolean {
  if (!p || !(state === 'active' || state === 'degraded' || state === 'offboarding')) return false;
  return p.pending !== null || (p.live !== null && p.dns_version_id !== p.live.version_id);
}

export function DomainPage() {
  const { t, i18n } = useTranslation();
  const { tenant = '', name = '' } = useParams();
  const { client } = useAuth();
  const role = useTenantRole(tenant);
  const emails = useMemberEmails(tenant);
  const domain = useQuery({
    queryKey: ['domain', tenant, name],
    queryFn: ({ signal }) => client.get<DomainDetail>(tenantPath(tenant, 'domains', name), signal),
  });
  const policy = useQuery({
    queryKey: ['policy', tenant, name],
    queryFn: ({ signal }) => client.get<PolicyState>(tenantPath(tenant, 'domains', name, 'policy'), signal),
    refetchInterval: (q) => (publishing(domain.data?.state, q.state.data) ? 2_000 : false),
  });
  // The history shows the same times: it follows when a poll finds the policy moved on.
  const qc = useQueryClient();
  const moved = `${policy.data?.live?.version_id ?? ''}/${policy.data?.dns_version_id ?? ''}/${policy.data?.pending?.version_id ?? ''}`;
  const seen = useRef<string | null>(null);
  useEffect(() => {
    if (!policy.data) return;
    const before = seen.current;
    seen.current = moved;
    if (before !== null && before !== moved) void qc.invalidateQueries({ queryKey: ['versions', tenant, name] });
  }, [moved, policy.data, qc, tenant, name]);
  const [removal, setRemoval] = useState<{ leaving: LeavingDomain; status: 'removed' | 'offboarding' } | null>(null);
  const versions = useQuery({
    queryKey: ['versions', tenant, name],
    queryFn: ({ signal }) => client.get<PolicyVersionList>(tenantPath(tenant, 'domains', name, 'policy', 'versions'), signal),
  });

  const back = (
    <p className="crumbs">
      <Link to={`/t/${encodeURIComponent(tenant)}/domains`}>← {t('domains.title')}</Link>
    </p>
  );
  if (removal?.status === 'removed') {
    return (
      <>
        {back}
        <PageTitle title={removal.leaving.display_name}>{removal.leaving.display_name}</PageTitle>
        <RemovalNotice leaving={removal.leaving} status="removed" />
        <p>
          <Link to={`/t/${encodeURIComponent(tenant)}/domains`}>{t('enforce.backToDomains')}</Link>
        </p>
      </>
    );
  }
  if (domain.isPending) return <>{back}<Loading /></>;
  if (domain.isError) return <>{back}<ErrorState error={domain.error} onRetry={() => void domain.refetch()} /></>;
  const d = domain.data;
  const settingUp = d.state !== 'active';
  return (
    <>
      {back}
      <div className="page-head">
        <PageTitle title={d.display_name}>{d.display_name}</PageTitle>
        <div className="badges">
          <StateBadge state={d.state} />
          <ModeBadge mode={d.mode} />
        </div>
      </div>
      <DomainTabs tenant={tenant} name={d.name} />
      <p className="muted">
        {t(`stateHelp.${d.state}`, { defaultValue: '' })} {t('domain.since', { when: formatTime(d.state_changed_at, i18n.language) })}
      </p>

      {role !== undefined && !canWrite(role) && <ReadOnlyNotice role={role} />}
      <MxDriftBanner tenant={tenant} name={d.name} newest={d.policy} checks={d.checks} role={role} />
      <SilentReportersBanner reporters={d.silent_reporters ?? []} />
      {removal ? (
        <RemovalNotice leaving={removal.leaving} status={removal.status} />
      ) : (
        d.state === 'offboarding' &&
        d.serve_until && <p className="notice notice-warn">{t('enforce.offboardingNotice', { date: formatDate(d.serve_until, i18n.language) })}</p>
      )}

      {/* A domain being set up leads with what the customer must do: the three records and
          their live checks; the policy and the rest follow. */}
      {settingUp && d.state !== 'offboarding' && (
        <>
          <RecordsPanel records={d.records} zoneFile={d.zone_file} note={d.note} extraRua={d.extra_rua} />
          <ChecksPanel tenant={tenant} name={d.name} />
          {d.state === 'pending' && <ExistingSetupPanel tenant={tenant} name={d.name} />}
        </>
      )}

      <h2>{t('policy.title')}</h2>
      {policy.isPending && <Loading />}
      {policy.isError && <ErrorState error={policy.error} onRetry={() => void policy.refetch()} />}
      {policy.data && !policy.data.live && !policy.data.pending && (
        <section className="card">
          <p className="muted">{t('policy.noneYet')}</p>
        </section>
      )}
      {policy.data && (policy.data.live || policy.data.pending) && (
        <div className="grid-2">
          {policy.data.live ? (
            <PolicyCard title={t('policy.live')} version={policy.data.live} dnsVersionId={policy.data.dns_version_id} />
          ) : (
            <section className="card">
              <h3>{t('policy.live')}</h3>
              <p className="muted">{t('policy.noLive')}</p>
            </section>
          )}
          {policy.data.pending ? (
            <PolicyCard title={t('policy.pending')} version={policy.data.pending} dnsVersionId={policy.data.dns_version_id} />
          ) : (
            <section className="card">
              <h3>{t('policy.pending')}</h3>
              <p className="muted">{t('policy.noPending')}</p>
            </section>
          )}
        </div>
      )}

      {d.state !== 'offboarding' && (
        <ModePanel
          tenant={tenant}
          name={d.name}
          displayName={d.display_name}
          newest={d.policy}
          role={role}
          onRemoved={(leaving, status) => setRemoval({ leaving, status })}
        />
      )}
      {canWrite(role) && d.state !== 'offboarding' && <PolicyEditor tenant={tenant} name={d.name} names={[d.name, d.display_name]} newest={d.policy} role={role} />}

      {d.state !== 'offboarding' && (d.policy || canWrite(role)) && (
        <MxMovePanel tenant={tenant} name={d.name} names={[d.name, d.display_name]} newest={d.policy} role={role} />
      )}

      <CertificatePanel tenant={tenant} name={d.name} />

      {(!settingUp || d.state === 'offboarding') && (
        <>
          <RecordsPanel records={d.records} zoneFile={d.zone_file} note={d.note} extraRua={d.extra_rua} />
          <ChecksPanel tenant={tenant} name={d.name} />
        </>
      )}

      <section className="card" aria-labelledby="history-h">
        <h2 id="history-h">{t('history.title')}</h2>
        {versions.isPending && <Loading />}
        {versions.isError && <ErrorState error={versions.error} onRetry={() => void versions.refetch()} />}
        {versions.data && versions.data.items.length === 0 && <p className="muted">{t('history.empty')}</p>}
        {versions.data && versions.data.items.length > 0 && (
          <VersionHistory tenant={tenant} name={d.name} items={versions.data.items} emails={emails} role={role} />
        )}
      </section>
    </>
  );
}
