import { useId } from 'react';
import { useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { tenantPath, type ExistingSetup } from '../api/types';

/**
 * What the domain published for MTA-STS before stsd and what stsd makes of it: the policy it
 * keeps (same mode, MX patterns and max_age, a new id), a policy senders cannot use and why,
 * or nothing to keep. The problems are the server's own words.
 */
export function ExistingSetupView({
  existing,
  context = 'added',
  onReread,
  rereading,
}: {
  existing: ExistingSetup;
  /** `added`: the answer to adding the domain; `pending`: read again on the domain's page. */
  context?: 'added' | 'pending';
  onReread?: () => void;
  rereading?: boolean;
}) {
  const { t } = useTranslation();
  const headingId = useId();
  const policy = existing.policy;
  return (
    <section className="card" aria-labelledby={headingId}>
      <h2 id={headingId}>{t('existing.title')}</h2>
      {existing.status === 'none' && <p>{t('existing.none')}</p>}
      {existing.status === 'found' && policy && (
        <>
          <p>
            {t('existing.found', {
              mode: t(`modes.${policy.mode}`),
              id: existing.sts_id ?? '',
              count: policy.mx.length,
              days: Math.round(policy.max_age / 86400),
            })}
          </p>
          <p className={existing.imported ? 'notice notice-ok' : 'notice'}>
            {existing.imported ? t('existing.imported') : t('existing.notImported')}
          </p>
          {existing.uncovered.length > 0 && (
            <p className="notice notice-warn" role="alert">
              {t('existing.uncovered', { count: existing.uncovered.length, hosts: existing.uncovered.join(', ') })}
            </p>
          )}
          {existing.warnings.length > 0 && (
            <>
              <p className="muted">{t('existing.warnings')}</p>
              <ul className="small">
                {existing.warnings.map((w) => (
                  <li key={w}>{w}</li>
                ))}
              </ul>
            </>
          )}
        </>
      )}
      {(existing.status === 'invalid' || existing.status === 'error') && (
        <>
          <p className={existing.status === 'invalid' ? 'notice notice-warn' : 'notice'}>
            {existing.status === 'invalid'
              ? t(context === 'added' ? 'existing.invalid' : 'existing.invalidNow')
              : t(context === 'added' ? 'existing.error' : 'existing.errorNow')}
          </p>
          <ul className="small">
            {existing.problems.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        </>
      )}
      {context === 'added' && existing.tlsrpt_rua.length > 0 && (
        <p className="muted">{t(existing.tlsrpt_kept ? 'existing.tlsrptKept' : 'existing.tlsrpt', { rua: existing.tlsrpt_rua.join(', ') })}</p>
      )}
      {existing.tlsrpt_problem && <p className="muted">{t('existing.tlsrptProblem', { problem: existing.tlsrpt_problem })}</p>}
      {onReread && (
        <div className="actions">
          <button type="button" className="btn" onClick={onReread} disabled={rereading}>
            {rereading ? t('existing.rereading') : t('existing.reread')}
          </button>
        </div>
      )}
    </section>
  );
}

/**
 * The domain's own MTA-STS read again now, for a domain whose records do not point to stsd
 * yet: what senders see until the switch. Shown only when there is something to see.
 */
export function ExistingSetupPanel({ tenant, name }: { tenant: string; name: string }) {
  const { client } = useAuth();
  const existing = useQuery({
    queryKey: ['existing', tenant, name],
    queryFn: ({ signal }) => client.get<ExistingSetup>(tenantPath(tenant, 'domains', name, 'existing'), signal),
    staleTime: 60_000,
  });
  const data = existing.data;
  if (!data || !['found', 'invalid', 'error'].includes(data.status) || !Array.isArray(data.problems)) return null;
  return <ExistingSetupView existing={data} context="pending" onReread={() => void existing.refetch()} rereading={existing.isFetching} />;
}
