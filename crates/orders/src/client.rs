//! order-service's calls to user-service and product-service. It keeps its own small view
//! of their answers (only the fields it uses), so they can grow without breaking it.

use http::{Method, StatusCode};
use kit::Problem;
use kit::calling::client::Upstream;
use kit::calling::failure::UpstreamError;
use serde::{Deserialize, Serialize};

use crate::domain::OrderLine;

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct UserSummary {
    pub id: i64,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct ProductSummary {
    pub id: i64,
    pub name: String,
    pub price_cents: i64,
}

/// What order-service asks product-service to hold: every line of one order, or nothing.
#[derive(Debug, Serialize)]
struct ReserveRequest<'a> {
    order_id: i64,
    items: &'a [OrderLine],
}

/// What product-service holds for an order. An answer with any other status does not
/// decode, and the call fails as an unreadable answer: nothing is settled on a guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReservationStatus {
    /// The stock is taken for the order.
    Held,
    /// It was taken, and given back.
    Released,
    /// Nothing was ever taken for the order.
    None,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Reservation {
    pub status: ReservationStatus,
    pub items: Vec<ReservedItem>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReservedItem {
    pub product_id: i64,
    pub quantity: i64,
    pub unit_price_cents: i64,
}

/// product-service's answer to a reservation.
pub enum ReserveOutcome {
    Held(Reservation),
    /// Refused for a reason the client must hear (out of stock, unknown product): the
    /// problem is passed on as product-service stated it.
    Refused(Problem),
}

#[derive(Clone)]
pub struct Clients {
    pub users: Upstream,
    pub products: Upstream,
}

impl Clients {
    pub async fn user(&self, id: i64) -> Result<Option<UserSummary>, UpstreamError> {
        self.users.get_json(&format!("/users/{id}")).await
    }

    pub async fn product(&self, id: i64) -> Result<Option<ProductSummary>, UpstreamError> {
        self.products.get_json(&format!("/products/{id}")).await
    }

    pub async fn reserve(
        &self,
        order_id: i64,
        lines: &[OrderLine],
    ) -> Result<ReserveOutcome, UpstreamError> {
        let body = ReserveRequest {
            order_id,
            items: lines,
        };
        let response = self
            .products
            .send_idempotent(
                self.products
                    .request(Method::POST, "/internal/reservations")
                    .json(&body),
            )
            .await?;
        match response.status() {
            StatusCode::OK | StatusCode::CREATED => Ok(ReserveOutcome::Held(
                self.products.read_json(response).await?,
            )),
            status @ (StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY) => {
                let body: serde_json::Value = self.products.read_json(response).await?;
                Ok(ReserveOutcome::Refused(Problem::from_body(status, &body)))
            }
            status => Err(self.products.unexpected(status)),
        }
    }

    /// Releases whatever product-service holds for the order; safe to repeat.
    pub async fn release(&self, order_id: i64) -> Result<(), UpstreamError> {
        let response = self
            .products
            .send_idempotent(self.products.request(
                Method::DELETE,
                &format!("/internal/reservations/{order_id}"),
            ))
            .await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(self.products.unexpected(response.status()))
        }
    }

    pub async fn reservation(&self, order_id: i64) -> Result<Reservation, UpstreamError> {
        self.products
            .get_json(&format!("/internal/reservations/{order_id}"))
            .await?
            .ok_or(UpstreamError::Invalid {
                service: self.products.service(),
            })
    }
}
