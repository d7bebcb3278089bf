import { useId, useState, type FormEvent } from 'react';
import { useNavigate, useParams } from 'react-router';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { ApiError, fieldErrors, formErrors } from '../api/errors';
import { tenantPath, type InvitationCreated, type Member, type MemberDetail } from '../api/types';
import { formatTime } from '../format';
import { useMe, useMembers, useTenantRole } from '../hooks';
import { canAdminister, grantableRoles, isRole, removalBlocked, roleChangeBlocked, type Blocked, type Role } from '../roles';
import { Field } from '../components/Field';
import { PageTitle } from '../components/Layout';
import { ConfirmAction, Empty, ErrorState, Loading, StatusMessage } from '../components/common';
import { InvitationLink, invitationsPath, PendingInvitations } from './Invitations';

/** The invite form's body for the API: the e-mail trimmed, the role as chosen. */
export function inviteBody(email: string, role: Role): { email: string; role: Role } {
  return { email: email.trim(), role };
}

/** Members sorted for display: strongest role first, then by e-mail. */
export function sortMembers<T extends { role: string; email: string }>(members: readonly T[]): T[] {
  const rank = (r: string) => {
    const i = ['owner', 'admin', 'editor', 'viewer'].indexOf(r);
    return i < 0 ? 99 : i;
  };
  return [...members].sort((a, b) => rank(a.role) - rank(b.role) || a.email.localeCompare(b.email));
}

function RoleLabel({ role }: { role: string }) {
  const { t } = useTranslation();
  return <span className={`badge badge-role-${role}`}>{t(`roles.${role}`, { defaultValue: role })}</span>;
}

/**
 * Whether adding a member failed because no account uses the e-mail (the API's 422 on
 * `email`): then the person can be invited by link instead.
 */
export function noAccount(error: unknown): boolean {
  return error instanceof ApiError && error.status === 422 && (fieldErrors(error).email?.length ?? 0) > 0;
}

function InviteForm({
  tenant,
  actor,
  focusEmail,
  onAdded,
  onInvited,
}: {
  tenant: string;
  actor: Role;
  focusEmail: boolean;
  onAdded: (m: Member) => void;
  onInvited: (c: InvitationCreated) => void;
}) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const qc = useQueryClient();
  const roles = grantableRoles(actor);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const roleId = useId();
  const offerId = useId();
  const add = useMutation({
    mutationFn: (body: { email: string; role: Role }) => client.post<Member>(tenantPath(tenant, 'members'), body),
    onSuccess: (m) => {
      setEmail('');
      void qc.invalidateQueries({ queryKey: ['members', tenant] });
      void qc.invalidateQueries({ queryKey: ['audit', tenant] });
      onAdded(m);
    },
  });
  const invite = useMutation({
    mutationFn: (body: { email: string; role: Role }) => client.post<InvitationCreated>(invitationsPath(tenant), body),
    onSuccess: (created) => {
      setEmail('');
      void qc.invalidateQueries({ queryKey: ['invitations', tenant] });
      void qc.invalidateQueries({ queryKey: ['audit', tenant] });
      onInvited(created);
    },
  });
  // No account uses the address: offer an invitation link for it (explicitly, so that the
  // inviter knows a link is made, and that they have to pass it on).
  const invitable = add.isError && noAccount(add.error) && add.variables ? add.variables.email : null;
  const none: ReturnType<typeof formErrors> = { fields: {}, form: null };
  const addErrors = add.isError && !invitable ? formErrors(add.error, ['email', 'role'], 'email') : none;
  const inviteErrors = invite.isError ? formErrors(invite.error, ['email', 'role'], 'email') : none;
  const emailErrors = [...(addErrors.fields.email ?? []), ...(inviteErrors.fields.email ?? [])];
  const formError = addErrors.form ?? inviteErrors.form;

  function submit(e: FormEvent) {
    e.preventDefault();
    invite.reset();
    add.mutate(inviteBody(email, role));
  }

  return (
    <form className="card" onSubmit={submit} noValidate aria-labelledby="invite-h">
      <h2 id="invite-h">{t('members.inviteTitle')}</h2>
      <p className="muted">{t('members.inviteHelp')}</p>
      <div className="form-row">
        <Field
          label={t('members.email')}
          type="email"
          name="email"
          autoComplete="off"
          spellCheck={false}
          value={email}
          autoFocus={focusEmail}
          onChange={(e) => {
            setEmail(e.target.value);
            add.reset();
            invite.reset();
          }}
          required
          errors={emailErrors.length > 0 ? emailErrors : undefined}
        />
        <div className="field">
          <label htmlFor={roleId}>{t('members.role')}</label>
          <select
            id={roleId}
            value={role}
            onChange={(e) => {
              if (!isRole(e.target.value)) return;
              setRole(e.target.value);
              invite.reset();
            }}
          >
            {roles.map((r) => (
              <option key={r} value={r}>
                {t(`roles.${r}`)}
              </option>
            ))}
          </select>
        </div>
        <div className="field field-action">
          <button type="submit" className="btn btn-primary" disabled={add.isPending || invite.isPending || email.trim() === ''}>
            {add.isPending ? t('members.inviting') : t('members.invite')}
          </button>
        </div>
      </div>
      <p className="hint">{t(`roleHelp.${role}`)}</p>
      <div aria-live="polite">
        {invitable && (
          <div className="notice notice-info invite-offer">
            <p id={offerId}>
              <strong>{t('members.noAccount', { email: invitable })}</strong>{' '}
              {t('members.noAccountHelp', { role: t(`roles.${role}`) })}
            </p>
            <button
              type="button"
              className="btn btn-primary"
              aria-describedby={offerId}
              disabled={invite.isPending}
              onClick={() => invite.mutate(inviteBody(invitable, role))}
            >
              {invite.isPending ? t('members.creatingLink') : t('members.createLink')}
            </button>
          </div>
        )}
      </div>
      {formError && (
        <p className="form-error" role="alert">
          {formError}
        </p>
      )}
    </form>
  );
}

function RoleEditor({
  tenant,
  member,
  actor,
  blocked,
  onChanged,
}: {
  tenant: string;
  member: MemberDetail;
  actor: Role;
  blocked: Blocked;
  onChanged: (message: string) => void;
}) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const qc = useQueryClient();
  const [role, setRole] = useState(member.role);
  const selectId = useId();
  const change = useMutation({
    mutationFn: (next: string) =>
      client.request('PATCH', tenantPath(tenant, 'members', member.user_id), { body: { role: next } }),
    onSuccess: (_, next) => {
      void qc.invalidateQueries({ queryKey: ['members', tenant] });
      void qc.invalidateQueries({ queryKey: ['me'] });
      void qc.invalidateQueries({ queryKey: ['audit', tenant] });
      onChanged(t('members.roleChanged', { email: member.email, role: t(`roles.${next}`, { defaultValue: next }) }));
    },
  });
  if (blocked) {
    return (
      <>
        <RoleLabel role={member.role} />
        {blocked !== 'notAdmin' && (
          <span className="muted small block">
            {t(`members.blocked.${blocked}`)}
          </span>
        )}
      </>
    );
  }
  const options = grantableRoles(actor);
  return (
    <div className="role-editor">
      <label htmlFor={selectId} className="visually-hidden">
        {t('members.roleOf', { email: member.email })}
      </label>
      <select id={selectId} value={role} onChange={(e) => setRole(e.target.value)} disabled={change.isPending}>
        {options.map((r) => (
          <option key={r} value={r}>
            {t(`roles.${r}`)}
          </option>
        ))}
      </select>
      {role !== member.role && (
        <button type="button" className="btn btn-small btn-primary" onClick={() => change.mutate(role)} disabled={change.isPending}>
          {t('members.saveRole')}
        </button>
      )}
      {change.isError && <ErrorState error={change.error} />}
    </div>
  );
}

function RemoveMember({
  tenant,
  member,
  self,
  blocked,
  onRemoved,
}: {
  tenant: string;
  member: MemberDetail;
  self: boolean;
  blocked: Blocked;
  onRemoved: (message: string) => void;
}) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const remove = useMutation({
    mutationFn: () => client.request('DELETE', tenantPath(tenant, 'members', member.user_id)),
    onSuccess: () => {
      if (self) {
        void qc.invalidateQueries({ queryKey: ['me'] });
        navigate('/', { replace: true });
        return;
      }
      void qc.invalidateQueries({ queryKey: ['members', tenant] });
      void qc.invalidateQueries({ queryKey: ['audit', tenant] });
      onRemoved(t('members.removed', { email: member.email }));
    },
  });
  // The role cell already says why (the same rules block both).
  if (blocked) return null;
  return (
    <>
      <ConfirmAction
        label={self ? t('members.leave') : t('members.remove')}
        confirmLabel={self ? t('members.confirmLeave') : t('members.confirmRemove')}
        question={self ? t('members.leaveQuestion') : t('members.removeQuestion', { email: member.email })}
        onConfirm={() => remove.mutate()}
        busy={remove.isPending}
      />
      {remove.isError && <ErrorState error={remove.error} />}
    </>
  );
}

export function MembersPage() {
  const { t, i18n } = useTranslation();
  const { tenant = '' } = useParams();
  const me = useMe();
  const role = useTenantRole(tenant);
  const [status, setStatus] = useState<string | null>(null);
  // The invitation just created (its link shown once), and whether the form comes back after it.
  const [created, setCreated] = useState<InvitationCreated | null>(null);
  const [returned, setReturned] = useState(false);
  const members = useMembers(tenant);
  const admin = canAdminister(role);
  const self = me.data?.user.id;
  const items = members.data ? sortMembers(members.data.items) : [];

  return (
    <>
      <div className="page-head">
        <PageTitle title={t('members.title')}>{t('members.title')}</PageTitle>
      </div>
      <p className="muted">{t('members.intro')}</p>
      {role && !admin && (
        <p className="notice notice-info">{t('members.readOnly', { role: t(`roles.${role}`) })}</p>
      )}
      {role && admin &&
        (created ? (
          <InvitationLink
            created={created}
            onDone={() => {
              setCreated(null);
              setReturned(true);
            }}
          />
        ) : (
          <InviteForm
            tenant={tenant}
            actor={role}
            focusEmail={returned}
            onAdded={(m) => setStatus(t('members.invited', { email: m.email, role: t(`roles.${m.role}`, { defaultValue: m.role }) }))}
            onInvited={(c) => {
              setStatus(null);
              setCreated(c);
            }}
          />
        ))}
      <StatusMessage message={status} />

      {members.isPending && <Loading />}
      {members.isError && <ErrorState error={members.error} onRetry={() => void members.refetch()} />}
      {members.isSuccess && items.length === 0 && <Empty title={t('members.empty')} />}
      {items.length > 0 && (
        <div className="table-wrap">
          <table className="table table-stack">
            <caption className="visually-hidden">{t('members.title')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('members.email')}</th>
                <th scope="col">{t('members.role')}</th>
                <th scope="col" className="col-wide">{t('members.joined')}</th>
                <th scope="col">
                  <span className="visually-hidden">{t('members.actions')}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((m) => {
                const isSelf = m.user_id === self;
                return (
                  <tr key={m.user_id}>
                    <th scope="row">
                      {m.email}
                      {isSelf && <span className="badge badge-muted you">{t('members.you')}</span>}
                    </th>
                    <td>
                      {role ? (
                        <RoleEditor
                          key={m.role}
                          tenant={tenant}
                          member={m}
                          actor={role}
                          blocked={roleChangeBlocked(role, m, items)}
                          onChanged={setStatus}
                        />
                      ) : (
                        <RoleLabel role={m.role} />
                      )}
                    </td>
                    <td className="col-wide muted">{formatTime(m.joined_at, i18n.language)}</td>
                    <td className="cell-actions">
                      <RemoveMember
                        tenant={tenant}
                        member={m}
                        self={isSelf}
                        blocked={removalBlocked(role, self, m, items)}
                        onRemoved={setStatus}
                      />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {role && admin && <PendingInvitations tenant={tenant} onStatus={setStatus} />}
      <section className="card" aria-labelledby="roles-h">
        <h2 id="roles-h">{t('members.rolesTitle')}</h2>
        <dl className="facts">
          {(['owner', 'admin', 'editor', 'viewer'] as const).map((r) => (
            <div key={r} className="contents">
              <dt>{t(`roles.${r}`)}</dt>
              <dd>{t(`roleHelp.${r}`)}</dd>
            </div>
          ))}
        </dl>
      </section>
    </>
  );
}
