//! Collects the identity tokens the services refused into the audit trail: a token replayed
//! or forged on the private network goes straight to a service, where the gateway never
//! sees it, so each service keeps its refusals and the gateway asks for them.

use std::collections::HashMap;
use std::time::Duration;

use kit::calling::client::Upstream;
use kit::identity::refusals::RefusalReport;
use kit::serving::shutdown::CancellationToken;

use super::kind::Kind;
use super::record::Trail;

/// How often each service is asked.
const EVERY: Duration = Duration::from_secs(2);
/// The most service processes remembered (replicas, restarts); past it, memory starts over
/// and a process's kept refusals may be recorded twice, never lost.
const PROCESSES: usize = 256;

/// What the gateway has recorded of one service.
#[derive(Default)]
struct Position {
    /// The process answering last time.
    last_boot: Option<String>,
    /// The last refusal recorded, by process.
    recorded: HashMap<String, u64>,
}

/// Asks `services` for their refusals every [`EVERY`] until shutdown.
pub async fn run(
    trail: Trail,
    services: Vec<(&'static str, Upstream)>,
    shutdown: CancellationToken,
) {
    let mut positions: Vec<Position> = services.iter().map(|_| Position::default()).collect();
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        for ((name, upstream), position) in services.iter().zip(&mut positions) {
            let path = match &position.last_boot {
                Some(boot) => format!(
                    "/internal/security-events?boot={boot}&after={}",
                    position.recorded.get(boot).copied().unwrap_or(0)
                ),
                None => "/internal/security-events".to_owned(),
            };
            match upstream.get_json::<RefusalReport>(&path).await {
                Ok(Some(report)) => record(&trail, name, position, report),
                Ok(None) => {}
                // A service that is away is the readiness probe's business; its refusals
                // wait in its memory for the next round.
                Err(error) => tracing::debug!(service = name, %error, "refusals not collected"),
            }
        }
    }
}

fn record(trail: &Trail, service: &str, position: &mut Position, report: RefusalReport) {
    if position.recorded.len() >= PROCESSES && !position.recorded.contains_key(&report.boot) {
        position.recorded.clear();
    }
    let recorded = position.recorded.entry(report.boot.clone()).or_insert(0);
    let known = *recorded;
    for refusal in report.refusals.into_iter().filter(|r| r.seq > known) {
        // More refusals than the service keeps came between two rounds: say how many.
        let missed = refusal.seq - *recorded - 1;
        if missed > 0 {
            trail.unrecorded(Kind::TokenRefused, missed);
        }
        *recorded = refusal.seq;
        let caller = refusal.caller.as_deref().unwrap_or("no certificate");
        trail.record_reported(
            Kind::TokenRefused,
            refusal.at,
            &format!("{service} {caller} {}", refusal.reason),
            refusal.address.as_deref().and_then(|a| a.parse().ok()),
            format!(
                "{service} refused {} {}: {} (caller: {caller})",
                refusal.method, refusal.path, refusal.reason
            ),
        );
    }
    position.last_boot = Some(report.boot);
}
