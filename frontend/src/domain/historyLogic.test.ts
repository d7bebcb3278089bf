import { describe, expect, it } from 'vitest';
import { restores, versionDiff } from './historyLogic';

const v = (mode: string, mx: string[], max_age: number) => ({ mode, mx, max_age });

describe('version history', () => {
  it('says what changed from the version before', () => {
    expect(versionDiff(undefined, v('testing', ['a.example'], 86_400))).toBeNull();
    expect(versionDiff(v('testing', ['a.example', 'b.example'], 86_400), v('enforce', ['b.example', 'c.example'], 604_800))).toEqual({
      mode: ['testing', 'enforce'],
      added: ['c.example'],
      removed: ['a.example'],
      maxAge: [86_400, 604_800],
    });
    expect(versionDiff(v('testing', ['a.example'], 86_400), v('testing', ['a.example'], 86_400))).toEqual({
      mode: null,
      added: [],
      removed: [],
      maxAge: null,
    });
  });

  it('offers restore only where it would change the newest policy', () => {
    const newest = v('enforce', ['a.example', 'b.example'], 604_800);
    expect(restores(newest, newest)).toBe(false);
    expect(restores(v('enforce', ['b.example', 'a.example'], 604_800), newest)).toBe(true);
    expect(restores(v('testing', ['a.example', 'b.example'], 604_800), newest)).toBe(true);
    expect(restores(v('enforce', ['a.example', 'b.example'], 86_400), newest)).toBe(true);
    expect(restores(newest, undefined)).toBe(false);
  });
});
