import { describe, expect, it } from 'vitest';
import { coverage, normalizeHost, patternMatches } from './mxCoverage';

describe('mx pattern matching (RFC 8461 §4.1)', () => {
  it('matches a plain host exactly', () => {
    expect(patternMatches('mx1.example.com', 'mx1.example.com')).toBe(true);
    expect(patternMatches('mx1.example.com', 'mx2.example.com')).toBe(false);
    expect(patternMatches('example.com', 'mx1.example.com')).toBe(false);
    expect(patternMatches('mx1.example.com', 'xmx1.example.com')).toBe(false);
  });

  it('lets a wildcard stand for exactly one leftmost label', () => {
    expect(patternMatches('*.example.com', 'mx1.example.com')).toBe(true);
    expect(patternMatches('*.example.com', 'example.com')).toBe(false);
    expect(patternMatches('*.example.com', 'a.b.example.com')).toBe(false);
    expect(patternMatches('*.example.com', '.example.com')).toBe(false);
    expect(patternMatches('*.example.com', 'mx1.badexample.com')).toBe(false);
    expect(patternMatches('*.mail.example.com', 'in.mail.example.com')).toBe(true);
  });

  it('knows only a whole leftmost `*` label as a wildcard', () => {
    expect(patternMatches('mx*.example.com', 'mx1.example.com')).toBe(false);
    expect(patternMatches('a.*.example.com', 'a.b.example.com')).toBe(false);
    expect(patternMatches('*', 'localhost')).toBe(false);
  });

  it('ignores case and a trailing dot on either side', () => {
    expect(patternMatches('MX1.Example.COM', 'mx1.example.com.')).toBe(true);
    expect(patternMatches('*.EXAMPLE.com.', 'Mx1.Example.Com')).toBe(true);
    expect(patternMatches('', 'mx1.example.com')).toBe(false);
    expect(patternMatches('mx1.example.com', '')).toBe(false);
  });

  it('compares internationalized names as A-labels', () => {
    expect(normalizeHost('MX.Bücher.example.')).toBe('mx.xn--bcher-kva.example');
    expect(patternMatches('*.bücher.example', 'mx.xn--bcher-kva.example')).toBe(true);
    expect(patternMatches('mx.xn--bcher-kva.example', 'MX.BÜCHER.EXAMPLE.')).toBe(true);
  });
});

describe('coverage', () => {
  it('pairs hosts and patterns, naming uncovered hosts and unused patterns', () => {
    const c = coverage(['mx1.example.com', '*.mail.example.com', 'old.example.net'], ['mx1.example.com.', 'a.mail.example.com', 'backup.example.org']);
    expect(c.hosts).toEqual([
      { host: 'mx1.example.com.', patterns: ['mx1.example.com'] },
      { host: 'a.mail.example.com', patterns: ['*.mail.example.com'] },
      { host: 'backup.example.org', patterns: [] },
    ]);
    expect(c.patterns).toEqual([
      { pattern: 'mx1.example.com', hosts: ['mx1.example.com.'] },
      { pattern: '*.mail.example.com', hosts: ['a.mail.example.com'] },
      { pattern: 'old.example.net', hosts: [] },
    ]);
    expect(c.uncovered).toEqual(['backup.example.org']);
    expect(c.unused).toEqual(['old.example.net']);
  });

  it('lists a host once even when several patterns cover it', () => {
    const c = coverage(['mx1.example.com', '*.example.com'], ['mx1.example.com']);
    expect(c.hosts).toEqual([{ host: 'mx1.example.com', patterns: ['mx1.example.com', '*.example.com'] }]);
    expect(c.uncovered).toEqual([]);
    expect(c.unused).toEqual([]);
  });

  it('with no hosts every pattern is unused; with no patterns every host is uncovered', () => {
    expect(coverage(['*.example.com'], []).unused).toEqual(['*.example.com']);
    expect(coverage([], ['mx1.example.com']).uncovered).toEqual(['mx1.example.com']);
  });
});
