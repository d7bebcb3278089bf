import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { en } from '../locales/en';
import { de } from '../locales/de';
import {
  AUDIT_CATEGORIES,
  auditCategory,
  describeActor,
  describeTarget,
  distinctActors,
  filterEntries,
  summarizeDetails,
  tokenNamesFromEntries,
} from './auditShape';

const entries = [
  { actor: 'user:u1', action: 'member.role', details: {} },
  { actor: 'token:k1', action: 'policy.update', details: {} },
  { actor: 'user:u2', action: 'domain.create', details: {} },
  { actor: 'user:u1', action: 'session.reuse_detected', details: {} },
];

describe('audit log shaping', () => {
  it('groups actions into categories', () => {
    expect(auditCategory('domain.offboard')).toBe('domain');
    expect(auditCategory('token.revoke')).toBe('token');
    expect(auditCategory('session.reuse_detected')).toBe('account');
    expect(auditCategory('account.signup')).toBe('account');
    expect(auditCategory('invitation.create')).toBe('member');
  });

  it('filters by category and actor, both or neither', () => {
    expect(filterEntries(entries, { category: '', actor: '' })).toHaveLength(4);
    expect(filterEntries(entries, { category: 'account', actor: '' }).map((e) => e.action)).toEqual(['session.reuse_detected']);
    expect(filterEntries(entries, { category: '', actor: 'user:u1' })).toHaveLength(2);
    expect(filterEntries(entries, { category: 'member', actor: 'user:u2' })).toHaveLength(0);
  });

  it('lists each actor once, newest first', () => {
    expect(distinctActors(entries)).toEqual(['user:u1', 'token:k1', 'user:u2']);
  });

  it('names actors and targets when known, keeps the id otherwise', () => {
    const users = new Map([['u1', 'ann@example.com']]);
    const tokens = new Map([['k1', 'Terraform']]);
    expect(describeActor('user:u1', users, tokens)).toEqual({ kind: 'user', label: 'ann@example.com', known: true });
    expect(describeActor('user:gone', users, tokens)).toEqual({ kind: 'user', label: 'gone', known: false });
    expect(describeActor('token:k1', users, tokens)).toEqual({ kind: 'token', label: 'Terraform', known: true });
    expect(describeActor('system', users, tokens)).toEqual({ kind: 'other', label: 'system', known: false });
    expect(describeTarget('member.role', 'u1', users, tokens)).toBe('ann@example.com');
    expect(describeTarget('token.revoke', 'k1', users, tokens)).toBe('Terraform');
    expect(describeTarget('domain.create', 'u1', users, tokens)).toBe('u1');
  });

  it('learns token names from the log’s own token.create entries', () => {
    const names = tokenNamesFromEntries([
      { actor: 'user:u1', action: 'token.create', target: 'k1', details: { after: { name: 'CI', scope: 'write' } } },
      { actor: 'user:u1', action: 'token.revoke', target: 'k1', details: {} },
      { actor: 'user:u1', action: 'token.create', target: 'k2', details: null },
      { actor: 'user:u1', action: 'member.add', target: 'x', details: { after: { name: 'not a token' } } },
    ]);
    expect([...names]).toEqual([['k1', 'CI']]);
  });

  it('reads before/after values', () => {
    expect(summarizeDetails({ before: { role: 'viewer' }, after: { role: 'editor' } })).toEqual({
      changes: [{ field: 'role', before: 'viewer', after: 'editor' }],
      text: null,
      override: false,
    });
    expect(summarizeDetails({ after: { name: 'ci', scope: 'write' } }).changes).toEqual([
      { field: 'name', before: null, after: 'ci' },
      { field: 'scope', before: null, after: 'write' },
    ]);
    expect(summarizeDetails({ before: { state: 'active' }, after: { state: 'offboarding', serve_until: 1700000000 } }).changes).toEqual([
      { field: 'state', before: 'active', after: 'offboarding' },
      { field: 'serve_until', before: null, after: '1700000000' },
    ]);
  });

  it('puts policy files in the text view and notes overrides', () => {
    const s = summarizeDetails({ before: null, after: 'version: STSv1\r\nmode: testing\r\n', override: true });
    expect(s.text).toEqual({ before: null, after: 'version: STSv1\r\nmode: testing\r\n' });
    expect(s.override).toBe(true);
    expect(s.changes).toEqual([]);
    const created = summarizeDetails({ after: { label: 'k7q2', policy: 'version: STSv1\r\n' } });
    expect(created.changes).toEqual([{ field: 'label', before: null, after: 'k7q2' }]);
    expect(created.text).toEqual({ before: null, after: 'version: STSv1\r\n' });
    // A domain created without a proposed policy: nothing to show for it.
    expect(summarizeDetails({ after: { label: 'k7q2', policy: null } }).changes).toEqual([{ field: 'label', before: null, after: 'k7q2' }]);
  });

  it('gives nothing for shapes it does not know', () => {
    expect(summarizeDetails(null)).toEqual({ changes: [], text: null, override: false });
    expect(summarizeDetails([1, 2])).toEqual({ changes: [], text: null, override: false });
    expect(summarizeDetails('x')).toEqual({ changes: [], text: null, override: false });
  });
});

/** Every audit action the API records, read from its source (`record(…, "<action>", …)`). */
function recordedActions(): string[] {
  const dir = join(__dirname, '../../../crates/api/src');
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.rs')) files.push(join(d, e.name));
    }
  };
  walk(dir);
  const actions = new Set<string>();
  for (const f of files) {
    for (const m of readFileSync(f, 'utf8').matchAll(/^\s*"([a-z]+\.[a-z_]+)",\s*$/gm)) {
      const action = m[1] ?? '';
      if (!/\.(com|org|net|example)$/.test(action)) actions.add(action);
    }
  }
  return [...actions].sort();
}

describe('audit actions', () => {
  it('every action the API records is worded in English and German and has a category', () => {
    const actions = recordedActions();
    expect(actions.length).toBeGreaterThan(20);
    const enActions = en.audit.actions as Record<string, string>;
    const deActions = de.audit.actions as Record<string, string>;
    for (const action of actions) {
      const key = action.replace('.', '_');
      expect(enActions[key], `English wording of ${action}`).toBeTruthy();
      expect(deActions[key], `German wording of ${action}`).toBeTruthy();
      expect(AUDIT_CATEGORIES as readonly string[], `category of ${action}`).toContain(auditCategory(action));
    }
  });
});
