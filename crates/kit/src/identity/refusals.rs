//! The identity tokens a service refused, kept for the gateway to collect into the security
//! audit trail (`GET /internal/security-events`): a replayed or forged token usually comes
//! from inside the network, straight to a service, where the gateway never sees it.
//!
//! A bounded ring: an attacker replaying tokens as fast as it can costs the service a fixed
//! amount of memory, and the gateway learns how many it missed from the gap in the numbers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::extract::{Query, State};
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::identity::{Caller, GATEWAY};
use crate::{ApiError, ApiResult};

/// The refusals kept between two collections; past it, the oldest go.
const KEPT: usize = 512;
/// The longest path kept: enough to tell routes apart, not a store for attackers' text.
const PATH_KEPT: usize = 200;

/// One refused request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RefusedToken {
    /// Numbers this process's refusals from 1, with no gaps.
    pub seq: u64,
    /// Unix seconds.
    pub at: i64,
    /// The name on the caller's client certificate, if it showed one.
    pub caller: Option<String>,
    /// The address the request came from.
    pub address: Option<String>,
    pub reason: String,
    pub method: String,
    pub path: String,
}

/// What a collection answers: the refusals after the number asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RefusalReport {
    /// Random per process start: numbers restart with it.
    pub boot: String,
    pub refusals: Vec<RefusedToken>,
}

#[derive(Debug)]
pub struct Refusals {
    boot: String,
    kept: Mutex<(u64, VecDeque<RefusedToken>)>,
}

impl Default for Refusals {
    fn default() -> Self {
        let mut random = [0u8; 8];
        rand::rng().fill_bytes(&mut random);
        Self {
            boot: crate::hex::encode(&random),
            kept: Mutex::new((0, VecDeque::with_capacity(KEPT))),
        }
    }
}

impl Refusals {
    pub fn note(
        &self,
        caller: Option<&str>,
        address: Option<std::net::IpAddr>,
        reason: &str,
        method: &str,
        path: &str,
    ) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, ring) = &mut *kept;
        *last += 1;
        if ring.len() == KEPT {
            ring.pop_front();
        }
        ring.push_back(RefusedToken {
            seq: *last,
            at: crate::time::now_unix(),
            caller: caller.map(str::to_owned),
            address: address.map(|address| address.to_string()),
            reason: reason.to_owned(),
            method: method.to_owned(),
            path: path.chars().take(PATH_KEPT).collect(),
        });
    }

    /// The refusals numbered after `after`, oldest first.
    pub fn after(&self, after: u64) -> RefusalReport {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        RefusalReport {
            boot: self.boot.clone(),
            refusals: kept.1.iter().filter(|r| r.seq > after).cloned().collect(),
        }
    }
}

/// `GET /internal/security-events`, answering from `refusals`.
pub fn routes(refusals: Arc<Refusals>) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(security_events))
        .with_state(refusals)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct After {
    /// The `boot` of the answer the caller had last: numbers restart with each process, so
    /// `after` counts only if this is still the same process.
    boot: Option<String>,
    /// Only the refusals numbered after this one (0, or absent: all kept).
    after: Option<u64>,
}

/// The identity tokens this service refused lately, oldest first: for the gateway, which
/// collects them into its security audit trail.
#[utoipa::path(get, path = "/internal/security-events", tag = "internal", params(After),
    responses((status = 200, body = RefusalReport), (status = 403, body = crate::Problem)))]
async fn security_events(
    State(refusals): State<Arc<Refusals>>,
    caller: Caller,
    Query(after): Query<After>,
) -> ApiResult<Json<RefusalReport>> {
    if caller.issuer != GATEWAY {
        return Err(ApiError::Forbidden);
    }
    let same_process = after.boot.as_deref() == Some(refusals.boot.as_str());
    let from = if same_process {
        after.after.unwrap_or(0)
    } else {
        0
    };
    Ok(Json(refusals.after(from)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_and_numbers_without_gaps() {
        let refusals = Refusals::default();
        for n in 0..(KEPT + 10) {
            refusals.note(Some("orders"), None, "replayed", "POST", &format!("/x/{n}"));
        }
        let all = refusals.after(0);
        assert_eq!(all.refusals.len(), KEPT);
        assert_eq!(all.refusals[0].seq, 11, "the ten oldest went");
        assert_eq!(refusals.after(KEPT as u64 + 8).refusals.len(), 2);
        assert_eq!(all.boot.len(), 16);
        assert_ne!(Refusals::default().boot, all.boot);
    }
}
