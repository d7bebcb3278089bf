import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { ApiError } from '../api/errors';
import { tenantPath, type PolicyChange, type PolicyVersionView } from '../api/types';
import { canWrite, type Role } from '../roles';
import { ReadinessList } from './Readiness';
import { readinessChecks, type ReadinessCheckLike } from './policyLogic';

/** The MX hosts the latest checks found uncovered, from the domain's stored check results. */
export function uncoveredMx(checks: unknown): string[] {
  if (!Array.isArray(checks)) return [];
  const coverage = checks.find((c): c is { name: string; uncovered?: unknown } => !!c && typeof c === 'object' && (c as { name?: unknown }).name === 'mx_coverage');
  return Array.isArray(coverage?.uncovered) ? coverage.uncovered.filter((h): h is string => typeof h === 'string') : [];
}

/** The policy with `hosts` added as exact patterns (the one-click fix of an MX drift). */
export function withHosts(newest: PolicyVersionView, hosts: readonly string[]) {
  const mx = [...newest.mx];
  for (const h of hosts) if (!mx.includes(h)) mx.push(h);
  return { mode: newest.mode, mx, max_age: newest.max_age };
}

/**
 * An MX host the enforced policy does not cover: senders refuse to deliver there. Says so at
 * the top of the domain page and offers a version that adds the hosts, through the same
 * readiness checks as any enforce edit.
 */
export function MxDriftBanner({
  tenant,
  name,
  newest,
  checks,
  role,
}: {
  tenant: string;
  name: string;
  newest: PolicyVersionView | null | undefined;
  checks: unknown;
  role: Role | null | undefined;
}) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const qc = useQueryClient();
  const [refused, setRefused] = useState<ReadinessCheckLike[] | null>(null);
  const hosts = uncoveredMx(checks);
  const fix = useMutation({
    mutationFn: () =>
      newest
        ? client.request<PolicyChange>('PUT', tenantPath(tenant, 'domains', name, 'policy'), { body: withHosts(newest, hosts) })
        : Promise.reject(new Error('no policy')),
    onSuccess: () => {
      setRefused(null);
      for (const key of ['domain', 'policy', 'versions']) void qc.invalidateQueries({ queryKey: [key, tenant, name] });
    },
    onError: (e) => {
      if (e instanceof ApiError && e.code === 'not_ready') setRefused(readinessChecks(e.details));
    },
  });
  if (!newest || newest.mode !== 'enforce' || hosts.length === 0) return null;
  return (
    <section className="notice notice-bad" role="alert" aria-labelledby="drift-h">
      <h2 id="drift-h">{t('drift.title')}</h2>
      <p>
        {t('drift.body')} {hosts.map((h) => <code key={h} className="chip">{h}</code>)}
      </p>
      {fix.isSuccess ? (
        <p>{t('drift.fixed', { versionId: fix.data.version.version_id })}</p>
      ) : canWrite(role) ? (
        <button type="button" className="btn btn-primary" disabled={fix.isPending} onClick={() => fix.mutate()}>
          {fix.isPending ? t('drift.fixing') : t('drift.fix', { count: hosts.length })}
        </button>
      ) : (
        <p>{t('drift.askEditor')}</p>
      )}
      {refused && (
        <>
          <p>{t('drift.refused')}</p>
          <ReadinessList checks={refused} />
        </>
      )}
      {fix.isError && !refused && <p role="alert">{fix.error.message}</p>}
    </section>
  );
}
