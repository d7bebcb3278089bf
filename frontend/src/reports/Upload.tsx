import { useId, useRef, useState, type FormEvent } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth';
import { ApiError } from '../api/errors';
import { tenantPath, type UploadResult } from '../api/types';
import { MAX_UPLOAD_BYTES, reportMediaType } from './shape';
import { reportsKey } from './queries';

export type UploadOutcome =
  | { file: string; kind: 'stored' | 'duplicate'; result: UploadResult }
  | { file: string; kind: 'error'; message: string };

/** The first bytes of a file (to tell gzip from JSON). */
async function head(file: Blob): Promise<Uint8Array> {
  return new Uint8Array(await file.slice(0, 2).arrayBuffer());
}

/**
 * Imports report files (e.g. from a mailbox, from before stsd hosted the domain), one request
 * per file, in order; every file gets its own outcome, the API's error included.
 */
export function UploadForm({ tenant, domain }: { tenant: string; domain: string }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const qc = useQueryClient();
  const inputRef = useRef<HTMLInputElement>(null);
  const [busy, setBusy] = useState(false);
  const [outcomes, setOutcomes] = useState<UploadOutcome[]>([]);
  const [formError, setFormError] = useState<string | null>(null);
  const inputId = useId();
  const hintId = useId();

  async function uploadOne(file: File): Promise<UploadOutcome> {
    if (file.size > MAX_UPLOAD_BYTES) return { file: file.name, kind: 'error', message: t('reports.upload.tooLarge') };
    try {
      const type = reportMediaType(await head(file));
      const result = await client.request<UploadResult>('POST', tenantPath(tenant, 'domains', domain, 'reports'), { raw: { body: file, type } });
      return { file: file.name, kind: result.duplicate ? 'duplicate' : 'stored', result };
    } catch (e) {
      const message =
        e instanceof ApiError
          ? e.code === 'network'
            ? t('errors.network')
            : e.status === 403
              ? t('errors.forbidden')
              : e.message
          : t('errors.unknown');
      return { file: file.name, kind: 'error', message };
    }
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    const input = inputRef.current;
    const chosen = input?.files ?? null;
    const files = [...(chosen ?? [])];
    if (files.length === 0) {
      setFormError(t('reports.upload.noFile'));
      input?.focus();
      return;
    }
    setFormError(null);
    setBusy(true);
    const done: UploadOutcome[] = [];
    for (const f of files) {
      done.push(await uploadOne(f));
      setOutcomes([...done]);
    }
    setBusy(false);
    // Clear the choice once everything went in, unless other files were chosen meanwhile.
    if (input && input.files === chosen && done.every((o) => o.kind !== 'error')) input.value = '';
    // The domain's summaries and list, and the tenant-wide summary, count these reports.
    if (done.some((o) => o.kind === 'stored')) {
      await qc.invalidateQueries({ queryKey: reportsKey({ tenant, domain }) });
      await qc.invalidateQueries({ queryKey: reportsKey({ tenant }) });
    }
  }

  return (
    <section className="card" aria-labelledby="upload-h">
      <h2 id="upload-h">{t('reports.upload.title')}</h2>
      <p className="muted">{t('reports.upload.help')}</p>
      <form onSubmit={submit} noValidate className="upload-form">
        <div className={`field${formError ? ' field-invalid' : ''}`}>
          <label htmlFor={inputId}>{t('reports.upload.files')}</label>
          <input
            ref={inputRef}
            id={inputId}
            type="file"
            multiple
            accept=".json,.gz,application/json,application/gzip,application/tlsrpt+json,application/tlsrpt+gzip"
            aria-describedby={hintId}
            aria-invalid={!!formError || undefined}
            onChange={() => setFormError(null)}
          />
          <p id={hintId} className="hint">
            {t('reports.upload.hint')}
          </p>
          {formError && (
            <p className="field-errors" role="alert">
              {formError}
            </p>
          )}
        </div>
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? t('reports.upload.uploading') : t('reports.upload.submit')}
        </button>
      </form>
      {outcomes.length > 0 && (
        <ul className="upload-outcomes" aria-live="polite">
          {outcomes.map((o, i) => (
            <li key={`${i}-${o.file}`} className={`notice ${o.kind === 'error' ? 'notice-bad' : o.kind === 'duplicate' ? 'notice-info' : 'notice-ok'}`}>
              <strong className="upload-file">{o.file}</strong>{' '}
              {o.kind === 'error' ? (
                <span>{t('reports.upload.failed', { message: o.message })}</span>
              ) : (
                <>
                  <span>
                    {t(o.kind === 'duplicate' ? 'reports.upload.duplicate' : 'reports.upload.stored', {
                      organization: o.result.organization,
                      reportId: o.result.report_id,
                    })}
                  </span>
                  {o.result.domain_mismatch && (
                    <span className="block">{t('reports.upload.domainMismatch', { domain: o.result.policy_domain ?? '—' })}</span>
                  )}
                  {o.result.media_type_flagged && <span className="block">{t('reports.upload.mediaFlagged')}</span>}
                </>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
