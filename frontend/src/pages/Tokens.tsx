import { useId, useState, type FormEvent } from 'react';
import { useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { formErrors } from '../api/errors';
import { tenantPath, type CreatedToken, type TokenList, type TokenView } from '../api/types';
import { formatTime } from '../format';
import { useTenantRole } from '../hooks';
import { canAdminister } from '../roles';
import { Field } from '../components/Field';
import { PageTitle } from '../components/Layout';
import { ConfirmAction, Empty, ErrorState, Loading, ShownOnce, StatusMessage } from '../components/common';

export const TOKEN_SCOPES = ['read', 'write'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];
/** Expiry choices in days; 0 means until revoked. */
export const EXPIRY_DAYS = [0, 30, 90, 365] as const;

export interface TokenForm {
  name: string;
  scope: TokenScope;
  expiresInDays: number;
}

/** Client-side checks matching the API's (1 to 100 characters); the API has the last word. */
export function tokenFormErrors(form: TokenForm): { name?: 'required' | 'tooLong' } {
  const name = form.name.trim();
  if (name === '') return { name: 'required' };
  if ([...name].length > 100) return { name: 'tooLong' };
  return {};
}

/** The POST body: a trimmed name, and no expiry field when the token lives until revoked. */
export function tokenBody(form: TokenForm): { name: string; scope: TokenScope; expires_in_days?: number } {
  const body: { name: string; scope: TokenScope; expires_in_days?: number } = { name: form.name.trim(), scope: form.scope };
  if (form.expiresInDays > 0) body.expires_in_days = form.expiresInDays;
  return body;
}

export type TokenStatus = 'active' | 'revoked' | 'expired';

export function tokenStatus(token: Pick<TokenView, 'revoked_at' | 'expires_at'>, now: number): TokenStatus {
  if (token.revoked_at !== null) return 'revoked';
  if (token.expires_at !== null && token.expires_at <= now) return 'expired';
  return 'active';
}

/** Working tokens first, newest first within each group. */
export function sortTokens<T extends Pick<TokenView, 'revoked_at' | 'expires_at' | 'created_at'>>(tokens: readonly T[], now: number): T[] {
  const rank = (t: T) => (tokenStatus(t, now) === 'active' ? 0 : 1);
  return [...tokens].sort((a, b) => rank(a) - rank(b) || b.created_at - a.created_at);
}

const STATUS_TONE: Record<TokenStatus, string> = { active: 'ok', revoked: 'muted', expired: 'warn' };

/** The new secret, shown once: focused, copyable, with the warning that it will not come back. */
function NewSecret({ token, onDone }: { token: CreatedToken; onDone: () => void }) {
  const { t } = useTranslation();
  return (
    <ShownOnce
      title={t('tokens.createdTitle', { name: token.name })}
      warning={{ title: t('tokens.onceTitle'), body: t('tokens.onceHelp') }}
      label={t('tokens.secret')}
      value={token.token}
      after={<p className="muted small">{t('tokens.usage')}</p>}
      doneLabel={t('tokens.stored')}
      onDone={onDone}
    />
  );
}

function CreateForm({ tenant, onCreated }: { tenant: string; onCreated: (t: CreatedToken) => void }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const qc = useQueryClient();
  const [form, setForm] = useState<TokenForm>({ name: '', scope: 'read', expiresInDays: 0 });
  const [tried, setTried] = useState(false);
  const expiryId = useId();
  const create = useMutation({
    mutationFn: (body: ReturnType<typeof tokenBody>) => client.post<CreatedToken>(tenantPath(tenant, 'tokens'), body),
    onSuccess: (created) => {
      setForm({ name: '', scope: 'read', expiresInDays: 0 });
      setTried(false);
      void qc.invalidateQueries({ queryKey: ['tokens', tenant] });
      void qc.invalidateQueries({ queryKey: ['audit', tenant] });
      onCreated(created);
    },
  });
  const local = tried ? tokenFormErrors(form) : {};
  const api = create.isError ? formErrors(create.error, ['name', 'scope', 'expires_in_days']) : { fields: {}, form: null };
  const nameErrors = local.name ? [t(`tokens.nameErrors.${local.name}`)] : api.fields.name;

  function submit(e: FormEvent) {
    e.preventDefault();
    setTried(true);
    if (Object.keys(tokenFormErrors(form)).length > 0) return;
    create.mutate(tokenBody(form));
  }

  return (
    <form className="card" onSubmit={submit} noValidate aria-labelledby="create-token-h">
      <h2 id="create-token-h">{t('tokens.createTitle')}</h2>
      <Field
        label={t('tokens.name')}
        name="name"
        value={form.name}
        maxLength={100}
        autoComplete="off"
        onChange={(e) => setForm({ ...form, name: e.target.value })}
        hint={t('tokens.nameHint')}
        required
        errors={nameErrors}
      />
      <fieldset className="field">
        <legend>{t('tokens.scope')}</legend>
        {TOKEN_SCOPES.map((s) => (
          <label key={s} className="radio">
            <input type="radio" name="scope" value={s} checked={form.scope === s} onChange={() => setForm({ ...form, scope: s })} />
            <span>
              <strong>{t(`tokens.scopes.${s}`)}</strong>
              <span className="muted small block">{t(`tokens.scopeHelp.${s}`)}</span>
            </span>
          </label>
        ))}
        {api.fields.scope && <p className="field-errors" role="alert">{api.fields.scope.join(' ')}</p>}
      </fieldset>
      <div className="field">
        <label htmlFor={expiryId}>{t('tokens.expiry')}</label>
        <select id={expiryId} value={form.expiresInDays} onChange={(e) => setForm({ ...form, expiresInDays: Number(e.target.value) })}>
          {EXPIRY_DAYS.map((d) => (
            <option key={d} value={d}>
              {d === 0 ? t('tokens.never') : t('tokens.days', { count: d })}
            </option>
          ))}
        </select>
      </div>
      {api.form && (
        <p className="form-error" role="alert">
          {api.form}
        </p>
      )}
      <button type="submit" className="btn btn-primary" disabled={create.isPending}>
        {create.isPending ? t('tokens.creating') : t('tokens.create')}
      </button>
    </form>
  );
}

function Revoke({ tenant, token, onRevoked }: { tenant: string; token: TokenView; onRevoked: (m: string) => void }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const qc = useQueryClient();
  const revoke = useMutation({
    mutationFn: () => client.request('DELETE', tenantPath(tenant, 'tokens', token.id)),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['tokens', tenant] });
      void qc.invalidateQueries({ queryKey: ['audit', tenant] });
      onRevoked(t('tokens.revoked', { name: token.name }));
    },
  });
  return (
    <>
      <ConfirmAction
        label={t('tokens.revoke')}
        confirmLabel={t('tokens.confirmRevoke')}
        question={t('tokens.revokeQuestion', { name: token.name })}
        onConfirm={() => revoke.mutate()}
        busy={revoke.isPending}
      />
      {revoke.isError && <ErrorState error={revoke.error} />}
    </>
  );
}

function TokenTable({ tenant, onStatus }: { tenant: string; onStatus: (m: string) => void }) {
  const { t, i18n } = useTranslation();
  const { client } = useAuth();
  const tokens = useQuery({
    queryKey: ['tokens', tenant],
    queryFn: ({ signal }) => client.get<TokenList>(tenantPath(tenant, 'tokens'), signal),
  });
  if (tokens.isPending) return <Loading />;
  if (tokens.isError) return <ErrorState error={tokens.error} onRetry={() => void tokens.refetch()} />;
  const now = Date.now() / 1000;
  const items = sortTokens(tokens.data.items, now);
  if (items.length === 0) {
    return (
      <Empty title={t('tokens.empty')}>
        <p className="muted">{t('tokens.emptyHelp')}</p>
      </Empty>
    );
  }
  return (
    <div className="table-wrap">
      <table className="table table-stack">
        <caption className="visually-hidden">{t('tokens.listTitle')}</caption>
        <thead>
          <tr>
            <th scope="col">{t('tokens.name')}</th>
            <th scope="col">{t('tokens.scope')}</th>
            <th scope="col">{t('tokens.lastUsed')}</th>
            <th scope="col" className="col-wide">{t('tokens.created')}</th>
            <th scope="col">{t('tokens.createdBy')}</th>
            <th scope="col" className="col-wide">{t('tokens.expires')}</th>
            <th scope="col">
              <span className="visually-hidden">{t('tokens.actions')}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {items.map((tok) => {
            const status = tokenStatus(tok, now);
            return (
              <tr key={tok.id} className={status === 'active' ? undefined : 'row-inactive'}>
                <th scope="row">
                  {tok.name}
                  <span className={`badge badge-${STATUS_TONE[status]} badge-after`}>{t(`tokens.status.${status}`)}</span>
                </th>
                <td>
                  <span className={`badge ${tok.scope === 'write' ? 'badge-warn' : 'badge-info'}`}>
                    {t(`tokens.scopes.${tok.scope}`, { defaultValue: tok.scope })}
                  </span>
                </td>
                <td data-label={t('tokens.lastUsed')}>{tok.last_used_at ? formatTime(tok.last_used_at, i18n.language) : <span className="muted">{t('tokens.neverUsed')}</span>}</td>
                <td className="col-wide muted">{formatTime(tok.created_at, i18n.language)}</td>
                <td data-label={t('tokens.createdBy')}>
                  {tok.created_by ? (tok.created_by.email ?? tok.created_by.id) : <span className="muted">{t('tokens.creatorDeleted')}</span>}
                </td>
                <td className="col-wide muted">{tok.expires_at ? formatTime(tok.expires_at, i18n.language) : t('tokens.noExpiry')}</td>
                <td className="cell-actions">
                  {status === 'active' ? (
                    <Revoke tenant={tenant} token={tok} onRevoked={onStatus} />
                  ) : tok.revoked_at ? (
                    <span className="muted small">{formatTime(tok.revoked_at, i18n.language)}</span>
                  ) : null}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function TokensPage() {
  const { t } = useTranslation();
  const { tenant = '' } = useParams();
  const role = useTenantRole(tenant);
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  return (
    <>
      <div className="page-head">
        <PageTitle title={t('tokens.title')}>{t('tokens.title')}</PageTitle>
      </div>
      <p className="muted">{t('tokens.intro')}</p>
      {role === undefined && <Loading />}
      {role !== undefined && !canAdminister(role) && (
        <Empty title={t('tokens.adminOnlyTitle')}>
          <p className="muted">{t('tokens.adminOnly', { role: role ? t(`roles.${role}`) : '—' })}</p>
        </Empty>
      )}
      {canAdminister(role) && (
        <>
          {created ? (
            <NewSecret token={created} onDone={() => setCreated(null)} />
          ) : (
            <CreateForm tenant={tenant} onCreated={(c) => { setStatus(null); setCreated(c); }} />
          )}
          <StatusMessage message={status} />
          <h2>{t('tokens.listTitle')}</h2>
          <TokenTable tenant={tenant} onStatus={setStatus} />
        </>
      )}
    </>
  );
}
