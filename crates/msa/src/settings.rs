//! What each command of `msa` reads. Every setting is declared once, by the crate that owns
//! it: a service crate its own [`users::Options`] and the like, `kit` the groups several
//! services share. `msa serve <service>` parses that service's `Settings`; `msa up` flattens
//! every service's options and every shared group once ([`UpSettings`]) and hands each child
//! the settings it reads by their clap argument ids ([`crate::handover`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use kit::calling::options::{CallOptions, OrdersAt, ProductsAt, UsersAt};
use kit::identity::options::TrustOptions;
use kit::identity::{GATEWAY, ORDERS, PRODUCTS, USERS};
use kit::observing::telemetry::LogOptions;
use kit::serving::options::{Place, ServingOptions};
use kit::storing::options::PoolOptions;

/// The four services, in the order they are started and listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Users,
    Products,
    Orders,
    Gateway,
}

impl Role {
    pub const ALL: [Self; 4] = [Self::Users, Self::Products, Self::Orders, Self::Gateway];

    pub fn name(self) -> &'static str {
        match self {
            Self::Users => users::SERVICE,
            Self::Products => products::SERVICE,
            Self::Orders => orders::SERVICE,
            Self::Gateway => gateway::SERVICE,
        }
    }
}

/// Everything `msa up` reads: each service's own options and each shared group, once.
#[derive(Debug, Clone, Args)]
pub struct UpSettings {
    #[command(flatten)]
    pub place: Place,
    #[command(flatten)]
    pub log: LogOptions,
    #[command(flatten)]
    pub users: users::Options,
    #[command(flatten)]
    pub products: products::Options,
    #[command(flatten)]
    pub orders: orders::Options,
    #[command(flatten)]
    pub gateway: gateway::Options,
    #[command(flatten)]
    pub pool: PoolOptions,
    #[command(flatten)]
    pub trust: TrustOptions,
    #[command(flatten)]
    pub internal_tls: kit::serving::internal_tls::InternalTlsOptions,
    #[command(flatten)]
    pub serving: ServingOptions,
    #[command(flatten)]
    pub calls: CallOptions,
    #[command(flatten)]
    pub users_at: UsersAt,
    #[command(flatten)]
    pub products_at: ProductsAt,
    #[command(flatten)]
    pub orders_at: OrdersAt,
}

impl UpSettings {
    pub fn port(&self, role: Role) -> u16 {
        match role {
            Role::Users => self.users.users_port,
            Role::Products => self.products.products_port,
            Role::Orders => self.orders.orders_port,
            Role::Gateway => self.gateway.gateway_port,
        }
    }

    pub fn listen(&self, role: Role) -> SocketAddr {
        self.place.listen(self.port(role))
    }

    /// The base URL at which `role` is reached from the other services (and `msa up`):
    /// as configured, else where `msa up` starts it.
    pub fn url(&self, role: Role) -> String {
        let configured = match role {
            Role::Users => &self.users_at.users_url,
            Role::Products => &self.products_at.products_url,
            Role::Orders => &self.orders_at.orders_url,
            Role::Gateway => &None,
        };
        configured
            .clone()
            .unwrap_or_else(|| self.place.url(self.port(role)))
    }

    /// The gateway's settings, for what `msa up` tells about it (HTTPS, plain HTTP).
    pub fn gateway_settings(&self) -> gateway::Settings {
        gateway::Settings {
            place: self.place.clone(),
            own: self.gateway.clone(),
            pool: self.pool.clone(),
            trust: self.trust.clone(),
            internal_tls: self.internal_tls.clone(),
            serving: self.serving.clone(),
            calls: self.calls.clone(),
            users: self.users_at.clone(),
            products: self.products_at.clone(),
            orders: self.orders_at.clone(),
        }
    }

    /// The public key of each process, derived once here from its key file, so that the
    /// children need not each read (or race to create) the key files.
    pub fn public_keys(&self) -> anyhow::Result<Vec<(&'static str, String)>> {
        KeysSettings {
            data_dir: self.place.data_dir.clone(),
            log: self.log.clone(),
            gateway_key: self.gateway.key.clone(),
            users_key: self.users.key.clone(),
            products_key: self.products.key.clone(),
            orders_key: self.orders.key.clone(),
            trust: self.trust.clone(),
        }
        .public_keys()
    }
}

/// What `msa keys` reads: where the processes' secrets are, and any public key configured.
#[derive(Debug, Clone, Args)]
pub struct KeysSettings {
    /// Directory of the generated secrets, the processes' keys among them.
    #[arg(long, env = "MSA_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub log: LogOptions,
    #[command(flatten)]
    pub gateway_key: gateway::KeyFile,
    #[command(flatten)]
    pub users_key: users::KeyFile,
    #[command(flatten)]
    pub products_key: products::KeyFile,
    #[command(flatten)]
    pub orders_key: orders::KeyFile,
    #[command(flatten)]
    pub trust: TrustOptions,
}

impl KeysSettings {
    /// The public key of each process, as environment settings for services elsewhere.
    pub fn public_keys(&self) -> anyhow::Result<Vec<(&'static str, String)>> {
        [
            (GATEWAY, self.gateway_key.gateway_key_file.as_deref()),
            (USERS, self.users_key.users_key_file.as_deref()),
            (PRODUCTS, self.products_key.products_key_file.as_deref()),
            (ORDERS, self.orders_key.orders_key_file.as_deref()),
        ]
        .into_iter()
        .map(|(party, key_file)| {
            Ok((
                party,
                self.trust.public_key(party, key_file, &self.data_dir)?,
            ))
        })
        .collect()
    }
}
