//! The common stack around a real server on an ephemeral port: what every answer carries,
//! whatever happened in the handler.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use kit::serving::http::{Stack, layers};
use kit::serving::options::{ServingOptions, defaults};
use kit::serving::server::Server;
use tokio_util::sync::CancellationToken;

/// Serves `routes` inside the common stack; the stack is returned to read its metrics.
async fn serve(routes: Router) -> (String, Stack) {
    let options: ServingOptions = defaults().expect("the serving defaults parse");
    let stack = Stack::new("stacktest", options.serving());
    let app = layers(routes, &stack);
    let server = Server::bind(&stack, "127.0.0.1:0".parse().expect("an address"), app)
        .await
        .expect("a free port");
    let url = format!("http://{}", server.local_addr());
    tokio::spawn(server.run(CancellationToken::new()));
    (url, stack)
}

fn routes() -> Router {
    Router::new()
        .route(
            "/items/{id}",
            get(|Path(id): Path<u32>| async move {
                if id == 0 {
                    panic!("item zero: internal detail that must not leak");
                }
                format!("item {id}")
            }),
        )
        .route("/fine", get(|| async { "fine" }))
}

#[tokio::test]
async fn a_panicking_handler_answers_an_opaque_problem_and_the_connection_stays_usable() {
    let (url, _stack) = serve(routes()).await;
    // One connection, kept alive: the answer after the panic must come on it.
    let client = kit::calling::transport::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("a client");
    let response = client
        .get(format!("{url}/items/0"))
        .send()
        .await
        .expect("the panic is answered, not a dropped connection");
    assert_eq!(response.status(), 500);
    let headers = response.headers().clone();
    assert_eq!(
        headers.get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/problem+json"[..])
    );
    assert!(headers.contains_key("x-request-id"), "{headers:?}");
    assert_eq!(
        headers.get("x-content-type-options").map(|v| v.as_bytes()),
        Some(&b"nosniff"[..])
    );
    let body = response.text().await.expect("a body");
    assert!(!body.contains("internal detail"), "{body}");
    assert!(body.contains("request id"), "{body}");

    let after = client
        .get(format!("{url}/fine"))
        .send()
        .await
        .expect("the server still answers");
    assert_eq!(after.status(), 200);
    assert_eq!(after.text().await.expect("a body"), "fine");
}

#[tokio::test]
async fn answers_are_counted_by_route_template_and_unrouted_ones_as_unmatched() {
    let (url, stack) = serve(routes()).await;
    let client = kit::calling::transport::http_client(std::time::Duration::from_secs(5));
    for path in ["/items/7", "/items/8", "/items/0", "/nowhere/at/all"] {
        client
            .get(format!("{url}{path}"))
            .send()
            .await
            .expect("an answer");
    }
    let metrics = stack.metrics.render();
    // The count of one series, by route and status.
    let count = |route: &str, status: u16| -> Option<u64> {
        metrics.lines().find_map(|line| {
            let series = line.strip_prefix("msa_http_requests_total{")?;
            let (labels, value) = series.split_once("} ")?;
            (labels.contains(&format!("route=\"{route}\""))
                && labels.contains(&format!("status=\"{status}\"")))
            .then(|| value.parse().ok())?
        })
    };
    assert_eq!(count("/items/{id}", 200), Some(2), "{metrics}");
    assert_eq!(count("/items/{id}", 500), Some(1), "the panic:\n{metrics}");
    assert_eq!(count("unmatched", 404), Some(1), "{metrics}");
    assert!(
        !metrics.contains("/items/7"),
        "no path invents a series:\n{metrics}"
    );
}
