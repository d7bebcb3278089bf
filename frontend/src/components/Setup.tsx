import { useEffect, useRef } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { tenantPath, type Checks, type DnsRecord } from '../api/types';
import { formatTime } from '../format';
import { CopyButton, ErrorState, StateBadge } from './common';
import { useTenantRole } from '../hooks';
import { canWrite } from '../roles';

/** The records to publish, each copyable, and the same as a zone-file snippet. */
export function RecordsPanel({ records, zoneFile, note, extraRua = [] }: { records: DnsRecord[]; zoneFile: string; note: string; extraRua?: readonly string[] }) {
  const { t } = useTranslation();
  return (
    <section className="card" aria-labelledby="records-h">
      <h2 id="records-h">{t('records.title')}</h2>
      <p className="muted">{t('records.intro')}</p>
      <ul className="records">
        {records.map((r) => (
          <li key={r.name} className="record">
            <div className="record-head">
              <span className="badge badge-info">{r.type}</span>
              <code className="record-name">{r.name}</code>
              <CopyButton text={r.name} label={t('records.nameOf', { name: r.name })} />
            </div>
            <div className="record-value">
              <code>{r.value}</code>
              <CopyButton text={r.value} label={t('records.valueOf', { name: r.name })} />
            </div>
            <p className="muted small">{t(`records.purpose.${purposeKey(r.name)}`, { defaultValue: r.purpose })}</p>
            {purposeKey(r.name) === 'report' && extraRua.length > 0 && (
              <p className="muted small">{t('records.alsoTo', { rua: extraRua.join(', ') })}</p>
            )}
          </li>
        ))}
      </ul>
      <div className="zone">
        <div className="zone-head">
          <h3>{t('records.zoneFile')}</h3>
          <CopyButton text={zoneFile} label={t('records.zoneFile')} />
        </div>
        <pre tabIndex={0} aria-label={t('records.zoneFile')}>
          {zoneFile}
        </pre>
      </div>
      <p className="muted small">{t('records.subdomainNote', { defaultValue: note })}</p>
    </section>
  );
}

function purposeKey(name: string): string {
  if (name.startsWith('mta-sts.')) return 'edge';
  if (name.startsWith('_mta-sts-verify.')) return 'verifyTxt';
  if (name.startsWith('_mta-sts.')) return 'policy';
  if (name.startsWith('_smtp._tls.')) return 'report';
  return 'other';
}

const RESULT_TONE: Record<string, string> = { pass: 'ok', warn: 'warn', fail: 'bad', error: 'bad' };

/**
 * How often the checks are polled in `state`: not once active; every few seconds while
 * verified, when the certificate is being issued and the domain turns active any moment;
 * otherwise every 10 s (the verifier re-checks on its own schedule, or on "Check now").
 */
export function checksPollInterval(state: string | undefined): number | false {
  if (state === 'active') return false;
  if (state === 'verified') return 3_000;
  return 10_000;
}

/**
 * The DNS checks: latest results with explanation and fix, a "Check now" button, and polling
 * until the domain is active. When a poll finds the domain in another state (verified, then
 * active once its certificate is issued), the rest of the page is refreshed too.
 */
export function ChecksPanel({ tenant, name }: { tenant: string; name: string }) {
  const { t, i18n } = useTranslation();
  const { client } = useAuth();
  const qc = useQueryClient();
  const key = ['checks', tenant, name];
  const checks = useQuery({
    queryKey: key,
    queryFn: ({ signal }) => client.get<Checks>(tenantPath(tenant, 'domains', name, 'checks'), signal),
    refetchInterval: (q) => checksPollInterval(q.state.data?.state),
  });
  const seenState = useRef<string | undefined>(undefined);
  const polledState = checks.data?.state;
  useEffect(() => {
    if (polledState === undefined) return;
    const before = seenState.current;
    seenState.current = polledState;
    if (before === undefined || before === polledState) return;
    for (const k of [['domain', tenant, name], ['domains', tenant], ['certificate', tenant, name], ['policy', tenant, name]]) {
      void qc.invalidateQueries({ queryKey: k });
    }
  }, [polledState, qc, tenant, name]);
  const run = useMutation({
    mutationFn: () => client.post<Checks>(tenantPath(tenant, 'domains', name, 'checks')),
    onSuccess: (data) => {
      qc.setQueryData(key, data);
      void qc.invalidateQueries({ queryKey: ['domain', tenant, name] });
      void qc.invalidateQueries({ queryKey: ['domains', tenant] });
    },
  });
  const data = checks.data;
  const writable = canWrite(useTenantRole(tenant));
  return (
    <section className="card" aria-labelledby="checks-h" aria-busy={run.isPending}>
      <div className="card-head">
        <h2 id="checks-h">{t('checks.title')}</h2>
        {writable && (
          <button type="button" className="btn btn-primary" onClick={() => run.mutate()} disabled={run.isPending}>
            {run.isPending ? t('checks.running') : t('checks.runNow')}
          </button>
        )}
      </div>
      {checks.isPending && <p className="muted">{t('common.loading')}</p>}
      {checks.isError && <ErrorState error={checks.error} onRetry={() => void checks.refetch()} />}
      {run.isError && <ErrorState error={run.error} />}
      {data && (
        <>
          <p className="muted" aria-live="polite">
            <StateBadge state={data.state} />{' '}
            {data.checked_at
              ? t('checks.lastRun', { when: formatTime(data.checked_at, i18n.language) })
              : t('checks.neverRun')}
            {data.state !== 'active' && ` · ${t('checks.polling')}`}
          </p>
          {data.items.length === 0 ? (
            <p>{t('checks.none')}</p>
          ) : (
            <ul className="checks">
              {data.items.map((c) => (
                <li key={`${c.name}-${c.record}`} className={`check check-${RESULT_TONE[c.result] ?? 'muted'}`}>
                  <div className="check-head">
                    <span className={`badge badge-${RESULT_TONE[c.result] ?? 'muted'}`}>
                      {t(`checks.result.${c.result}`, { defaultValue: c.result })}
                    </span>
                    <strong>{t(`checks.name.${c.name}`, { defaultValue: c.name })}</strong>
                    <code className="small">{c.record}</code>
                  </div>
                  <p>{c.explanation}</p>
                  {c.fix && (
                    <p className="fix">
                      <strong>{t('checks.fix')}</strong> {c.fix}
                    </p>
                  )}
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}
