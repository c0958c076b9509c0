//! The gateway: the one door into the shop, and the trust boundary.
//!
//! A request passes the common stack of `kit::serving::http` (request id, problem+json errors,
//! timeout, body limit), then the gateway's own steps ([`front`]): its client address is
//! established and rate-limited ([`client_ip`], [`limits`]). The demo API ([`demo`]), health and the API dictionary
//! ([`openapi`]) are public. Everything under `/api/v1` is authenticated first
//! ([`access::authn`]: session cookie, API key or anonymous), then either handled here
//! ([`access::auth`]: accounts, sessions, keys) or checked against the route policy
//! ([`access::policy`]) and forwarded by
//! [`proxy`] with a freshly signed identity token for the service that owns the resource.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use kit::calling::client::{Calls, Upstream};
use kit::calling::resilience::CallPolicy;
use kit::identity::keyring::KeyRing;
use kit::observing::metrics::{LabelledCounter, Metrics};
use kit::serving::health::Readiness;
use kit::serving::http::{Serving, Stack};
use kit::serving::server::Server;
use kit::serving::shutdown::CancellationToken;
use kit::storing::db::{Database, Pool};
use kit::storing::readers::Readers;

mod access;
mod client_ip;
mod cors;
mod demo;
mod docs;
mod edge;
mod front;
mod limits;
mod methods;
mod openapi;
mod proxy;
mod resource;
mod settings;
mod store;
mod telemetry;
mod trail;

pub use access::sessions::SessionPolicy;
pub use client_ip::Cidr;
pub use cors::parse_origin;
pub use edge::{PlainHttp, Tls};
pub use limits::RateLimits;
pub use settings::{KeyFile, Options, PlainHttpMode, Settings, TlsFiles};

use resource::Resource;

pub const SERVICE: &str = kit::identity::GATEWAY;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub users_url: String,
    pub products_url: String,
    pub orders_url: String,
    /// Deadlines, retries, breakers and limits of forwarded calls; the deadline above
    /// order-service's own, so that it can answer 503/504 itself first.
    pub calls: CallPolicy,
    /// Load shedding and the shutdown sequence.
    pub serving: Serving,
    /// Sessions and API keys.
    pub database: Database,
    /// The gateway's secrets and the services' public keys, from which it makes the
    /// identity token of every forwarded request.
    pub keys: KeyRing,
    /// The gateway's side of mutual TLS with the services; `None` calls them in plain HTTP.
    pub internal_tls: Option<kit::serving::internal_tls::InternalTls>,
    pub sessions: SessionPolicy,
    pub rates: RateLimits,
    /// Proxies in front of the gateway whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Origins of browser front ends allowed to call the API with credentials.
    pub cors_origins: Vec<http::HeaderValue>,
    /// HTTPS, if served.
    pub tls: Option<Tls>,
    /// What `listen` (plain HTTP) does.
    pub plain_http: PlainHttp,
    /// Signs the storefront's form tokens (derived from the gateway's own secret).
    pub form_key: [u8; 32],
    /// How long, and how many, security events the audit trail keeps.
    pub security_events: trail::Retention,
}

/// What every handler and middleware shares (see [`kit::serving::handle`]).
pub type AppState = kit::serving::handle::Handle<Shared>;

pub struct Shared {
    users: Upstream,
    products: Upstream,
    orders: Upstream,
    public_api: Arc<openapi::PublicApi>,
    pool: Pool,
    /// Where the reads on every request's path go (sessions, API keys).
    readers: Readers,
    sessions: SessionPolicy,
    limits: Arc<limits::Limits>,
    trusted_proxies: Arc<[Cidr]>,
    metrics: Metrics,
    /// Logins by outcome: succeeded, failed, throttled.
    logins: LabelledCounter,
    /// Where security events are recorded.
    trail: trail::Trail,
}

impl Shared {
    fn upstream(&self, resource: Resource) -> &Upstream {
        match resource {
            Resource::Users => &self.users,
            Resource::Products => &self.products,
            Resource::Orders => &self.orders,
        }
    }
}

static MIGRATIONS: kit::storing::db::Migrations = kit::storing::db::Migrations {
    sqlite: sqlx::migrate!("./migrations/sqlite"),
    postgres: sqlx::migrate!("./migrations/postgres"),
};

/// How often sessions that can no longer be used are deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);

pub async fn build(config: Config) -> anyhow::Result<Server> {
    let pool = kit::storing::db::open(&config.database, &MIGRATIONS)
        .await
        .context("gateway database")?;
    let stack = Stack::new(SERVICE, config.serving).at_edge();
    stack.metrics.database_pool(&pool);
    let calls = Calls::new(config.calls, stack.metrics.clone())
        .with_internal_tls(config.internal_tls.clone());
    let signer = config.keys.signer(&settings::CALLS)?;
    config.keys.watch();
    let upstream = |name, url: &str| calls.upstream(name, url).signed_by(signer.clone());
    let (demo, demo_api) = demo::routes().split_for_parts();
    let (auth, auth_api) = access::auth::routes()
        .merge(trail::routes::routes())
        .split_for_parts();
    let (trail, trail_writer) =
        trail::Trail::new(&stack.metrics, pool.clone(), config.security_events);
    let state = AppState::new(Shared {
        users: upstream("users", &config.users_url),
        products: upstream("products", &config.products_url),
        orders: upstream("orders", &config.orders_url),
        public_api: openapi::PublicApi::new(demo_api.merge_from(auth_api)),
        pool: pool.clone(),
        readers: Readers::of(&pool),
        sessions: config.sessions,
        limits: Arc::new(limits::Limits::new(config.rates)),
        trusted_proxies: config.trusted_proxies.into(),
        metrics: stack.metrics.clone(),
        logins: stack
            .metrics
            .labelled_counter("logins", "Login attempts, by outcome"),
        trail,
    });
    let purge = (pool.clone(), config.sessions);
    let collect = (
        state.trail.clone(),
        vec![
            ("users", state.users.guarded_apart()),
            ("products", state.products.guarded_apart()),
            ("orders", state.orders.guarded_apart()),
        ],
    );
    let readers = state.readers.clone();
    // Ready when its own database (sessions, keys) and every upstream answer.
    let readiness = proxy::upstreams(&state)
        .into_iter()
        .fold(Readiness::new().database(pool.clone()), Readiness::upstream);
    let app = router(
        state,
        Parts {
            demo,
            auth,
            form_key: config.form_key,
        },
        readiness.clone(),
        cors::layer(&config.cors_origins),
        &stack,
    );
    let https = match &config.tls {
        Some(tls) => {
            let tls_config = kit::serving::tls::server_config(&tls.files)?;
            let listener = kit::serving::server::bind_listener(SERVICE, tls.listen).await?;
            Some((listener, tls_config))
        }
        None => None,
    };
    let plain = match (config.plain_http, &https) {
        (PlainHttp::RedirectToHttps, Some((listener, _))) => {
            edge::redirect(listener.local_addr()?.port(), readiness, &stack)
        }
        (PlainHttp::RedirectToHttps, None) => {
            anyhow::bail!("plain HTTP can only redirect to HTTPS when HTTPS is served")
        }
        (PlainHttp::Serve, _) => app.clone(),
    };
    let server = Server::bind(&stack, config.listen, plain)
        .await?
        .with_task(move |shutdown| purge_sessions(purge.0, purge.1, shutdown))
        .with_task(move |shutdown| trail_writer.run(shutdown))
        .with_task(move |shutdown| trail::collect_refusals(collect.0, collect.1, shutdown))
        .closing(pool, readers);
    Ok(match https {
        Some((listener, tls_config)) => server.with_tls(listener, tls_config, edge::https(app)),
        None => server,
    })
}

/// The routes `build` makes before the router: the documented ones, and the storefront's key.
struct Parts {
    demo: Router<AppState>,
    auth: Router<AppState>,
    form_key: [u8; 32],
}

fn router(
    state: AppState,
    parts: Parts,
    readiness: Readiness,
    cors: Option<cors::PreflightsOnly>,
    stack: &Stack,
) -> Router {
    let api = proxy::routes()
        .merge(parts.auth)
        .route("/metrics", get(telemetry::metrics))
        .layer(front::Front::authenticating(state.clone()));
    // The storefront asks this very router, as the visitor: no way around the API's checks.
    // Its refusals before a page runs (rate limit, overload) are pages too, not JSON.
    let storefront = storefront::routes(
        storefront::Api(api.clone().with_state(state.clone())),
        parts.form_key,
    )
    .layer(front::Front::public(state.clone()))
    .layer(axum::middleware::from_fn(storefront::refusals_as_pages));
    let public = Router::new()
        .route("/openapi.json", get(openapi::serve))
        .merge(parts.demo)
        .merge(docs::routes())
        .layer(front::Front::public(state.clone()));
    let app =
        api.merge(public)
            .merge(storefront)
            .with_state(state)
            .merge(kit::serving::health::routes(
                readiness,
                stack.draining.clone(),
            ));
    // Outside authentication and rate limits: a preflight carries no credentials.
    let app = match cors {
        Some(cors) => app.layer(cors),
        None => app,
    };
    kit::serving::http::layers(app, stack)
}

async fn purge_sessions(pool: Pool, policy: SessionPolicy, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(PURGE_INTERVAL);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let now = kit::time::now_unix();
        match store::purge_sessions(&pool, now, policy.idle_cutoff(now)).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "expired sessions deleted"),
            Err(error) => tracing::warn!(%error, "failed to purge expired sessions"),
        }
    }
}
