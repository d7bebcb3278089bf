import { useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { formErrors } from '../api/errors';
import { tenantPath, type Checks, type CreatedDomain } from '../api/types';
import { Field } from '../components/Field';
import { PageTitle } from '../components/Layout';
import { ChecksPanel, RecordsPanel } from '../components/Setup';
import { ModeBadge, StateBadge } from '../components/common';
import { MxCoverageView } from '../components/MxCoverage';
import { ExistingSetupView } from '../components/ExistingSetup';
import { useTenantRole } from '../hooks';
import { ReadOnlyNotice } from '../components/ReadOnly';
import { canWrite } from '../roles';

/**
 * The new domain's state: as created, then as the checks panel below finds it (it polls): the
 * page must not say "pending" above checks that say "active". Reads the panel's cached
 * answers; fetches nothing itself.
 */
function LiveState({ tenant, created }: { tenant: string; created: CreatedDomain }) {
  const { client } = useAuth();
  const checks = useQuery({
    queryKey: ['checks', tenant, created.name],
    queryFn: ({ signal }) => client.get<Checks>(tenantPath(tenant, 'domains', created.name, 'checks'), signal),
    enabled: false,
  });
  return <StateBadge state={checks.data?.state ?? created.state} />;
}

export function AddDomainPage() {
  const { t } = useTranslation();
  const { tenant = '' } = useParams();
  const { client } = useAuth();
  const qc = useQueryClient();
  const [name, setName] = useState('');
  const role = useTenantRole(tenant);
  const create = useMutation({
    mutationFn: (n: string) => client.post<CreatedDomain>(tenantPath(tenant, 'domains'), { name: n }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['domains', tenant] }),
  });
  const errors = create.isError ? formErrors(create.error, ['name'], 'name') : { fields: {}, form: null };

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate(name.trim());
  }

  const created = create.data;
  if (created) {
    const domainUrl = `/t/${encodeURIComponent(tenant)}/domains/${encodeURIComponent(created.name)}`;
    return (
      <>
        <PageTitle title={t('add.addedTitle', { name: created.display_name })}>
          {t('add.addedTitle', { name: created.display_name })}
        </PageTitle>
        <p className="lead">
          <LiveState tenant={tenant} created={created} /> <ModeBadge mode={created.mode} /> {t('add.nextStep')}
        </p>
        <div className="card">
          <h2>{t('add.discovery')}</h2>
          <p>
            {created.mx_discovery.status === 'found'
              ? t('add.mxFound', { hosts: created.mx_discovery.hosts.map((h) => h.host).join(', ') })
              : (created.mx_discovery.explanation ?? t(`add.mx.${created.mx_discovery.status}`))}
          </p>
          <p className="muted">
            {created.policy
              ? t('add.proposed', { mode: t(`modes.${created.policy.mode}`), count: created.policy.mx.length })
              : t('add.noPolicy')}
          </p>
          {created.policy && created.mx_discovery.status === 'found' && (
            <MxCoverageView patterns={created.policy.mx} hosts={created.mx_discovery.hosts.map((h) => h.host)} />
          )}
        </div>
        <ExistingSetupView existing={created.existing} />
        <RecordsPanel records={created.records} zoneFile={created.zone_file} note={created.note} extraRua={created.extra_rua} />
        <ChecksPanel tenant={tenant} name={created.name} />
        <p>
          <Link to={domainUrl}>{t('add.openDomain')}</Link>
        </p>
      </>
    );
  }

  if (role !== undefined && !canWrite(role)) {
    return (
      <>
        <PageTitle title={t('add.title')}>{t('add.title')}</PageTitle>
        <ReadOnlyNotice role={role} />
        <p>
          <Link to={`/t/${encodeURIComponent(tenant)}/domains`}>← {t('domains.title')}</Link>
        </p>
      </>
    );
  }

  return (
    <>
      <PageTitle title={t('add.title')}>{t('add.title')}</PageTitle>
      <form className="card form-narrow" onSubmit={submit} noValidate>
        <Field
          label={t('add.name')}
          name="name"
          value={name}
          onChange={(e) => setName(e.target.value)}
          placeholder="example.com"
          autoComplete="off"
          spellCheck={false}
          required
          hint={t('add.nameHint')}
          errors={errors.fields.name}
        />
        {errors.form && (
          <p className="form-error" role="alert">
            {errors.form}
          </p>
        )}
        <div className="actions">
          <button type="submit" className="btn btn-primary" disabled={create.isPending || name.trim() === ''}>
            {create.isPending ? t('add.adding') : t('add.submit')}
          </button>
          <Link className="btn" to={`/t/${encodeURIComponent(tenant)}/domains`}>
            {t('common.cancel')}
          </Link>
        </div>
        {create.isPending && <p className="muted small" role="status">{t('add.discovering')}</p>}
      </form>
    </>
  );
}
