//! The tenant access check. Every tenant-scoped handler calls [`Access::check`] first: a
//! tenant the caller does not belong to answers 404 (its existence is not revealed), a role
//! or scope that is too small answers 403.

use stsd_store::{Role, TenantId, TokenScope};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any member; read-scoped tokens.
    Read,
    /// Editors and above; write-scoped tokens.
    Write,
    /// Admins and owners; never tokens (members, tokens, overrides).
    Admin,
}

/// A caller admitted to a tenant.
#[derive(Debug, Clone)]
pub struct Access {
    /// The tenant.
    pub tenant: TenantId,
    /// The caller's effective role (tokens act as viewer or editor).
    pub role: Role,
    /// The caller.
    pub principal: Principal,
}

impl Access {
    /// Admits `principal` to tenant `tenant` for `need`, or refuses.
    pub async fn check(
        state: &AppState,
        principal: &Principal,
        tenant: &str,
        need: Need,
    ) -> Result<Access, ApiError> {
        // No tenant id holds a control character; asking the store anyway would turn a NUL
        // byte (refused by PostgreSQL) into a server error.
        if crate::extract::has_control(tenant) {
            return Err(ApiError::not_found("tenant"));
        }
        let tenant_id = TenantId::from_raw(tenant);
        let role = match principal {
            Principal::User { user_id } => state
                .inner
                .store
                .role_in(&tenant_id, user_id)
                .await?
                .ok_or_else(|| ApiError::not_found("tenant"))?,
            Principal::Token {
                tenant_id: token_tenant,
                scope,
                ..
            } => {
                if *token_tenant != tenant_id {
                    return Err(ApiError::not_found("tenant"));
                }
                if need == Need::Admin {
                    return Err(ApiError::forbidden(
                        "API tokens cannot manage members, tokens or override safety checks",
                    ));
                }
                match scope {
                    TokenScope::Read => Role::Viewer,
                    TokenScope::Write => Role::Editor,
                }
            }
        };
        let enough = match need {
            Need::Read => true,
            Need::Write => role <= Role::Editor,
            Need::Admin => role <= Role::Admin,
        };
        if !enough {
            return Err(ApiError::forbidden(format!(
                "your role ({role}) does not allow this"
            )));
        }
        Ok(Access {
            tenant: tenant_id,
            role,
            principal: principal.clone(),
        })
    }

    /// Whether the caller may override safety checks (owners and admins, never tokens).
    pub fn may_override(&self) -> bool {
        matches!(self.principal, Principal::User { .. }) && self.role <= Role::Admin
    }
}
