import { useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { ApiError } from '../api/errors';
import { tenantPath, type PolicyChange, type PolicyVersionView } from '../api/types';
import { formatDuration, formatTime } from '../format';
import { ConfirmAction, ModeBadge, StatusMessage } from '../components/common';
import { describeActor } from '../pages/auditShape';
import { canWrite, type Role } from '../roles';
import { readinessChecks, type ReadinessCheckLike } from './policyLogic';
import { ReadinessList } from './Readiness';
import { policyKeys } from './PolicyEditor';
import { restores, versionDiff } from './historyLogic';

/** A version's author: the member's e-mail when known, else the raw `user:`/`token:` id. */
function AuthorLabel({ author, emails }: { author: string; emails: ReadonlyMap<string, string> }) {
  const { t } = useTranslation();
  const a = describeActor(author, emails, new Map());
  if (a.kind === 'user' && a.known) return <>{a.label}</>;
  if (a.kind === 'token') return <>{t('audit.tokenActor', { name: a.label })}</>;
  return <code className="small">{author}</code>;
}

/** The version's policy and what changed from the one before it. */
function PolicyCell({ version, older }: { version: PolicyVersionView; older: PolicyVersionView | undefined }) {
  const { t, i18n } = useTranslation();
  const diff = versionDiff(older, version);
  return (
    <>
      <p className="small">
        {version.mx.map((p) => (
          <code key={p} className="chip">
            {p}
          </code>
        ))}{' '}
        {t('history.maxAge', { maxAge: formatDuration(version.max_age, i18n.language) })}
      </p>
      {diff && (
        <ul className="small diff">
          {diff.mode && <li>{t('history.modeChanged', { from: t(`modes.${diff.mode[0]}`), to: t(`modes.${diff.mode[1]}`) })}</li>}
          {diff.added.map((p) => (
            <li key={`+${p}`} className="diff-added">
              {t('history.added', { pattern: p })}
            </li>
          ))}
          {diff.removed.map((p) => (
            <li key={`-${p}`} className="diff-removed">
              {t('history.removed', { pattern: p })}
            </li>
          ))}
          {diff.maxAge && (
            <li>
              {t('history.maxAgeChanged', {
                from: formatDuration(diff.maxAge[0], i18n.language),
                to: formatDuration(diff.maxAge[1], i18n.language),
              })}
            </li>
          )}
        </ul>
      )}
    </>
  );
}

/**
 * Every version of the policy, newest first: its mode, patterns and max_age, what changed from
 * the one before, where it is served, and "restore" — a new version with the old policy, through
 * the same readiness checks as any edit.
 */
export function VersionHistory({
  tenant,
  name,
  items,
  emails,
  role,
}: {
  tenant: string;
  name: string;
  items: readonly PolicyVersionView[];
  emails: ReadonlyMap<string, string>;
  role: Role | null | undefined;
}) {
  const { t, i18n } = useTranslation();
  const { client } = useAuth();
  const qc = useQueryClient();
  const [refused, setRefused] = useState<ReadinessCheckLike[] | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const restore = useMutation({
    mutationFn: (v: PolicyVersionView) =>
      client.request<PolicyChange>('PUT', tenantPath(tenant, 'domains', name, 'policy'), {
        body: { mode: v.mode, mx: v.mx, max_age: v.max_age },
      }),
    onSuccess: (change, v) => {
      setRefused(null);
      setDone(t('history.restored', { from: v.version_id, versionId: change.version.version_id }));
      for (const key of policyKeys(tenant, name)) void qc.invalidateQueries({ queryKey: key });
    },
    onError: (e) => {
      setDone(null);
      if (e instanceof ApiError && e.code === 'not_ready') setRefused(readinessChecks(e.details));
    },
  });
  const newest = items[0];
  return (
    <>
      <StatusMessage message={done} />
      {refused && (
        <div className="notice notice-bad" role="alert">
          <p>{t('history.refused')}</p>
          <ReadinessList checks={refused} />
        </div>
      )}
      {restore.isError && !refused && (
        <p className="notice notice-bad" role="alert">
          {restore.error.message}
        </p>
      )}
      {/* Wide: it scrolls sideways on narrow screens, and the keyboard must reach it too. */}
      <div className="table-wrap" tabIndex={0} role="group" aria-labelledby="history-h">
        <table className="table">
          <thead>
            <tr>
              <th scope="col">{t('history.created')}</th>
              <th scope="col">{t('policy.mode')}</th>
              <th scope="col">{t('history.policy')}</th>
              <th scope="col">{t('policy.id')}</th>
              <th scope="col" className="col-wide">{t('policy.versionId')}</th>
              <th scope="col" className="col-wide">{t('history.author')}</th>
              <th scope="col" className="col-wide">{t('policy.edges')}</th>
              <th scope="col" className="col-wide">{t('policy.dns')}</th>
              {canWrite(role) && <th scope="col">{t('history.actions')}</th>}
            </tr>
          </thead>
          <tbody>
            {items.map((v, i) => (
              <tr key={v.version_id}>
                <td>{formatTime(v.created_at, i18n.language)}</td>
                <td>
                  <ModeBadge mode={v.mode} />
                  {v.override_reason && <p className="small override-reason">{t('enforce.overriddenBecause', { reason: v.override_reason })}</p>}
                </td>
                <td>
                  <PolicyCell version={v} older={items[i + 1]} />
                </td>
                <td>
                  <code>{v.id}</code>
                </td>
                <td className="col-wide">
                  <code className="small">{v.version_id}</code>
                </td>
                <td className="col-wide">
                  <AuthorLabel author={v.author} emails={emails} />
                </td>
                <td className="col-wide">{v.published_at ? formatTime(v.published_at, i18n.language) : t('policy.notYet')}</td>
                <td className="col-wide">{v.dns_at ? formatTime(v.dns_at, i18n.language) : t('policy.notYet')}</td>
                {canWrite(role) && (
                  <td>
                    {restores(v, newest) && (
                      <ConfirmAction
                        label={t('history.restore')}
                        confirmLabel={t('history.restoreConfirm')}
                        question={t('history.restoreQuestion', { versionId: v.version_id })}
                        busy={restore.isPending}
                        onConfirm={() => restore.mutate(v)}
                      />
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
