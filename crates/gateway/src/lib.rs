//! The gateway: the one door into the shop.
//!
//! A request passes the common stack of `kit::http` (request id, problem+json errors,
//! timeout, body limit), then either reaches the demo API ([`demo`]) and the gateway's own
//! health and API dictionary ([`openapi`]), or is forwarded by [`proxy`] to the service
//! that owns the resource, over one pooled keep-alive client. Authentication and signed
//! identity arrive here with the trust-boundary issue.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use kit::client::Upstream;
use kit::health::Readiness;
use kit::server::Server;

mod demo;
mod openapi;
mod proxy;

use proxy::Resource;

pub const SERVICE: &str = "gateway";

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub users_url: String,
    pub products_url: String,
    pub orders_url: String,
    /// The deadline of each forwarded call; above order-service's own call deadline, so
    /// that it can answer 503/504 itself first.
    pub call_timeout: Duration,
}

#[derive(Clone)]
pub struct AppState {
    users: Upstream,
    products: Upstream,
    orders: Upstream,
    public_api: Arc<openapi::PublicApi>,
}

impl AppState {
    fn upstream(&self, resource: Resource) -> &Upstream {
        match resource {
            Resource::Users => &self.users,
            Resource::Products => &self.products,
            Resource::Orders => &self.orders,
        }
    }
}

pub async fn build(config: Config) -> anyhow::Result<Server> {
    let http = kit::client::http_client(config.call_timeout);
    let (demo, own_api) = demo::routes().split_for_parts();
    let state = AppState {
        users: Upstream::new("users", &config.users_url, http.clone()),
        products: Upstream::new("products", &config.products_url, http.clone()),
        orders: Upstream::new("orders", &config.orders_url, http),
        public_api: openapi::PublicApi::new(own_api),
    };
    Server::bind(SERVICE, config.listen, router(state, demo)).await
}

fn router(state: AppState, demo: Router) -> Router {
    let readiness = proxy::upstreams(&state)
        .into_iter()
        .fold(Readiness::new(), Readiness::upstream);
    let app = proxy::routes()
        .route("/openapi.json", get(openapi::serve))
        .with_state(state)
        .merge(demo)
        .merge(kit::health::routes(readiness));
    kit::http::layers(app)
}
