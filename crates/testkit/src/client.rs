//! A client of the gateway with one identity: anonymous, a session cookie or an API key.
//! Each is a separate `reqwest::Client`, so nothing of one identity leaks into another.

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

/// One line of an order, as a client sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct OrderLine {
    pub product_id: i64,
    pub quantity: i64,
}

impl From<(i64, i64)> for OrderLine {
    fn from((product_id, quantity): (i64, i64)) -> Self {
        Self {
            product_id,
            quantity,
        }
    }
}

/// The name of the session cookie the gateway sets.
pub const SESSION_COOKIE: &str = "__Host-msa_session";

#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    /// Base URL of the gateway.
    pub base: String,
}

impl Client {
    /// A client that sends `headers` with every request, such as a cookie or a bearer key.
    pub fn new(base: &str, user_agent: &str, headers: &[(&str, &str)]) -> Self {
        let mut defaults = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            defaults.insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                reqwest::header::HeaderValue::from_str(value).expect("a header value"),
            );
        }
        let http = kit::calling::transport::builder()
            .no_proxy()
            .user_agent(user_agent)
            .default_headers(defaults)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("BUG: static client configuration");
        Self {
            http,
            base: base.to_owned(),
        }
    }

    /// A client that presents `cookie` (`name=value`), from a browser named `user_agent`.
    pub fn with_cookie(base: &str, user_agent: &str, cookie: &str) -> Self {
        Self::new(base, user_agent, &[("cookie", cookie)])
    }

    /// A program that presents API key `key`.
    pub fn with_api_key(base: &str, key: &str) -> Self {
        Self::new(
            base,
            "testkit-program/1.0",
            &[("authorization", &format!("Bearer {key}"))],
        )
    }

    /// A request to the gateway; `path` starts with `/`.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("gateway answers")
    }

    pub async fn send(&self, method: Method, path: &str) -> Response {
        self.request(method, path)
            .send()
            .await
            .expect("gateway answers")
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.request(method, path)
            .json(body)
            .send()
            .await
            .expect("gateway answers")
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("a JSON body")
    }

    /// `POST /api/v1/orders` with an Idempotency-Key, for whoever this client is. Lines
    /// may be written as `(product_id, quantity)`.
    pub async fn place_order<L: Into<OrderLine> + Copy>(&self, key: &str, lines: &[L]) -> Response {
        let items: Vec<OrderLine> = lines.iter().map(|line| (*line).into()).collect();
        self.request(Method::POST, "/api/v1/orders")
            .header("idempotency-key", key)
            .json(&json!({"items": items}))
            .send()
            .await
            .expect("gateway answers")
    }

    pub async fn order(&self, order_id: i64) -> Value {
        self.get_json(&format!("/api/v1/orders/{order_id}")).await
    }

    pub async fn stock(&self, product_id: i64) -> i64 {
        self.get_json(&format!("/api/v1/products/{product_id}"))
            .await["stock"]
            .as_i64()
            .expect("stock is an integer")
    }

    /// Every order this client may see, across pages.
    pub async fn all_orders(&self) -> Vec<Value> {
        let mut orders = Vec::new();
        let mut path = "/api/v1/orders?limit=100".to_owned();
        loop {
            let page = self.get_json(&path).await;
            orders.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("/api/v1/orders?limit=100&cursor={cursor}"),
                None => return orders,
            }
        }
    }
}

/// The `name=value` of the session cookie a response sets, if it sets one with a value.
pub fn session_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| {
            pair.strip_prefix(SESSION_COOKIE)
                .and_then(|rest| rest.strip_prefix('='))
                .is_some_and(|token| !token.is_empty())
        })
        .map(str::to_owned)
}
