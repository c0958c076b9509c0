//! The guard around calls to other services, against a real HTTP server on a loopback port
//! whose answers the test scripts: retries, deadlines, the breaker, the concurrency limit
//! and the retry budget, each seen from both sides (what the caller got, what the server
//! received).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::any;
use http::{Method, StatusCode};
use kit::calling::client::{Calls, Upstream};
use kit::calling::failure::UpstreamError;
use kit::calling::resilience::CallPolicy;
use kit::observing::metrics::Metrics;
use tokio::sync::Notify;

/// What the scripted server does with request number `n` (0-based).
#[derive(Clone, Copy)]
enum Script {
    /// 503 for the first `n` requests, then 200.
    UnavailableFirst(usize),
    /// 503 always.
    Unavailable,
    /// Answers only when the test releases it.
    Hold,
    /// 503 after a while, always.
    SlowUnavailable(Duration),
}

struct Upstage {
    script: Script,
    hits: AtomicUsize,
    release: Notify,
}

async fn handle(State(stage): State<Arc<Upstage>>) -> StatusCode {
    let n = stage.hits.fetch_add(1, Ordering::SeqCst);
    match stage.script {
        Script::UnavailableFirst(failures) if n < failures => StatusCode::SERVICE_UNAVAILABLE,
        Script::UnavailableFirst(_) => StatusCode::OK,
        Script::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Script::SlowUnavailable(after) => {
            tokio::time::sleep(after).await;
            StatusCode::SERVICE_UNAVAILABLE
        }
        Script::Hold => {
            stage.release.notified().await;
            StatusCode::OK
        }
    }
}

async fn server(script: Script) -> (String, Arc<Upstage>) {
    let stage = Arc::new(Upstage {
        script,
        hits: AtomicUsize::new(0),
        release: Notify::new(),
    });
    let app = Router::new()
        .route("/{*path}", any(handle))
        .with_state(stage.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, stage)
}

fn policy() -> CallPolicy {
    CallPolicy {
        timeout: Duration::from_secs(2),
        backoff: Duration::from_millis(1),
        retries: 2,
        breaker_failures: 100,
        ..CallPolicy::default()
    }
}

fn upstream(url: &str, policy: CallPolicy) -> (Upstream, Metrics) {
    let metrics = Metrics::new("caller");
    (
        Calls::new(policy, metrics.clone()).upstream("callee", url),
        metrics,
    )
}

async fn status(upstream: &Upstream, method: Method) -> Result<StatusCode, UpstreamError> {
    upstream
        .send(upstream.request(method, "/thing"))
        .await
        .map(|response| response.status())
}

#[tokio::test]
async fn an_idempotent_call_is_retried_through_a_brief_outage() {
    let (url, stage) = server(Script::UnavailableFirst(2)).await;
    let (callee, metrics) = upstream(&url, policy());
    assert_eq!(
        status(&callee, Method::GET).await.ok(),
        Some(StatusCode::OK)
    );
    assert_eq!(stage.hits.load(Ordering::SeqCst), 3);
    assert!(
        metrics
            .render()
            .contains("msa_upstream_retries_total{service=\"caller\",upstream=\"callee\"} 2")
    );
}

#[tokio::test]
async fn a_post_is_sent_once_unless_declared_idempotent() {
    let (url, stage) = server(Script::UnavailableFirst(1)).await;
    let (callee, _) = upstream(&url, policy());
    assert_eq!(
        status(&callee, Method::POST).await.ok(),
        Some(StatusCode::SERVICE_UNAVAILABLE)
    );
    assert_eq!(stage.hits.load(Ordering::SeqCst), 1);
    let again = callee
        .send_idempotent(callee.request(Method::POST, "/thing"))
        .await
        .map(|response| response.status());
    assert_eq!(again.ok(), Some(StatusCode::OK));
    assert_eq!(stage.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_call_that_times_out_is_not_repeated_and_ends_at_its_deadline() {
    let (url, stage) = server(Script::Hold).await;
    let deadline = Duration::from_millis(300);
    let (callee, _) = upstream(&url, policy().with_timeout(deadline));
    let started = std::time::Instant::now();
    let result = status(&callee, Method::GET).await;
    let took = started.elapsed();
    assert!(
        matches!(result, Err(UpstreamError::Timeout { .. })),
        "{result:?}"
    );
    assert!(took >= deadline, "gave up after {took:?}");
    assert!(
        took < deadline * 4,
        "took {took:?} for a {deadline:?} deadline"
    );
    assert_eq!(stage.hits.load(Ordering::SeqCst), 1);
    stage.release.notify_waiters();
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_and_probes_after_its_cooldown() {
    let (url, stage) = server(Script::Unavailable).await;
    let cooldown = Duration::from_millis(200);
    let (callee, metrics) = upstream(
        &url,
        CallPolicy {
            retries: 0,
            breaker_failures: 3,
            breaker_cooldown: cooldown,
            ..policy()
        },
    );
    for _ in 0..3 {
        assert_eq!(
            status(&callee, Method::GET).await.ok(),
            Some(StatusCode::SERVICE_UNAVAILABLE)
        );
    }
    let refused = status(&callee, Method::GET).await;
    assert!(
        matches!(refused, Err(UpstreamError::Refused { .. })),
        "{refused:?}"
    );
    assert_eq!(
        stage.hits.load(Ordering::SeqCst),
        3,
        "an open breaker sends nothing"
    );
    let problem = refused.err().map(|error| error.to_problem());
    assert_eq!(problem.as_ref().map(|p| p.status), Some(503));
    assert!(problem.is_some_and(|p| p.headers.contains_key(http::header::RETRY_AFTER)));
    let text = metrics.render();
    assert!(text.contains("msa_circuit_breaker_state{service=\"caller\",upstream=\"callee\"} 2"));
    assert!(
        text.contains("msa_circuit_breaker_opened_total{service=\"caller\",upstream=\"callee\"} 1")
    );
    assert!(text.contains("outcome=\"short_circuited\"} 1"), "{text}");

    // After the cooldown one probe goes through; it fails, and the breaker opens again.
    tokio::time::sleep(cooldown).await;
    assert_eq!(
        status(&callee, Method::GET).await.ok(),
        Some(StatusCode::SERVICE_UNAVAILABLE)
    );
    assert_eq!(stage.hits.load(Ordering::SeqCst), 4);
    assert!(matches!(
        status(&callee, Method::GET).await,
        Err(UpstreamError::Refused { .. })
    ));
}

#[tokio::test]
async fn background_calls_guarded_apart_never_open_the_breaker_of_the_others() {
    let (url, stage) = server(Script::Unavailable).await;
    let (callee, metrics) = upstream(
        &url,
        CallPolicy {
            retries: 0,
            breaker_failures: 3,
            ..policy()
        },
    );
    let background = callee.guarded_apart();
    for _ in 0..5 {
        let _ = status(&background, Method::GET).await;
    }
    assert!(
        matches!(
            status(&background, Method::GET).await,
            Err(UpstreamError::Refused { .. })
        ),
        "its own breaker opened"
    );
    // The requests clients wait on still reach the callee: their breaker never saw those.
    let hits = stage.hits.load(Ordering::SeqCst);
    assert_eq!(
        status(&callee, Method::GET).await.ok(),
        Some(StatusCode::SERVICE_UNAVAILABLE)
    );
    assert_eq!(stage.hits.load(Ordering::SeqCst), hits + 1);
    let text = metrics.render();
    assert!(
        text.contains("msa_circuit_breaker_state{service=\"caller\",upstream=\"callee\"} 0"),
        "the breaker shown is the clients' one: {text}"
    );
    assert!(!text.contains("msa_circuit_breaker_opened_total"), "{text}");
}

#[tokio::test]
async fn calls_beyond_the_concurrency_limit_are_refused_at_once() {
    let (url, stage) = server(Script::Hold).await;
    let (callee, metrics) = upstream(
        &url,
        CallPolicy {
            max_concurrent: 1,
            ..policy()
        },
    );
    let first = tokio::spawn({
        let callee = callee.clone();
        async move { status(&callee, Method::GET).await.ok() }
    });
    // The first call holds the only slot once the server has it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while stage.hits.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first call never arrived"
        );
        tokio::task::yield_now().await;
    }
    let second = status(&callee, Method::GET).await;
    assert!(
        matches!(second, Err(UpstreamError::Refused { .. })),
        "{second:?}"
    );
    assert!(metrics.render().contains("outcome=\"shed\"} 1"));
    stage.release.notify_waiters();
    assert_eq!(first.await.ok().flatten(), Some(StatusCode::OK));
}

#[tokio::test]
async fn the_retry_budget_caps_retries_when_everything_fails() {
    let (url, stage) = server(Script::Unavailable).await;
    let (callee, metrics) = upstream(
        &url,
        CallPolicy {
            retries: 1,
            retry_ratio: 0.0,
            ..policy()
        },
    );
    for _ in 0..30 {
        let _ = status(&callee, Method::GET).await;
    }
    // 30 calls, and retries from the reserve of 10 only.
    assert_eq!(stage.hits.load(Ordering::SeqCst), 40);
    assert!(
        metrics.render().contains(
            "msa_upstream_retries_denied_total{service=\"caller\",upstream=\"callee\"} 20"
        )
    );
}

#[tokio::test]
async fn a_slow_refusal_is_not_retried_past_the_deadline() {
    let (url, stage) = server(Script::SlowUnavailable(Duration::from_millis(400))).await;
    let (callee, _) = upstream(&url, policy().with_timeout(Duration::from_millis(1000)));
    // The first 503 comes after 400 ms, a second fits (800 ms), a third would not.
    assert_eq!(
        status(&callee, Method::GET).await.ok(),
        Some(StatusCode::SERVICE_UNAVAILABLE)
    );
    assert_eq!(stage.hits.load(Ordering::SeqCst), 2);
}

/// A callee that admits requests through the gate every service uses, and answers 503 to
/// the first one it admits.
async fn gated_server(gate: kit::identity::Gate) -> (String, Arc<AtomicUsize>) {
    let admitted = Arc::new(AtomicUsize::new(0));
    let counter = admitted.clone();
    let app = Router::new().route(
        "/{*path}",
        any(move |request: axum::extract::Request| {
            let gate = gate.clone();
            let counter = counter.clone();
            async move {
                match gate.admit(request).await {
                    Err(_) => StatusCode::UNAUTHORIZED,
                    Ok(_) if counter.fetch_add(1, Ordering::SeqCst) == 0 => {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                    Ok(_) => StatusCode::OK,
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, admitted)
}

#[tokio::test]
async fn each_attempt_of_a_repeated_write_carries_a_token_of_its_own() {
    use kit::identity::PublicKeys;
    use kit::identity::token::PartyKey;
    let caller = PartyKey::from_bytes([1; 32]);
    let callee = PartyKey::from_bytes([2; 32]);
    let keys = PublicKeys::default()
        .with("caller", caller.public_key())
        .with("callee", callee.public_key());
    let gate = keys
        .gate(std::slice::from_ref(&callee), "callee", &["caller"])
        .expect("a gate");
    let signer = keys
        .signer(&caller, "caller", &["callee"])
        .expect("a signer");
    let (url, admitted) = gated_server(gate).await;
    let (upstream, _) = upstream(&url, policy());
    let upstream = upstream.signed_by(signer);
    // A write the callee deduplicates, retried after the first attempt's 503: the gate
    // would refuse a token it has seen, so the retry passes only with a fresh one.
    let answer = upstream
        .send_idempotent(
            upstream
                .request(Method::POST, "/reservations")
                .json(&serde_json::json!({"order_id": 7})),
        )
        .await
        .map(|response| response.status());
    assert_eq!(answer.ok(), Some(StatusCode::OK));
    assert_eq!(admitted.load(Ordering::SeqCst), 2, "both attempts admitted");
}
