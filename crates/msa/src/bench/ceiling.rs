//! The ceiling: the shop's shape with nothing in it, as `msa ceiling <role>` processes. A bare
//! leaf answers static JSON, a bare fan-out service calls two leaves at once, a bare proxy
//! forwards by path, all over pooled keep-alive connections as the shop's services are. No
//! authentication, no database, no logging, no limits: the most that these processes and
//! hops can do on this machine, and the yardstick `msa bench` measures the shop against.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use clap::Subcommand;

#[derive(Debug, Clone, Subcommand)]
pub enum Role {
    /// Answers GET /hello, /users/{id}, /products and /products/{id} with static JSON.
    Leaf {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// Answers GET /orders/{id} with a static order and the two leaves' answers, fetched at once.
    Fanout {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        users: String,
        #[arg(long)]
        products: String,
    },
    /// Forwards /orders/* to the fan-out service and everything else to the products leaf.
    Proxy {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        orders: String,
        #[arg(long)]
        products: String,
    },
}

const HELLO: &str = r#"{"message":"Hello, API!"}"#;
const USER: &str = r#"{"id":1,"email":"alice@example.com","name":"Alice","role":"customer","created_at":"2026-01-01T00:00:00Z"}"#;
const PRODUCT: &str = r#"{"id":101,"name":"Laptop","description":"A light laptop","price_cents":120000,"stock":1000,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}"#;

pub fn run(role: Role) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(serve(role))
}

async fn serve(role: Role) -> anyhow::Result<()> {
    let (listen, router) = match role {
        Role::Leaf { listen } => (listen, leaf()),
        Role::Fanout {
            listen,
            users,
            products,
        } => (listen, fanout(users, products)),
        Role::Proxy {
            listen,
            orders,
            products,
        } => (listen, proxy(orders, products)),
    };
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, router).await?;
    Ok(())
}

fn json(body: impl Into<Body>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body.into()).into_response()
}

fn leaf() -> Router {
    let products = format!(
        "{{\"items\":[{}],\"next_cursor\":null}}",
        [PRODUCT; 20].join(",")
    );
    Router::new()
        .route("/hello", get(|| async { json(HELLO) }))
        .route("/users/{id}", get(|| async { json(USER) }))
        .route("/products/{id}", get(|| async { json(PRODUCT) }))
        .route("/products", get(move || async move { json(products) }))
}

fn client() -> reqwest::Client {
    kit::calling::transport::builder()
        .no_proxy()
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .expect("BUG: the ceiling's client has a valid fixed configuration")
}

#[derive(Clone)]
struct Fanout {
    client: reqwest::Client,
    user: String,
    product: String,
}

fn fanout(users: String, products: String) -> Router {
    let state = Fanout {
        client: client(),
        user: format!("{}/users/1", users.trim_end_matches('/')),
        product: format!("{}/products/101", products.trim_end_matches('/')),
    };
    Router::new()
        .route("/orders/{id}", get(enriched_order))
        .with_state(state)
}

async fn enriched_order(State(fanout): State<Fanout>) -> Response {
    let fetch = |url: &str| {
        let request = fanout.client.get(url).send();
        async move {
            let answer = request.await.ok()?.error_for_status().ok()?;
            answer.bytes().await.ok()
        }
    };
    let (user, product) = tokio::join!(fetch(&fanout.user), fetch(&fanout.product));
    let (Some(user), Some(product)) = (user, product) else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let mut body = Vec::with_capacity(user.len() + product.len() + 128);
    body.extend_from_slice(br#"{"order_id":9001,"status":"confirmed","user":"#);
    body.extend_from_slice(&user);
    body.extend_from_slice(br#","items":[{"quantity":1,"product":"#);
    body.extend_from_slice(&product);
    body.extend_from_slice(br#"}],"total_cents":120000}"#);
    json(body)
}

#[derive(Clone)]
struct Proxy {
    client: reqwest::Client,
    orders: String,
    products: String,
}

fn proxy(orders: String, products: String) -> Router {
    Router::new().fallback(forward).with_state(Proxy {
        client: client(),
        orders: orders.trim_end_matches('/').to_owned(),
        products: products.trim_end_matches('/').to_owned(),
    })
}

async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str());
    let upstream = if path.starts_with("/orders") {
        &proxy.orders
    } else {
        &proxy.products
    };
    let url = format!("{upstream}{path}");
    let method = request.method().clone();
    let Ok(body) = axum::body::to_bytes(request.into_body(), 1 << 20).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let answer = match proxy.client.request(method, url).body(body).send().await {
        Ok(answer) => answer,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let Ok(body): Result<Bytes, _> = answer.bytes().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let mut response = (status, body).into_response();
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
}
