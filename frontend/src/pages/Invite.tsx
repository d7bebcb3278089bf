import { useState, type FormEvent } from 'react';
import { Link, useLocation, useNavigate } from 'react-router';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { ApiError, formErrors, type FieldErrors } from '../api/errors';
import type { TenantView } from '../api/types';
import { useMe } from '../hooks';
import { refusalOf, refusalOfFieldMessage, tokenFromHash, type Refusal } from '../invitation';
import { ErrorState, Loading } from '../components/common';
import { AuthShell, NewAccountFields } from './Auth';

const domainsOf = (tenant: { id: string }) => `/t/${encodeURIComponent(tenant.id)}/domains`;

/** Why the invitation cannot be used, in plain words, with the one way forward that helps. */
function RefusalNotice({ refusal, email, onLogout }: { refusal: Refusal; email?: string; onLogout?: () => void }) {
  const { t } = useTranslation();
  return (
    <div className="notice notice-bad invite-refusal" role="alert">
      <p>{t(`invite.refusal.${refusal}`, { email: email ?? '' })}</p>
      {refusal === 'mismatch' && onLogout && (
        <button type="button" className="btn" onClick={onLogout}>
          {t('invite.logout')}
        </button>
      )}
      {refusal === 'alreadyMember' && <Link to="/">{t('invite.home')}</Link>}
    </div>
  );
}

/** Logged in: accept as this account, which must have the invited address. */
function Accept({ token }: { token: string }) {
  const { t } = useTranslation();
  const { client, logout } = useAuth();
  const me = useMe();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const accept = useMutation({
    mutationFn: () => client.post<TenantView>('/api/v1/invitations/accept', { token }),
    onSuccess: async (tenant) => {
      // The new membership must be in `me` before the tenant's pages ask for the role.
      await qc.invalidateQueries({ queryKey: ['me'] });
      navigate(domainsOf(tenant), { replace: true });
    },
  });
  if (me.isPending) return <Loading />;
  if (me.isError) return <ErrorState error={me.error} onRetry={() => void me.refetch()} />;
  const email = me.data.user.email;
  const refusal = accept.isError ? refusalOf(accept.error) : null;
  return (
    <>
      <p>
        {t('invite.loggedInAs')} <strong>{email}</strong>
      </p>
      <p className="muted">{t('invite.acceptHelp')}</p>
      {refusal && <RefusalNotice refusal={refusal} email={email} onLogout={() => void logout()} />}
      {accept.isError && !refusal && <ErrorState error={accept.error} />}
      {!refusal && (
        <button type="button" className="btn btn-primary btn-block" onClick={() => accept.mutate()} disabled={accept.isPending || accept.isSuccess}>
          {accept.isPending || accept.isSuccess ? t('invite.accepting') : t('invite.accept')}
        </button>
      )}
    </>
  );
}

/** What a failed sign-up with an invitation means: field errors, a refusal, or a message. */
export function signupFailure(
  err: unknown,
  texts: { mismatch: string; emailTaken: string },
): { fields: FieldErrors; form: string | null; refusal: Refusal | null } {
  const byCode = refusalOf(err);
  if (byCode) return { fields: {}, form: null, refusal: byCode };
  const { fields, form } = formErrors(err, ['email', 'password', 'invitation'], 'email');
  const { invitation, ...rest } = fields;
  if (err instanceof ApiError && err.code === 'email_taken') rest.email = [texts.emailTaken];
  const message = invitation?.[0];
  if (message === undefined) return { fields: rest, form, refusal: null };
  const refusal = refusalOfFieldMessage(message);
  if (refusal === 'mismatch') return { fields: { ...rest, email: [texts.mismatch] }, form, refusal: null };
  if (refusal) return { fields: rest, form, refusal };
  return { fields: rest, form: [form, `invitation: ${message}`].filter(Boolean).join('; '), refusal: null };
}

/** Logged out: a new account for the invited address, joining the tenant (no tenant of its own). */
function SignupToJoin({ token }: { token: string }) {
  const { t } = useTranslation();
  const { signup } = useAuth();
  const navigate = useNavigate();
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [refusal, setRefusal] = useState<Refusal | null>(null);
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    setBusy(true);
    setErrors({});
    setFormError(null);
    try {
      const r = await signup(String(form.get('email') ?? ''), String(form.get('password') ?? ''), { invitation: token });
      navigate(domainsOf(r.tenant), { replace: true });
    } catch (err) {
      const failure = signupFailure(err, { mismatch: t('invite.refusal.mismatchSignup'), emailTaken: t('invite.emailTaken') });
      setErrors(failure.fields);
      setFormError(failure.form);
      setRefusal(failure.refusal);
    } finally {
      setBusy(false);
    }
  }
  const login = (
    <p className="auth-switch">
      {t('invite.haveAccount')}{' '}
      <Link to="/login" state={{ from: `/invite#${token}` }}>
        {t('invite.login')}
      </Link>
    </p>
  );
  // A refused token (revoked, expired, used) cannot join anything: no form to fill in vain.
  if (refusal) {
    return (
      <>
        <RefusalNotice refusal={refusal} />
        {login}
      </>
    );
  }
  return (
    <>
      <p className="muted">{t('invite.signupHelp')}</p>
      <form onSubmit={submit} noValidate>
        <NewAccountFields errors={errors} />
        {formError && (
          <p className="form-error" role="alert">
            {formError}
          </p>
        )}
        <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
          {busy ? t('invite.signingUp') : t('invite.signup')}
        </button>
      </form>
      {login}
    </>
  );
}

/**
 * `/invite#stsdinv_…`: the page an invitation link opens. The token is in the fragment, so it
 * reaches neither the server's logs nor a Referer; logged in it is accepted as this account,
 * logged out the invitee signs up with it.
 */
export function InvitePage() {
  const { t } = useTranslation();
  const { status } = useAuth();
  const { hash } = useLocation();
  const token = tokenFromHash(hash);
  if (!token) {
    return (
      <AuthShell title={t('invite.incompleteTitle')}>
        <p>{t('invite.incomplete')}</p>
        <p className="auth-switch">
          {status === 'in' ? <Link to="/">{t('invite.home')}</Link> : <Link to="/login">{t('invite.login')}</Link>}
        </p>
      </AuthShell>
    );
  }
  // Keyed by the token: another link opened in this tab starts afresh (no earlier refusal).
  return (
    <AuthShell title={t('invite.title')}>
      {status === 'in' ? <Accept key={token} token={token} /> : <SignupToJoin key={token} token={token} />}
    </AuthShell>
  );
}
