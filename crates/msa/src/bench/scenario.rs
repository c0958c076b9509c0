//! The scenarios, and what each system sends for them: the same work, in each system's own
//! API. A scenario runs as one or more cases; a case measures its systems one after the
//! other, so that their figures come from the same minutes of the same machine.

use std::sync::Arc;

use clap::ValueEnum;
use http::header::{AUTHORIZATION, COOKIE};
use serde_json::json;

use super::plan::{Plan, Template};
use super::systems::{Shop, Systems};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// GET /hello at the gateway, beside a bare axum handler.
    Hello,
    /// Product get and list, anonymous and with an API key; beside the ceiling's single hop,
    /// nginx and Flask.
    Catalog,
    /// Alice's enriched order (gateway, orders, users and products), beside the ceiling and
    /// Flask.
    OrderRead,
    /// Order placement with an Idempotency-Key (reservation, confirmation), beside Flask.
    OrderWrite,
    /// Logins (argon2id).
    Login,
    /// Catalogue reads, order reads and order placements together.
    Mixed,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Self::Hello,
        Self::Catalog,
        Self::OrderRead,
        Self::OrderWrite,
        Self::Login,
        Self::Mixed,
    ];
}

pub const SHOP: &str = "msa-shop";
pub const CEILING: &str = "ceiling";
pub const BARE: &str = "bare axum";
pub const NGINX: &str = "nginx";
pub const FLASK: &str = "flask";
/// The shop with plain HTTP between its services.
pub const PLAIN: &str = "msa-shop plain";

pub struct Contender {
    pub system: &'static str,
    pub plan: Arc<Plan>,
}

pub struct Case {
    pub name: &'static str,
    pub what: &'static str,
    pub contenders: Vec<Contender>,
}

fn contender(
    system: &'static str,
    address: std::net::SocketAddr,
    templates: Vec<Template>,
) -> Contender {
    Contender {
        system,
        plan: Arc::new(Plan::new(address, templates)),
    }
}

/// The shop's requests for a mix: 6 product gets, 1 list, 2 order reads, 1 placement.
fn shop_mix(systems: &Systems) -> Vec<Template> {
    let shop = &systems.shop;
    let mut mix = vec![Template::get("/api/v1/products/101"); 6];
    mix.push(Template::get("/api/v1/products?limit=20"));
    mix.extend(vec![
        Template::get("/api/v1/orders/9001")
            .header(COOKIE, &shop.alice_cookie);
        2
    ]);
    mix.push(order_placement(&systems.shop));
    mix
}

fn order_placement(shop: &Shop) -> Template {
    Template::post_json(
        "/api/v1/orders",
        &json!({"items": [{"product_id": shop.widget, "quantity": 1}]}),
    )
    .header(AUTHORIZATION, &format!("Bearer {}", shop.key))
    .with_idempotency_keys()
}

fn flask_placement() -> Template {
    Template::post_json(
        "/orders",
        &json!({"user_id": 1, "product_id": 101, "quantity": 1}),
    )
}

pub fn cases(scenario: Scenario, systems: &Systems) -> Vec<Case> {
    let shop = &systems.shop;
    let gateway = shop.gateway;
    let bearer = format!("Bearer {}", shop.key);
    let ceiling = systems.ceiling.as_ref();
    let mut cases = Vec::new();
    match scenario {
        Scenario::Hello => {
            let mut contenders = vec![contender(SHOP, gateway, vec![Template::get("/hello")])];
            if let Some(ceiling) = ceiling {
                contenders.push(contender(BARE, ceiling.leaf, vec![Template::get("/hello")]));
            }
            cases.push(Case {
                name: "hello",
                what: "GET /hello",
                contenders,
            });
        }
        Scenario::Catalog => {
            for (name, what, shop_path, peer_path) in [
                (
                    "catalog-get",
                    "a product, anonymous",
                    "/api/v1/products/101",
                    "/products/101",
                ),
                (
                    "catalog-list",
                    "20 products, anonymous",
                    "/api/v1/products?limit=20",
                    "/products",
                ),
            ] {
                let mut contenders = vec![contender(SHOP, gateway, vec![Template::get(shop_path)])];
                if let Some(plain) = &systems.plain {
                    contenders.push(contender(
                        PLAIN,
                        plain.gateway,
                        vec![Template::get(shop_path)],
                    ));
                }
                if let Some(ceiling) = ceiling {
                    contenders.push(contender(
                        CEILING,
                        ceiling.proxy,
                        vec![Template::get(peer_path)],
                    ));
                }
                if let Some(nginx) = &systems.nginx {
                    contenders.push(contender(
                        NGINX,
                        nginx.address,
                        vec![Template::get(peer_path)],
                    ));
                }
                if let Some(flask) = &systems.flask {
                    contenders.push(contender(
                        FLASK,
                        flask.products,
                        vec![Template::get(peer_path)],
                    ));
                }
                cases.push(Case {
                    name,
                    what,
                    contenders,
                });
            }
            cases.push(Case {
                name: "catalog-key",
                what: "product get and list with an API key",
                contenders: vec![contender(
                    SHOP,
                    gateway,
                    vec![
                        Template::get("/api/v1/products/101").header(AUTHORIZATION, &bearer),
                        Template::get("/api/v1/products?limit=20").header(AUTHORIZATION, &bearer),
                    ],
                )],
            });
        }
        Scenario::OrderRead => {
            let mut contenders = vec![contender(
                SHOP,
                gateway,
                vec![Template::get("/api/v1/orders/9001").header(COOKIE, &shop.alice_cookie)],
            )];
            if let Some(plain) = &systems.plain {
                contenders.push(contender(
                    PLAIN,
                    plain.gateway,
                    vec![Template::get("/api/v1/orders/9001").header(COOKIE, &plain.alice_cookie)],
                ));
            }
            if let Some(ceiling) = ceiling {
                contenders.push(contender(
                    CEILING,
                    ceiling.proxy,
                    vec![Template::get("/orders/9001")],
                ));
            }
            if let Some(flask) = &systems.flask {
                contenders.push(contender(
                    FLASK,
                    flask.orders,
                    vec![Template::get("/orders/9001")],
                ));
            }
            cases.push(Case {
                name: "order-read",
                what: "Alice's order, enriched by two services",
                contenders,
            });
        }
        Scenario::OrderWrite => {
            let mut contenders = vec![contender(SHOP, gateway, vec![order_placement(shop)])];
            if let Some(plain) = &systems.plain {
                contenders.push(contender(
                    PLAIN,
                    plain.gateway,
                    vec![order_placement(plain)],
                ));
            }
            if let Some(flask) = &systems.flask {
                contenders.push(contender(FLASK, flask.orders, vec![flask_placement()]));
            }
            cases.push(Case {
                name: "order-write",
                what: "an order placed, with an Idempotency-Key",
                contenders,
            });
        }
        Scenario::Login => {
            let login = Template::post_json(
                "/api/v1/auth/login",
                &json!({"email": "alice@example.com", "password": shop.alice_password}),
            );
            cases.push(Case {
                name: "login",
                what: "a login (argon2id)",
                contenders: vec![contender(SHOP, gateway, vec![login])],
            });
        }
        Scenario::Mixed => {
            // The seed has no gateway to mix behind: the shop runs this one alone.
            let contenders = vec![contender(SHOP, gateway, shop_mix(systems))];
            cases.push(Case {
                name: "mixed",
                what: "6 product gets, 1 list, 2 order reads, 1 placement in 10",
                contenders,
            });
        }
    }
    cases
}
