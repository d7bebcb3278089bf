//! Master-key rotation: re-sealing every sealed value under the current key.
//!
//! Runs on a live cluster. Each batch is one short transaction, so a rotation that stops
//! halfway (a crash, a lost connection) keeps what it did and the next run picks up the rest:
//! only values whose `key_id` is not the current key's are touched. A row is rewritten only if
//! it still holds the ciphertext that was read, so a node writing the same row meanwhile (a
//! re-registered ACME account) is never overwritten with stale data; such a row is counted as
//! skipped and re-sealed by the next run if needed.

use crate::Result;
use crate::all_tenants::AllTenants;
use crate::db::Store;
use crate::sealing::MasterKey;

/// A table holding sealed values: its name, primary key and ciphertext column.
struct SealedColumn {
    table: &'static str,
    id: &'static str,
    ciphertext: &'static str,
}

/// Every sealed column in the schema. A new table with a sealed value must be listed here
/// (the store test that seals one of each fails otherwise).
const SEALED: [SealedColumn; 5] = [
    SealedColumn {
        table: "acme_accounts",
        id: "id",
        ciphertext: "credentials_ciphertext",
    },
    SealedColumn {
        table: "certificates",
        id: "id",
        ciphertext: "key_ciphertext",
    },
    SealedColumn {
        table: "service_certificates",
        id: "id",
        ciphertext: "key_ciphertext",
    },
    SealedColumn {
        table: "local_ca",
        id: "id",
        ciphertext: "key_ciphertext",
    },
    SealedColumn {
        table: "webhooks",
        id: "id",
        ciphertext: "secret_ciphertext",
    },
];

/// What a rotation did to one table. Counts only: never a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResealCount {
    /// The table.
    pub table: &'static str,
    /// Values re-sealed under the current key by this run.
    pub resealed: u64,
    /// Values already under the current key, left alone.
    pub current: u64,
    /// Values sealed under a key that is neither current nor previous (or corrupt): left
    /// alone. Nonzero means a previous key is missing from the configuration.
    pub unreadable: u64,
    /// Values that changed while being re-sealed, left to the next run.
    pub skipped: u64,
}

// Table and column names below come only from the constant list above, never from input:
// that is why formatting them into SQL is safe.
impl AllTenants<'_> {
    /// Re-seals every sealed value not yet under `key`'s current key, opening it with the
    /// current or a previous key, `batch` rows per transaction. Idempotent: a second run
    /// re-seals nothing. Every tenant's webhook secrets and certificate keys with the
    /// operator's own: for the admin CLI.
    pub async fn reseal_all(&self, key: &MasterKey, batch: usize) -> Result<Vec<ResealCount>> {
        let mut counts = Vec::with_capacity(SEALED.len());
        for column in &SEALED {
            let count = self.store.reseal_table(column, key, batch.max(1)).await?;
            tracing::info!(
                table = count.table,
                resealed = count.resealed,
                already_current = count.current,
                unreadable = count.unreadable,
                skipped = count.skipped,
                "master key rotation"
            );
            counts.push(count);
        }
        Ok(counts)
    }
}

impl Store {
    async fn reseal_table(
        &self,
        column: &SealedColumn,
        key: &MasterKey,
        batch: usize,
    ) -> Result<ResealCount> {
        let SealedColumn {
            table,
            id,
            ciphertext,
        } = column;
        let mut count = ResealCount {
            table,
            ..ResealCount::default()
        };
        let (current,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table} WHERE key_id = $1"
        )))
        .bind(key.id())
        .fetch_one(&self.pool)
        .await?;
        count.current = u64::try_from(current).unwrap_or_default();
        let limit = i64::try_from(batch).unwrap_or(i64::MAX);
        // Keyset pagination by primary key: unreadable rows stay behind, not in the way.
        let mut after = String::new();
        loop {
            let mut tx = self.begin().await?;
            let rows: Vec<(String, Vec<u8>, String)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {id}, {ciphertext}, key_id FROM {table}
                 WHERE key_id <> $1 AND {id} > $2 ORDER BY {id} LIMIT $3"
                )))
                .bind(key.id())
                .bind(&after)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            let Some((last, _, _)) = rows.last() else {
                break;
            };
            after = last.clone();
            for (row_id, sealed, old_key_id) in &rows {
                // A value the key ring cannot open is reported, never rewritten.
                let Ok(plain) = key.open(sealed) else {
                    count.unreadable += 1;
                    continue;
                };
                let resealed = key
                    .seal(&plain)
                    .map_err(|e| crate::StoreError::Random(e.to_string()))?;
                let done = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE {table} SET {ciphertext} = $1, key_id = $2
                     WHERE {id} = $3 AND key_id = $4 AND {ciphertext} = $5"
                )))
                .bind(resealed)
                .bind(key.id())
                .bind(row_id)
                .bind(old_key_id)
                .bind(sealed.clone())
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 1 {
                    count.resealed += 1;
                } else {
                    count.skipped += 1;
                }
            }
            tx.commit().await?;
            if rows.len() < batch {
                break;
            }
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `*_ciphertext` column the migrations create is one the rotation re-seals: a new
    /// sealed column that is not added to [`SEALED`] fails here.
    #[test]
    fn every_sealed_column_is_rotated() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/sqlite");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let sql = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let mut table = String::new();
            for line in sql.lines().map(str::trim) {
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.as_slice() {
                    ["CREATE", "TABLE", name, ..] | ["ALTER", "TABLE", name, ..] => {
                        table = name.trim_end_matches('(').to_owned();
                    }
                    _ => {}
                }
                if let Some(column) = words.iter().find(|w| w.ends_with("_ciphertext")) {
                    // Tables built under a temporary name are renamed back.
                    found.push((
                        table.trim_end_matches("_new").to_owned(),
                        (*column).to_owned(),
                    ));
                }
            }
        }
        found.sort();
        found.dedup();
        let mut listed: Vec<(String, String)> = SEALED
            .iter()
            .map(|c| (c.table.to_owned(), c.ciphertext.to_owned()))
            .collect();
        listed.sort();
        assert_eq!(found, listed);
    }
}
