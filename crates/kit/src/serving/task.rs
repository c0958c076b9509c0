//! Work a request starts that must run to its end even if the request does not: hyper
//! drops a handler whose client went away, and a request past its timeout is dropped too.
//! A saga cut off between two steps is worse than one that finishes after nobody waits.

use std::future::Future;

use tracing::Instrument;

/// Spawns `future` as a task of its own, carrying the request id, trace context and log
/// span of the request that starts it; awaiting the handle gives its result, dropping it
/// leaves the task running.
pub fn spawn_detached<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let request_id = crate::observing::request_id::current();
    let trace = crate::observing::trace::current();
    let future = future.instrument(tracing::Span::current());
    tokio::spawn(async move {
        match (request_id, trace) {
            (Some(id), Some(trace)) => {
                crate::observing::request_id::scope(
                    id,
                    crate::observing::trace::scope(trace, future),
                )
                .await
            }
            (Some(id), None) => crate::observing::request_id::scope(id, future).await,
            (None, Some(trace)) => crate::observing::trace::scope(trace, future).await,
            (None, None) => future.await,
        }
    })
}
