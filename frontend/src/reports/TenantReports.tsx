import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { formErrors } from '../api/errors';
import type { ReportSettings } from '../api/types';
import { Empty, ErrorState, Loading, StatusMessage } from '../components/common';
import { Field } from '../components/Field';
import { PageTitle } from '../components/Layout';
import { useTenantRole } from '../hooks';
import { canAdminister } from '../roles';
import { RangePicker } from './RangePicker';
import { GroupTable, SummaryView } from './Summary';
import { settingsPath, useReportSettings, useSummary, type Scope } from './queries';
import { groupRows, rangeFromParams, rangeToParams, utcDay, type DayRange } from './shape';

/** Bounds the API accepts for `retention_days`. */
export const RETENTION_MIN = 7;
export const RETENTION_MAX = 3650;

/** What is wrong with a retention value typed in, or null. */
export function retentionError(value: string): 'whole' | 'range' | null {
  if (!/^\d+$/.test(value.trim())) return 'whole';
  const n = Number(value);
  return n < RETENTION_MIN || n > RETENTION_MAX ? 'range' : null;
}

function RetentionCard({ tenant }: { tenant: string }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const qc = useQueryClient();
  const role = useTenantRole(tenant);
  const settings = useReportSettings(tenant);
  const [value, setValue] = useState('');
  const [localError, setLocalError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  useEffect(() => {
    if (settings.data) setValue(String(settings.data.retention_days));
  }, [settings.data]);
  const save = useMutation({
    mutationFn: (days: number) => client.request<ReportSettings>('PUT', settingsPath(tenant), { body: { retention_days: days } }),
    onSuccess: (data) => {
      qc.setQueryData(['reportSettings', tenant], data);
      setSaved(t('reports.retention.saved', { count: data.retention_days }));
    },
  });
  const apiErrors = formErrors(save.error, ['retention_days']);
  function submit(e: FormEvent) {
    e.preventDefault();
    setSaved(null);
    const err = retentionError(value);
    setLocalError(err ? t(`reports.retention.errors.${err}`, { min: RETENTION_MIN, max: RETENTION_MAX }) : null);
    if (!err) save.mutate(Number(value));
  }
  const errors = localError ? [localError] : apiErrors.fields.retention_days;
  return (
    <section className="card" aria-labelledby="retention-h">
      <h2 id="retention-h">{t('reports.retention.title')}</h2>
      {settings.isPending && <Loading />}
      {settings.isError && <ErrorState error={settings.error} onRetry={() => void settings.refetch()} />}
      {settings.data &&
        (canAdminister(role) ? (
          <form onSubmit={submit} noValidate className="retention-form">
            <Field
              label={t('reports.retention.days')}
              hint={t('reports.retention.hint', { min: RETENTION_MIN, max: RETENTION_MAX })}
              type="number"
              inputMode="numeric"
              min={RETENTION_MIN}
              max={RETENTION_MAX}
              value={value}
              onChange={(e) => setValue(e.target.value)}
              errors={errors}
            />
            <button type="submit" className="btn btn-primary" disabled={save.isPending}>
              {save.isPending ? t('reports.retention.saving') : t('reports.retention.save')}
            </button>
            {apiErrors.form && <p className="form-error" role="alert">{apiErrors.form}</p>}
          </form>
        ) : (
          <>
            <p>{t('reports.retention.current', { count: settings.data.retention_days })}</p>
            <p className="muted small">{t('reports.retention.adminOnly')}</p>
          </>
        ))}
      <p className="muted small">{t('reports.retention.explain')}</p>
      <StatusMessage message={saved} />
    </section>
  );
}

/** Whether reports POSTed over HTTPS from unverified addresses count (admins choose). */
function UnverifiedCard({ tenant }: { tenant: string }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const qc = useQueryClient();
  const role = useTenantRole(tenant);
  const settings = useReportSettings(tenant);
  const [checked, setChecked] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  useEffect(() => {
    if (settings.data) setChecked(settings.data.count_unverified_https);
  }, [settings.data]);
  const save = useMutation({
    // Retention goes along unchanged: the API takes it in every update.
    mutationFn: (on: boolean) =>
      client.request<ReportSettings>('PUT', settingsPath(tenant), {
        body: { retention_days: settings.data?.retention_days, count_unverified_https: on },
      }),
    onSuccess: (data) => {
      qc.setQueryData(['reportSettings', tenant], data);
      // Every summary of the tenant changes with it.
      void qc.invalidateQueries({ queryKey: ['reports', tenant] });
      setSaved(t(data.count_unverified_https ? 'reports.unverified.savedOn' : 'reports.unverified.savedOff'));
    },
  });
  const apiErrors = formErrors(save.error, []);
  function submit(e: FormEvent) {
    e.preventDefault();
    setSaved(null);
    save.mutate(checked);
  }
  return (
    <section className="card" aria-labelledby="unverified-h" id="unverified">
      <h2 id="unverified-h">{t('reports.unverified.title')}</h2>
      {settings.isPending && <Loading />}
      {settings.isError && <ErrorState error={settings.error} onRetry={() => void settings.refetch()} />}
      {settings.data &&
        (canAdminister(role) ? (
          <form onSubmit={submit} noValidate className="unverified-form">
            <label className="radio">
              <input type="checkbox" checked={checked} onChange={(e) => setChecked(e.target.checked)} />
              <span>{t('reports.unverified.label')}</span>
            </label>
            <button type="submit" className="btn btn-primary" disabled={save.isPending}>
              {save.isPending ? t('reports.unverified.saving') : t('reports.unverified.save')}
            </button>
            {apiErrors.form && <p className="form-error" role="alert">{apiErrors.form}</p>}
          </form>
        ) : (
          <>
            <p>{t(settings.data.count_unverified_https ? 'reports.unverified.on' : 'reports.unverified.off')}</p>
            <p className="muted small">{t('reports.retention.adminOnly')}</p>
          </>
        ))}
      <p className="muted small">{t('reports.unverified.explain')}</p>
      <StatusMessage message={saved} />
    </section>
  );
}

function DomainsSection({ tenant, range }: { tenant: string; range: DayRange }) {
  const { t } = useTranslation();
  const q = useSummary({ tenant }, range, 'domain');
  const rows = useMemo(() => groupRows(q.data?.groups ?? []), [q.data]);
  const search = rangeToParams(range).toString();
  return (
    <section className="card" aria-labelledby="domains-h">
      <h2 id="domains-h">{t('reports.domains.title')}</h2>
      <p className="muted small">{t('reports.domains.intro')}</p>
      {q.isPending && <Loading />}
      {q.isError && <ErrorState error={q.error} onRetry={() => void q.refetch()} />}
      {q.data && (
        <GroupTable
          rows={rows}
          caption={t('reports.domains.title')}
          keyTitle={t('reports.col.domain')}
          renderKey={(d) => (
            <Link to={`/t/${encodeURIComponent(tenant)}/domains/${encodeURIComponent(d)}/reports${search ? `?${search}` : ''}`}>{d}</Link>
          )}
        />
      )}
    </section>
  );
}

/**
 * Reports across every domain of the tenant, the per-domain breakdown, and the report
 * settings (unverified HTTPS reports, retention).
 */
export function TenantReportsPage() {
  const { t } = useTranslation();
  const { tenant = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const today = utcDay(new Date());
  const range = rangeFromParams(params, today);
  const scope: Scope = { tenant };
  return (
    <>
      <div className="page-head">
        <PageTitle title={t('reports.title')}>{t('reports.title')}</PageTitle>
      </div>
      <p className="muted">{t('reports.tenantIntro')}</p>
      <RangePicker range={range} today={today} onChange={(r) => setParams(rangeToParams(r, params), { replace: true })} />
      <SummaryView
        scope={scope}
        range={range}
        extra={<DomainsSection tenant={tenant} range={range} />}
        empty={
          <Empty title={t('reports.tenantEmpty')}>
            <p className="muted">{t('reports.tenantEmptyHelp')}</p>
            <p>
              <Link to={`/t/${encodeURIComponent(tenant)}/domains`}>{t('reports.toDomains')}</Link>
            </p>
          </Empty>
        }
      />
      <UnverifiedCard tenant={tenant} />
      <RetentionCard tenant={tenant} />
    </>
  );
}
