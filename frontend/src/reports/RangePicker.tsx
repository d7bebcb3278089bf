import { useId, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { PRESETS, presetRange, rangeError, type DayRange } from './shape';
import { formatDay } from './format';

/** Presets (last 7/30/90/365 days) and a custom from–to range, in UTC days. */
export function RangePicker({ range, today, onChange }: { range: DayRange; today: string; onChange: (r: DayRange) => void }) {
  const { t, i18n } = useTranslation();
  const [custom, setCustom] = useState(range.preset === null);
  const [from, setFrom] = useState(range.from);
  const [to, setTo] = useState(range.to);
  const [error, setError] = useState<string | null>(null);
  const fromId = useId();
  const toId = useId();
  const errId = useId();

  function apply(e: FormEvent) {
    e.preventDefault();
    const err = rangeError(from, to);
    if (err) {
      setError(t(`reports.range.errors.${err}`));
      return;
    }
    setError(null);
    onChange({ from, to, preset: null });
  }

  return (
    <div className="range-picker">
      <div className="range-presets" role="group" aria-label={t('reports.range.label')}>
        {PRESETS.map((days) => (
          <button
            key={days}
            type="button"
            className={`btn btn-small${range.preset === days && !custom ? ' btn-selected' : ''}`}
            aria-pressed={range.preset === days && !custom}
            onClick={() => {
              setCustom(false);
              setError(null);
              onChange(presetRange(days, today));
            }}
          >
            {t('reports.range.lastDays', { count: days })}
          </button>
        ))}
        <button
          type="button"
          className={`btn btn-small${custom ? ' btn-selected' : ''}`}
          aria-pressed={custom}
          aria-expanded={custom}
          onClick={() => {
            setFrom(range.from);
            setTo(range.to);
            setCustom(!custom);
          }}
        >
          {t('reports.range.custom')}
        </button>
      </div>
      {custom && (
        <form className="range-custom" onSubmit={apply} noValidate>
          <div className="filter">
            <label className="label-text" htmlFor={fromId}>
              {t('reports.range.from')}
            </label>
            <input id={fromId} type="date" value={from} onChange={(e) => setFrom(e.target.value)} aria-invalid={!!error || undefined} aria-describedby={error ? errId : undefined} />
          </div>
          <div className="filter">
            <label className="label-text" htmlFor={toId}>
              {t('reports.range.to')}
            </label>
            <input id={toId} type="date" value={to} onChange={(e) => setTo(e.target.value)} aria-invalid={!!error || undefined} aria-describedby={error ? errId : undefined} />
          </div>
          <button type="submit" className="btn">
            {t('reports.range.apply')}
          </button>
          {error && (
            <p id={errId} className="field-errors range-error" role="alert">
              {error}
            </p>
          )}
        </form>
      )}
      <p className="muted small range-shown" aria-live="polite">
        {t('reports.range.shown', { from: formatDay(range.from, i18n.language), to: formatDay(range.to, i18n.language) })}
      </p>
    </div>
  );
}
