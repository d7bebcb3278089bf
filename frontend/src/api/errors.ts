import type { components } from './schema';

type Envelope = components['schemas']['ErrorEnvelope'];

/** An error answered by the API (`{"error": {code, message, details}}`) or a network failure. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown[];

  constructor(status: number, code: string, message: string, details: unknown[] = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** Builds the error from a response body, whatever its shape. */
  static fromBody(status: number, body: unknown): ApiError {
    const env = body as Partial<Envelope> | null;
    const e = env && typeof env === 'object' ? env.error : undefined;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') {
      return new ApiError(status, e.code, e.message, Array.isArray(e.details) ? e.details : []);
    }
    return new ApiError(status, status === 0 ? 'network' : 'http_error', `HTTP ${status}`);
  }
}

/** Field name → messages, from a 422's `details` (`mx[2]` stays as is). */
export type FieldErrors = Record<string, string[]>;

export function fieldErrors(error: unknown): FieldErrors {
  const out: FieldErrors = {};
  if (!(error instanceof ApiError) || error.status !== 422) return out;
  for (const d of error.details) {
    if (d && typeof d === 'object' && 'field' in d && 'message' in d) {
      const { field, message } = d as { field: unknown; message: unknown };
      if (typeof field === 'string' && typeof message === 'string') {
        (out[field] ??= []).push(message);
      }
    }
  }
  return out;
}

/**
 * Errors to show next to a form's fields, plus the message for the form as a whole: 422 details
 * go to their fields (unknown fields to the form); some conflicts belong to a field too.
 */
export function formErrors(
  error: unknown,
  fields: readonly string[],
  conflictField?: string,
): { fields: FieldErrors; form: string | null } {
  if (!(error instanceof ApiError)) return { fields: {}, form: error ? String(error) : null };
  if (error.status === 409 && conflictField) {
    return { fields: { [conflictField]: [error.message] }, form: null };
  }
  const all = fieldErrors(error);
  const known: FieldErrors = {};
  const rest: string[] = [];
  for (const [field, messages] of Object.entries(all)) {
    if (fields.includes(field)) known[field] = messages;
    else rest.push(...messages.map((m) => `${field}: ${m}`));
  }
  if (error.status === 422 && Object.keys(all).length > 0) {
    return { fields: known, form: rest.length ? rest.join('; ') : null };
  }
  return { fields: {}, form: error.message };
}
