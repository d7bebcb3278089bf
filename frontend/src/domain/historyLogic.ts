/** What changed from one policy version to the next. */
export interface VersionDiff {
  mode: [string, string] | null;
  added: string[];
  removed: string[];
  maxAge: [number, number] | null;
}

type Versionish = { mode: string; mx: readonly string[]; max_age: number };

/** The change from `older` to `newer`; null when there is no older version. */
export function versionDiff(older: Versionish | undefined, newer: Versionish): VersionDiff | null {
  if (!older) return null;
  return {
    mode: older.mode !== newer.mode ? [older.mode, newer.mode] : null,
    added: newer.mx.filter((p) => !older.mx.includes(p)),
    removed: older.mx.filter((p) => !newer.mx.includes(p)),
    maxAge: older.max_age !== newer.max_age ? [older.max_age, newer.max_age] : null,
  };
}

/** Whether restoring `version` would change the newest policy (same mode, patterns, max_age). */
export function restores(version: Versionish, newest: Versionish | undefined): boolean {
  if (!newest) return false;
  const same =
    version.mode === newest.mode &&
    version.max_age === newest.max_age &&
    version.mx.length === newest.mx.length &&
    version.mx.every((p, i) => newest.mx[i] === p);
  return !same;
}
