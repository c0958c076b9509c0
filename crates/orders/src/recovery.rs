//! The recovery pass: settles `pending` orders left by a crash or an outage, frees
//! idempotency keys of requests that never finished, and drops keys past their retention. Runs at start-up (until product-service answers)
//! and then periodically.

use std::time::Duration;

use kit::shutdown::CancellationToken;

use crate::{AppState, saga, store};

const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(2);

/// `grace`: how old a pending order must be before a periodic pass settles it; far beyond
/// the time a placement can take (a few call deadlines), so a pass never races a live request.
pub async fn run(app: AppState, interval: Duration, grace: Duration, shutdown: CancellationToken) {
    // Every order older than this process is a leftover, however young: it cannot have a
    // request running here. Timestamps are whole seconds, so the second this process
    // started in is left to the periodic passes, which never touch a live request.
    // (One order-service per database is assumed; replicas would need a lease here.)
    let mut cutoff = kit::time::now_unix() - 1;
    loop {
        let wait = match pass(&app, cutoff).await {
            Ok(()) => {
                cutoff = kit::time::now_unix() + interval.as_secs() as i64 - grace.as_secs() as i64;
                interval
            }
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "recovery pass incomplete; retrying"
                );
                RETRY_AFTER_FAILURE
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Settles the pending orders created at or before `cutoff`.
async fn pass(app: &AppState, cutoff: i64) -> anyhow::Result<()> {
    let purged = store::purge_keys(&app.pool, kit::time::now_unix()).await?;
    if purged > 0 {
        tracing::info!(purged, "dropped expired idempotency keys");
    }
    for order_id in store::pending(&app.pool, cutoff).await? {
        saga::settle(app, order_id).await?;
    }
    // After the orders: a key tied to a pending order is freed only once that is settled.
    let freed = store::release_stale_keys(&app.pool, cutoff).await?;
    if freed > 0 {
        tracing::info!(
            freed,
            "freed idempotency keys of requests that never finished"
        );
    }
    Ok(())
}
