//! Tenants, users and memberships.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::Result;
use crate::clock::{from_ms, from_ms_opt, now, to_ms};
use crate::db::Store;
use crate::error::{StoreError, conflict, corrupt};
use crate::ids::{TenantId, UserId};

/// An organization inside stsd: owns domains, has members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

/// A person who can log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Their id.
    pub id: UserId,
    /// Login e-mail, stored lower-cased.
    pub email: String,
    /// The argon2id PHC string; never logged or returned by the API.
    pub password_hash: String,
    /// When the account was created.
    pub created_at: OffsetDateTime,
    /// Set when the account may no longer log in.
    pub disabled_at: Option<OffsetDateTime>,
}

/// A member's role in a tenant, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Everything, including deleting the tenant and managing owners.
    Owner,
    /// Manages members, tokens and domains.
    Admin,
    /// Edits domains and policies.
    Editor,
    /// Reads only.
    Viewer,
}

impl Role {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Role, String> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "editor" => Ok(Role::Editor),
            "viewer" => Ok(Role::Viewer),
            _ => Err(format!("unknown role `{s}` (owner, admin, editor, viewer)")),
        }
    }
}

/// A user's membership of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The tenant.
    pub tenant: Tenant,
    /// The user.
    pub user_id: UserId,
    /// Their role there.
    pub role: Role,
}

/// A member of a tenant, as its member list shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The user.
    pub user_id: UserId,
    /// Their login e-mail.
    pub email: String,
    /// Their role.
    pub role: Role,
    /// When they joined.
    pub joined_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: String,
    name: String,
    created_at: i64,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;
    fn try_from(r: TenantRow) -> Result<Tenant> {
        Ok(Tenant {
            id: TenantId::from_raw(r.id),
            name: r.name,
            created_at: from_ms(r.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    password_hash: String,
    created_at: i64,
    disabled_at: Option<i64>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<User> {
        Ok(User {
            id: UserId::from_raw(r.id),
            email: r.email,
            password_hash: r.password_hash,
            created_at: from_ms(r.created_at)?,
            disabled_at: from_ms_opt(r.disabled_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    id: String,
    name: String,
    created_at: i64,
    user_id: String,
    role: String,
}

impl TryFrom<MembershipRow> for Membership {
    type Error = StoreError;
    fn try_from(r: MembershipRow) -> Result<Membership> {
        Ok(Membership {
            role: r.role.parse().map_err(|e: String| corrupt("role")(&e))?,
            user_id: UserId::from_raw(r.user_id),
            tenant: Tenant {
                id: TenantId::from_raw(r.id),
                name: r.name,
                created_at: from_ms(r.created_at)?,
            },
        })
    }
}

const USER_COLUMNS: &str = "id, email, password_hash, created_at, disabled_at";

impl Store {
    /// Creates a tenant.
    pub async fn create_tenant(&self, name: &str) -> Result<Tenant> {
        let tenant = Tenant {
            id: TenantId::generate(),
            name: name.to_owned(),
            created_at: now(),
        };
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(tenant.id.as_str())
            .bind(&tenant.name)
            .bind(to_ms(tenant.created_at))
            .execute(&self.pool)
            .await?;
        Ok(tenant)
    }

    /// Creates a tenant with `owner` as its first owner, atomically.
    pub async fn create_tenant_with_owner(&self, name: &str, owner: &UserId) -> Result<Tenant> {
        let tenant = Tenant {
            id: TenantId::generate(),
            name: name.to_owned(),
            created_at: now(),
        };
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(tenant.id.as_str())
            .bind(&tenant.name)
            .bind(to_ms(tenant.created_at))
            .execute(&mut *tx)
            .await?;
        insert_membership(&mut tx, &tenant.id, owner, Role::Owner, tenant.created_at).await?;
        tx.commit().await?;
        Ok(tenant)
    }

    /// A tenant by id.
    pub async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
        let row: Option<TenantRow> =
            sqlx::query_as("SELECT id, name, created_at FROM tenants WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        row.map(Tenant::try_from).transpose()
    }

    /// Creates a user; the e-mail is compared and stored lower-cased and must be unused.
    pub async fn create_user(&self, email: &str, password_hash: &str) -> Result<User> {
        let user = User {
            id: UserId::generate(),
            email: email.trim().to_lowercase(),
            password_hash: password_hash.to_owned(),
            created_at: now(),
            disabled_at: None,
        };
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(user.id.as_str())
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(to_ms(user.created_at))
        .execute(&self.pool)
        .await
        .map_err(conflict("user with this e-mail"))?;
        Ok(user)
    }

    /// A user by e-mail (case-insensitive).
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
        )))
        .bind(email.trim().to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        row.map(User::try_from).transpose()
    }

    /// A user by id.
    pub async fn user(&self, id: &UserId) -> Result<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(User::try_from).transpose()
    }

    /// Makes `user` a member of `tenant` with `role`.
    pub async fn add_member(&self, tenant: &TenantId, user: &UserId, role: Role) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_membership(&mut tx, tenant, user, role, now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every tenant `user` belongs to, with their role.
    pub async fn memberships(&self, user: &UserId) -> Result<Vec<Membership>> {
        let rows: Vec<MembershipRow> = sqlx::query_as(
            "SELECT t.id, t.name, t.created_at, m.user_id, m.role
             FROM memberships m JOIN tenants t ON t.id = m.tenant_id
             WHERE m.user_id = $1 ORDER BY t.name, t.id",
        )
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Membership::try_from).collect()
    }

    /// `user`'s role in `tenant`, if they are a member. Every tenant-scoped request checks this.
    pub async fn role_in(&self, tenant: &TenantId, user: &UserId) -> Result<Option<Role>> {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant.as_str())
        .bind(user.as_str())
        .fetch_optional(&self.pool)
        .await?;
        role.map(|r| r.parse().map_err(|e: String| corrupt("role")(&e)))
            .transpose()
    }
}

/// What [`Store::change_member`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberChange {
    /// The member's role before the change.
    pub before: Role,
    /// API tokens of theirs revoked with a removal.
    pub tokens_revoked: u64,
}

impl Store {
    /// The tenant's members, ordered by e-mail.
    pub async fn members(&self, tenant: &TenantId) -> Result<Vec<Member>> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT u.id, u.email, m.role, m.created_at
             FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.tenant_id = $1 ORDER BY u.email",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, email, role, at)| {
                Ok(Member {
                    user_id: UserId::from_raw(id),
                    email,
                    role: role.parse().map_err(|e: String| corrupt("role")(&e))?,
                    joined_at: from_ms(at)?,
                })
            })
            .collect()
    }

    /// Changes a member's role, or removes them (`None`), revoking the API tokens they created
    /// in the tenant. Refuses to leave the tenant without an owner.
    pub async fn change_member(
        &self,
        tenant: &TenantId,
        user: &UserId,
        role: Option<Role>,
    ) -> Result<MemberChange> {
        let mut tx = self.begin().await?;
        let mut tokens_revoked = 0;
        let current: Option<String> = sqlx::query_scalar(
            "SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant.as_str())
        .bind(user.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let current: Role = current
            .ok_or(StoreError::NotFound("member"))?
            .parse()
            .map_err(|e: String| corrupt("role")(&e))?;
        if current == Role::Owner && role != Some(Role::Owner) {
            let owners: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM memberships WHERE tenant_id = $1 AND role = 'owner'",
            )
            .bind(tenant.as_str())
            .fetch_one(&mut *tx)
            .await?;
            if owners <= 1 {
                return Err(StoreError::StateMismatch {
                    what: "tenant",
                    expected: "another owner".to_owned(),
                    actual: "a single owner".to_owned(),
                });
            }
        }
        match role {
            Some(role) => {
                sqlx::query(
                    "UPDATE memberships SET role = $1 WHERE tenant_id = $2 AND user_id = $3",
                )
                .bind(role.as_str())
                .bind(tenant.as_str())
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2")
                    .bind(tenant.as_str())
                    .bind(user.as_str())
                    .execute(&mut *tx)
                    .await?;
                // Their tokens leave with them (they would be refused anyway: a token acts
                // with its creator's membership), so the token list shows it.
                tokens_revoked = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $1
                     WHERE tenant_id = $2 AND created_by = $3 AND revoked_at IS NULL",
                )
                .bind(crate::clock::to_ms(crate::clock::now()))
                .bind(tenant.as_str())
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
        }
        tx.commit().await?;
        Ok(MemberChange {
            before: current,
            tokens_revoked,
        })
    }
}

pub(crate) async fn insert_membership(
    conn: &mut sqlx::AnyConnection,
    tenant: &TenantId,
    user: &UserId,
    role: Role,
    at: OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(tenant.as_str())
    .bind(user.as_str())
    .bind(role.as_str())
    .bind(to_ms(at))
    .execute(conn)
    .await
    .map_err(conflict("membership"))?;
    Ok(())
}
