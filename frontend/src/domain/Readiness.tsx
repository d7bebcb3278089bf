import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import type { Role } from '../roles';
import { REASON_MAX, RESULT_TONE, mayOverride, overrideConfirmed, reasonValid, sortChecks, type ReadinessCheckLike } from './policyLogic';

/** The fix to show for a check: a lookup that failed or a probe not run needs something else. */
function fixFor(c: ReadinessCheckLike): string {
  if (c.name === 'mx_starttls' && c.result === 'not_run') return 'mx_starttls_not_run';
  if (c.name === 'mx_starttls' && c.result === 'error') return 'mx_starttls_error';
  if (c.name === 'mx_coverage' && c.result === 'error') return 'mx_coverage_error';
  if (c.name === 'tlsrpt_failures' && c.result === 'warn') return 'tlsrpt_none';
  return c.name;
}

const CHECK_CLASS: Record<string, string> = { ok: 'check-ok', warn: 'check-warn', bad: 'check-bad', muted: '' };

/** Each readiness check with its result, explanation, the uncovered MX hosts and the fix. */
export function ReadinessList({ checks }: { checks: readonly ReadinessCheckLike[] }) {
  const { t } = useTranslation();
  return (
    <ul className="checks">
      {sortChecks(checks).map((c) => {
        const tone = RESULT_TONE[c.result] ?? 'muted';
        const fixKey = fixFor(c);
        return (
          <li key={c.name} className={`check ${CHECK_CLASS[tone]}`}>
            <div className="check-head">
              <span className={`badge badge-${tone}`}>{t(`enforce.result.${c.result}`, { defaultValue: c.result })}</span>
              <strong>{t(`enforce.checkName.${c.name}`, { defaultValue: c.name })}</strong>
            </div>
            <p>{c.explanation}</p>
            {c.uncovered && c.uncovered.length > 0 && (
              <p>
                {t('enforce.uncovered')} {c.uncovered.map((h) => <code key={h} className="chip">{h}</code>)}
              </p>
            )}
            {c.hosts && c.hosts.some((h) => h.status !== 'secure') && (
              <ul className="host-probes" aria-label={t('enforce.hostsLabel')}>
                {c.hosts
                  .filter((h) => h.status !== 'secure')
                  .map((h) => (
                    <li key={h.host}>
                      <code>{h.host}</code>: {t(`enforce.hostStatus.${h.status}`, { defaultValue: h.status })}
                    </li>
                  ))}
              </ul>
            )}
            {tone !== 'ok' && (
              <p className="fix">
                <strong>{t('enforce.fixLabel')}</strong> {t(`enforce.fix.${fixKey}`, { defaultValue: '' })}
              </p>
            )}
          </li>
        );
      })}
    </ul>
  );
}

/** A heading that takes focus once, when it appears (a refusal the user must read). */
export function FocusHeading({ id, children }: { id: string; children: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <h3 id={id} ref={ref} tabIndex={-1} className="focus-target">
      {children}
    </h3>
  );
}

/**
 * Enforce despite failing checks: owners and admins only, after typing the domain's name and
 * writing why (kept on the version and in the audit log). Others are told why they cannot.
 */
export function OverrideBox({
  role,
  name,
  names,
  busy,
  onOverride,
}: {
  role: Role | null | undefined;
  name: string;
  names: readonly string[];
  busy: boolean;
  onOverride: (reason: string) => void;
}) {
  const { t } = useTranslation();
  const [typed, setTyped] = useState('');
  const [reason, setReason] = useState('');
  const [tried, setTried] = useState(false);
  const inputId = useId();
  const errId = useId();
  const reasonId = useId();
  const reasonErrId = useId();
  if (!mayOverride(role)) return <p className="notice notice-info">{t('enforce.overrideDenied')}</p>;
  const ok = overrideConfirmed(typed, names);
  const reasonOk = reasonValid(reason);
  const showError = tried && !ok;
  const showReasonError = tried && !reasonOk;
  function confirm() {
    setTried(true);
    if (ok && reasonOk) onOverride(reason.trim());
  }
  // A group, not a form: it also sits inside the policy editor's form.
  return (
    <div className="override" role="group" aria-labelledby={`${inputId}-h`}>
      <h3 id={`${inputId}-h`}>{t('enforce.overrideTitle')}</h3>
      <p>{t('enforce.overrideHelp', { role: role ? t(`roles.${role}`) : '' })}</p>
      <div className={`field${showError ? ' field-invalid' : ''}`}>
        <label htmlFor={inputId}>{t('enforce.overrideLabel', { name })}</label>
        <input
          id={inputId}
          value={typed}
          autoComplete="off"
          spellCheck={false}
          aria-invalid={showError || undefined}
          aria-describedby={showError ? errId : undefined}
          onChange={(e) => setTyped(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter') {
              e.preventDefault();
              confirm();
            }
          }}
        />
        {showError && (
          <p id={errId} className="field-errors" role="alert">
            {t('enforce.overrideMismatch', { name })}
          </p>
        )}
      </div>
      <div className={`field${showReasonError ? ' field-invalid' : ''}`}>
        <label htmlFor={reasonId}>{t('enforce.reasonLabel')}</label>
        <textarea
          id={reasonId}
          value={reason}
          rows={3}
          maxLength={REASON_MAX}
          aria-invalid={showReasonError || undefined}
          aria-describedby={showReasonError ? reasonErrId : undefined}
          onChange={(e) => setReason(e.target.value)}
        />
        {showReasonError && (
          <p id={reasonErrId} className="field-errors" role="alert">
            {t('enforce.reasonTooShort')}
          </p>
        )}
      </div>
      <button type="button" className="btn btn-danger" disabled={busy} onClick={confirm}>
        {t('enforce.override')}
      </button>
    </div>
  );
}
