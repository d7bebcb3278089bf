/** The webhook form's rules, mirroring the API's (crates/api/src/webhooks.rs); the API decides. */

export const WEBHOOK_EVENTS = ['domain.state_changed', 'domain.checks_failing', 'domain.mx_uncovered', 'domain.reporters_silent', 'certificate.failed'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export interface WebhookForm {
  url: string;
  /** `*`: every event, also ones added later. */
  all: boolean;
  events: WebhookEvent[];
}

export type UrlProblem = 'required' | 'notUrl' | 'https' | 'credentials' | 'private' | 'tooLong';

function privateAddress(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(h);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || a >= 224;
  }
  if (h.includes(':')) return h === '::' || h === '::1' || h.startsWith('fc') || h.startsWith('fd') || h.startsWith('fe80') || h.startsWith('::ffff:');
  return h === 'localhost' || h.endsWith('.localhost');
}

export function urlProblem(raw: string): UrlProblem | null {
  const url = raw.trim();
  if (url === '') return 'required';
  if (url.length > 2000) return 'tooLong';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'notUrl';
  }
  if (parsed.protocol !== 'https:') return 'https';
  if (parsed.username || parsed.password) return 'credentials';
  if (!parsed.hostname) return 'notUrl';
  if (privateAddress(parsed.hostname)) return 'private';
  return null;
}

export function webhookFormErrors(form: WebhookForm): { url?: UrlProblem; events?: 'none' } {
  const out: { url?: UrlProblem; events?: 'none' } = {};
  const u = urlProblem(form.url);
  if (u) out.url = u;
  if (!form.all && form.events.length === 0) out.events = 'none';
  return out;
}

export function webhookBody(form: WebhookForm): { url: string; events: string[] } {
  return { url: form.url.trim(), events: form.all ? ['*'] : WEBHOOK_EVENTS.filter((e) => form.events.includes(e)) };
}

export type DeliveryTone = 'ok' | 'warn' | 'bad' | 'muted';
export function deliveryTone(status: string): DeliveryTone {
  return status === 'delivered' ? 'ok' : status === 'pending' ? 'warn' : status === 'failed' ? 'bad' : 'muted';
}

/** The event's key in the catalogue (`domain.state_changed` → `domain_state_changed`). */
export const eventKey = (e: string) => e.replace(/[^a-z]/gi, '_');
