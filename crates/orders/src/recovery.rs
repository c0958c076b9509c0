//! The recovery pass: settles `pending` orders left by a crash or an outage, frees
//! idempotency keys of requests that never finished, and drops keys past their retention. Runs at start-up (until product-service answers)
//! and then periodically.

use std::time::Duration;

use kit::serving::shutdown::CancellationToken;

use crate::{AppState, saga, store};

const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(2);

/// `grace`: how old a pending order must be before a periodic pass settles it; far beyond
/// the time a placement can take (a few call deadlines), so a pass never races a live request.
pub async fn run(
    app: AppState,
    interval: Duration,
    grace: Duration,
    leftovers_until: i64,
    shutdown: CancellationToken,
) {
    // Every order and key stamped at or before `leftovers_until` (see [`start_second`]) is
    // a leftover of an earlier process, however young: no request of this one has it. So
    // the start-up pass frees at once what a crash left, and a client retrying the same
    // Idempotency-Key is served in a second, not after the grace.
    // With replicas on one database, `leftovers_until` is the grace cutoff instead.
    let mut cutoff = leftovers_until;
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

/// The second this process starts in, returned once it is over: orders and keys are
/// stamped in whole seconds, and waiting out the current one (half a second on average,
/// before the server takes its first request) makes every row stamped up to it a leftover
/// of an earlier process.
pub async fn start_second() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    tokio::time::sleep(
        Duration::from_secs(1).saturating_sub(Duration::from_nanos(u64::from(now.subsec_nanos()))),
    )
    .await;
    i64::try_from(now.as_secs()).unwrap_or(i64::MAX)
}

/// Settles the pending orders created at or before `cutoff`.
async fn pass(app: &AppState, cutoff: i64) -> anyhow::Result<()> {
    let purged = store::purge_keys(&app.pool, kit::time::now_unix()).await?;
    if purged > 0 {
        tracing::info!(purged, "dropped expired idempotency keys");
    }
    let ended: Vec<i64> = std::mem::take(&mut *app.unsettled()).into_iter().collect();
    for (done, order_id) in ended.iter().enumerate() {
        if let Err(error) = saga::settle(app, *order_id).await {
            app.unsettled().extend(&ended[done..]);
            return Err(error);
        }
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
