//! order-service's HTTP surface.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use futures::future::try_join_all;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use kit::identity::Caller;
use kit::serving::pagination::Keyset;
use kit::{ApiError, ApiResult, Problem};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::domain::{IdempotencyKey, NewOrder, OrderLine};
use crate::saga::{self, Placement};
use crate::store;
use crate::views::{OrderDetails, OrderPage, OrderView};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(place_order, list_orders))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderItemInput {
    #[serde(deserialize_with = "kit::whole_number::integer")]
    #[schema(minimum = 1, example = 102)]
    product_id: i64,
    #[serde(deserialize_with = "kit::whole_number::integer")]
    #[schema(minimum = 1, maximum = 1000, example = 1)]
    quantity: i64,
}

/// An order to place, for the logged-in user: who orders is never taken from the body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrder {
    /// 1 to 50 distinct products.
    #[schema(min_items = 1, max_items = 50)]
    items: Vec<OrderItemInput>,
}

/// Place an order.
///
/// Requires an `Idempotency-Key` header: repeat the request with the same key to retry
/// safely. The same key with another body is refused (422); a repeat while the first
/// request runs gets 409.
#[utoipa::path(post, path = "/orders", tag = "orders", request_body = PlaceOrder,
    params(("Idempotency-Key" = String, Header, pattern = r#"^(?!""$)[!-~]{1,255}$"#,
            description = "A unique key per order you mean to place: 1 to 255 visible ASCII characters, quoted or not")),
    responses((status = 201, body = OrderView, description = "Placed; repeated with the same key, the same answer",
                headers(("Location" = String, description = "The order's address"),
                        ("idempotent-replayed" = String, description = "`true` when this answers an earlier request with the same key"))),
              (status = 400, body = Problem),
              (status = 409, body = Problem,
               description = "Out of stock: the attempt is kept as a `failed` order in your list, with no stock held; or the key is in use by a request still running",
               headers(("idempotent-replayed" = String, description = "`true` when this answers an earlier request with the same key"))),
              (status = 422, body = Problem), (status = 503, body = Problem),
              (status = 504, body = Problem)))]
async fn place_order(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<PlaceOrder>,
) -> ApiResult<Response> {
    let user_id = caller.require_user()?;
    let key = headers
        .get("idempotency-key")
        .ok_or_else(|| {
            ApiError::bad_request(
                "send an Idempotency-Key header, unique per order, so that retries are safe",
            )
        })?
        .to_str()
        .map_err(|_| ApiError::bad_request("Idempotency-Key must be visible ASCII"))
        .and_then(|raw| IdempotencyKey::parse(raw).map_err(ApiError::BadRequest))?;
    let lines: Vec<OrderLine> = body
        .items
        .iter()
        .map(|item| OrderLine::new(item.product_id, item.quantity))
        .collect();
    let order = NewOrder::parse(user_id, &lines).map_err(ApiError::invalid)?;
    // Detached: a placement runs to its end even if the caller hangs up or times out
    // meanwhile, so its Idempotency-Key ends answered, never stuck `in_flight`.
    let scope = caller.scope_key();
    let placement =
        kit::serving::task::spawn_detached(
            async move { saga::place(&app, &scope, &key, &order).await },
        )
        .await
        .map_err(|error| {
            ApiError::Internal(anyhow::anyhow!("order placement task failed: {error}"))
        })??;
    Ok(match placement {
        Placement::Confirmed { order_id, body } => created(order_id, body),
        Placement::Replayed { status, body } => replay(status, body),
        Placement::Refused(problem) => problem.into_response(),
    })
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only this user's orders (administrators; a customer always sees only their own).
    user_id: Option<i64>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}$")]
    cursor: Option<String>,
}

/// List your orders, oldest first (an administrator: everyone's).
#[utoipa::path(get, path = "/orders", tag = "orders", params(ListParams),
    responses((status = 200, body = OrderPage), (status = 400, body = Problem)))]
async fn list_orders(
    State(app): State<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<OrderPage>> {
    let owner = if caller.is_admin() {
        params.user_id
    } else {
        let own = caller.require_user()?;
        // Asking for someone else's orders shows an empty list, as for a user with none.
        Some(if params.user_id.is_none_or(|id| id == own) {
            own
        } else {
            0
        })
    };
    let keyset = Keyset::parse(params.limit, params.cursor.as_deref())?;
    let rows = store::list_after(&app.pool, owner, keyset.after, keyset.fetch()).await?;
    let (rows, next_cursor) = keyset.page(rows, |row| row.id);
    let last = rows.last().map_or(keyset.after, |row| row.id);
    let mut items = store::items_in_range(&app.pool, owner, keyset.after, last).await?;
    let views = rows
        .iter()
        .map(|order| {
            let split = items.partition_point(|(order_id, _)| *order_id <= order.id);
            let own: Vec<_> = items.drain(..split).map(|(_, item)| item).collect();
            OrderView::new(order, &own)
        })
        .collect();
    Ok(Json(OrderPage {
        items: views,
        next_cursor,
    }))
}

/// Get one of your orders with its user and products (an administrator: anyone's).
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", params(("id" = i64, Path)),
    responses((status = 200, body = OrderDetails), (status = 404, body = Problem),
              (status = 503, body = Problem), (status = 504, body = Problem)))]
async fn get_order(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<OrderDetails>> {
    let (order, items) = visible_order(&app, &caller, id).await?;
    // The user and every product are asked for at once: the answer takes as long as the
    // slowest call, not the sum of them.
    let (user, products) = tokio::try_join!(
        app.clients.user(order.user_id),
        try_join_all(
            items
                .iter()
                .map(|item| app.clients.product(item.product_id))
        ),
    )?;
    Ok(Json(OrderDetails::new(&order, &items, user, products)))
}

/// Cancel one of your confirmed orders and return its stock. Cancelling twice is harmless.
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders", params(("id" = i64, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 503, body = Problem)))]
async fn cancel_order(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<OrderView>> {
    visible_order(&app, &caller, id).await?;
    saga::cancel(&app, id).await?;
    let (order, items) = store::find_with_items(&app.readers, id)
        .await?
        .ok_or(ApiError::NotFound("order"))?;
    Ok(Json(OrderView::new(&order, &items)))
}

/// The order with its items, if the caller may see it. Another customer's order answers
/// exactly like a missing one (404, not 403), so order ids reveal nothing about other
/// customers.
async fn visible_order(
    app: &AppState,
    caller: &Caller,
    id: i64,
) -> ApiResult<(store::OrderRow, Vec<store::ItemRow>)> {
    caller.require_user()?;
    store::find_with_items(&app.readers, id)
        .await?
        .filter(|(order, _)| caller.may_access_user(order.user_id))
        .ok_or(ApiError::NotFound("order"))
}

fn created(order_id: i64, body: String) -> Response {
    let location = HeaderValue::from_str(&format!("/orders/{order_id}"))
        .expect("BUG: a path of digits is a valid header value");
    let mut response = (StatusCode::CREATED, [(header::LOCATION, location)], body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The stored answer of the first request with this key, marked as a replay. A stored
/// problem names this request's id (the one in the header, which a client quotes) and
/// keeps the first request's id beside it, where an operator finds the original outcome.
fn replay(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let placed = (status == StatusCode::CREATED)
        .then(|| serde_json::from_str::<serde_json::Value>(&body).ok())
        .flatten()
        .and_then(|order| order["order_id"].as_i64());
    let mut response = if let Some(order_id) = placed {
        // A replayed 201 says where the order is, as the first answer did.
        created(order_id, body)
    } else if status.is_success() {
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    } else {
        let stored: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let first_request_id = stored["request_id"].clone();
        Problem::from_body(status, &stored)
            .with("first_request_id", first_request_id)
            .into_response()
    };
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
