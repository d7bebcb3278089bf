import { useState, type FormEvent } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { DOMAIN_STATES, tenantPath, type DomainPage } from '../api/types';
import { formatDate, formatTime } from '../format';
import { Empty, ErrorState, Loading, ModeBadge, StateBadge } from '../components/common';
import { PageTitle } from '../components/Layout';
import { useTenantRole } from '../hooks';
import { canWrite } from '../roles';

const PAGE_SIZE = 50;
const MODES = ['enforce', 'testing', 'none'] as const;

/** The list query string for the API from the page's filters. */
export function listQuery(q: string, state: string, cursor: string | null, limit = PAGE_SIZE, mode = ''): string {
  const p = new URLSearchParams();
  if (q.trim()) p.set('q', q.trim());
  if (state) p.set('state', state);
  if (mode) p.set('mode', mode);
  if (cursor) p.set('cursor', cursor);
  p.set('limit', String(limit));
  return p.toString();
}

/** The list's report column: the 30-day success rate and how many reports it rests on. */
export function successCell(
  rate: number | null,
  reports: number,
  lang: string,
  t: (key: string, opts?: Record<string, unknown>) => string,
): string {
  if (reports === 0 || rate === null) return t('domains.noReports');
  const pct = new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 1 }).format(rate);
  return `${pct} · ${t('domains.reportCount', { count: reports })}`;
}

export function DomainsPage() {
  const { t, i18n } = useTranslation();
  const { tenant = '' } = useParams();
  const { client } = useAuth();
  const [params, setParams] = useSearchParams();
  const q = params.get('q') ?? '';
  const state = params.get('state') ?? '';
  const mode = params.get('mode') ?? '';
  // Cursors of the pages before the current one; the current page's cursor is last.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1] ?? null;
  const [search, setSearch] = useState(q);
  const writable = canWrite(useTenantRole(tenant));

  const list = useQuery({
    queryKey: ['domains', tenant, q, state, mode, cursor],
    queryFn: ({ signal }) =>
      client.get<DomainPage>(`${tenantPath(tenant, 'domains')}?${listQuery(q, state, cursor, PAGE_SIZE, mode)}`, signal),
    placeholderData: keepPreviousData,
  });

  function applyFilters(next: { q?: string; state?: string; mode?: string }) {
    const p = new URLSearchParams(params);
    for (const [k, v] of Object.entries(next)) {
      if (v) p.set(k, v);
      else p.delete(k);
    }
    setCursors([null]);
    setParams(p, { replace: true });
  }

  function onSearch(e: FormEvent) {
    e.preventDefault();
    applyFilters({ q: search });
  }

  const filtered = q !== '' || state !== '' || mode !== '';
  const items = list.data?.items ?? [];
  return (
    <>
      <div className="page-head">
        <PageTitle title={t('domains.title')}>{t('domains.title')}</PageTitle>
        {writable && (
          <Link className="btn btn-primary" to={`/t/${encodeURIComponent(tenant)}/domains/new`}>
            {t('domains.add')}
          </Link>
        )}
      </div>
      <form className="filters" role="search" onSubmit={onSearch}>
        <label className="filter">
          <span className="label-text">{t('domains.search')}</span>
          <input type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder={t('domains.searchPlaceholder')} />
        </label>
        <label className="filter">
          <span className="label-text">{t('domains.stateFilter')}</span>
          <select value={state} onChange={(e) => applyFilters({ state: e.target.value })}>
            <option value="">{t('domains.allStates')}</option>
            {DOMAIN_STATES.map((s) => (
              <option key={s} value={s}>
                {t(`states.${s}`)}
              </option>
            ))}
          </select>
        </label>
        <label className="filter">
          <span className="label-text">{t('domains.modeFilter')}</span>
          <select value={mode} onChange={(e) => applyFilters({ mode: e.target.value })}>
            <option value="">{t('domains.allModes')}</option>
            {MODES.map((m) => (
              <option key={m} value={m}>
                {t(`modes.${m}`)}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="btn">
          {t('domains.searchButton')}
        </button>
      </form>

      {list.isPending && <Loading />}
      {list.isError && <ErrorState error={list.error} onRetry={() => void list.refetch()} />}
      {list.isSuccess && items.length === 0 && (
        <Empty title={filtered ? t('domains.noMatch') : t('domains.empty')}>
          {filtered ? (
            <button type="button" className="btn" onClick={() => { setSearch(''); applyFilters({ q: '', state: '', mode: '' }); }}>
              {t('domains.clearFilters')}
            </button>
          ) : (
            <>
              <p className="muted">{writable ? t('domains.emptyHelp') : t('readOnly.noDomains')}</p>
              {writable && (
                <Link className="btn btn-primary" to={`/t/${encodeURIComponent(tenant)}/domains/new`}>
                  {t('domains.addFirst')}
                </Link>
              )}
            </>
          )}
        </Empty>
      )}
      {items.length > 0 && (
        <div className="table-wrap" aria-busy={list.isFetching}>
          <table className="table">
            <caption className="visually-hidden">{t('domains.title')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('domains.name')}</th>
                <th scope="col">{t('domains.state')}</th>
                <th scope="col">{t('domains.mode')}</th>
                <th scope="col">{t('domains.checks')}</th>
                <th scope="col" className="col-wide">{t('domains.certificate')}</th>
                <th scope="col" className="col-wide">{t('domains.reports')}</th>
                <th scope="col" className="col-wide">{t('domains.since')}</th>
              </tr>
            </thead>
            <tbody>
              {items.map((d) => (
                <tr key={d.name}>
                  <th scope="row">
                    <Link to={`/t/${encodeURIComponent(tenant)}/domains/${encodeURIComponent(d.name)}`}>{d.display_name}</Link>
                    {d.display_name !== d.name && <div className="muted small">{d.name}</div>}
                  </th>
                  <td><StateBadge state={d.state} /></td>
                  <td><ModeBadge mode={d.mode} /></td>
                  <td>{d.last_check ? t(`checks.result.${d.last_check}`) : '—'}</td>
                  <td className="col-wide muted">
                    {d.certificate_not_after ? formatDate(d.certificate_not_after, i18n.language) : t('domains.noCertificate')}
                  </td>
                  <td className="col-wide">
                    {successCell(d.success_rate_30d, d.reports_30d, i18n.language, t)}
                  </td>
                  <td className="col-wide muted">{formatTime(d.state_changed_at, i18n.language)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {(cursors.length > 1 || list.data?.next_cursor) && (
        <nav className="pager" aria-label={t('domains.pages')}>
          <button type="button" className="btn" disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
            {t('domains.previous')}
          </button>
          <span className="muted">{t('domains.page', { n: cursors.length })}</span>
          <button
            type="button"
            className="btn"
            disabled={!list.data?.next_cursor || list.isPlaceholderData}
            onClick={() => {
              const next = list.data?.next_cursor;
              if (next) setCursors((c) => [...c, next]);
            }}
          >
            {t('domains.next')}
          </button>
        </nav>
      )}
    </>
  );
}
