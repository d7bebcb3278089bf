import { useTranslation } from 'react-i18next';
import type { Role } from '../roles';

/** Says why there is nothing to edit here: the caller's role only reads. */
export function ReadOnlyNotice({ role }: { role: Role | null }) {
  const { t } = useTranslation();
  return (
    <p className="notice notice-info" role="note">
      <strong>{t('readOnly.title')}</strong>{' '}
      {t('readOnly.body', { role: role ? t(`roles.${role}`) : t('readOnly.noRole') })}
    </p>
  );
}
