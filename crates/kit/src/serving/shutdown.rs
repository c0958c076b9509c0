//! Graceful shutdown: one token that every server, background task and the supervisor
//! watches. SIGTERM is what Docker and Kubernetes send to stop a container; SIGINT is Ctrl-C.

use tokio::signal::unix::{SignalKind, signal};
pub use tokio_util::sync::CancellationToken;

/// Waits for SIGINT or SIGTERM and names the one that came.
pub async fn signal_received() -> &'static str {
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers the process can still be stopped by the default action,
        // so waiting forever is the honest fallback.
        std::future::pending::<()>().await;
        unreachable!("pending never completes");
    };
    tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}

/// A token cancelled at the first SIGINT or SIGTERM.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let name = signal_received().await;
        tracing::info!(signal = name, "shutting down: draining in-flight requests");
        trigger.cancel();
    });
    token
}
