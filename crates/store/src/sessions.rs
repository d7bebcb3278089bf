//! Refresh tokens: opaque, stored as hashes, rotated on every use. Each login starts a
//! family; presenting a token that was already used means it was stolen (or replayed), so the
//! whole family is revoked and every holder must log in again.

use time::OffsetDateTime;

use crate::Result;
use crate::clock::{from_ms, now, to_ms};
use crate::db::Store;
use crate::error::conflict;
use crate::ids::{UserId, row_id};

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was valid; it is now used and `new_hash` replaces it in the same family.
    Rotated {
        /// The session's user.
        user_id: UserId,
        /// The session family.
        family_id: String,
    },
    /// The token had been used before: the family is now revoked.
    Reused {
        /// The session's user.
        user_id: UserId,
    },
    /// Unknown, expired or revoked.
    Invalid,
}

type RefreshRow = (String, String, String, i64, Option<i64>, Option<i64>);

impl Store {
    /// Starts a session family with its first refresh token; returns the family id.
    pub async fn create_refresh_token(
        &self,
        user: &UserId,
        token_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<String> {
        let family = row_id();
        sqlx::query(
            "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(row_id())
        .bind(user.as_str())
        .bind(&family)
        .bind(token_hash)
        .bind(to_ms(now()))
        .bind(to_ms(expires_at))
        .execute(&self.pool)
        .await
        .map_err(conflict("refresh token"))?;
        Ok(family)
    }

    /// Uses the token with `old_hash` and issues `new_hash` in its family, atomically.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        new_expires_at: OffsetDateTime,
    ) -> Result<RefreshOutcome> {
        let at = now();
        let mut tx = self.begin().await?;
        let row: Option<RefreshRow> = sqlx::query_as(
            "SELECT id, user_id, family_id, expires_at, used_at, revoked_at FROM refresh_tokens
             WHERE token_hash = $1",
        )
        .bind(old_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, user_id, family_id, expires_at, used_at, revoked_at)) = row else {
            return Ok(RefreshOutcome::Invalid);
        };
        let user_id = UserId::from_raw(user_id);
        if revoked_at.is_some() || from_ms(expires_at)? <= at {
            return Ok(RefreshOutcome::Invalid);
        }
        // Claim the token; zero rows means another request used it first (a replay race).
        let claimed = if used_at.is_none() {
            sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                .bind(to_ms(at))
                .bind(&id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        } else {
            0
        };
        if claimed == 0 {
            sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE family_id = $2",
            )
            .bind(to_ms(at))
            .bind(&family_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(RefreshOutcome::Reused { user_id });
        }
        sqlx::query(
            "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(row_id())
        .bind(user_id.as_str())
        .bind(&family_id)
        .bind(new_hash)
        .bind(to_ms(at))
        .bind(to_ms(new_expires_at))
        .execute(&mut *tx)
        .await
        .map_err(conflict("refresh token"))?;
        tx.commit().await?;
        Ok(RefreshOutcome::Rotated { user_id, family_id })
    }

    /// Whether `user`'s session `family` is still open: a refresh token of it neither
    /// revoked (logout, reuse detected) nor expired. Access tokens issued for the session are
    /// honoured only while it is.
    pub async fn session_open(&self, user: &UserId, family: &str) -> Result<bool> {
        let open: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM refresh_tokens
             WHERE family_id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3
             LIMIT 1",
        )
        .bind(family)
        .bind(user.as_str())
        .bind(to_ms(now()))
        .fetch_optional(&self.pool)
        .await?;
        Ok(open.is_some())
    }

    /// Revokes the family of the token with this hash (logout). Unknown tokens are ignored.
    pub async fn revoke_refresh_family(&self, token_hash: &str) -> Result<()> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $1)
             WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $2)",
        )
        .bind(to_ms(now()))
        .bind(token_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes refresh tokens that expired at or before `at` (they can only be refused, and
    /// a token presented after its expiry is refused whether its row exists or not); returns
    /// how many.
    pub async fn purge_expired_refresh_tokens(&self, at: OffsetDateTime) -> Result<u64> {
        let done = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= $1")
            .bind(to_ms(at))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
