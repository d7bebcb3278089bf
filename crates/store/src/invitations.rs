//! Invitations to join a tenant. Only a hash of each invitation token is stored; accepting
//! one is single use and creates the membership in the same transaction.

use time::OffsetDateTime;

use crate::Result;
use crate::clock::{from_ms, from_ms_opt, now, to_ms};
use crate::db::Store;
use crate::error::{StoreError, conflict, corrupt};
use crate::ids::{TenantId, UserId, row_id};
use crate::tenants::{Role, User, insert_membership};

/// An invitation (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Row id, shown in listings and used to revoke.
    pub id: String,
    /// The tenant it invites to.
    pub tenant_id: TenantId,
    /// The invited e-mail, stored lower-cased.
    pub email: String,
    /// The role the invitee gets.
    pub role: Role,
    /// Who invited, while that account exists.
    pub invited_by: Option<UserId>,
    /// When.
    pub created_at: OffsetDateTime,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
    /// When it was used; an accepted invitation never works again.
    pub accepted_at: Option<OffsetDateTime>,
}

/// Why an invitation could not be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    /// Unused and not expired.
    Pending,
    /// Past its expiry.
    Expired,
    /// Already used.
    Accepted,
}

impl Invitation {
    /// Whether it can still be accepted at `at`.
    pub fn state_at(&self, at: OffsetDateTime) -> InvitationState {
        if self.accepted_at.is_some() {
            InvitationState::Accepted
        } else if self.expires_at <= at {
            InvitationState::Expired
        } else {
            InvitationState::Pending
        }
    }
}

type InvitationRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<i64>,
);

type InvitationRowWithHash = (
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<i64>,
    String,
);

const INVITATION_COLUMNS: &str =
    "id, tenant_id, email, role, invited_by, created_at, expires_at, accepted_at";

fn invitation_from_row(r: InvitationRow) -> Result<Invitation> {
    let (id, tenant_id, email, role, invited_by, created_at, expires_at, accepted_at) = r;
    Ok(Invitation {
        id,
        tenant_id: TenantId::from_raw(tenant_id),
        email,
        role: role.parse().map_err(|e: String| corrupt("role")(&e))?,
        invited_by: invited_by.map(UserId::from_raw),
        created_at: from_ms(created_at)?,
        expires_at: from_ms(expires_at)?,
        accepted_at: from_ms_opt(accepted_at)?,
    })
}

impl Store {
    /// Stores a new invitation by its token's hash. A pending invitation of the same tenant
    /// for the same e-mail is replaced (its token stops working): inviting again is how a
    /// lost link is re-issued, and one address never holds two live links to one tenant.
    pub async fn create_invitation(
        &self,
        tenant: &TenantId,
        email: &str,
        role: Role,
        token_hash: &str,
        invited_by: Option<&UserId>,
        expires_at: OffsetDateTime,
    ) -> Result<Invitation> {
        let invitation = Invitation {
            id: row_id(),
            tenant_id: tenant.clone(),
            email: email.trim().to_lowercase(),
            role,
            invited_by: invited_by.cloned(),
            created_at: now(),
            // Milliseconds, as stored: what this returns equals what a read returns.
            expires_at: from_ms(to_ms(expires_at))?,
            accepted_at: None,
        };
        let mut tx = self.begin().await?;
        sqlx::query(
            "DELETE FROM invitations
             WHERE tenant_id = $1 AND email = $2 AND accepted_at IS NULL",
        )
        .bind(tenant.as_str())
        .bind(&invitation.email)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO invitations (id, tenant_id, email, role, token_hash, invited_by,
                                      created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&invitation.id)
        .bind(tenant.as_str())
        .bind(&invitation.email)
        .bind(role.as_str())
        .bind(token_hash)
        .bind(invited_by.map(|u| u.as_str().to_owned()))
        .bind(to_ms(invitation.created_at))
        .bind(to_ms(invitation.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(conflict("invitation"))?;
        tx.commit().await?;
        Ok(invitation)
    }

    /// The tenant's invitations that can still be accepted, oldest first.
    pub async fn pending_invitations(&self, tenant: &TenantId) -> Result<Vec<Invitation>> {
        let rows: Vec<InvitationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations
             WHERE tenant_id = $1 AND accepted_at IS NULL AND expires_at > $2
             ORDER BY created_at, id"
        )))
        .bind(tenant.as_str())
        .bind(to_ms(now()))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(invitation_from_row).collect()
    }

    /// Revokes one of the tenant's unused invitations by deleting it, so that its token
    /// finds nothing. An invitation of another tenant, or one already used, is "not found".
    pub async fn revoke_invitation(&self, tenant: &TenantId, id: &str) -> Result<Invitation> {
        let mut tx = self.begin().await?;
        let row: Option<InvitationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations
             WHERE id = $1 AND tenant_id = $2 AND accepted_at IS NULL"
        )))
        .bind(id)
        .bind(tenant.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let invitation = invitation_from_row(row.ok_or(StoreError::NotFound("invitation"))?)?;
        sqlx::query("DELETE FROM invitations WHERE id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(invitation)
    }

    /// The invitation with this token hash together with the stored hash, for a
    /// constant-time comparison by the caller (used and expired ones included: the caller
    /// says why it refuses).
    pub async fn invitation_with_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<(Invitation, String)>> {
        let row: Option<InvitationRowWithHash> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {INVITATION_COLUMNS}, token_hash FROM invitations WHERE token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(a, b, c, d, e, f, g, h, hash)| {
            Ok((invitation_from_row((a, b, c, d, e, f, g, h))?, hash))
        })
        .transpose()
    }

    /// Uses invitation `id` for `user`: marks it accepted and makes `user` a member with
    /// its role, atomically. Refuses ([`StoreError::StateMismatch`]) an invitation that was
    /// used, revoked or expired meanwhile, and ([`StoreError::Conflict`]) a user who is
    /// already a member, leaving the invitation unused.
    pub async fn accept_invitation(&self, id: &str, user: &UserId) -> Result<Invitation> {
        let mut tx = self.begin().await?;
        let invitation = accept_in(&mut tx, id, user).await?;
        tx.commit().await?;
        Ok(invitation)
    }

    /// Creates an account and accepts invitation `id` for it in one transaction, so that a
    /// sign-up whose invitation turns out to be unusable leaves no account behind.
    pub async fn create_user_accepting_invitation(
        &self,
        email: &str,
        password_hash: &str,
        id: &str,
    ) -> Result<(User, Invitation)> {
        let user = User {
            id: UserId::generate(),
            email: email.trim().to_lowercase(),
            password_hash: password_hash.to_owned(),
            created_at: now(),
            disabled_at: None,
        };
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(user.id.as_str())
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(to_ms(user.created_at))
        .execute(&mut *tx)
        .await
        .map_err(conflict("user with this e-mail"))?;
        let invitation = accept_in(&mut tx, id, &user.id).await?;
        tx.commit().await?;
        Ok((user, invitation))
    }
}

/// Marks the invitation used and inserts the membership, inside the caller's transaction.
/// The conditional update is what makes an invitation single use under concurrency: of two
/// racing acceptances only one updates a row.
async fn accept_in(conn: &mut sqlx::AnyConnection, id: &str, user: &UserId) -> Result<Invitation> {
    let at = now();
    let done = sqlx::query(
        "UPDATE invitations SET accepted_at = $1
         WHERE id = $2 AND accepted_at IS NULL AND expires_at > $3",
    )
    .bind(to_ms(at))
    .bind(id)
    .bind(to_ms(at))
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::StateMismatch {
            what: "invitation",
            expected: "pending".to_owned(),
            actual: "used, revoked or expired".to_owned(),
        });
    }
    let row: InvitationRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations WHERE id = $1"
    )))
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let invitation = invitation_from_row(row)?;
    insert_membership(conn, &invitation.tenant_id, user, invitation.role, at).await?;
    Ok(invitation)
}
