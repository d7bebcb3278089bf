import { useId, useMemo, useState } from 'react';
import { Link, useParams } from 'react-router';
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { tenantPath, type AuditEntry, type AuditPage, type TokenList } from '../api/types';
import { formatTime } from '../format';
import { useMemberEmails, useTenantRole } from '../hooks';
import { canAdminister } from '../roles';
import { PageTitle } from '../components/Layout';
import { Empty, ErrorState, Loading } from '../components/common';
import {
  AUDIT_CATEGORIES,
  auditCategory,
  describeActor,
  describeTarget,
  distinctActors,
  filterEntries,
  summarizeDetails,
  tokenNamesFromEntries,
  type FieldChange,
} from './auditShape';

const PAGE_SIZE = 50;

export function auditQuery(before: number | null, limit = PAGE_SIZE): string {
  const p = new URLSearchParams();
  if (before !== null) p.set('before', String(before));
  p.set('limit', String(limit));
  return p.toString();
}

function ChangeValue({ field, value }: { field: string; value: string | null }) {
  const { t, i18n } = useTranslation();
  if (value === null) return <span className="muted">—</span>;
  if (/(_at|_until)$/.test(field) && /^\d+$/.test(value)) return <span>{formatTime(Number(value), i18n.language)}</span>;
  if (field === 'role') return <span>{t(`roles.${value}`, { defaultValue: value })}</span>;
  if (field === 'scope') return <span>{t(`tokens.scopes.${value}`, { defaultValue: value })}</span>;
  if (field === 'state') return <span>{t(`states.${value}`, { defaultValue: value })}</span>;
  return <code>{value}</code>;
}

function Changes({ changes }: { changes: FieldChange[] }) {
  const { t } = useTranslation();
  return (
    <ul className="changes">
      {changes.map((c) => (
        <li key={c.field}>
          <span className="muted">{t(`audit.fields.${c.field}`, { defaultValue: c.field })}:</span>{' '}
          {c.before !== null && (
            <>
              <ChangeValue field={c.field} value={c.before} /> <span aria-label={t('audit.to')}>→</span>{' '}
            </>
          )}
          <ChangeValue field={c.field} value={c.after} />
        </li>
      ))}
    </ul>
  );
}

function Details({ entry }: { entry: AuditEntry }) {
  const { t } = useTranslation();
  const s = summarizeDetails(entry.details);
  return (
    <>
      {s.changes.length > 0 && <Changes changes={s.changes} />}
      {s.override && <span className="badge badge-warn">{t('audit.override')}</span>}
      {s.text && (
        <details>
          <summary>{t('audit.showText')}</summary>
          {s.text.before !== null && (
            <>
              <p className="small muted">{t('audit.before')}</p>
              <pre tabIndex={0}>{s.text.before}</pre>
            </>
          )}
          {s.text.after !== null && (
            <>
              <p className="small muted">{t('audit.after')}</p>
              <pre tabIndex={0}>{s.text.after}</pre>
            </>
          )}
        </details>
      )}
    </>
  );
}

export function AuditPage() {
  const { t, i18n } = useTranslation();
  const { tenant = '' } = useParams();
  const { client } = useAuth();
  const role = useTenantRole(tenant);
  const [category, setCategory] = useState('');
  const [actor, setActor] = useState('');
  const categoryId = useId();
  const actorId = useId();

  const log = useInfiniteQuery({
    queryKey: ['audit', tenant],
    initialPageParam: null as number | null,
    queryFn: ({ pageParam, signal }) => client.get<AuditPage>(`${tenantPath(tenant, 'audit')}?${auditQuery(pageParam)}`, signal),
    getNextPageParam: (last) => last.next_before,
  });
  // Names for ids: members for everyone, token names for those allowed to list tokens.
  const users = useMemberEmails(tenant);
  const tokens = useQuery({
    queryKey: ['tokens', tenant],
    enabled: canAdminister(role),
    queryFn: ({ signal }) => client.get<TokenList>(tenantPath(tenant, 'tokens'), signal),
  });
  const all = useMemo(() => log.data?.pages.flatMap((p) => p.items) ?? [], [log.data]);
  const tokenNames = useMemo(
    () => new Map([...tokenNamesFromEntries(all), ...(tokens.data?.items ?? []).map((x) => [x.id, x.name] as const)]),
    [all, tokens.data],
  );
  const shown = filterEntries(all, { category, actor });
  const actors = distinctActors(all);
  const filtered = category !== '' || actor !== '';

  function actorText(a: string) {
    const d = describeActor(a, users, tokenNames);
    return d.kind === 'token' ? t('audit.tokenActor', { name: d.label }) : d.label;
  }

  return (
    <>
      <div className="page-head">
        <PageTitle title={t('audit.title')}>{t('audit.title')}</PageTitle>
      </div>
      <p className="muted">{t('audit.intro')}</p>
      <div className="filters" role="group" aria-label={t('audit.filters')}>
        <div className="filter">
          <label className="label-text" htmlFor={categoryId}>
            {t('audit.category')}
          </label>
          <select id={categoryId} value={category} onChange={(e) => setCategory(e.target.value)}>
            <option value="">{t('audit.allCategories')}</option>
            {AUDIT_CATEGORIES.map((c) => (
              <option key={c} value={c}>
                {t(`audit.categories.${c}`)}
              </option>
            ))}
          </select>
        </div>
        <div className="filter">
          <label className="label-text" htmlFor={actorId}>
            {t('audit.actor')}
          </label>
          <select id={actorId} value={actor} onChange={(e) => setActor(e.target.value)}>
            <option value="">{t('audit.everyone')}</option>
            {actors.map((a) => (
              <option key={a} value={a}>
                {actorText(a)}
              </option>
            ))}
          </select>
        </div>
      </div>
      {log.isSuccess && all.length > 0 && (
        <p className="muted small" aria-live="polite">
          {filtered
            ? t('audit.filteredCount', { shown: shown.length, count: all.length })
            : t('audit.loadedCount', { count: all.length })}
          {log.hasNextPage && ` ${t('audit.filterScope')}`}
        </p>
      )}

      {log.isPending && <Loading />}
      {log.isError && <ErrorState error={log.error} onRetry={() => void log.refetch()} />}
      {log.isSuccess && all.length === 0 && (
        <Empty title={t('audit.empty')}>
          <p className="muted">{t('audit.emptyHelp')}</p>
        </Empty>
      )}
      {log.isSuccess && all.length > 0 && shown.length === 0 && (
        <Empty title={t('audit.noMatch')}>
          <button type="button" className="btn" onClick={() => { setCategory(''); setActor(''); }}>
            {t('audit.clearFilters')}
          </button>
        </Empty>
      )}
      {shown.length > 0 && (
        <div className="table-wrap">
          <table className="table table-audit table-stack">
            <caption className="visually-hidden">{t('audit.title')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('audit.when')}</th>
                <th scope="col">{t('audit.what')}</th>
                <th scope="col" className="col-wide">{t('audit.who')}</th>
                <th scope="col" className="col-wide">{t('audit.ip')}</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e) => {
                const target = describeTarget(e.action, e.target, users, tokenNames);
                const domainLink = auditCategory(e.action) === 'domain' || auditCategory(e.action) === 'policy';
                return (
                  <tr key={e.id}>
                    <td className="nowrap muted-narrow">{formatTime(e.at, i18n.language)}</td>
                    <td>
                      <div>
                        <strong>{t(`audit.actions.${e.action.replace('.', '_')}`, { defaultValue: e.action })}</strong>{' '}
                        {domainLink && e.action !== 'domain.remove' ? (
                          <Link to={`/t/${encodeURIComponent(tenant)}/domains/${encodeURIComponent(e.target)}`}>{target}</Link>
                        ) : (
                          <span className="target">{target}</span>
                        )}
                      </div>
                      <Details entry={e} />
                      <div className="muted small narrow-only">{t('audit.by', { who: actorText(e.actor) })}</div>
                    </td>
                    <td className="col-wide">{actorText(e.actor)}</td>
                    <td className="col-wide muted small">{e.client_ip ?? '—'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {log.hasNextPage && (
        <p className="pager">
          <button type="button" className="btn" onClick={() => void log.fetchNextPage()} disabled={log.isFetchingNextPage}>
            {log.isFetchingNextPage ? t('common.loading') : t('audit.loadOlder')}
          </button>
        </p>
      )}
      {log.isFetchNextPageError && <ErrorState error={log.error} onRetry={() => void log.fetchNextPage()} />}
    </>
  );
}
