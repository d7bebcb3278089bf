import { useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../api/errors';

export function Loading({ label }: { label?: string }) {
  const { t } = useTranslation();
  return (
    <p className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {label ?? t('common.loading')}
    </p>
  );
}

/** What went wrong, in words, with a retry when one helps. */
export function ErrorState({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useTranslation();
  const message =
    error instanceof ApiError
      ? error.code === 'network'
        ? t('errors.network')
        : error.status === 404
          ? t('errors.notFound')
          : error.status === 403
            ? t('errors.forbidden')
            : error.status >= 500
              ? t('errors.server')
              : error.message
      : t('errors.unknown');
  return (
    <div className="state state-error" role="alert">
      <p>{message}</p>
      {onRetry && (
        <button type="button" className="btn" onClick={onRetry}>
          {t('common.retry')}
        </button>
      )}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="state state-empty">
      <p className="state-title">{title}</p>
      {children}
    </div>
  );
}

const STATE_TONE: Record<string, string> = {
  pending: 'warn',
  verified: 'info',
  active: 'ok',
  degraded: 'bad',
  detached: 'bad',
  offboarding: 'muted',
  removed: 'muted',
};
const MODE_TONE: Record<string, string> = { enforce: 'ok', testing: 'info', none: 'muted' };

export function StateBadge({ state }: { state: string }) {
  const { t } = useTranslation();
  return (
    <span className={`badge badge-${STATE_TONE[state] ?? 'muted'}`} title={t(`stateHelp.${state}`, { defaultValue: '' })}>
      {t(`states.${state}`, { defaultValue: state })}
    </span>
  );
}

export function ModeBadge({ mode }: { mode: string | null }) {
  const { t } = useTranslation();
  if (!mode) return <span className="badge badge-muted">{t('modes.noPolicy')}</span>;
  return <span className={`badge badge-${MODE_TONE[mode] ?? 'muted'}`}>{t(`modes.${mode}`, { defaultValue: mode })}</span>;
}

/** Copies `text`; says so, or says to copy by hand when the clipboard is not available. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const { t } = useTranslation();
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      setState('failed');
    }
    window.setTimeout(() => setState('idle'), 2000);
  }
  return (
    <button type="button" className="btn btn-small" onClick={copy} aria-label={t('common.copyLabel', { what: label })}>
      <span aria-live="polite">
        {state === 'copied' ? t('common.copied') : state === 'failed' ? t('common.copyFailed') : t('common.copy')}
      </span>
    </button>
  );
}
