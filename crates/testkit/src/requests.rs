//! Requests to the API as the administrator (the test app's own helpers), and to a
//! service's own port, signed as its callers would sign them.

use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::{OrderLine, Service, TestApp};

impl TestApp {
    /// A request to the gateway as the administrator; `path` starts with `/`.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.admin.request(method, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.admin.get(path).await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.admin.send_json(method, path, body).await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        self.admin.get_json(path).await
    }

    /// `POST /api/v1/orders` with an Idempotency-Key, as demo user `user_id`.
    pub async fn place_order<L: Into<OrderLine> + Copy>(
        &self,
        key: &str,
        user_id: i64,
        lines: &[L],
    ) -> Response {
        self.as_user(user_id).await.place_order(key, lines).await
    }

    pub async fn order(&self, order_id: i64) -> Value {
        self.admin.order(order_id).await
    }

    pub async fn stock(&self, product_id: i64) -> i64 {
        self.admin.stock(product_id).await
    }

    /// Every order, across pages.
    pub async fn all_orders(&self) -> Vec<Value> {
        self.admin.all_orders().await
    }

    /// A direct request without a body to a service's own port, signed as the gateway for
    /// `principal`.
    pub fn direct(
        &self,
        service: Service,
        method: Method,
        path: &str,
        principal: &kit::identity::Principal,
        role: kit::identity::Role,
    ) -> reqwest::RequestBuilder {
        self.direct_with_body(service, method, path, principal, role, Vec::new())
    }

    /// A direct request with a JSON body, signed as [`Self::direct`] signs.
    pub fn direct_json(
        &self,
        service: Service,
        method: Method,
        path: &str,
        principal: &kit::identity::Principal,
        role: kit::identity::Role,
        body: &Value,
    ) -> reqwest::RequestBuilder {
        let body = serde_json::to_vec(body).expect("JSON serializes");
        self.direct_with_body(service, method, path, principal, role, body)
            .header("content-type", "application/json")
    }

    fn direct_with_body(
        &self,
        service: Service,
        method: Method,
        path: &str,
        principal: &kit::identity::Principal,
        role: kit::identity::Role,
        body: Vec<u8>,
    ) -> reqwest::RequestBuilder {
        let actor = kit::identity::Actor {
            principal: principal.clone(),
            role,
            scopes: Vec::new(),
        };
        let bound = kit::identity::binding::Bound {
            method: &method,
            target: path,
            body: &body,
        };
        let token = self
            .gateway_signer
            .token(service.name(), &actor, &bound)
            .expect("the test's gateway makes tokens for every service");
        self.http
            .request(method, format!("{}{path}", self.service_url(service)))
            .header(kit::identity::TOKEN_HEADER, token)
            .body(body)
    }

    /// The metrics text of `service`: straight from its port on the private network, or
    /// from the gateway as the administrator.
    pub async fn metrics(&self, service: Service) -> String {
        let response = match service {
            Service::Gateway => self.get("/metrics").await,
            _ => self
                .http
                .get(format!("{}/metrics", self.service_url(service)))
                .send()
                .await
                .expect("the service answers"),
        };
        assert_eq!(response.status(), StatusCode::OK, "metrics of {service:?}");
        assert!(
            response
                .headers()
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .is_some_and(|value| value.starts_with("application/openmetrics-text")),
            "metrics are in the OpenMetrics text format"
        );
        response.text().await.expect("a text body")
    }

    /// Has the gateway and order-service open their connections to order-service and
    /// product-service (reading the demo order crosses both links), so that a fault set
    /// afterwards holds answers on a live connection. With mutual TLS a fault set first
    /// would hold the handshake instead: a connection that never opens, answered 503 as an
    /// unreachable service is, rather than a call that times out (504).
    pub async fn open_links(&self) {
        self.order(crate::DEMO_ORDER).await;
    }

    /// What product-service holds for an order, asked on its internal port.
    pub async fn reservation(&self, order_id: i64) -> Value {
        let path = format!("/internal/reservations/{order_id}");
        let url = format!("{}{path}", self.service_url(Service::Products));
        let bound = kit::identity::binding::Bound {
            method: &Method::GET,
            target: &path,
            body: b"",
        };
        let response = self
            .http_as(kit::identity::ORDERS)
            .get(url)
            .header(
                kit::identity::TOKEN_HEADER,
                self.orders_signer
                    .own_token(products::SERVICE, &bound)
                    .expect("the test's order-service makes tokens for products"),
            )
            .send()
            .await
            .expect("products answers");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("a JSON body")
    }
}
