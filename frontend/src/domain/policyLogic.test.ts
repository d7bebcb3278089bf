import { describe, expect, it } from 'vitest';
import { ApiError, fieldErrors } from '../api/errors';
import {
  apiRowErrors,
  blocks,
  draftBody,
  draftChanged,
  draftCoverage,
  draftFrom,
  draftValid,
  maxAgeAdvice,
  mayOverride,
  overrideConfirmed,
  reasonValid,
  patternProblem,
  readinessChecks,
  secondsToDays,
  sortChecks,
  validateDraft,
} from './policyLogic';

describe('mx pattern validation', () => {
  it('accepts host names and leading wildcards', () => {
    for (const p of ['mx1.example.com', '*.mail.example.net', 'MX.Example.COM.', ' mx.bücher.de ', 'a-b.example.org']) {
      expect(patternProblem(p), p).toBeNull();
    }
  });

  it('names what is wrong, like the API', () => {
    expect(patternProblem('')).toBe('required');
    expect(patternProblem('mx*.example.com')).toBe('wildcard');
    expect(patternProblem('*')).toBe('wildcard');
    expect(patternProblem('*.*.example.com')).toBe('wildcard');
    expect(patternProblem('mx..example.com')).toBe('emptyLabel');
    expect(patternProblem('mx_1.example.com')).toBe('characters');
    expect(patternProblem('-mx.example.com')).toBe('hyphen');
    expect(patternProblem(`${'a'.repeat(64)}.example.com`)).toBe('labelLong');
    expect(patternProblem('localhost')).toBe('singleLabel');
    expect(patternProblem('*.com')).toBe('singleLabel');
    expect(patternProblem('192.0.2.1')).toBe('ip');
    expect(patternProblem('mx.example.123')).toBe('numericTld');
  });

  it('finds duplicates regardless of case and trailing dot', () => {
    const e = validateDraft({ mode: 'testing', mx: ['mx.example.com', 'MX.example.com.', '*.example.com'], maxAge: '86400' });
    expect(e.rows).toEqual([null, 'duplicate', null]);
  });
});

describe('draft', () => {
  it('needs a pattern unless the mode is none, and whole seconds in range', () => {
    expect(validateDraft({ mode: 'enforce', mx: [' '], maxAge: '86400' }).list).toBe('noMx');
    expect(validateDraft({ mode: 'none', mx: [''], maxAge: '86400' }).list).toBeUndefined();
    expect(validateDraft({ mode: 'testing', mx: ['mx.example.com'], maxAge: '1.5' }).maxAge).toBe('invalid');
    expect(validateDraft({ mode: 'testing', mx: ['mx.example.com'], maxAge: '31557601' }).maxAge).toBe('range');
    expect(validateDraft({ mode: 'testing', mx: ['mx.example.com'], maxAge: '31557600' }).maxAge).toBeUndefined();
  });

  it('drops empty rows when saving, so they never block it', () => {
    const draft = { mode: 'testing' as const, mx: ['mx.example.com', '  ', ' *.example.net '], maxAge: '604800' };
    expect(draftValid(draft)).toBe(true);
    expect(draftBody(draft)).toEqual({ mode: 'testing', mx: ['mx.example.com', '*.example.net'], max_age: 604800 });
    expect(draftBody(draft, ' the backup MX is retired ')).toMatchObject({ override: true, override_reason: 'the backup MX is retired' });
  });

  it('puts the API\'s mx[i] errors on the i-th filled row', () => {
    const draft = { mode: 'testing' as const, mx: ['', 'a.example.com', '', '*.co.uk'], maxAge: '86400' };
    const fields = fieldErrors(
      new ApiError(422, 'validation_failed', 'bad', [
        { field: 'mx[1]', message: 'wildcard over a public suffix' },
        { field: 'max_age', message: 'too big' },
      ]),
    );
    expect(apiRowErrors(fields, draft)).toEqual({ rows: { 3: ['wildcard over a public suffix'] }, other: { max_age: ['too big'] } });
  });

  it('starts from the newest version and sees changes', () => {
    const v = { mode: 'testing', mx: ['mx.example.com'], max_age: 86400 };
    const d = draftFrom(v);
    expect(d).toEqual({ mode: 'testing', mx: ['mx.example.com'], maxAge: '86400' });
    expect(draftChanged(d, v)).toBe(false);
    expect(draftChanged({ ...d, mx: ['mx.example.com', ''] }, v)).toBe(false);
    expect(draftChanged({ ...d, maxAge: '604800' }, v)).toBe(true);
    expect(draftFrom(null)).toEqual({ mode: 'testing', mx: [''], maxAge: '86400' });
  });

  it('previews coverage of the valid patterns being typed', () => {
    const hosts = ['mx1.example.com', 'mx2.mail.example.com', 'backup.other.net'];
    const c = draftCoverage({ mode: 'testing', mx: ['mx1.example.com', '*.mail.example.com', 'gone.example.com', 'bad_.x'], maxAge: '1' }, hosts);
    expect(c.uncovered).toEqual(['backup.other.net']);
    expect(c.unused).toEqual(['gone.example.com']);
    expect(c.patterns.map((p) => p.pattern)).not.toContain('bad_.x');
  });

  it('shows max_age in days and advises by mode', () => {
    expect(secondsToDays(86400)).toBe(1);
    expect(secondsToDays(604800)).toBe(7);
    expect(secondsToDays(43200)).toBe(0.5);
    expect(maxAgeAdvice('testing', 86400)).toBe('ok');
    expect(maxAgeAdvice('testing', 3600)).toBe('underDay');
    expect(maxAgeAdvice('enforce', 86399)).toBe('underDay');
    expect(maxAgeAdvice('none', 3600)).toBe('ok');
    expect(maxAgeAdvice('testing', 30 * 86400)).toBe('testingLong');
    expect(maxAgeAdvice('enforce', 86400)).toBe('enforceShort');
    expect(maxAgeAdvice('enforce', 604800)).toBe('ok');
    expect(maxAgeAdvice('none', 30 * 86400)).toBe('noneLong');
  });
});

describe('readiness', () => {
  it('reads checks out of a 409 and puts blocking ones first', () => {
    const checks = readinessChecks([
      { name: 'tlsrpt_failures', result: 'warn', explanation: 'no reports' },
      { field: 'x', message: 'not a check' },
      { name: 'mx_starttls', result: 'not_run', explanation: 'not probed' },
      { name: 'mx_coverage', result: 'fail', explanation: '1 host', uncovered: ['mx9.example.com'] },
    ]);
    expect(sortChecks(checks).map((c) => c.name)).toEqual(['mx_coverage', 'mx_starttls', 'tlsrpt_failures']);
  });

  it('lets owners and admins override, after typing the name', () => {
    expect(mayOverride('owner')).toBe(true);
    expect(mayOverride('admin')).toBe(true);
    expect(mayOverride('editor')).toBe(false);
    expect(mayOverride('viewer')).toBe(false);
    expect(mayOverride(null)).toBe(false);
    const names = ['xn--bcher-kva.example', 'bücher.example'];
    expect(overrideConfirmed('bücher.example', names)).toBe(true);
    expect(overrideConfirmed(' XN--BCHER-KVA.example. ', names)).toBe(true);
    expect(overrideConfirmed('bucher.example', names)).toBe(false);
    expect(overrideConfirmed('', names)).toBe(false);
  });
});

describe('the enforce gate as the API decides it', () => {
  it('blocks on anything but a pass, except no TLS reports yet', () => {
    expect(blocks({ name: 'mx_starttls', result: 'pass' })).toBe(false);
    for (const result of ['fail', 'error', 'not_run', 'warn']) {
      expect(blocks({ name: 'mx_starttls', result })).toBe(true);
    }
    expect(blocks({ name: 'tlsrpt_failures', result: 'warn' })).toBe(false);
    expect(blocks({ name: 'tlsrpt_failures', result: 'fail' })).toBe(true);
  });

  it('takes an override reason of 10 to 1000 characters', () => {
    expect(reasonValid('too short')).toBe(false);
    expect(reasonValid('   ten chars!   ')).toBe(true);
    expect(reasonValid('x'.repeat(1000))).toBe(true);
    expect(reasonValid('x'.repeat(1001))).toBe(false);
  });
});

describe('MX drift', () => {
  it('reads the uncovered hosts from stored checks and adds them as exact patterns once', async () => {
    const { uncoveredMx, withHosts } = await import('./MxDrift');
    expect(uncoveredMx(null)).toEqual([]);
    expect(uncoveredMx([{ name: 'mx_starttls', uncovered: ['x'] }])).toEqual([]);
    expect(uncoveredMx([{ name: 'mx_coverage', uncovered: ['mx2.example.net', 7] }])).toEqual(['mx2.example.net']);
    const newest = { mode: 'enforce', mx: ['mx1.example.net'], max_age: 604800 } as never;
    expect(withHosts(newest, ['mx2.example.net', 'mx1.example.net'])).toEqual({
      mode: 'enforce',
      mx: ['mx1.example.net', 'mx2.example.net'],
      max_age: 604800,
    });
  });
});
