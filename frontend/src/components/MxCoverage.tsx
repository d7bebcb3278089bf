import { useId } from 'react';
import { useTranslation } from 'react-i18next';
import { coverage } from '../mxCoverage';

/**
 * Each MX host against the policy's mx patterns: covered (and by which), not covered (senders
 * enforcing the policy would refuse it), and the patterns that match no current host.
 */
export function MxCoverageView({ patterns, hosts, title, note }: { patterns: readonly string[]; hosts: readonly string[]; title?: string; note?: string }) {
  const { t } = useTranslation();
  const headingId = useId();
  const c = coverage(patterns, hosts);
  return (
    <section className="mx-coverage" aria-labelledby={headingId}>
      <h3 id={headingId}>{title ?? t('mxCoverage.title')}</h3>
      {note && <p className="muted small">{note}</p>}
      <p className={c.uncovered.length ? 'notice notice-warn' : 'notice notice-ok'}>
        {c.uncovered.length
          ? t('mxCoverage.uncovered', { count: c.uncovered.length, hosts: c.uncovered.join(', ') })
          : t('mxCoverage.allCovered', { count: hosts.length })}
      </p>
      <div className="table-wrap">
        <table className="table table-stack">
          <caption className="visually-hidden">{title ?? t('mxCoverage.title')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('mxCoverage.host')}</th>
              <th scope="col">{t('mxCoverage.status')}</th>
              <th scope="col">{t('mxCoverage.matchedBy')}</th>
            </tr>
          </thead>
          <tbody>
            {c.hosts.map((h) => (
              <tr key={h.host}>
                <th scope="row"><code>{h.host}</code></th>
                <td>
                  {h.patterns.length ? (
                    <span className="badge badge-ok">{t('mxCoverage.covered')}</span>
                  ) : (
                    <span className="badge badge-bad">{t('mxCoverage.notCovered')}</span>
                  )}
                </td>
                <td data-label={t('mxCoverage.matchedBy')}>
                  {h.patterns.length ? h.patterns.map((p) => <code key={p} className="chip">{p}</code>) : <span className="muted">{t('mxCoverage.noPattern')}</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {c.unused.length > 0 && (
        <p className="notice notice-info">
          {t('mxCoverage.unused', { count: c.unused.length })}{' '}
          {c.unused.map((p) => <code key={p} className="chip">{p}</code>)}
        </p>
      )}
    </section>
  );
}
