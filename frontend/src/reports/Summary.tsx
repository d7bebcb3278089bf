import { useMemo, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import type { Summary } from '../api/types';
import { ErrorState, Loading } from '../components/common';
import { BarsChart, COLORS, DailyChart } from './Charts';
import { formatDay, formatShortDay } from './format';
import { useSummary, type Scope } from './queries';
import {
  bucketDays,
  bucketSize,
  fillDays,
  formatCount,
  formatRate,
  groupRows,
  mxRows,
  OTHER,
  resultRows,
  sumGroups,
  topWithOther,
  type DayRange,
  type GroupRow,
  type ResultRow,
} from './shape';

/** Bars per chart before the rest is summed into "other" (tables list every row). */
const CHART_ROWS = 8;

/** Known result types have translated texts; others keep the API's (English) words. */
export function useResultText() {
  const { t, i18n } = useTranslation();
  return (key: string, api: { explanation?: string | null; fix?: string | null }) => {
    const k = key.toLowerCase();
    const known = i18n.exists(`reports.resultTypes.${k}.name`);
    return {
      name: known ? t(`reports.resultTypes.${k}.name`) : key,
      explanation: known ? t(`reports.resultTypes.${k}.explanation`) : (api.explanation ?? t('reports.results.unknownExplanation')),
      fix: known ? t(`reports.resultTypes.${k}.fix`) : (api.fix ?? t('reports.results.unknownFix')),
    };
  };
}

function Stat({ label, value, tone }: { label: string; value: string; tone?: string }) {
  return (
    <div className={`stat${tone ? ` stat-${tone}` : ''}`}>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}

export function Totals({ summary }: { summary: Summary }) {
  const { t, i18n } = useTranslation();
  const lang = i18n.language;
  const s = summary.totals;
  const tone = s.success_rate === null || s.success_rate === undefined ? undefined : s.success_rate >= 0.99 ? 'ok' : s.success_rate >= 0.9 ? 'warn' : 'bad';
  return (
    <dl className="stats" aria-label={t('reports.totals.label')}>
      <Stat label={t('reports.totals.rate')} value={formatRate(s.success_rate, lang)} tone={tone} />
      <Stat label={t('reports.totals.successful')} value={formatCount(s.successful_sessions, lang)} />
      <Stat label={t('reports.totals.failed')} value={formatCount(s.failed_sessions, lang)} tone={s.failed_sessions > 0 ? 'bad' : undefined} />
      <Stat label={t('reports.totals.reports')} value={formatCount(s.reports, lang)} />
    </dl>
  );
}

/** A section of charts: heading, chart, and the same numbers in a table. */
function Section({ id, title, intro, children }: { id: string; title: string; intro?: string; children: ReactNode }) {
  return (
    <section className="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {intro && <p className="muted small">{intro}</p>}
      {children}
    </section>
  );
}

function DaysSection({ summary }: { summary: Summary }) {
  const { t, i18n } = useTranslation();
  const lang = i18n.language;
  // The range the API answered for (a previous range's data stays on screen while loading).
  const days = useMemo(() => fillDays(summary.groups, summary.from, summary.to), [summary]);
  const size = bucketSize(days.length);
  const points = useMemo(() => bucketDays(days, size), [days, size]);
  const withReports = days.filter((d) => d.reports > 0 || d.ok + d.failed > 0);
  return (
    <Section id="days-h" title={t('reports.days.title')} intro={size > 1 ? t('reports.days.weekly') : undefined}>
      <DailyChart
        labels={points.map((p) => formatShortDay(p.day, lang))}
        ok={points.map((p) => p.ok)}
        failed={points.map((p) => p.failed)}
        rate={points.map((p) => p.rate)}
        lang={lang}
        text={{
          label: t('reports.days.chartLabel', { rate: formatRate(summary.totals.success_rate, lang), count: withReports.length }),
          ok: t('reports.chart.successful'),
          failed: t('reports.chart.failed'),
          rate: t('reports.chart.rate'),
        }}
      />
      <details className="table-details">
        <summary>{t('reports.days.table', { count: withReports.length })}</summary>
        {withReports.length === 0 ? (
          <p className="muted">{t('reports.days.none')}</p>
        ) : (
          <div className="table-wrap">
            <table className="table table-num">
              <caption className="visually-hidden">{t('reports.days.title')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('reports.col.day')}</th>
                  <th scope="col" className="col-wide">{t('reports.col.reports')}</th>
                  <th scope="col">{t('reports.col.successful')}</th>
                  <th scope="col">{t('reports.col.failed')}</th>
                  <th scope="col">{t('reports.col.rate')}</th>
                </tr>
              </thead>
              <tbody>
                {withReports.map((d) => (
                  <tr key={d.day}>
                    <th scope="row" className="day-cell">{formatDay(d.day, lang)}</th>
                    <td className="col-wide">{formatCount(d.reports, lang)}</td>
                    <td>{formatCount(d.ok, lang)}</td>
                    <td>{formatCount(d.failed, lang)}</td>
                    <td>{formatRate(d.rate, lang)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <p className="muted small">{t('reports.days.note')}</p>
      </details>
    </Section>
  );
}

function ResultsSection({ summary }: { summary: Summary }) {
  const { t, i18n } = useTranslation();
  const lang = i18n.language;
  const text = useResultText();
  const rows: ResultRow[] = useMemo(() => resultRows(summary.groups), [summary]);
  const failures = rows.filter((r) => !r.success);
  return (
    <Section id="results-h" title={t('reports.results.title')} intro={t('reports.results.intro')}>
      <BarsChart
        rows={rows.map((r) => ({ label: text(r.key, r).name, failed: r.sessions, color: r.success ? COLORS.ok : COLORS.failed }))}
        lang={lang}
        text={{ label: t('reports.results.chartLabel', { count: failures.length }), ok: t('reports.chart.successful'), failed: t('reports.chart.sessions') }}
      />
      <ul className="results">
        {rows.map((r) => {
          const x = text(r.key, r);
          return (
            <li key={r.key} className={`result ${r.success ? 'result-ok' : 'result-bad'}`}>
              <div className="result-head">
                <strong>{x.name}</strong>
                {x.name !== r.key && <code className="small">{r.key}</code>}
                <span className="result-count">
                  {t('reports.results.sessions', { count: r.sessions, n: formatCount(r.sessions, lang) })}
                  {r.share !== null && <span className="muted"> · {formatRate(r.share, lang)}</span>}
                </span>
              </div>
              <p>{x.explanation}</p>
              {!r.success && (
                <p className="fix">
                  <strong>{t('reports.results.fix')}</strong> {x.fix}
                </p>
              )}
            </li>
          );
        })}
      </ul>
      {failures.length === 0 && <p className="notice notice-ok">{t('reports.results.noFailures')}</p>}
    </Section>
  );
}

function OrganizationsSection({ summary, onOrganization }: { summary: Summary; onOrganization?: (org: string) => void }) {
  const { t, i18n } = useTranslation();
  const lang = i18n.language;
  const rows = useMemo(() => groupRows(summary.groups), [summary]);
  const chartRows = topWithOther(rows, CHART_ROWS, sumGroups);
  return (
    <Section id="orgs-h" title={t('reports.orgs.title')} intro={t('reports.orgs.intro')}>
      <BarsChart
        rows={chartRows.map((r) => ({ label: r.key === OTHER ? t('reports.other') : r.key, ok: r.ok, failed: r.failed }))}
        lang={lang}
        text={{ label: t('reports.orgs.chartLabel', { count: rows.length }), ok: t('reports.chart.successful'), failed: t('reports.chart.failed') }}
      />
      <GroupTable rows={rows} caption={t('reports.orgs.title')} keyTitle={t('reports.col.organization')} onPick={onOrganization} pickLabel={(o) => t('reports.orgs.showReports', { organization: o })} />
    </Section>
  );
}

export function GroupTable({
  rows,
  caption,
  keyTitle,
  onPick,
  pickLabel,
  renderKey,
}: {
  rows: GroupRow[];
  caption: string;
  keyTitle: string;
  onPick?: (key: string) => void;
  pickLabel?: (key: string) => string;
  renderKey?: (key: string) => ReactNode;
}) {
  const { t, i18n } = useTranslation();
  const lang = i18n.language;
  return (
    <div className="table-wrap">
      <table className="table table-num">
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">{keyTitle}</th>
            <th scope="col" className="col-wide">{t('reports.col.reports')}</th>
            <th scope="col">{t('reports.col.successful')}</th>
            <th scope="col">{t('reports.col.failed')}</th>
            <th scope="col">{t('reports.col.rate')}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.key}>
              <th scope="row">
                {renderKey ? (
                  renderKey(r.key)
                ) : onPick ? (
                  <button type="button" className="link-button" onClick={() => onPick(r.key)} aria-label={pickLabel?.(r.key)}>
                    {r.key}
                  </button>
                ) : (
                  r.key
                )}
              </th>
              <td className="col-wide">{formatCount(r.reports, lang)}</td>
              <td>{formatCount(r.ok, lang)}</td>
              <td className={r.failed > 0 ? 'num-bad' : undefined}>{formatCount(r.failed, lang)}</td>
              <td>{formatRate(r.rate, lang)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function MxSection({ summary }: { summary: Summary }) {
  const { t, i18n } = useTranslation();
  const lang = i18n.language;
  const rows = useMemo(() => mxRows(summary.groups), [summary]);
  const chartRows = topWithOther(rows, CHART_ROWS, (rest) => ({ failed: rest.reduce((s, r) => s + r.failed, 0) }));
  return (
    <Section id="mx-h" title={t('reports.mx.title')} intro={t('reports.mx.intro')}>
      {rows.length === 0 ? (
        <p className="notice notice-ok">{t('reports.mx.none')}</p>
      ) : (
        <>
          <BarsChart
            rows={chartRows.map((r) => ({ label: r.key === OTHER ? t('reports.other') : r.key === 'unknown' ? t('reports.mx.unknown') : r.key, failed: r.failed }))}
            lang={lang}
            text={{ label: t('reports.mx.chartLabel', { count: rows.length }), ok: t('reports.chart.successful'), failed: t('reports.chart.failed') }}
          />
          <div className="table-wrap">
            <table className="table table-num">
              <caption className="visually-hidden">{t('reports.mx.title')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('reports.col.mx')}</th>
                  <th scope="col">{t('reports.col.failed')}</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.key}>
                    <th scope="row">{r.key === 'unknown' ? <span className="muted">{t('reports.mx.unknown')}</span> : <code>{r.key}</code>}</th>
                    <td className="num-bad">{formatCount(r.failed, lang)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </Section>
  );
}

/** The reasons a stored report can be left out of the numbers, in the API's order. */
const LEFT_OUT_REASONS = ['unverified_https', 'unauthenticated_mail', 'domain_mismatch'] as const;

/** Says how many reports of the range the numbers leave out, and why; nothing when none. */
export function LeftOutNotice({ summary, inList }: { summary: Summary; inList?: boolean }) {
  const { t } = useTranslation();
  const left = summary.left_out;
  if (!left || left.total === 0) return null;
  return (
    <div className="notice notice-info left-out" role="status">
      <strong>{t('reports.leftOut.title', { count: left.total })}</strong>
      <ul>
        {LEFT_OUT_REASONS.filter((k) => left[k] > 0).map((k) => (
          <li key={k}>{t(`reports.leftOut.${k}`, { count: left[k] })}</li>
        ))}
      </ul>
      {inList && <p className="small">{t('reports.leftOut.list')}</p>}
    </div>
  );
}

/** Waits for a summary query; says why when it fails. */
function Loaded({ q, children }: { q: ReturnType<typeof useSummary>; children: (s: Summary) => ReactNode }) {
  if (q.isPending) return <Loading />;
  if (q.isError) return <ErrorState error={q.error} onRetry={() => void q.refetch()} />;
  return <>{children(q.data)}</>;
}

/**
 * Totals, the day chart, result types, organizations and receiving MX hosts of a scope over a
 * range, and what the numbers leave out. `empty` is shown instead when the range holds no
 * report at all; when it holds only reports left out, the totals say so.
 */
export function SummaryView({
  scope,
  range,
  empty,
  onOrganization,
  extra,
}: {
  scope: Scope;
  range: DayRange;
  empty: ReactNode;
  onOrganization?: (org: string) => void;
  /** More sections (e.g. the per-domain table), shown when there are reports. */
  extra?: ReactNode;
}) {
  const days = useSummary(scope, range, 'day');
  const results = useSummary(scope, range, 'result');
  const orgs = useSummary(scope, range, 'organization');
  const mx = useSummary(scope, range, 'mx');
  return (
    <Loaded q={days}>
      {(summary) =>
        summary.totals.reports === 0 && !(summary.left_out?.total > 0) ? (
          empty
        ) : summary.totals.reports === 0 ? (
          // Reports that arrived but count for nothing must not look like no reports.
          <div className="summary">
            <Totals summary={summary} />
            <LeftOutNotice summary={summary} inList={!!scope.domain} />
          </div>
        ) : (
          // While another range loads, the previous one stays on screen, dimmed.
          <div className={`summary${days.isPlaceholderData ? ' stale' : ''}`} aria-busy={days.isFetching}>
            <Totals summary={summary} />
            <LeftOutNotice summary={summary} inList={!!scope.domain} />
            <DaysSection summary={summary} />
            <Loaded q={results}>{(s) => <ResultsSection summary={s} />}</Loaded>
            {extra}
            <Loaded q={orgs}>{(s) => <OrganizationsSection summary={s} onOrganization={onOrganization} />}</Loaded>
            <Loaded q={mx}>{(s) => <MxSection summary={s} />}</Loaded>
          </div>
        )
      }
    </Loaded>
  );
}
