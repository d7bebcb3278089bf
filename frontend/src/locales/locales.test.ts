import { describe, expect, it } from 'vitest';
import { en } from './en';
import { de } from './de';

function leaves(obj: object, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(obj)) {
    if (v && typeof v === 'object') for (const [kk, vv] of leaves(v, `${prefix}${k}.`)) out.set(kk, vv);
    else out.set(`${prefix}${k}`, String(v));
  }
  return out;
}
const placeholders = (s: string) => [...s.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).sort();

describe('translations', () => {
  const e = leaves(en);
  const d = leaves(de);
  it('German has every English key and no other', () => {
    expect([...d.keys()].sort()).toEqual([...e.keys()].sort());
  });
  it('no string is empty and placeholders match', () => {
    for (const [k, v] of e) {
      expect(v.trim(), k).not.toBe('');
      expect(d.get(k)?.trim(), k).not.toBe('');
      expect(placeholders(d.get(k) ?? ''), k).toEqual(placeholders(v));
    }
  });
});
