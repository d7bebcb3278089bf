import { useId, useState, type FormEvent } from 'react';
import { useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { formErrors } from '../api/errors';
import { tenantPath } from '../api/types';
import type { components } from '../api/schema';
import { formatTime } from '../format';
import { useTenantRole } from '../hooks';
import { canAdminister } from '../roles';
import { Field } from '../components/Field';
import { PageTitle } from '../components/Layout';
import { ConfirmAction, Empty, ErrorState, Loading, ShownOnce, StatusMessage } from '../components/common';
import { WEBHOOK_EVENTS, deliveryTone, eventKey, webhookBody, webhookFormErrors, type WebhookForm } from './alertsLogic';

type WebhookView = components['schemas']['WebhookView'];
type WebhookList = components['schemas']['WebhookList'];
type CreatedWebhook = components['schemas']['CreatedWebhook'];
type DeliveryList = components['schemas']['DeliveryList'];

const EMPTY: WebhookForm = { url: '', all: true, events: [] };

/** The signing secret, shown once: focused, copyable, with the warning that it will not come back. */
function NewSecret({ created, onDone }: { created: CreatedWebhook; onDone: () => void }) {
  const { t } = useTranslation();
  return (
    <ShownOnce
      title={t('alerts.createdTitle')}
      before={
        <p>
          <code className="target">{created.webhook.url}</code>
        </p>
      }
      warning={{ title: t('alerts.onceTitle'), body: t('alerts.onceHelp') }}
      label={t('alerts.secret')}
      value={created.secret}
      after={<p className="muted small">{t('alerts.signature')}</p>}
      doneLabel={t('alerts.stored')}
      onDone={onDone}
    />
  );
}

function CreateForm({ tenant, onCreated }: { tenant: string; onCreated: (c: CreatedWebhook) => void }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const qc = useQueryClient();
  const [form, setForm] = useState<WebhookForm>(EMPTY);
  const [tried, setTried] = useState(false);
  const create = useMutation({
    mutationFn: (body: ReturnType<typeof webhookBody>) => client.post<CreatedWebhook>(tenantPath(tenant, 'webhooks'), body),
    onSuccess: (created) => {
      setForm(EMPTY);
      setTried(false);
      void qc.invalidateQueries({ queryKey: ['webhooks', tenant] });
      void qc.invalidateQueries({ queryKey: ['audit', tenant] });
      onCreated(created);
    },
  });
  const local = tried ? webhookFormErrors(form) : {};
  const api = create.isError ? formErrors(create.error, ['url', 'events']) : { fields: {}, form: null };
  const urlErrors = local.url ? [t(`alerts.urlErrors.${local.url}`)] : api.fields.url;
  const eventErrors = local.events ? [t('alerts.eventsError')] : api.fields.events;

  function submit(e: FormEvent) {
    e.preventDefault();
    setTried(true);
    if (Object.keys(webhookFormErrors(form)).length > 0) return;
    create.mutate(webhookBody(form));
  }
  function toggle(event: (typeof WEBHOOK_EVENTS)[number], on: boolean) {
    setForm({ ...form, events: on ? [...form.events, event] : form.events.filter((e) => e !== event) });
  }

  return (
    <form className="card" onSubmit={submit} noValidate aria-labelledby="create-hook-h">
      <h2 id="create-hook-h">{t('alerts.createTitle')}</h2>
      <Field
        label={t('alerts.url')}
        name="url"
        type="url"
        inputMode="url"
        value={form.url}
        autoComplete="off"
        spellCheck={false}
        placeholder="https://hooks.example.com/stsd"
        onChange={(e) => setForm({ ...form, url: e.target.value })}
        hint={t('alerts.urlHint')}
        required
        errors={urlErrors}
      />
      <fieldset className="field" aria-describedby={eventErrors ? 'hook-events-err' : undefined}>
        <legend>{t('alerts.events')}</legend>
        <label className="radio">
          <input type="checkbox" checked={form.all} onChange={(e) => setForm({ ...form, all: e.target.checked })} />
          <span>
            <strong>{t('alerts.allEvents')}</strong>
            <span className="muted small block">{t('alerts.allEventsHelp')}</span>
          </span>
        </label>
        {!form.all &&
          WEBHOOK_EVENTS.map((ev) => (
            <label key={ev} className="radio radio-indent">
              <input type="checkbox" checked={form.events.includes(ev)} onChange={(e) => toggle(ev, e.target.checked)} />
              <span>
                <strong>{t(`alerts.event.${eventKey(ev)}`)}</strong> <code className="small">{ev}</code>
                <span className="muted small block">{t(`alerts.eventHelp.${eventKey(ev)}`)}</span>
              </span>
            </label>
          ))}
        {eventErrors && (
          <p id="hook-events-err" className="field-errors" role="alert">
            {eventErrors.join(' ')}
          </p>
        )}
      </fieldset>
      {api.form && (
        <p className="form-error" role="alert">
          {api.form}
        </p>
      )}
      <button type="submit" className="btn btn-primary" disabled={create.isPending}>
        {create.isPending ? t('alerts.creating') : t('alerts.create')}
      </button>
    </form>
  );
}

function Deliveries({ tenant, hook }: { tenant: string; hook: WebhookView }) {
  const { t, i18n } = useTranslation();
  const { client } = useAuth();
  const deliveries = useQuery({
    queryKey: ['webhook-deliveries', tenant, hook.id],
    queryFn: ({ signal }) => client.get<DeliveryList>(tenantPath(tenant, 'webhooks', hook.id, 'deliveries'), signal),
    refetchInterval: (q) => (q.state.data?.items.some((d) => d.status === 'pending') ? 5_000 : false),
  });
  if (deliveries.isPending) return <Loading />;
  if (deliveries.isError) return <ErrorState error={deliveries.error} onRetry={() => void deliveries.refetch()} />;
  if (deliveries.data.items.length === 0) return <p className="muted">{t('alerts.noDeliveries')}</p>;
  return (
    <div className="table-wrap">
      <table className="table table-stack">
        <caption className="visually-hidden">{t('alerts.deliveriesOf', { url: hook.url })}</caption>
        <thead>
          <tr>
            <th scope="col">{t('alerts.when')}</th>
            <th scope="col">{t('alerts.eventColumn')}</th>
            <th scope="col">{t('alerts.status')}</th>
            <th scope="col">{t('alerts.attempts')}</th>
            <th scope="col">{t('alerts.answer')}</th>
          </tr>
        </thead>
        <tbody>
          {deliveries.data.items.map((d) => (
            <tr key={d.id}>
              <th scope="row">{formatTime(d.created_at, i18n.language)}</th>
              <td>{t(`alerts.event.${eventKey(d.event)}`, { defaultValue: d.event })}</td>
              <td>
                <span className={`badge badge-${deliveryTone(d.status)}`}>{t(`alerts.statuses.${d.status}`, { defaultValue: d.status })}</span>
              </td>
              <td data-label={t('alerts.attempts')}>{d.attempts}</td>
              <td data-label={t('alerts.answer')} className="target">
                {d.last_status != null && <span>{t('alerts.httpStatus', { status: d.last_status })} </span>}
                {d.last_error && <span className="muted small">{d.last_error}</span>}
                {d.last_status == null && !d.last_error && <span className="muted">—</span>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function HookCard({ tenant, hook, onStatus }: { tenant: string; hook: WebhookView; onStatus: (m: string) => void }) {
  const { t, i18n } = useTranslation();
  const { client } = useAuth();
  const qc = useQueryClient();
  const [open, setOpen] = useState(false);
  const panelId = useId();
  const ping = useMutation({
    mutationFn: () => client.post(tenantPath(tenant, 'webhooks', hook.id, 'ping')),
    onSuccess: () => {
      setOpen(true);
      onStatus(t('alerts.pinged', { url: hook.url }));
      void qc.invalidateQueries({ queryKey: ['webhook-deliveries', tenant, hook.id] });
    },
  });
  const remove = useMutation({
    mutationFn: () => client.request('DELETE', tenantPath(tenant, 'webhooks', hook.id)),
    onSuccess: () => {
      onStatus(t('alerts.deleted', { url: hook.url }));
      void qc.invalidateQueries({ queryKey: ['webhooks', tenant] });
      void qc.invalidateQueries({ queryKey: ['audit', tenant] });
    },
  });
  return (
    <li className="card hook" aria-label={hook.url}>
      <div className="hook-head">
        <div className="hook-what">
          <code className="target hook-url">{hook.url}</code>
          <div>
            {hook.events.map((e) => (
              <span key={e} className="chip small">
                {e === '*' ? t('alerts.allEvents') : t(`alerts.event.${eventKey(e)}`, { defaultValue: e })}
              </span>
            ))}
          </div>
          <p className="muted small m0">{t('alerts.created', { when: formatTime(hook.created_at, i18n.language) })}</p>
        </div>
        <div className="actions hook-actions">
          <button type="button" className="btn btn-small" onClick={() => ping.mutate()} disabled={ping.isPending}>
            {ping.isPending ? t('alerts.pinging') : t('alerts.ping')}
          </button>
          <button type="button" className="btn btn-small" aria-expanded={open} aria-controls={panelId} onClick={() => setOpen(!open)}>
            {open ? t('alerts.hideDeliveries') : t('alerts.showDeliveries')}
          </button>
          <ConfirmAction
            label={t('alerts.delete')}
            confirmLabel={t('alerts.confirmDelete')}
            question={t('alerts.deleteQuestion', { url: hook.url })}
            onConfirm={() => remove.mutate()}
            busy={remove.isPending}
          />
        </div>
      </div>
      {ping.isError && <ErrorState error={ping.error} />}
      {remove.isError && <ErrorState error={remove.error} />}
      <div id={panelId} hidden={!open}>
        {open && (
          <section aria-label={t('alerts.deliveriesOf', { url: hook.url })} className="hook-deliveries">
            <Deliveries tenant={tenant} hook={hook} />
          </section>
        )}
      </div>
    </li>
  );
}

function HookList({ tenant, onStatus }: { tenant: string; onStatus: (m: string) => void }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const hooks = useQuery({
    queryKey: ['webhooks', tenant],
    queryFn: ({ signal }) => client.get<WebhookList>(tenantPath(tenant, 'webhooks'), signal),
  });
  if (hooks.isPending) return <Loading />;
  if (hooks.isError) return <ErrorState error={hooks.error} onRetry={() => void hooks.refetch()} />;
  if (hooks.data.items.length === 0) {
    return (
      <Empty title={t('alerts.empty')}>
        <p className="muted">{t('alerts.emptyHelp')}</p>
      </Empty>
    );
  }
  return (
    <ul className="hooks">
      {hooks.data.items.map((h) => (
        <HookCard key={h.id} tenant={tenant} hook={h} onStatus={onStatus} />
      ))}
    </ul>
  );
}

/** Alerts: the tenant's webhooks (owners and admins), their deliveries and a test ping. */
export function AlertsPage() {
  const { t } = useTranslation();
  const { tenant = '' } = useParams();
  const role = useTenantRole(tenant);
  const [created, setCreated] = useState<CreatedWebhook | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  return (
    <>
      <div className="page-head">
        <PageTitle title={t('alerts.title')}>{t('alerts.title')}</PageTitle>
      </div>
      <p className="muted">{t('alerts.intro')}</p>
      {role === undefined && <Loading />}
      {role !== undefined && !canAdminister(role) && (
        <Empty title={t('alerts.adminOnlyTitle')}>
          <p className="muted">{t('alerts.adminOnly', { role: role ? t(`roles.${role}`) : '—' })}</p>
        </Empty>
      )}
      {canAdminister(role) && (
        <>
          {created ? (
            <NewSecret created={created} onDone={() => setCreated(null)} />
          ) : (
            <CreateForm
              tenant={tenant}
              onCreated={(c) => {
                setStatus(null);
                setCreated(c);
              }}
            />
          )}
          <StatusMessage message={status} />
          <h2>{t('alerts.listTitle')}</h2>
          <HookList tenant={tenant} onStatus={setStatus} />
        </>
      )}
    </>
  );
}
