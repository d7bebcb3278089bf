import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { ApiError } from '../api/errors';
import { tenantPath, type MoveAnswer, type MoveView, type PolicyVersionView } from '../api/types';
import { formatDuration, formatTime } from '../format';
import { ErrorState, Loading } from '../components/common';
import { canWrite, type Role } from '../roles';
import { readinessChecks, type ReadinessCheckLike } from './policyLogic';
import { OverrideBox, ReadinessList } from './Readiness';
import { policyKeys } from './PolicyEditor';
import { hostsProblem, inputFromUnix, moveAtFromInput, moveAtProblem, parseHosts, stepStatus } from './mxMoveLogic';

const STATUS_TONE: Record<string, string> = { done: 'ok', waiting: 'warn', due: 'warn', later: 'muted', skipped: 'muted' };

/** A plan's steps, each with its date, what it publishes and where it stands. */
export function MoveTimeline({ plan }: { plan: MoveView }) {
  const { t, i18n } = useTranslation();
  const lang = i18n.language;
  const now = Date.now() / 1000;
  return (
    <>
      <p>
        {t('move.summary', { old: plan.old_mx.join(', '), new: plan.new_mx.join(', '), date: formatTime(plan.move_at, lang) })}{' '}
        <span className={`badge badge-${plan.state === 'active' ? 'info' : plan.state === 'done' ? 'ok' : 'muted'}`}>{t(`move.state.${plan.state}`)}</span>
      </p>
      {plan.early_until && plan.state === 'active' && (
        <p className="notice notice-warn">{t('move.early', { date: formatTime(plan.early_until, lang) })}</p>
      )}
      {plan.waiting && <p className="notice notice-warn" role="status">{t('move.waiting', { hosts: plan.old_mx.join(', ') })}</p>}
      <ol className="timeline">
        {plan.steps.map((s) => {
          const status = stepStatus(s, plan, now);
          return (
            <li key={s.step} className={`timeline-step timeline-${status}`}>
              <div className="check-head">
                <span className={`badge badge-${STATUS_TONE[status]}`}>{t(`move.status.${status}`)}</span>
                <strong>{t(`move.step.${s.step}`)}</strong>
                <span className="muted">{formatTime(s.due_at, lang)}</span>
              </div>
              <p className="small">
                {s.step === 'move'
                  ? t('move.what.move', { hosts: plan.new_mx.join(', ') })
                  : t(`move.what.${s.step}`, { hosts: s.mx.join(', '), maxAge: formatDuration(s.max_age ?? 0, lang) })}
              </p>
            </li>
          );
        })}
      </ol>
    </>
  );
}

/**
 * Moving to a new mail provider: the user names the new MX hosts and the date; stsd covers
 * old and new hosts at once, lowers max_age ahead of the move and drops the old hosts after
 * it. Shows the plan's steps with their dates, and cancels it.
 */
export function MxMovePanel({
  tenant,
  name,
  names,
  newest,
  role,
}: {
  tenant: string;
  name: string;
  names: readonly string[];
  newest: PolicyVersionView | null | undefined;
  role: Role | null | undefined;
}) {
  const { t, i18n } = useTranslation();
  const { client } = useAuth();
  const qc = useQueryClient();
  const path = tenantPath(tenant, 'domains', name, 'mx-move');
  const answer = useQuery({
    queryKey: ['mxmove', tenant, name],
    queryFn: ({ signal }) => client.get<MoveAnswer>(path, signal),
  });
  const [open, setOpen] = useState(false);
  const [hostsText, setHostsText] = useState('');
  const [when, setWhen] = useState(() => inputFromUnix(Math.floor(Date.now() / 1000) + 30 * 86_400));
  const [tried, setTried] = useState(false);
  const [refused, setRefused] = useState<ReadinessCheckLike[] | null>(null);
  const refresh = () => {
    for (const key of [...policyKeys(tenant, name), ['mxmove', tenant, name]]) void qc.invalidateQueries({ queryKey: key });
  };
  const start = useMutation({
    mutationFn: (v: { new_mx: string[]; move_at: number; overrideReason?: string }) =>
      client.post<MoveAnswer>(path, {
        new_mx: v.new_mx,
        move_at: v.move_at,
        ...(v.overrideReason ? { override: true, override_reason: v.overrideReason } : {}),
      }),
    onSuccess: () => {
      setRefused(null);
      setOpen(false);
      refresh();
    },
    onError: (e) => {
      if (e instanceof ApiError && e.code === 'not_ready') setRefused(readinessChecks(e.details));
    },
  });
  const cancel = useMutation({
    mutationFn: () => client.request<MoveAnswer>('DELETE', path),
    onSettled: refresh,
  });

  const hosts = parseHosts(hostsText);
  const moveAt = moveAtFromInput(when);
  const hostIssue = hostsProblem(hosts);
  const dateIssue = moveAtProblem(moveAt, Date.now() / 1000);
  const submit = (overrideReason?: string) => {
    setTried(true);
    if (hostIssue || dateIssue || moveAt === null) return;
    start.mutate({ new_mx: hosts, move_at: moveAt, overrideReason });
  };
  const plan = answer.data?.plan;
  const active = plan?.state === 'active';
  const writable = canWrite(role);
  const hostError = tried && hostIssue
    ? hostIssue.problem === 'none' || hostIssue.problem === 'tooMany'
      ? t(`move.problem.${hostIssue.problem}`)
      : `${hostIssue.host}: ${t(`editor.problems.${hostIssue.problem}`)}`
    : null;
  const serverError =
    start.error instanceof ApiError && start.error.code !== 'not_ready'
      ? t(`move.error.${start.error.code}`, { defaultValue: start.error.message })
      : null;

  return (
    <section className="card" aria-labelledby="move-h">
      <h2 id="move-h">{t('move.title')}</h2>
      <p className="muted">{t('move.intro')}</p>
      {answer.isPending && <Loading />}
      {answer.isError && <ErrorState error={answer.error} onRetry={() => void answer.refetch()} />}
      {plan && <MoveTimeline plan={plan} />}
      {active && writable && (
        <p>
          <button type="button" className="btn" disabled={cancel.isPending} onClick={() => cancel.mutate()}>
            {t('move.cancel')}
          </button>{' '}
          <span className="small muted">{t('move.cancelHint')}</span>
        </p>
      )}
      {!active && writable && newest && newest.mode !== 'none' && !open && (
        <button type="button" className="btn" onClick={() => setOpen(true)}>
          {t('move.plan')}
        </button>
      )}
      {!active && writable && newest && newest.mode !== 'none' && open && (
        <form
          className="form"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            submit();
          }}
        >
          <div className={`field${hostError ? ' field-invalid' : ''}`}>
            <label htmlFor="move-hosts">{t('move.hosts')}</label>
            <textarea
              id="move-hosts"
              rows={3}
              value={hostsText}
              aria-invalid={!!hostError || undefined}
              aria-describedby={`move-hosts-hint${hostError ? ' move-hosts-err' : ''}`}
              onChange={(e) => setHostsText(e.target.value)}
            />
            <p id="move-hosts-hint" className="hint">{t('move.hostsHint', { current: newest.mx.join(', ') })}</p>
            {hostError && (
              <ul id="move-hosts-err" className="field-errors" role="alert">
                <li>{hostError}</li>
              </ul>
            )}
          </div>
          <div className={`field${tried && dateIssue ? ' field-invalid' : ''}`}>
            <label htmlFor="move-when">{t('move.when')}</label>
            <input
              id="move-when"
              type="datetime-local"
              value={when}
              aria-invalid={(tried && !!dateIssue) || undefined}
              aria-describedby={`move-when-hint${tried && dateIssue ? ' move-when-err' : ''}`}
              onChange={(e) => setWhen(e.target.value)}
            />
            <p id="move-when-hint" className="hint">{t('move.whenHint', { maxAge: formatDuration(newest.max_age, i18n.language) })}</p>
            {tried && dateIssue && (
              <ul id="move-when-err" className="field-errors" role="alert">
                <li>{t(`move.problem.${dateIssue}`)}</li>
              </ul>
            )}
          </div>
          <p>
            <button type="submit" className="btn btn-primary" disabled={start.isPending}>
              {start.isPending ? t('move.planning') : t('move.submit')}
            </button>{' '}
            <button type="button" className="btn" onClick={() => setOpen(false)}>
              {t('move.close')}
            </button>
          </p>
          {serverError && <p className="notice notice-bad" role="alert">{serverError}</p>}
          {refused && (
            <div role="alert">
              <p>{t('move.refused')}</p>
              <ReadinessList checks={refused} />
              <OverrideBox role={role} name={name} names={names} busy={start.isPending} onOverride={(reason) => submit(reason)} />
            </div>
          )}
        </form>
      )}
    </section>
  );
}
