import { useTranslation } from 'react-i18next';
import type { DomainDetail } from '../api/types';
import { formatTime } from '../format';

/**
 * Organizations that usually report on the domain and went quiet: their mail stopped coming,
 * or the TLS-RPT record broke. The same silence the `domain.reporters_silent` alert announces.
 */
export function SilentReportersBanner({ reporters }: { reporters: DomainDetail['silent_reporters'] }) {
  const { t, i18n } = useTranslation();
  if (reporters.length === 0) return null;
  return (
    <section className="notice notice-warn" aria-labelledby="silent-h">
      <h2 id="silent-h">{t('silent.title', { count: reporters.length })}</h2>
      <ul>
        {reporters.map((r) => (
          <li key={r.organization}>
            {t('silent.item', { organization: r.organization, when: formatTime(r.last_received, i18n.language) })}
          </li>
        ))}
      </ul>
      <p>{t('silent.fix')}</p>
    </section>
  );
}
