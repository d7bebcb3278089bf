import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { tenantPath, type PolicyView, type ReportDetailView } from '../api/types';
import { ErrorState, Loading } from '../components/common';
import { PageTitle } from '../components/Layout';
import { DomainTabs } from '../components/DomainTabs';
import { formatPeriod, formatUtc } from './format';
import { reportsKey } from './queries';
import { formatCount, formatRate, rate } from './shape';
import { useResultText } from './Summary';

/** Downloads the report exactly as received (the API's `/raw`, with the access token). */
function DownloadRaw({ tenant, domain, id }: { tenant: string; domain: string; id: string }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const [state, setState] = useState<'idle' | 'busy' | 'failed'>('idle');
  async function download() {
    setState('busy');
    try {
      const blob = await client.blob(tenantPath(tenant, 'domains', domain, 'reports', id, 'raw'));
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = `tlsrpt-${id.replace(/[^A-Za-z0-9-]/g, '')}.json`;
      document.body.append(a);
      a.click();
      a.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setState('idle');
    } catch {
      setState('failed');
    }
  }
  return (
    <span className="download">
      <button type="button" className="btn" onClick={() => void download()} disabled={state === 'busy'}>
        {t('reports.detail.download')}
      </button>
      {state === 'failed' && (
        <span className="field-errors" role="alert">
          {t('reports.detail.downloadFailed')}
        </span>
      )}
    </span>
  );
}

function PolicyCard({ policy, index }: { policy: PolicyView; index: number }) {
  const { t, i18n } = useTranslation();
  const lang = i18n.language;
  const text = useResultText();
  const id = `policy-${index}-h`;
  return (
    <section className="card" aria-labelledby={id}>
      <div className="card-head">
        <h2 id={id}>
          {t('reports.detail.policy', { n: index + 1 })}: {t(`reports.policyTypes.${policy.policy_type}`, { defaultValue: policy.policy_type })}
        </h2>
        <span className={`badge ${policy.failed_sessions > 0 ? 'badge-bad' : 'badge-ok'}`}>
          {t('reports.detail.rateBadge', { rate: formatRate(rate(policy.successful_sessions, policy.failed_sessions), lang) })}
        </span>
      </div>
      <dl className="facts">
        <dt>{t('reports.detail.policyDomain')}</dt>
        <dd>{policy.policy_domain ?? '—'}</dd>
        <dt>{t('reports.col.successful')}</dt>
        <dd>{formatCount(policy.successful_sessions, lang)}</dd>
        <dt>{t('reports.col.failed')}</dt>
        <dd className={policy.failed_sessions > 0 ? 'num-bad' : undefined}>{formatCount(policy.failed_sessions, lang)}</dd>
        {policy.mx_hosts.length > 0 && (
          <>
            <dt>{t('reports.detail.mxHosts')}</dt>
            <dd>
              {policy.mx_hosts.map((m) => (
                <code key={m} className="chip">
                  {m}
                </code>
              ))}
            </dd>
          </>
        )}
      </dl>
      {policy.policy_strings.length > 0 && (
        <details>
          <summary>{t('reports.detail.policyText')}</summary>
          <pre tabIndex={0}>{policy.policy_strings.join('\n')}</pre>
        </details>
      )}
      {policy.failures.length === 0 ? (
        <p className="muted">{t('reports.detail.noFailures')}</p>
      ) : (
        <>
          <h3 className="subhead">{t('reports.detail.failures')}</h3>
          <ul className="results">
            {policy.failures.map((f, i) => {
              const x = text(f.result_type, f);
              return (
                <li key={i} className="result result-bad">
                  <div className="result-head">
                    <strong>{x.name}</strong>
                    {x.name !== f.result_type && <code className="small">{f.result_type}</code>}
                    <span className="result-count">{t('reports.results.sessions', { count: f.failed_sessions, n: formatCount(f.failed_sessions, lang) })}</span>
                  </div>
                  <p>{x.explanation}</p>
                  <p className="fix">
                    <strong>{t('reports.results.fix')}</strong> {x.fix}
                  </p>
                  <dl className="facts small">
                    {(
                      [
                        ['receivingMx', f.receiving_mx_hostname],
                        ['receivingHelo', f.receiving_mx_helo],
                        ['receivingIp', f.receiving_ip],
                        ['sendingIp', f.sending_mta_ip],
                        ['reasonCode', f.failure_reason_code],
                        ['additional', f.additional_information],
                      ] as const
                    )
                      .filter(([, v]) => v)
                      .map(([k, v]) => (
                        <div key={k} className="contents">
                          <dt>{t(`reports.detail.${k}`)}</dt>
                          <dd>
                            <code>{v}</code>
                          </dd>
                        </div>
                      ))}
                  </dl>
                </li>
              );
            })}
          </ul>
        </>
      )}
    </section>
  );
}

/** One report: what it says, parsed, each failure explained, and the JSON as received. */
export function ReportDetailPage() {
  const { t, i18n } = useTranslation();
  const lang = i18n.language;
  const { tenant = '', name = '', id = '' } = useParams();
  const { client } = useAuth();
  const q = useQuery({
    queryKey: [...reportsKey({ tenant, domain: name }), 'detail', id],
    queryFn: ({ signal }) => client.get<ReportDetailView>(tenantPath(tenant, 'domains', name, 'reports', id), signal),
  });
  const back = (
    <p className="crumbs">
      <Link to={`/t/${encodeURIComponent(tenant)}/domains/${encodeURIComponent(name)}/reports`}>← {t('reports.detail.back')}</Link>
    </p>
  );
  if (q.isPending) return <>{back}<Loading /></>;
  if (q.isError) return <>{back}<ErrorState error={q.error} onRetry={() => void q.refetch()} /></>;
  const { report: r, policies, raw } = q.data;
  const title = t('reports.detail.title', { organization: r.organization, period: formatPeriod(r.start, r.end, lang) });
  return (
    <>
      {back}
      <div className="page-head">
        <PageTitle title={title}>{title}</PageTitle>
        <DownloadRaw tenant={tenant} domain={name} id={r.id} />
      </div>
      <DomainTabs tenant={tenant} name={name} />
      {!r.counted && (
        <p className="notice notice-warn">
          <strong>{t('reports.list.notCounted')}.</strong>{' '}
          {r.domain_mismatch
            ? t('reports.detail.notCountedDomain', { domain: r.policy_domain || '—' })
            : r.dkim && r.dkim !== 'pass'
              ? t('reports.detail.notCountedDkim', { verdict: r.dkim })
              : r.origin === 'unverified_https'
                ? t('reports.detail.notCountedUnverified')
                : t('reports.detail.notCounted')}
        </p>
      )}
      <section className="card" aria-labelledby="report-h">
        <h2 id="report-h">{t('reports.detail.about')}</h2>
        <dl className="facts">
          <dt>{t('reports.col.organization')}</dt>
          <dd>{r.organization}</dd>
          <dt>{t('reports.detail.reportId')}</dt>
          <dd><code>{r.report_id}</code></dd>
          <dt>{t('reports.col.period')}</dt>
          <dd>{formatUtc(r.start, lang)} – {formatUtc(r.end, lang)}</dd>
          <dt>{t('reports.detail.contact')}</dt>
          <dd>{r.contact ?? '—'}</dd>
          <dt>{t('reports.col.received')}</dt>
          <dd>
            {formatUtc(r.received_at, lang)} · {t(`reports.transport.${r.transport}`, { defaultValue: r.transport })}
          </dd>
          <dt>{t('reports.detail.origin')}</dt>
          <dd>
            {t(`reports.origin.${r.origin}`, { defaultValue: r.origin })}
            {r.origin === 'unverified_https' && <span className="badge badge-warn badge-after">{t('reports.list.unverified')}</span>}
          </dd>
          {r.dkim && (
            <>
              <dt>{t('reports.detail.dkim')}</dt>
              <dd>{r.dkim}</dd>
            </>
          )}
          <dt>{t('reports.col.successful')}</dt>
          <dd>{formatCount(r.successful_sessions, lang)}</dd>
          <dt>{t('reports.col.failed')}</dt>
          <dd className={r.failed_sessions > 0 ? 'num-bad' : undefined}>{formatCount(r.failed_sessions, lang)}</dd>
          {r.flags.length > 0 && (
            <>
              <dt>{t('reports.detail.flags')}</dt>
              <dd>{r.flags.map((f) => t(`reports.flags.${f}`, { defaultValue: f })).join('; ')}</dd>
            </>
          )}
        </dl>
      </section>
      {policies.map((p, i) => (
        <PolicyCard key={i} policy={p} index={i} />
      ))}
      <section className="card" aria-labelledby="raw-h">
        <h2 id="raw-h">{t('reports.detail.raw')}</h2>
        <details>
          <summary>{t('reports.detail.showRaw')}</summary>
          <pre tabIndex={0} className="raw-json">{JSON.stringify(raw, null, 2)}</pre>
        </details>
      </section>
    </>
  );
}
