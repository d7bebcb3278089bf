import { useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { ApiError } from '../api/errors';
import { tenantPath, type PolicyVersionView } from '../api/types';
import type { components } from '../api/schema';
import { formatDate } from '../format';
import { ModeBadge } from '../components/common';
import { Dialog } from '../components/Dialog';
import { canWrite, type Role } from '../roles';
import { blocks, readinessChecks, type ReadinessCheckLike } from './policyLogic';
import { FocusHeading, OverrideBox, ReadinessList } from './Readiness';
import { policyKeys } from './PolicyEditor';

type PolicyChange = components['schemas']['PolicyChange'];
export type LeavingDomain = components['schemas']['LeavingDomain'];

type Asking = 'enforce' | 'none' | 'remove' | null;
type Outcome =
  | { kind: 'enforced'; change: PolicyChange }
  | { kind: 'off'; change: PolicyChange }
  | { kind: 'refused'; checks: ReadinessCheckLike[] }
  | { kind: 'error'; message: string };

/**
 * The one-click mode switch: enforce (after a confirmation saying what senders will do; a
 * refusal lists each failing check, with the override for owners and admins), turn off
 * (mode none) and remove (offboarding, with the date until which the records must stay).
 */
export function ModePanel({
  tenant,
  name,
  displayName,
  newest,
  role,
  onRemoved,
}: {
  tenant: string;
  name: string;
  displayName: string;
  newest: PolicyVersionView | null;
  role: Role | null | undefined;
  onRemoved: (leaving: LeavingDomain, status: 'removed' | 'offboarding') => void;
}) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const qc = useQueryClient();
  const [asking, setAsking] = useState<Asking>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const names = [name, displayName];
  const writable = canWrite(role);
  const refresh = () => {
    for (const key of policyKeys(tenant, name)) void qc.invalidateQueries({ queryKey: key });
  };

  const switchMode = useMutation({
    mutationFn: (v: { mode: 'enforce' | 'none'; overrideReason?: string }) =>
      client.post<PolicyChange>(
        tenantPath(tenant, 'domains', name, 'mode'),
        v.overrideReason !== undefined ? { mode: v.mode, override: true, override_reason: v.overrideReason } : { mode: v.mode },
      ),
    onMutate: () => setOutcome(null),
    onSuccess: (change, v) => {
      setAsking(null);
      setOutcome({ kind: v.mode === 'enforce' ? 'enforced' : 'off', change });
      refresh();
    },
    onError: (e) => {
      setAsking(null);
      if (e instanceof ApiError && e.status === 409 && e.code === 'not_ready') setOutcome({ kind: 'refused', checks: readinessChecks(e.details) });
      else setOutcome({ kind: 'error', message: e instanceof Error ? e.message : String(e) });
    },
  });

  const remove = useMutation({
    mutationFn: async () => {
      const res = await client.request<LeavingDomain>('DELETE', tenantPath(tenant, 'domains', name));
      return res;
    },
    onSuccess: (leaving) => {
      setAsking(null);
      onRemoved(leaving, leaving.state === 'removed' ? 'removed' : 'offboarding');
      void qc.invalidateQueries({ queryKey: ['domains', tenant] });
      void qc.invalidateQueries({ queryKey: ['audit', tenant] });
      if (leaving.state !== 'removed') refresh();
    },
    onError: (e) => {
      setAsking(null);
      setOutcome({ kind: 'error', message: e instanceof Error ? e.message : String(e) });
    },
  });

  const mode = newest?.mode ?? null;
  const patterns = newest?.mx.length ? newest.mx.join(', ') : t('policy.noMx');
  const busy = switchMode.isPending || remove.isPending;

  return (
    <section className="card mode-panel" aria-labelledby="mode-h">
      <div className="card-head">
        <h2 id="mode-h">{t('enforce.title')}</h2>
        <ModeBadge mode={mode} />
      </div>
      {mode ? (
        <p>
          {t('enforce.current', { mode: t(`modes.${mode}`, { defaultValue: mode }) })} {t(`modeHelp.${mode}`, { defaultValue: '' })}
        </p>
      ) : (
        <p className="muted">{t('enforce.noPolicy')}</p>
      )}

      {writable && (
        <div className="actions">
          {mode && mode !== 'enforce' && (
            <button type="button" className="btn btn-primary" onClick={() => setAsking('enforce')} disabled={busy}>
              {t('enforce.enforce')}
            </button>
          )}
          {mode && mode !== 'none' && (
            <button type="button" className="btn" onClick={() => setAsking('none')} disabled={busy}>
              {t('enforce.turnOff')}
            </button>
          )}
          <button type="button" className="btn btn-danger-outline" onClick={() => setAsking('remove')} disabled={busy}>
            {t('enforce.removeDomain')}
          </button>
        </div>
      )}

      <div>
        {outcome?.kind === 'enforced' && (
          <div className="notice notice-ok" role="status">
            <p className="m0">
              <strong>
                {outcome.change.changed
                  ? t('enforce.enforced', { versionId: outcome.change.version.version_id, id: outcome.change.version.id })
                  : t('enforce.alreadyEnforced')}
              </strong>
            </p>
            <p className="m0">{t('enforce.enforcedSenders')}</p>
          </div>
        )}
        {outcome?.kind === 'enforced' && outcome.change.checks.some((c) => c.result !== 'pass') && (
          <div className="enforce-notes">
            <p>{t('enforce.warnings')}</p>
            <ReadinessList checks={outcome.change.checks.filter((c) => c.result !== 'pass')} />
          </div>
        )}
        {outcome?.kind === 'off' && (
          <p className="notice notice-ok" role="status">
            {t('enforce.turnedOff', { versionId: outcome.change.version.version_id })}
          </p>
        )}
        {outcome?.kind === 'error' && (
          <p className="form-error" role="alert">
            {outcome.message}
          </p>
        )}
      </div>
      {outcome?.kind === 'refused' && (
        <section className="refused" aria-labelledby="refused-h">
          <FocusHeading id="refused-h">{t('enforce.refusedTitle')}</FocusHeading>
          <p>{t('enforce.refusedIntro')}</p>
          <ReadinessList checks={outcome.checks} />
          {outcome.checks.some(blocks) && (
            <OverrideBox
              role={role}
              name={name}
              names={names}
              busy={switchMode.isPending}
              onOverride={(reason) => switchMode.mutate({ mode: 'enforce', overrideReason: reason })}
            />
          )}
        </section>
      )}

      {asking === 'enforce' && (
        <Dialog
          title={t('enforce.confirmTitle', { name: displayName })}
          onClose={() => setAsking(null)}
          actions={
            <>
              <button type="button" className="btn btn-primary" disabled={busy} onClick={() => switchMode.mutate({ mode: 'enforce' })}>
                {switchMode.isPending ? t('enforce.switching') : t('enforce.confirm')}
              </button>
              <button type="button" className="btn" data-autofocus onClick={() => setAsking(null)}>
                {t('common.cancel')}
              </button>
            </>
          }
        >
          <p>{t('enforce.confirmBody', { name: displayName, patterns })}</p>
          <p className="muted">{t('enforce.confirmChecks')}</p>
        </Dialog>
      )}
      {asking === 'none' && (
        <Dialog
          title={t('enforce.turnOffTitle', { name: displayName })}
          onClose={() => setAsking(null)}
          actions={
            <>
              <button type="button" className="btn btn-danger" disabled={busy} onClick={() => switchMode.mutate({ mode: 'none' })}>
                {t('enforce.turnOffConfirm')}
              </button>
              <button type="button" className="btn" data-autofocus onClick={() => setAsking(null)}>
                {t('common.cancel')}
              </button>
            </>
          }
        >
          <p>{t('enforce.turnOffBody')}</p>
        </Dialog>
      )}
      {asking === 'remove' && (
        <Dialog
          title={t('enforce.removeTitle', { name: displayName })}
          onClose={() => setAsking(null)}
          actions={
            <>
              <button type="button" className="btn btn-danger" disabled={busy} onClick={() => remove.mutate()}>
                {remove.isPending ? t('enforce.removing') : t('enforce.removeConfirm')}
              </button>
              <button type="button" className="btn" data-autofocus onClick={() => setAsking(null)}>
                {t('common.cancel')}
              </button>
            </>
          }
        >
          <p>{t('enforce.removeBody')}</p>
          <p>
            <strong>{t('enforce.removeRecords', { name: displayName })}</strong>
          </p>
          <p className="muted">{t('enforce.removeNever')}</p>
        </Dialog>
      )}
    </section>
  );
}

/** What removal answered: the date until which the records must stay, or removed at once. */
export function RemovalNotice({ leaving, status }: { leaving: LeavingDomain; status: 'removed' | 'offboarding' }) {
  const { t, i18n } = useTranslation();
  if (status === 'removed') {
    return (
      <p className="notice notice-ok" role="status">
        {t('enforce.removedNow', { name: leaving.display_name })}
      </p>
    );
  }
  const until = leaving.keep_records_until ?? leaving.serve_until;
  return (
    <div className="notice notice-warn" role="status">
      {leaving.policy && <p className="m0">{t('enforce.offboarding', { versionId: leaving.policy.version_id })}</p>}
      <p className="m0">
        <strong>{t('enforce.keepUntil', { date: formatDate(until, i18n.language) })}</strong>
      </p>
    </div>
  );
}
