import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { ApiError, formErrors } from '../api/errors';
import { tenantPath, type PolicyVersionView } from '../api/types';
import type { components } from '../api/schema';
import { MxCoverageView } from '../components/MxCoverage';
import { Loading } from '../components/common';
import type { Role } from '../roles';
import {
  DAY,
  MODES,
  WEEK,
  apiRowErrors,
  draftBody,
  draftChanged,
  draftCoverage,
  draftFrom,
  draftValid,
  maxAgeAdvice,
  parseMaxAge,
  readinessChecks,
  secondsToDays,
  validateDraft,
  type Draft,
  type ReadinessCheckLike,
} from './policyLogic';
import { FocusHeading, OverrideBox, ReadinessList } from './Readiness';

type PolicyChange = components['schemas']['PolicyChange'];
export type MxCoverageAnswer = components['schemas']['MxCoverage'];

/** Query keys refreshed after any policy change of a domain. */
export function policyKeys(tenant: string, name: string) {
  return [['policy', tenant, name], ['versions', tenant, name], ['domain', tenant, name], ['mx', tenant, name], ['domains', tenant], ['audit', tenant]];
}

export function useMxHosts(tenant: string, name: string) {
  const { client } = useAuth();
  return useQuery({
    queryKey: ['mx', tenant, name],
    queryFn: ({ signal }) => client.get<MxCoverageAnswer>(tenantPath(tenant, 'domains', name, 'mx'), signal),
    staleTime: 60_000,
  });
}

/**
 * The policy editor: mode (with what it means for senders), mx patterns validated row by row
 * with their coverage of the current MX hosts as they are typed, and max_age with guidance.
 * Saving creates a version; a refused enforce shows each check, with the override for owners
 * and admins.
 */
export function PolicyEditor({
  tenant,
  name,
  names,
  newest,
  role,
}: {
  tenant: string;
  name: string;
  names: readonly string[];
  newest: PolicyVersionView | null;
  role: Role | null | undefined;
}) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const qc = useQueryClient();
  const mx = useMxHosts(tenant, name);
  const [draft, setDraft] = useState<Draft>(() => draftFrom(newest));
  const [tried, setTried] = useState(false);
  const [outcome, setOutcome] = useState<PolicyChange | null>(null);
  const [refused, setRefused] = useState<ReadinessCheckLike[] | null>(null);
  const focusRow = useRef<number | null>(null);
  const rowRefs = useRef<(HTMLInputElement | null)[]>([]);
  const ids = useId();
  const dirty = draftChanged(draft, newest);

  // A newer version from elsewhere (the mode switch, another user) replaces an untouched
  // draft. "Untouched" means equal to the version it was made from, not to the new one.
  const newestId = newest?.version_id;
  const draftRef = useRef(draft);
  draftRef.current = draft;
  const basis = useRef(newest);
  useEffect(() => {
    if (!draftChanged(draftRef.current, basis.current)) setDraft(draftFrom(newest));
    basis.current = newest;
    // Only a new version id matters here, not a refetched copy of the same version.
  }, [newestId]);

  useEffect(() => {
    if (focusRow.current !== null) {
      rowRefs.current[focusRow.current]?.focus();
      focusRow.current = null;
    }
  });

  const save = useMutation({
    mutationFn: (overrideReason?: string) =>
      client.request<PolicyChange>('PUT', tenantPath(tenant, 'domains', name, 'policy'), { body: draftBody(draft, overrideReason) }),
    onMutate: () => {
      setOutcome(null);
    },
    onSuccess: (change) => {
      setOutcome(change);
      setRefused(null);
      setTried(false);
      setDraft(draftFrom(change.version));
      for (const key of policyKeys(tenant, name)) void qc.invalidateQueries({ queryKey: key });
    },
    onError: (e) => {
      setRefused(e instanceof ApiError && e.status === 409 && e.code === 'not_ready' ? readinessChecks(e.details) : null);
    },
  });

  const local = validateDraft(draft);
  const api = save.isError && !refused ? formErrors(save.error, ['mode', 'mx', 'max_age']) : { fields: {}, form: null };
  const apiRows = apiRowErrors(api.fields, draft);
  const hosts = mx.data?.status === 'found' ? mx.data.hosts.map((h) => h.host) : [];
  const cov = draftCoverage(draft, hosts);
  const age = parseMaxAge(draft.maxAge);
  const advice = maxAgeAdvice(draft.mode, age);

  const rowError = (i: number): string | null => {
    const p = local.rows[i];
    // An empty row only counts once the user tried to save (it is dropped otherwise).
    if (p && (p !== 'required' || tried)) return t(`editor.problems.${p}`);
    return apiRows.rows[i]?.join(' ') ?? null;
  };

  function update(patch: Partial<Draft>) {
    setDraft((d) => ({ ...d, ...patch }));
    setOutcome(null);
    setRefused(null);
    if (save.isError) save.reset();
  }
  function setRow(i: number, value: string) {
    update({ mx: draft.mx.map((m, j) => (j === i ? value : m)) });
  }
  function addRow() {
    focusRow.current = draft.mx.length;
    update({ mx: [...draft.mx, ''] });
  }
  function removeRow(i: number) {
    const next = draft.mx.filter((_, j) => j !== i);
    focusRow.current = Math.min(i, next.length - 1);
    update({ mx: next.length ? next : [''] });
    if (!next.length) focusRow.current = 0;
  }
  function submit(e: FormEvent) {
    e.preventDefault();
    setTried(true);
    if (!draftValid({ ...draft, mx: draft.mx.filter((m) => m.trim() !== '') })) return;
    save.mutate(undefined);
  }

  const listError = local.list ? t(`editor.${local.list}`) : api.fields.mx?.join(' ');
  const maxAgeError = local.maxAge ? t(`editor.maxAgeErrors.${local.maxAge}`) : api.fields.max_age?.join(' ');
  const invalidOnTry = tried && !draftValid({ ...draft, mx: draft.mx.filter((m) => m.trim() !== '') });

  return (
    <form className="card editor" onSubmit={submit} noValidate aria-labelledby={`${ids}-h`}>
      <h2 id={`${ids}-h`}>{t('editor.title')}</h2>
      <p className="muted">{t('editor.intro')}</p>

      <fieldset className="field">
        <legend>{t('editor.mode')}</legend>
        <div className="mode-options">
          {MODES.map((m) => (
            <label key={m} className="radio">
              <input type="radio" name={`${ids}-mode`} value={m} checked={draft.mode === m} onChange={() => update({ mode: m })} />
              <span>
                <strong>{t(`modes.${m}`)}</strong>
                <span className="muted small block">{t(`modeHelp.${m}`)}</span>
              </span>
            </label>
          ))}
        </div>
        {api.fields.mode && <p className="field-errors" role="alert">{api.fields.mode.join(' ')}</p>}
      </fieldset>

      <fieldset className="field" aria-describedby={`${ids}-mxhint${listError ? ` ${ids}-mxerr` : ''}`}>
        <legend>{t('editor.mx')}</legend>
        <p id={`${ids}-mxhint`} className="hint">{t('editor.mxHint')}</p>
        <ol className="pattern-rows">
          {draft.mx.map((value, i) => {
            const err = rowError(i);
            const row = cov.patterns.find((p) => p.pattern === value.trim());
            const status = err ? null : value.trim() === '' ? null : row && row.hosts.length ? t('editor.matches', { hosts: row.hosts.join(', ') }) : hosts.length ? t('editor.matchesNothing') : null;
            const inputId = `${ids}-row-${i}`;
            return (
              <li key={i} className={`pattern-row${err ? ' field-invalid' : ''}`}>
                <div className="pattern-input">
                  <input
                    id={inputId}
                    ref={(el) => {
                      rowRefs.current[i] = el;
                    }}
                    value={value}
                    aria-label={t('editor.pattern', { n: i + 1 })}
                    aria-invalid={err ? true : undefined}
                    aria-describedby={err || status ? `${inputId}-s` : undefined}
                    autoComplete="off"
                    spellCheck={false}
                    placeholder="mx1.example.com"
                    onChange={(e) => setRow(i, e.target.value)}
                  />
                  <button type="button" className="btn btn-small" onClick={() => removeRow(i)} aria-label={t('editor.removePattern', { n: i + 1 })}>
                    {t('editor.remove')}
                  </button>
                </div>
                {err ? (
                  <p id={`${inputId}-s`} className="field-errors">{err}</p>
                ) : status ? (
                  <p id={`${inputId}-s`} className={`small ${row && row.hosts.length ? 'text-ok' : 'muted'}`}>{status}</p>
                ) : null}
              </li>
            );
          })}
        </ol>
        {listError && <p id={`${ids}-mxerr`} className="field-errors" role="alert">{listError}</p>}
        <button type="button" className="btn btn-small" onClick={addRow} disabled={draft.mx.length >= 64}>
          + {t('editor.addPattern')}
        </button>
      </fieldset>

      <div className="editor-coverage">
        {mx.isPending ? (
          <Loading label={t('editor.mxLoading')} />
        ) : hosts.length > 0 ? (
          <MxCoverageView patterns={cov.patterns.map((p) => p.pattern)} hosts={hosts} title={t('editor.coverageTitle')} note={t('editor.coverageLive')} />
        ) : (
          <p className="notice notice-info">
            {t('editor.mxUnavailable', { reason: mx.data?.explanation ?? (mx.error instanceof Error ? mx.error.message : '') })}
          </p>
        )}
      </div>

      <div className={`field max-age${maxAgeError ? ' field-invalid' : ''}`}>
        <label htmlFor={`${ids}-age`}>{t('editor.maxAge')}</label>
        <div className="max-age-row">
          <input
            id={`${ids}-age`}
            inputMode="numeric"
            value={draft.maxAge}
            aria-invalid={maxAgeError ? true : undefined}
            aria-describedby={`${ids}-age-days ${ids}-age-hint${maxAgeError ? ` ${ids}-age-err` : ''}`}
            onChange={(e) => update({ maxAge: e.target.value })}
          />
          <span id={`${ids}-age-days`} className="max-age-days" aria-live="polite">
            {age !== null && !maxAgeError ? t('editor.inDays', { count: secondsToDays(age) }) : ''}
          </span>
        </div>
        <div className="presets" role="group" aria-label={t('editor.presets')}>
          {([['day', DAY], ['week', WEEK], ['month', 30 * DAY]] as const).map(([k, v]) => (
            <button key={k} type="button" className={`btn btn-small${age === v ? ' btn-selected' : ''}`} aria-pressed={age === v} onClick={() => update({ maxAge: String(v) })}>
              {t(`editor.preset.${k}`)}
            </button>
          ))}
        </div>
        <p id={`${ids}-age-hint`} className="hint">{t('editor.maxAgeHint')}</p>
        {maxAgeError && <p id={`${ids}-age-err`} className="field-errors" role="alert">{maxAgeError}</p>}
        {advice !== 'ok' && !maxAgeError && <p className="notice notice-warn">{t(`editor.advice.${advice}`)}</p>}
      </div>

      {refused && (
        <section className="refused" aria-labelledby={`${ids}-refused`}>
          <FocusHeading id={`${ids}-refused`}>{t('editor.notReadyTitle')}</FocusHeading>
          <p>{t('enforce.refusedIntro')}</p>
          <ReadinessList checks={refused} />
          <OverrideBox role={role} name={name} names={names} busy={save.isPending} onOverride={(reason) => save.mutate(reason)} />
        </section>
      )}
      {invalidOnTry && <p className="form-error" role="alert">{t('editor.fixFirst')}</p>}
      {api.form && <p className="form-error" role="alert">{api.form}</p>}
      {save.isError && !refused && !api.form && Object.keys(api.fields).length === 0 && (
        <p className="form-error" role="alert">{save.error instanceof Error ? save.error.message : String(save.error)}</p>
      )}
      <p className={outcome ? 'notice notice-ok' : 'visually-hidden'} role="status">
        {outcome
          ? outcome.changed
            ? t('editor.saved', { versionId: outcome.version.version_id, id: outcome.version.id })
            : t('editor.unchanged', { versionId: outcome.version.version_id })
          : ''}
      </p>
      <div className="actions">
        <button type="submit" className="btn btn-primary" disabled={save.isPending}>
          {save.isPending ? t('editor.saving') : t('editor.save')}
        </button>
        {dirty && newest && (
          <button
            type="button"
            className="btn"
            onClick={() => {
              setTried(false);
              update(draftFrom(newest));
            }}
          >
            {t('editor.reset')}
          </button>
        )}
      </div>
    </form>
  );
}
