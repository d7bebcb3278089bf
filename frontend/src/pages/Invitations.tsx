import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { tenantPath, type InvitationCreated, type InvitationList, type InvitationView } from '../api/types';
import { formatTime } from '../format';
import { useMemberEmails } from '../hooks';
import { invitationDays, invitationLink } from '../invitation';
import { ConfirmAction, ErrorState, ShownOnce } from '../components/common';

/** The invitations API of a tenant (owners and admins only). */
export const invitationsPath = (tenant: string, ...rest: string[]) => tenantPath(tenant, 'members', 'invitations', ...rest);

/** The new invitation's link, shown once, with what to do with it. */
export function InvitationLink({ created, onDone }: { created: InvitationCreated; onDone: () => void }) {
  const { t } = useTranslation();
  const { email, role } = created.invitation;
  return (
    <ShownOnce
      title={t('members.linkTitle', { email })}
      warning={{
        title: t('members.linkSend', { email }),
        body: t('members.linkRules', { count: invitationDays(created.invitation) }),
      }}
      label={t('members.link')}
      value={invitationLink(window.location.origin, created.token)}
      after={<p className="muted small">{t('members.linkRole', { role: t(`roles.${role}`, { defaultValue: role }) })}</p>}
      doneLabel={t('members.linkDone')}
      onDone={onDone}
    />
  );
}

function Revoke({ tenant, invitation, onRevoked }: { tenant: string; invitation: InvitationView; onRevoked: (m: string) => void }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const qc = useQueryClient();
  const revoke = useMutation({
    mutationFn: () => client.request('DELETE', invitationsPath(tenant, invitation.id)),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['invitations', tenant] });
      void qc.invalidateQueries({ queryKey: ['audit', tenant] });
      onRevoked(t('members.revoked', { email: invitation.email }));
    },
  });
  return (
    <>
      <ConfirmAction
        label={t('members.revoke')}
        confirmLabel={t('members.confirmRevoke')}
        question={t('members.revokeQuestion', { email: invitation.email })}
        onConfirm={() => revoke.mutate()}
        busy={revoke.isPending}
      />
      {revoke.isError && <ErrorState error={revoke.error} />}
    </>
  );
}

/**
 * The tenant's pending invitations, each revocable. Shown only when there are some: most
 * tenants have none, and the invite form above says how to make one.
 */
export function PendingInvitations({ tenant, onStatus }: { tenant: string; onStatus: (m: string) => void }) {
  const { t, i18n } = useTranslation();
  const { client } = useAuth();
  const emails = useMemberEmails(tenant);
  const invitations = useQuery({
    queryKey: ['invitations', tenant],
    queryFn: ({ signal }) => client.get<InvitationList>(invitationsPath(tenant), signal),
  });
  if (invitations.isPending) return null;
  if (invitations.isError) {
    return (
      <section aria-labelledby="pending-h">
        <h2 id="pending-h">{t('members.pendingTitle')}</h2>
        <ErrorState error={invitations.error} onRetry={() => void invitations.refetch()} />
      </section>
    );
  }
  const items = invitations.data.items;
  if (items.length === 0) return null;
  return (
    <section aria-labelledby="pending-h">
      <h2 id="pending-h">{t('members.pendingTitle')}</h2>
      <div className="table-wrap">
        <table className="table table-stack">
          <caption className="visually-hidden">{t('members.pendingTitle')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('members.email')}</th>
              <th scope="col">{t('members.role')}</th>
              <th scope="col" className="col-wide">{t('members.invitedAt')}</th>
              <th scope="col">{t('members.expires')}</th>
              <th scope="col">
                <span className="visually-hidden">{t('members.actions')}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((inv) => {
              const by = inv.invited_by ? emails.get(inv.invited_by) : undefined;
              return (
                <tr key={inv.id}>
                  <th scope="row">{inv.email}</th>
                  <td>
                    <span className={`badge badge-role-${inv.role}`}>{t(`roles.${inv.role}`, { defaultValue: inv.role })}</span>
                  </td>
                  <td className="col-wide muted">
                    {formatTime(inv.created_at, i18n.language)}
                    {by && <span className="small block">{t('members.invitedBy', { email: by })}</span>}
                  </td>
                  <td data-label={t('members.expires')}>{formatTime(inv.expires_at, i18n.language)}</td>
                  <td className="cell-actions">
                    <Revoke tenant={tenant} invitation={inv} onRevoked={onStatus} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}
