import { useId, useMemo } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import type { ReportItem, Signals } from '../api/types';
import { Empty, ErrorState, Loading } from '../components/common';
import { PageTitle } from '../components/Layout';
import { DomainTabs } from '../components/DomainTabs';
import { useTenantRole } from '../hooks';
import { canWrite } from '../roles';
import { RangePicker } from './RangePicker';
import { SummaryView } from './Summary';
import { UploadForm } from './Upload';
import { formatPeriod, formatUtc } from './format';
import { useReportList, useSummary, type Scope } from './queries';
import { daysSince, formatCount, formatRate, groupRows, rangeFromParams, rangeToParams, utcDay, type DayRange } from './shape';

const PAGE_SIZE = 20;
/** The API's window of "recent" failures (crates/api/src/reports.rs, RECENT_DAYS). */
const RECENT_DAYS = 14;

/** What the reports say beyond the numbers: a reporter gone quiet, recent failures. */
export function SignalBanners({ signals, now }: { signals: Signals; now: Date }) {
  const { t, i18n } = useTranslation();
  const lang = i18n.language;
  const failed = signals.recent_failed_sessions;
  const ok = signals.recent_successful_sessions;
  const last = signals.last_received_at ?? null;
  return (
    <div className="signals">
      {signals.silent && last && (
        <div className="notice notice-warn" role="status">
          <strong>{t('reports.signals.silentTitle', { count: daysSince(last, now) })}</strong>{' '}
          {t('reports.signals.silent', { when: formatUtc(last, lang) })}
        </div>
      )}
      {failed > 0 && (
        <div className="notice notice-bad" role="status">
          <strong>
            {t('reports.signals.failuresTitle', { count: failed, n: formatCount(failed, lang), days: RECENT_DAYS, rate: formatRate(ok / (ok + failed), lang) })}
          </strong>{' '}
          {t('reports.signals.failures')}
        </div>
      )}
      {failed === 0 && ok > 0 && (
        <div className="notice notice-ok" role="status">
          {t('reports.signals.clean', { days: RECENT_DAYS, n: formatCount(ok, lang) })}
        </div>
      )}
    </div>
  );
}

function ReportStatus({ r }: { r: ReportItem }) {
  const { t } = useTranslation();
  const notes: string[] = [];
  if (r.domain_mismatch) notes.push(t('reports.list.domainMismatch', { domain: r.policy_domain || '—' }));
  if (r.dkim && r.dkim !== 'pass') notes.push(t('reports.list.dkim', { verdict: r.dkim }));
  if (r.origin === 'unverified_https') notes.push(t('reports.list.unverifiedNote'));
  if (r.media_type_flagged) notes.push(t('reports.list.mediaFlagged'));
  for (const f of r.flags) notes.push(t(`reports.flags.${f}`, { defaultValue: f }));
  return (
    <>
      {r.counted ? (
        <span className="badge badge-ok">{t('reports.list.counted')}</span>
      ) : (
        <span className="badge badge-warn">{t('reports.list.notCounted')}</span>
      )}
      {/* Anyone can POST such a report: say so wherever it is listed, counted or not. */}
      {r.origin === 'unverified_https' && <span className="badge badge-warn badge-after">{t('reports.list.unverified')}</span>}
      {notes.length > 0 && (
        <ul className="report-notes small muted">
          {notes.map((n) => (
            <li key={n}>{n}</li>
          ))}
        </ul>
      )}
    </>
  );
}

function ReportListSection({ tenant, domain, range, organizations }: { tenant: string; domain: string; range: DayRange; organizations: string[] }) {
  const { t, i18n } = useTranslation();
  const lang = i18n.language;
  const [params, setParams] = useSearchParams();
  const organization = params.get('org') ?? '';
  const offset = Math.max(0, Number(params.get('offset')) || 0);
  const list = useReportList(tenant, domain, { from: range.from, to: range.to, organization, offset, limit: PAGE_SIZE });
  const orgId = useId();
  const base = `/t/${encodeURIComponent(tenant)}/domains/${encodeURIComponent(domain)}/reports`;
  const options = organization && !organizations.includes(organization) ? [organization, ...organizations] : organizations;

  function set(changes: Record<string, string | null>) {
    const p = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === '' || v === '0') p.delete(k);
      else p.set(k, v);
    }
    setParams(p, { replace: true });
  }

  return (
    <section className="card" aria-labelledby="list-h" id="report-list">
      <div className="card-head">
        <h2 id="list-h" tabIndex={-1} className="focus-target">
          {t('reports.list.title')}
        </h2>
        <div className="filter filter-inline">
          <label className="label-text" htmlFor={orgId}>
            {t('reports.list.organization')}
          </label>
          <select id={orgId} value={organization} onChange={(e) => set({ org: e.target.value, offset: null })}>
            <option value="">{t('reports.list.allOrganizations')}</option>
            {options.map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
        </div>
      </div>
      {list.isPending && <Loading />}
      {list.isError && <ErrorState error={list.error} onRetry={() => void list.refetch()} />}
      {list.data && list.data.items.length === 0 && (
        <p className="muted">{organization ? t('reports.list.noneFor', { organization }) : t('reports.list.none')}</p>
      )}
      {list.data && list.data.items.length > 0 && (
        <div className={`table-wrap${list.isPlaceholderData ? ' stale' : ''}`} aria-busy={list.isFetching}>
          <table className="table table-stack table-reports">
            <caption className="visually-hidden">{t('reports.list.title')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('reports.col.period')}</th>
                <th scope="col">{t('reports.col.organization')}</th>
                <th scope="col">{t('reports.col.successful')}</th>
                <th scope="col">{t('reports.col.failed')}</th>
                <th scope="col" className="col-wide">{t('reports.col.received')}</th>
                <th scope="col">{t('reports.col.status')}</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((r) => (
                <tr key={r.id}>
                  <th scope="row">
                    <Link to={`${base}/${encodeURIComponent(r.id)}`}>{formatPeriod(r.start, r.end, lang)}</Link>
                  </th>
                  <td className="target">{r.organization}</td>
                  <td data-label={t('reports.col.successful')}>{formatCount(r.successful_sessions, lang)}</td>
                  <td data-label={t('reports.col.failed')} className={r.failed_sessions > 0 ? 'num-bad' : undefined}>
                    {formatCount(r.failed_sessions, lang)}
                  </td>
                  <td className="col-wide small">
                    {formatUtc(r.received_at, lang)}
                    <span className="block muted">{t(`reports.transport.${r.transport}`, { defaultValue: r.transport })}</span>
                  </td>
                  <td>
                    <ReportStatus r={r} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.data && (offset > 0 || list.data.next_offset) && (
        <nav className="pager" aria-label={t('reports.list.pages')}>
          <button type="button" className="btn" disabled={offset === 0} onClick={() => set({ offset: String(Math.max(0, offset - PAGE_SIZE)) })}>
            {t('domains.previous')}
          </button>
          <span className="muted small">{t('domains.page', { n: Math.floor(offset / PAGE_SIZE) + 1 })}</span>
          <button
            type="button"
            className="btn"
            disabled={!list.data.next_offset}
            onClick={() => set({ offset: String(list.data.next_offset ?? offset) })}
          >
            {t('domains.next')}
          </button>
        </nav>
      )}
    </section>
  );
}

/** A domain's TLS reports: range, signals, charts and tables, the report list and the import. */
export function DomainReportsPage() {
  const { t } = useTranslation();
  const { tenant = '', name = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const role = useTenantRole(tenant);
  const now = useMemo(() => new Date(), []);
  const today = utcDay(now);
  const range = rangeFromParams(params, today);
  const scope: Scope = { tenant, domain: name };
  const days = useSummary(scope, range, 'day');
  const orgs = useSummary(scope, range, 'organization');
  const organizations = useMemo(() => groupRows(orgs.data?.groups ?? []).map((g) => g.key).sort((a, b) => a.localeCompare(b)), [orgs.data]);
  const everReceived = !!days.data?.signals?.last_received_at;

  function setRange(r: DayRange) {
    const p = rangeToParams(r, params);
    p.delete('offset');
    setParams(p, { replace: true });
  }
  function pickOrganization(org: string) {
    const p = new URLSearchParams(params);
    p.set('org', org);
    p.delete('offset');
    setParams(p, { replace: true });
    // To the filtered list (focus scrolls it into view and tells screen readers where they are).
    document.getElementById('list-h')?.focus();
  }

  return (
    <>
      <p className="crumbs">
        <Link to={`/t/${encodeURIComponent(tenant)}/domains`}>← {t('domains.title')}</Link>
      </p>
      <div className="page-head">
        <PageTitle title={t('reports.domainTitle', { name })}>{name}</PageTitle>
      </div>
      <DomainTabs tenant={tenant} name={name} />
      <p className="muted">{t('reports.domainIntro')}</p>
      <RangePicker range={range} today={today} onChange={setRange} />
      {days.data?.signals && <SignalBanners signals={days.data.signals} now={now} />}
      <SummaryView
        scope={scope}
        range={range}
        onOrganization={pickOrganization}
        empty={
          everReceived ? (
            <Empty title={t('reports.emptyRange')}>
              <p className="muted">{t('reports.emptyRangeHelp')}</p>
            </Empty>
          ) : (
            <Empty title={t('reports.emptyTitle')}>
              <p className="muted">{t('reports.emptyHelp')}</p>
            </Empty>
          )
        }
      />
      {/* Before the first report the list has nothing to add to the empty state. */}
      {(everReceived || !days.data) && <ReportListSection tenant={tenant} domain={name} range={range} organizations={organizations} />}
      {canWrite(role) && <UploadForm tenant={tenant} domain={name} />}
    </>
  );
}
