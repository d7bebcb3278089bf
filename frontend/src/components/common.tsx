import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
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
  const visible = state === 'copied' ? t('common.copied') : state === 'failed' ? t('common.copyFailed') : t('common.copy');
  // The name always contains the visible text (WCAG 2.5.3), plus what is copied.
  const name = state === 'idle' ? t('common.copyLabel', { what: label }) : `${visible} (${label})`;
  return (
    <button type="button" className="btn btn-small" onClick={copy} aria-label={name}>
      <span aria-live="polite">{visible}</span>
    </button>
  );
}

/**
 * A secret (token, signing secret, invitation link) shown once: the card takes focus on arrival,
 * warns that the value will not come back, and offers it read-only with a copy button.
 */
export function ShownOnce({
  title,
  warning,
  label,
  value,
  before,
  after,
  doneLabel,
  onDone,
}: {
  title: string;
  /** The warning: a bold lead, then the explanation. */
  warning: { title: string; body: string };
  /** Names the field and the copy button. */
  label: string;
  value: string;
  before?: ReactNode;
  after?: ReactNode;
  doneLabel: string;
  onDone: () => void;
}) {
  const ref = useRef<HTMLHeadingElement>(null);
  const headingId = useId();
  const inputId = useId();
  useEffect(() => ref.current?.focus(), []);
  return (
    <section className="card card-secret" aria-labelledby={headingId}>
      <h2 id={headingId} ref={ref} tabIndex={-1}>
        {title}
      </h2>
      {before}
      <p className="notice notice-warn" role="note">
        <strong>{warning.title}</strong> {warning.body}
      </p>
      <label htmlFor={inputId} className="label-text">
        {label}
      </label>
      <div className="secret-row">
        <input id={inputId} className="secret" readOnly value={value} onFocus={(e) => e.target.select()} spellCheck={false} />
        <CopyButton text={value} label={label} />
      </div>
      {after}
      <button type="button" className="btn" onClick={onDone}>
        {doneLabel}
      </button>
    </section>
  );
}

/**
 * A destructive action behind an inline confirmation: the first click shows what will happen
 * and moves focus to the confirming button; Escape or Cancel returns focus to the start.
 */
export function ConfirmAction({
  label,
  confirmLabel,
  question,
  onConfirm,
  busy,
  describedBy,
}: {
  label: string;
  confirmLabel: string;
  question: string;
  onConfirm: () => void;
  busy?: boolean;
  describedBy?: string;
}) {
  const { t } = useTranslation();
  const [asking, setAsking] = useState(false);
  const confirmRef = useRef<HTMLButtonElement>(null);
  const startRef = useRef<HTMLButtonElement>(null);
  const returnFocus = useRef(false);
  useEffect(() => {
    if (asking) confirmRef.current?.focus();
    else if (returnFocus.current) {
      returnFocus.current = false;
      startRef.current?.focus();
    }
  }, [asking]);
  function cancel() {
    returnFocus.current = true;
    setAsking(false);
  }
  if (!asking) {
    return (
      <button ref={startRef} type="button" className="btn btn-small btn-danger-outline" onClick={() => setAsking(true)} aria-describedby={describedBy}>
        {label}
      </button>
    );
  }
  return (
    <div className="confirm" role="group" aria-label={question} onKeyDown={(e) => e.key === 'Escape' && cancel()}>
      <p className="confirm-question">{question}</p>
      <div className="actions">
        <button
          ref={confirmRef}
          type="button"
          className="btn btn-small btn-danger"
          disabled={busy}
          onClick={() => {
            onConfirm();
          }}
        >
          {confirmLabel}
        </button>
        <button type="button" className="btn btn-small" onClick={cancel}>
          {t('common.cancel')}
        </button>
      </div>
    </div>
  );
}

/** A polite announcement of what just happened (e.g. "Role changed"). */
export function StatusMessage({ message }: { message: string | null }) {
  return (
    <p className={message ? 'notice notice-ok' : 'visually-hidden'} role="status">
      {message ?? ''}
    </p>
  );
}
