//! `/healthz` (the process is alive) and `/readyz` (it can serve: its store and the
//! services it needs answer). Orchestrators restart on the first and route on the second.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::future::BoxFuture;
use http::StatusCode;
use serde_json::{Map, Value, json};

use tokio_util::sync::CancellationToken;

use crate::problem::Problem;

/// One named readiness check; `Err` carries a short reason that is safe to show.
pub type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// The named checks `/readyz` runs, concurrently.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(&'static str, Check)>,
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn check<F, Fut>(mut self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks.push((
            name,
            Arc::new(move || Box::pin(check()) as BoxFuture<'static, _>),
        ));
        self
    }

    /// A check that the database answers a trivial query.
    pub fn database(self, pool: crate::storing::db::Pool) -> Self {
        self.check("database", move || {
            let pool = pool.clone();
            async move {
                sqlx::query("SELECT 1")
                    .execute(&pool)
                    .await
                    .map(|_| ())
                    .map_err(|_| "database does not answer".to_owned())
            }
        })
    }

    /// A check that another service reports itself ready.
    pub fn upstream(self, upstream: crate::calling::client::Upstream) -> Self {
        let name = upstream.service();
        self.check(name, move || {
            let upstream = upstream.clone();
            async move {
                match upstream.probe("/readyz").await {
                    Ok(response) if response.status().is_success() => Ok(()),
                    Ok(response) => Err(format!("answers {}", response.status().as_u16())),
                    Err(error) => Err(error.to_string()),
                }
            }
        })
    }

    async fn run(&self) -> (bool, Map<String, Value>) {
        let results = futures::future::join_all(self.checks.iter().map(|(_, check)| check())).await;
        let mut ready = true;
        let mut report = Map::new();
        for ((name, _), result) in self.checks.iter().zip(results) {
            let value = match result {
                Ok(()) => Value::from("ok"),
                Err(reason) => {
                    ready = false;
                    Value::from(reason)
                }
            };
            report.insert((*name).to_owned(), value);
        }
        (ready, report)
    }
}

/// The health routes, to be merged into a service's router. `/readyz` fails as soon as
/// the service starts draining, before it stops accepting connections.
pub fn routes(readiness: Readiness, draining: CancellationToken) -> Router {
    let state = Arc::new((readiness, draining));
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(ready).with_state(state))
}

async fn ready(State(state): State<Arc<(Readiness, CancellationToken)>>) -> Response {
    let (readiness, draining) = &*state;
    if draining.is_cancelled() {
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Shutting down; send requests elsewhere.",
        )
        .with("checks", json!({ "draining": "shutting down" }))
        .into_response();
    }
    let (ready, checks) = readiness.run().await;
    if ready {
        axum::Json(json!({ "status": "ready", "checks": checks })).into_response()
    } else {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready to serve requests.",
        )
        .with("checks", Value::Object(checks))
        .into_response()
    }
}
