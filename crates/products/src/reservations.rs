//! Stock reservations over HTTP: `/internal/reservations`, which order-service alone may
//! call (with its own signed token), and which the gateway never publishes. Reserving is
//! idempotent by order id, so order-service may retry it; see [`crate::store::reserve`].

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use kit::identity::{Caller, ORDERS};
use kit::{ApiError, ApiResult, Problem};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::domain::{OrderLine, ReservationRequest, ReservationStatus};
use crate::store::{self, ReservationLine, Reserved};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(reserve))
        .routes(routes!(get_reservation, release))
}

/// Stock to take for one order: all items or none.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveInput {
    order_id: i64,
    items: Vec<OrderLine>,
}

#[derive(Serialize, ToSchema)]
pub struct ReservationItem {
    product_id: i64,
    quantity: i64,
    /// The price at the moment of reservation: what the order is charged.
    unit_price_cents: i64,
}

/// What product-service holds for an order.
#[derive(Serialize, ToSchema)]
pub struct ReservationView {
    order_id: i64,
    status: ReservationStatus,
    items: Vec<ReservationItem>,
}

impl ReservationView {
    fn new(order_id: i64, lines: Vec<ReservationLine>) -> Self {
        let status = ReservationStatus::of(lines.iter().map(|line| line.status));
        Self {
            order_id,
            status,
            items: lines
                .into_iter()
                .map(|line| ReservationItem {
                    product_id: line.product_id,
                    quantity: line.quantity,
                    unit_price_cents: line.unit_price_cents,
                })
                .collect(),
        }
    }
}

/// Reserve stock for an order, all or nothing. Idempotent by order id.
#[utoipa::path(post, path = "/internal/reservations", tag = "internal",
    request_body = ReserveInput,
    responses((status = 201, body = ReservationView), (status = 200, body = ReservationView),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn reserve(
    State(app): State<AppState>,
    caller: Caller,
    Json(body): Json<ReserveInput>,
) -> ApiResult<(StatusCode, Json<ReservationView>)> {
    only_orders(&caller)?;
    let request =
        ReservationRequest::parse(body.order_id, &body.items).map_err(ApiError::invalid)?;
    let reserved = store::reserve(&app.pool, &request, kit::time::now_unix()).await?;
    let outcome = match &reserved {
        Reserved::Held { fresh: true, .. } => "held",
        Reserved::Held { fresh: false, .. } => "repeated",
        Reserved::OutOfStock { .. } => "out_of_stock",
        _ => "refused",
    };
    app.reservations.inc("outcome", outcome);
    match reserved {
        Reserved::Held { lines, fresh } => {
            let status = if fresh {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(ReservationView::new(request.order_id, lines))))
        }
        Reserved::Mismatch => Err(ApiError::conflict(
            "reservation-mismatch",
            "this order already holds a reservation with other items",
        )),
        Reserved::AlreadyReleased => Err(ApiError::conflict(
            "reservation-released",
            "this order's reservation was released and cannot be taken again",
        )),
        Reserved::UnknownProduct(product_id) => Err(ApiError::unprocessable(
            "unknown-product",
            format!("product {product_id} does not exist"),
        )),
        Reserved::OutOfStock {
            product_id,
            available,
        } => Err(ApiError::Conflict {
            slug: "out-of-stock",
            detail: format!("product {product_id} has only {available} in stock"),
            extra: Some(serde_json::json!({ "product_id": product_id, "available": available })),
        }),
    }
}

/// What is held for an order (used to settle orders after a crash).
#[utoipa::path(get, path = "/internal/reservations/{order_id}", tag = "internal",
    params(("order_id" = i64, Path)), responses((status = 200, body = ReservationView)))]
async fn get_reservation(
    State(app): State<AppState>,
    caller: Caller,
    Path(order_id): Path<i64>,
) -> ApiResult<Json<ReservationView>> {
    only_orders(&caller)?;
    let lines = store::reservation(&app.pool, order_id).await?;
    Ok(Json(ReservationView::new(order_id, lines)))
}

/// Release what an order holds. Idempotent: releasing again changes nothing.
#[utoipa::path(delete, path = "/internal/reservations/{order_id}", tag = "internal",
    params(("order_id" = i64, Path)), responses((status = 200, body = ReservationView)))]
async fn release(
    State(app): State<AppState>,
    caller: Caller,
    Path(order_id): Path<i64>,
) -> ApiResult<Json<ReservationView>> {
    only_orders(&caller)?;
    let lines = store::release(&app.pool, order_id, kit::time::now_unix()).await?;
    app.reservations.inc("outcome", "released");
    Ok(Json(ReservationView::new(order_id, lines)))
}

/// Stock is reserved and released by order-service alone, with its own signed token; to
/// anyone else these routes do not exist.
fn only_orders(caller: &Caller) -> ApiResult<()> {
    if caller.is_service(ORDERS) {
        Ok(())
    } else {
        Err(ApiError::NotFound("route"))
    }
}
