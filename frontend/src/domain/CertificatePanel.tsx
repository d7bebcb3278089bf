import { useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { tenantPath } from '../api/types';
import type { components } from '../api/schema';
import { formatTime } from '../format';
import { ErrorState, Loading } from '../components/common';

export type CertificateStatus = components['schemas']['CertificateStatus'];

/** Whole days from `now` until `until` (negative once past). */
export function daysLeft(until: number, now: number): number {
  return Math.floor((until - now) / 86_400);
}

/** ok: more than 14 days; warn: 14 or fewer; bad: expired. */
export function expiryTone(days: number): 'ok' | 'warn' | 'bad' {
  if (days < 0) return 'bad';
  if (days <= 14) return 'warn';
  return 'ok';
}

/** The served certificate (issuer, validity) and its renewal (next attempt, failures). */
export function CertificatePanel({ tenant, name }: { tenant: string; name: string }) {
  const { t, i18n } = useTranslation();
  const { client } = useAuth();
  const cert = useQuery({
    queryKey: ['certificate', tenant, name],
    queryFn: ({ signal }) => client.get<CertificateStatus>(tenantPath(tenant, 'domains', name, 'certificate'), signal),
  });
  const lang = i18n.language;
  return (
    <section className="card" aria-labelledby="cert-h">
      <h2 id="cert-h">{t('certificate.title')}</h2>
      {cert.isPending && <Loading />}
      {cert.isError && <ErrorState error={cert.error} onRetry={() => void cert.refetch()} />}
      {cert.data && (
        <>
          <p className="muted">{t('certificate.intro', { host: cert.data.host })}</p>
          {cert.data.current ? (
            <dl className="facts">
              <dt>{t('certificate.issuer')}</dt>
              <dd>{cert.data.current.issuer || '—'}</dd>
              <dt>{t('certificate.validFrom')}</dt>
              <dd>{formatTime(cert.data.current.not_before, lang)}</dd>
              <dt>{t('certificate.validUntil')}</dt>
              <dd>
                {formatTime(cert.data.current.not_after, lang)}
                {(() => {
                  const days = daysLeft(cert.data.current.not_after, Date.now() / 1000);
                  return <span className={`badge badge-${expiryTone(days)}`}>{t('certificate.daysLeft', { count: Math.max(days, 0) })}</span>;
                })()}
              </dd>
              <dt>{t('certificate.serial')}</dt>
              <dd>
                <code className="small">{cert.data.current.serial || '—'}</code>
              </dd>
            </dl>
          ) : (
            <p className="notice notice-info">{t('certificate.none')}</p>
          )}
          {cert.data.current && cert.data.window && (
            <dl className="facts" aria-label={t('certificate.windowTitle')}>
              <dt>{t('certificate.window')}</dt>
              <dd>
                {formatTime(cert.data.window.start, lang)} – {formatTime(cert.data.window.end, lang)}{' '}
                <span className="muted">({t(`certificate.windowSource.${cert.data.window.source}`)})</span>
                {cert.data.window.explanation_url && /^https:\/\//.test(cert.data.window.explanation_url) && (
                  <>
                    {' '}
                    <a href={cert.data.window.explanation_url} rel="noreferrer noopener" target="_blank">
                      {t('certificate.windowExplanation')}
                    </a>
                  </>
                )}
              </dd>
              <dt>{t('certificate.renewAt')}</dt>
              <dd>
                {cert.data.window.renew_at * 1000 <= Date.now() ? t('certificate.renewNow') : formatTime(cert.data.window.renew_at, lang)}
              </dd>
            </dl>
          )}
          <dl className="facts">
            <dt>{cert.data.renewal && cert.data.renewal.attempts > 0 ? t('certificate.nextAttempt') : t('certificate.nextRenewal')}</dt>
            <dd>{cert.data.renewal ? formatTime(cert.data.renewal.next_attempt_at, lang) : t('certificate.noRenewal')}</dd>
            {cert.data.renewal && cert.data.renewal.attempts > 0 && (
              <>
                <dt>{t('certificate.attempts')}</dt>
                <dd>{cert.data.renewal.attempts}</dd>
              </>
            )}
          </dl>
          {cert.data.renewal && (cert.data.renewal.attempts > 0 || cert.data.renewal.last_error) && (
            <div className="notice notice-bad">
              <p className="m0">{t('certificate.failing', { count: cert.data.renewal.attempts })}</p>
              {cert.data.renewal.last_error && <pre className="error-text">{cert.data.renewal.last_error}</pre>}
              <p className="m0">{t('certificate.failingFix')}</p>
            </div>
          )}
        </>
      )}
    </section>
  );
}
