import { useId, useState, type FormEvent } from 'react';
import { useNavigate, useParams } from 'react-router';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { formErrors } from '../api/errors';
import { tenantPath, type Member, type MemberDetail } from '../api/types';
import { formatTime } from '../format';
import { useMe, useMembers, useTenantRole } from '../hooks';
import { canAdminister, grantableRoles, isRole, removalBlocked, roleChangeBlocked, type Blocked, type Role } from '../roles';
import { Field } from '../components/Field';
import { PageTitle } from '../components/Layout';
import { ConfirmAction, Empty, ErrorState, Loading, StatusMessage } from '../components/common';

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

function InviteForm({ tenant, actor, onDone }: { tenant: string; actor: Role; onDone: (m: Member) => void }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const qc = useQueryClient();
  const roles = grantableRoles(actor);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const roleId = useId();
  const invite = useMutation({
    mutationFn: (body: { email: string; role: Role }) => client.post<Member>(tenantPath(tenant, 'members'), body),
    onSuccess: (m) => {
      setEmail('');
      void qc.invalidateQueries({ queryKey: ['members', tenant] });
      void qc.invalidateQueries({ queryKey: ['audit', tenant] });
      onDone(m);
    },
  });
  const errors = invite.isError ? formErrors(invite.error, ['email', 'role'], 'email') : { fields: {}, form: null };

  function submit(e: FormEvent) {
    e.preventDefault();
    invite.mutate(inviteBody(email, role));
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
          onChange={(e) => setEmail(e.target.value)}
          required
          errors={errors.fields.email}
        />
        <div className="field">
          <label htmlFor={roleId}>{t('members.role')}</label>
          <select id={roleId} value={role} onChange={(e) => isRole(e.target.value) && setRole(e.target.value)}>
            {roles.map((r) => (
              <option key={r} value={r}>
                {t(`roles.${r}`)}
              </option>
            ))}
          </select>
        </div>
        <div className="field field-action">
          <button type="submit" className="btn btn-primary" disabled={invite.isPending || email.trim() === ''}>
            {invite.isPending ? t('members.inviting') : t('members.invite')}
          </button>
        </div>
      </div>
      <p className="hint">{t(`roleHelp.${role}`)}</p>
      {errors.form && (
        <p className="form-error" role="alert">
          {errors.form}
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
      {role && admin && <InviteForm tenant={tenant} actor={role} onDone={(m) => setStatus(t('members.invited', { email: m.email, role: t(`roles.${m.role}`, { defaultValue: m.role }) }))} />}
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
