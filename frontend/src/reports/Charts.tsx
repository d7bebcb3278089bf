/**
 * Charts (Chart.js, canvas). Only the lazily loaded report pages import this module, so the
 * library stays out of the initial bundle. A canvas is an image to assistive technology: each
 * chart carries a label that says what it shows, and the page always renders the same numbers
 * as a table or list next to it.
 */
import { useEffect, useRef } from 'react';
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
} from 'chart.js';
import { formatCount, formatRate } from './shape';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Tooltip, Legend);

export const COLORS = { ok: '#16a34a', failed: '#dc2626', rate: '#1d4ed8', grid: '#e5e7eb', text: '#4b5563' };

/**
 * A chart on a canvas, rebuilt only when what it shows changes (`version`): the configuration
 * object is new on every render, its data and texts are not.
 */
function ChartCanvas({ config, label, height, lang }: { config: ChartConfiguration; label: string; height: number; lang: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const latest = useRef(config);
  latest.current = config;
  const version = `${lang}\u0000${label}\u0000${JSON.stringify(config.data)}`;
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas) return;
    const chart = new Chart(canvas, latest.current);
    return () => chart.destroy();
  }, [version]);
  return (
    <div className="chart" style={{ height }}>
      <canvas ref={ref} role="img" aria-label={label} />
    </div>
  );
}

const BASE = {
  animation: false,
  responsive: true,
  maintainAspectRatio: false,
  color: COLORS.text,
  font: { family: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif' },
} as const;

/** Phone width: less room for axis labels. */
function narrow(): boolean {
  return typeof window !== 'undefined' && window.innerWidth < 640;
}

/** Truncates long axis labels (organizations, MX hosts) so bars keep room on a phone. */
function shorten(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export interface DailyChartProps {
  labels: string[];
  ok: number[];
  failed: number[];
  rate: (number | null)[];
  lang: string;
  text: { label: string; ok: string; failed: string; rate: string };
}

/** Sessions per day (stacked bars) and the success rate (line, right axis). */
export function DailyChart({ labels, ok, failed, rate, lang, text }: DailyChartProps) {
  const config: ChartConfiguration = {
    type: 'bar',
    data: {
      labels,
      datasets: [
        {
          type: 'line',
          label: text.rate,
          data: rate.map((r) => (r === null ? null : r * 100)),
          borderColor: COLORS.rate,
          backgroundColor: COLORS.rate,
          yAxisID: 'rate',
          spanGaps: false,
          pointRadius: labels.length > 60 ? 0 : 3,
          borderWidth: 2,
          // A day at 100% sits on the top edge: drawn whole, not cut in half by the chart area.
          clip: 6,
          order: 0,
        },
        { type: 'bar', label: text.ok, data: ok, backgroundColor: COLORS.ok, stack: 's', yAxisID: 'sessions', order: 1 },
        { type: 'bar', label: text.failed, data: failed, backgroundColor: COLORS.failed, stack: 's', yAxisID: 'sessions', order: 1 },
      ],
    },
    options: {
      ...BASE,
      layout: { padding: { top: 6 } },
      interaction: { mode: 'index', intersect: false },
      plugins: {
        legend: { position: 'bottom', labels: { boxWidth: 12 } },
        tooltip: {
          callbacks: {
            label: (c) =>
              c.dataset.yAxisID === 'rate'
                ? `${c.dataset.label}: ${formatRate(c.parsed.y === null ? null : c.parsed.y / 100, lang)}`
                : `${c.dataset.label}: ${formatCount(c.parsed.y ?? 0, lang)}`,
          },
        },
      },
      scales: {
        x: { stacked: true, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
        sessions: {
          type: 'linear',
          position: 'left',
          stacked: true,
          beginAtZero: true,
          grid: { color: COLORS.grid },
          ticks: { precision: 0, callback: (v) => formatCount(Number(v), lang) },
        },
        rate: {
          type: 'linear',
          position: 'right',
          min: 0,
          max: 100,
          grid: { display: false },
          ticks: { stepSize: 25, callback: (v) => formatRate(Number(v) / 100, lang) },
        },
      },
    },
  };
  return <ChartCanvas config={config} label={text.label} height={280} lang={lang} />;
}

export interface BarRow {
  label: string;
  ok?: number;
  failed: number;
  /** Bar colour for single-series charts (results: success green, failures red). */
  color?: string;
}

/**
 * Horizontal bars, one per row: stacked successful/failed sessions when rows carry `ok`,
 * otherwise one value per row (`failed`, coloured per row).
 */
export function BarsChart({ rows, lang, text }: { rows: BarRow[]; lang: string; text: { label: string; ok: string; failed: string } }) {
  const stacked = rows.some((r) => r.ok !== undefined);
  const datasets = stacked
    ? [
        { label: text.ok, data: rows.map((r) => r.ok ?? 0), backgroundColor: COLORS.ok, stack: 's', maxBarThickness: 22 },
        { label: text.failed, data: rows.map((r) => r.failed), backgroundColor: COLORS.failed, stack: 's', maxBarThickness: 22 },
      ]
    : [{ label: text.failed, data: rows.map((r) => r.failed), backgroundColor: rows.map((r) => r.color ?? COLORS.failed), maxBarThickness: 22 }];
  const config: ChartConfiguration = {
    type: 'bar',
    data: { labels: rows.map((r) => r.label), datasets },
    options: {
      ...BASE,
      indexAxis: 'y',
      plugins: {
        legend: { display: stacked, position: 'bottom', labels: { boxWidth: 12 } },
        tooltip: { callbacks: { label: (c) => `${stacked ? `${c.dataset.label}: ` : ''}${formatCount(c.parsed.x ?? 0, lang)}` } },
      },
      scales: {
        x: { stacked, beginAtZero: true, grid: { color: COLORS.grid }, ticks: { precision: 0, callback: (v) => formatCount(Number(v), lang) } },
        y: {
          stacked,
          grid: { display: false },
          ticks: { callback: (_v, i) => shorten(rows[i]?.label ?? '', narrow() ? 20 : 28) },
        },
      },
    },
  };
  return <ChartCanvas config={config} label={text.label} height={Math.max(120, rows.length * 34 + (stacked ? 70 : 40))} lang={lang} />;
}
