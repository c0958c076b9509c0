//! Removing access removes it at once. Deleting an account, or changing its role, ends the
//! account's sessions and reins in its API keys as the change passes the gateway:
//!
//! - deleted: every session ends and every key is revoked;
//! - demoted: every session ends (the next login carries the new role) and every key takes
//!   the new role, which caps its scopes at each use ([`crate::access::authn`]);
//! - promoted: every session ends; keys keep the role they were made with.
//!
//! The gateway is the one door through which accounts change (`DELETE` and `PATCH
//! /api/v1/users/{id}`, an administrator's), so it acts on the request, before forwarding
//! it: a crash or an error in between then leaves less access, never more. A change that
//! user-service then refuses has only ended sessions, which their owner opens again by
//! logging in. Each revocation is a `security_event`.

use http::Method;
use kit::identity::Role;

use crate::AppState;
use crate::access::identity::Identity;
use crate::store;
use crate::trail::Kind;

/// A change to an account's access, as a request to `/users/{id}` asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Deleted { user_id: i64 },
    RoleSet { user_id: i64, role: Role },
}

/// The change an administrator's request to user-service makes to an account's access;
/// `rest` is the path after `/users`. Other callers change no one's access here: their
/// requests are refused by user-service, and must not end anyone's sessions on the way.
pub fn change_of(by: &Identity, method: &Method, rest: &str, body: &[u8]) -> Option<Change> {
    if !by.is_admin() {
        return None;
    }
    let user_id = rest
        .strip_prefix('/')
        .and_then(|id| id.parse::<i64>().ok())
        .filter(|id| *id > 0)?;
    match *method {
        Method::DELETE => Some(Change::Deleted { user_id }),
        Method::PATCH | Method::PUT => {
            let body: serde_json::Value = serde_json::from_slice(body).ok()?;
            let role = body.get("role")?.as_str().and_then(Role::parse)?;
            Some(Change::RoleSet { user_id, role })
        }
        _ => None,
    }
}

/// Ends what the account holds beyond what the change leaves it.
pub async fn apply(app: &AppState, change: Change, by: &Identity) -> Result<(), sqlx::Error> {
    let now = kit::time::now_unix();
    let by = by.user_id().unwrap_or_default();
    match change {
        Change::Deleted { user_id } => {
            let sessions = store::delete_user_sessions(&app.pool, user_id, None).await?;
            let keys = store::revoke_user_keys(&app.pool, user_id, now).await?;
            app.trail.record(
                Kind::AccessRevoked,
                Some(user_id),
                None,
                format!(
                    "account deleted by user {by}: {sessions} sessions ended, {keys} API keys revoked"
                ),
            );
        }
        Change::RoleSet { user_id, role } => {
            let sessions = store::delete_user_sessions(&app.pool, user_id, None).await?;
            // A key keeps at most the role its owner has: lowered with a demotion, never
            // raised (its owner makes a new key for new powers).
            let keys = if role == Role::Admin {
                0
            } else {
                store::set_user_key_role(&app.pool, user_id, role.as_str()).await?
            };
            app.trail.record(
                Kind::AccessRevoked,
                Some(user_id),
                None,
                format!(
                    "role set to {} by user {by}: {sessions} sessions ended, {keys} API keys \
                     capped at the new role",
                    role.as_str()
                ),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use kit::identity::{Actor, Principal};

    use super::*;
    use crate::access::identity::Via;

    fn as_role(role: Role) -> Identity {
        Identity {
            actor: Actor {
                principal: Principal::User(3),
                role,
                scopes: Vec::new(),
            },
            via: Via::Session(1),
        }
    }

    #[test]
    fn only_an_administrator_changes_access() {
        let admin = as_role(Role::Admin);
        let customer = as_role(Role::Customer);
        let demote = br#"{"role": "customer"}"#;
        assert_eq!(
            change_of(&admin, &Method::DELETE, "/7", b""),
            Some(Change::Deleted { user_id: 7 })
        );
        assert_eq!(
            change_of(&admin, &Method::PATCH, "/7", demote),
            Some(Change::RoleSet {
                user_id: 7,
                role: Role::Customer
            })
        );
        assert_eq!(change_of(&customer, &Method::DELETE, "/7", b""), None);
        assert_eq!(change_of(&customer, &Method::PATCH, "/7", demote), None);
    }

    #[test]
    fn other_requests_change_no_access() {
        let admin = as_role(Role::Admin);
        assert_eq!(change_of(&admin, &Method::GET, "/7", b""), None);
        assert_eq!(change_of(&admin, &Method::DELETE, "", b""), None);
        assert_eq!(change_of(&admin, &Method::DELETE, "/7/x", b""), None);
        assert_eq!(
            change_of(&admin, &Method::PATCH, "/7", br#"{"name": "A"}"#),
            None
        );
        assert_eq!(
            change_of(&admin, &Method::PATCH, "/7", br#"{"role": "root"}"#),
            None
        );
    }
}
