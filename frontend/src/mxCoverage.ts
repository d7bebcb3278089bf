/**
 * MX coverage (RFC 8461 §4.1): which of a domain's MX hosts each policy `mx` pattern matches.
 * A pattern is a host name, or `*.` followed by one: the wildcard stands for exactly one
 * leftmost label (`*.example.com` matches `mx1.example.com`, not `example.com` nor
 * `a.b.example.com`). Comparison ignores case and a trailing dot.
 */

/** Lower case, no trailing dot, A-labels for internationalized names. */
export function normalizeHost(name: string): string {
  let n = name.trim().toLowerCase();
  if (n.endsWith('.')) n = n.slice(0, -1);
  // Non-ASCII: the URL parser applies IDNA (UTS #46), as senders compare A-labels.
  if (/[^\x00-\x7f]/.test(n)) {
    const wild = n.startsWith('*.');
    try {
      const ascii = new URL(`http://${wild ? n.slice(2) : n}/`).hostname;
      n = wild ? `*.${ascii}` : ascii;
    } catch {
      // not a host name: left as is, it matches nothing
    }
  }
  return n;
}

export function patternMatches(pattern: string, host: string): boolean {
  const p = normalizeHost(pattern);
  const h = normalizeHost(host);
  if (p === '' || h === '') return false;
  if (p.startsWith('*.')) {
    const suffix = p.slice(1); // ".example.com"
    if (!h.endsWith(suffix)) return false;
    const label = h.slice(0, h.length - suffix.length);
    return label !== '' && !label.includes('.');
  }
  return p === h;
}

export interface HostCoverage {
  host: string;
  /** The patterns matching this host; empty means senders would not accept it. */
  patterns: string[];
}

export interface PatternCoverage {
  pattern: string;
  /** The MX hosts this pattern matches; empty means it matches no current MX host. */
  hosts: string[];
}

export interface Coverage {
  hosts: HostCoverage[];
  patterns: PatternCoverage[];
  uncovered: string[];
  unused: string[];
}

export function coverage(patterns: readonly string[], hosts: readonly string[]): Coverage {
  const hostRows = hosts.map((host) => ({ host, patterns: patterns.filter((p) => patternMatches(p, host)) }));
  const patternRows = patterns.map((pattern) => ({ pattern, hosts: hosts.filter((h) => patternMatches(pattern, h)) }));
  return {
    hosts: hostRows,
    patterns: patternRows,
    uncovered: hostRows.filter((r) => r.patterns.length === 0).map((r) => r.host),
    unused: patternRows.filter((r) => r.hosts.length === 0).map((r) => r.pattern),
  };
}
