import { useState, type FormEvent } from 'react';
import { Link, useLocation, useNavigate } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { formErrors, type FieldErrors } from '../api/errors';
import { Field } from '../components/Field';
import { PageTitle } from '../components/Layout';
import { LanguageSelect } from '../components/LanguageSelect';

export function AuthShell({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <main id="main" className="auth">
      <div className="auth-lang">
        <LanguageSelect />
      </div>
      <div className="auth-card card">
        <div className="brand brand-large">
          <img src="/favicon.svg" alt="" width="32" height="32" />
          <span>stsd</span>
        </div>
        <PageTitle title={title}>{title}</PageTitle>
        {children}
      </div>
    </main>
  );
}

/**
 * Where to go once logged in: the `from` in the router state (path, query and hash, e.g.
 * `/invite#stsdinv_…`) when it is a path of this app, else `/`.
 */
export function returnTarget(state: unknown): string {
  const from = state && typeof state === 'object' && 'from' in state ? state.from : undefined;
  if (typeof from !== 'string' || !from.startsWith('/') || from.startsWith('//') || from.startsWith('/\\')) return '/';
  const path = from.split(/[?#]/)[0];
  return path === '/login' || path === '/signup' ? '/' : from;
}

/** Whether the login was reached from an invitation link (to offer its sign-up, not a new tenant). */
export function isInvitePath(target: string): boolean {
  return target.startsWith('/invite#');
}

function useAfterAuth() {
  const navigate = useNavigate();
  const location = useLocation();
  return () => navigate(returnTarget(location.state), { replace: true });
}

export function LoginPage() {
  const { t } = useTranslation();
  const { login } = useAuth();
  const location = useLocation();
  const done = useAfterAuth();
  // Invited people without an account sign up on the invitation page (joining that tenant),
  // not on the plain sign-up page (which creates a tenant of their own).
  const target = returnTarget(location.state);
  const signupTo = isInvitePath(target) ? target : '/signup';
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    setBusy(true);
    setError(null);
    try {
      await login(String(form.get('email') ?? ''), String(form.get('password') ?? ''));
      done();
    } catch (err) {
      const { form: message } = formErrors(err, []);
      setError(err instanceof Error && 'status' in err && err.status === 401 ? t('auth.badCredentials') : message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <AuthShell title={t('auth.loginTitle')}>
      <form onSubmit={submit} noValidate>
        <Field label={t('auth.email')} name="email" type="email" autoComplete="username" required />
        <Field label={t('auth.password')} name="password" type="password" autoComplete="current-password" required />
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
          {busy ? t('auth.loggingIn') : t('auth.login')}
        </button>
      </form>
      <p className="auth-switch">
        {t('auth.noAccount')} <Link to={signupTo}>{t('auth.signup')}</Link>
      </p>
    </AuthShell>
  );
}

/** The e-mail and new password of an account being created (own tenant or by invitation). */
export function NewAccountFields({ errors }: { errors: FieldErrors }) {
  const { t } = useTranslation();
  return (
    <>
      <Field label={t('auth.email')} name="email" type="email" autoComplete="username" required errors={errors.email} />
      <Field
        label={t('auth.password')}
        name="password"
        type="password"
        autoComplete="new-password"
        required
        hint={t('auth.passwordHint')}
        errors={errors.password}
      />
    </>
  );
}

export function SignupPage() {
  const { t } = useTranslation();
  const { signup } = useAuth();
  const navigate = useNavigate();
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState<string | null>(null);
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    setBusy(true);
    setErrors({});
    setFormError(null);
    try {
      const r = await signup(
        String(form.get('email') ?? ''),
        String(form.get('password') ?? ''),
        { tenantName: String(form.get('tenant_name') ?? '') },
      );
      navigate(`/t/${encodeURIComponent(r.tenant.id)}/domains`, { replace: true });
    } catch (err) {
      const { fields, form: message } = formErrors(err, ['email', 'password', 'tenant_name'], 'email');
      setErrors(fields);
      setFormError(message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <AuthShell title={t('auth.signupTitle')}>
      <form onSubmit={submit} noValidate>
        <NewAccountFields errors={errors} />
        <Field
          label={t('auth.tenantName')}
          name="tenant_name"
          autoComplete="organization"
          required
          hint={t('auth.tenantHint')}
          errors={errors.tenant_name}
        />
        {formError && (
          <p className="form-error" role="alert">
            {formError}
          </p>
        )}
        <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
          {busy ? t('auth.signingUp') : t('auth.signup')}
        </button>
      </form>
      <p className="auth-switch">
        {t('auth.haveAccount')} <Link to="/login">{t('auth.login')}</Link>
      </p>
    </AuthShell>
  );
}
