//! API tokens for automation. Only a hash of each token is stored.

use std::str::FromStr;

use time::OffsetDateTime;

use crate::Result;
use crate::clock::{from_ms, from_ms_opt, now, to_ms};
use crate::db::Store;
use crate::error::{StoreError, conflict, corrupt};
use crate::ids::{TenantId, UserId, row_id};
use crate::tenants::Role;

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    /// Read only.
    Read,
    /// Read and write.
    Write,
}

impl TokenScope {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
        }
    }
}

impl FromStr for TokenScope {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "read" => Ok(TokenScope::Read),
            "write" => Ok(TokenScope::Write),
            _ => Err(format!("unknown token scope `{s}` (read, write)")),
        }
    }
}

/// A stored API token (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Row id, shown in listings.
    pub id: String,
    /// The tenant it acts for.
    pub tenant_id: TenantId,
    /// A name the creator chose.
    pub name: String,
    /// Read or write.
    pub scope: TokenScope,
    /// Who created it (null once that account is deleted).
    pub created_by: Option<UserId>,
    /// The creator's e-mail, for listings.
    pub created_by_email: Option<String>,
    /// When.
    pub created_at: OffsetDateTime,
    /// When it stops working, if ever.
    pub expires_at: Option<OffsetDateTime>,
    /// Last successful use.
    pub last_used_at: Option<OffsetDateTime>,
    /// When it was revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

type TokenRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// The token's columns (table alias `t`) and its creator's e-mail (alias `u`, joined).
const TOKEN_COLUMNS: &str = "t.id, t.tenant_id, t.name, t.scope, t.created_by, t.created_at, \
    t.expires_at, t.last_used_at, t.revoked_at, u.email";

/// A token presented to the API: the stored token, its stored hash (for a constant-time
/// comparison by the caller) and its creator's standing in the token's tenant now.
#[derive(Debug, Clone)]
pub struct TokenCredential {
    /// The stored token.
    pub token: ApiToken,
    /// The stored hash.
    pub hash: String,
    /// The creator's current role in the token's tenant; `None` when the creator is no
    /// longer a member, is disabled or was deleted. A token never acts beyond it.
    pub creator_role: Option<Role>,
}

fn token_from_row(r: TokenRow) -> Result<ApiToken> {
    let (
        id,
        tenant_id,
        name,
        scope,
        created_by,
        created_at,
        expires_at,
        last_used_at,
        revoked_at,
        created_by_email,
    ) = r;
    Ok(ApiToken {
        id,
        tenant_id: TenantId::from_raw(tenant_id),
        name,
        scope: scope
            .parse()
            .map_err(|e: String| corrupt("token scope")(&e))?,
        created_by: created_by.map(UserId::from_raw),
        created_by_email,
        created_at: from_ms(created_at)?,
        expires_at: from_ms_opt(expires_at)?,
        last_used_at: from_ms_opt(last_used_at)?,
        revoked_at: from_ms_opt(revoked_at)?,
    })
}

impl Store {
    /// Stores a new token by its hash.
    pub async fn create_api_token(
        &self,
        tenant: &TenantId,
        name: &str,
        token_hash: &str,
        scope: TokenScope,
        created_by: Option<&UserId>,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<ApiToken> {
        let token = ApiToken {
            id: row_id(),
            tenant_id: tenant.clone(),
            name: name.to_owned(),
            scope,
            created_by: created_by.cloned(),
            created_by_email: None,
            created_at: now(),
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO api_tokens (id, tenant_id, name, token_hash, scope, created_by,
                                     created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&token.id)
        .bind(tenant.as_str())
        .bind(name)
        .bind(token_hash)
        .bind(scope.as_str())
        .bind(created_by.map(|u| u.as_str().to_owned()))
        .bind(to_ms(token.created_at))
        .bind(expires_at.map(to_ms))
        .execute(&self.pool)
        .await
        .map_err(conflict("api token"))?;
        let created_by_email = match created_by {
            Some(user) => {
                sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
                    .bind(user.as_str())
                    .fetch_optional(&self.pool)
                    .await?
            }
            None => None,
        };
        Ok(ApiToken {
            created_by_email,
            ..token
        })
    }

    /// The token with this hash, if any (revoked and expired ones included: the caller decides).
    pub async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        let row: Option<TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens t LEFT JOIN users u ON u.id = t.created_by
             WHERE t.token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(token_from_row).transpose()
    }

    /// The token with this hash, its stored hash and its creator's current role in the
    /// token's tenant, in one read: a token acts with its creator's membership as it is now.
    pub async fn api_token_credential(&self, token_hash: &str) -> Result<Option<TokenCredential>> {
        type Row = (
            String,
            String,
            String,
            String,
            Option<String>,
            i64,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<String>,
            String,
            Option<String>,
        );
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS}, t.token_hash, m.role
             FROM api_tokens t
             LEFT JOIN users u ON u.id = t.created_by
             LEFT JOIN memberships m
                    ON m.tenant_id = t.tenant_id AND m.user_id = u.id AND u.disabled_at IS NULL
             WHERE t.token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some((a, b, c, d, e, f, g, h, i, j, hash, role)) = row else {
            return Ok(None);
        };
        let creator_role = role
            .map(|r| r.parse::<Role>().map_err(|e: String| corrupt("role")(&e)))
            .transpose()?;
        Ok(Some(TokenCredential {
            token: token_from_row((a, b, c, d, e, f, g, h, i, j))?,
            hash,
            creator_role,
        }))
    }

    /// Records that one of the tenant's tokens was just used.
    pub async fn touch_api_token(&self, tenant: &TenantId, id: &str) -> Result<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND tenant_id = $3")
            .bind(to_ms(now()))
            .bind(id)
            .bind(tenant.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The tenant's tokens, newest first.
    pub async fn api_tokens(&self, tenant: &TenantId) -> Result<Vec<ApiToken>> {
        let rows: Vec<TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens t LEFT JOIN users u ON u.id = t.created_by
             WHERE t.tenant_id = $1 ORDER BY t.created_at DESC"
        )))
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(token_from_row).collect()
    }

    /// Revokes one of the tenant's tokens. A token of another tenant is "not found".
    pub async fn revoke_api_token(&self, tenant: &TenantId, id: &str) -> Result<()> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1)
             WHERE id = $2 AND tenant_id = $3",
        )
        .bind(to_ms(now()))
        .bind(id)
        .bind(tenant.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("api token"));
        }
        Ok(())
    }
}
