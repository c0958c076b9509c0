//! The order saga of ARCHITECTURE.md, with the client's Idempotency-Key around it.
//!
//! 1. record the order as `pending`;
//! 2. ask product-service to reserve every item, all or nothing;
//! 3. mark it `confirmed`.
//!
//! Whatever fails after step 1 releases the reservation (an idempotent call) and marks the
//! order `failed`; if even that cannot be done now, the order stays `pending` and
//! [`settle`] finishes the job later. Stock is therefore never held for an order that is
//! not confirmed, for longer than one recovery pass.

use http::StatusCode;
use kit::{ApiError, ApiResult, Problem};

use crate::AppState;
use crate::client::{ReservationStatus, ReserveOutcome};
use crate::domain::{IdempotencyKey, NewOrder, OrderStatus};
use crate::store::{self, KeyClaim, KeyToClaim, OrderRow, StoredAnswer, UnitPrice};
use crate::views::OrderView;

/// How a placement ended, for [`crate::http`] to answer with. Each answer is also what a
/// retry with the same Idempotency-Key gets.
pub enum Placement {
    /// Confirmed by this request: the order's id and its view as JSON, stored with the key.
    Confirmed { order_id: i64, body: String },
    /// A retry of a request that already finished: its stored answer.
    Replayed { status: u16, body: String },
    /// Refused for good (unknown user, out of stock), and stored with the key.
    Refused(Problem),
}

/// How a placement ended when it did not confirm an order.
enum Failure {
    /// A final answer about this request (unknown user, out of stock): stored with the key,
    /// so a retry gets the same answer.
    Final(Problem),
    /// An outage or a bug: the key is freed so that the client's retry runs again.
    Retryable(ApiError),
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Self::Retryable(error)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Self {
        Self::Retryable(error.into())
    }
}

/// Places an order once per (caller, key): a repeat with the same body gets the stored
/// answer, a repeat with another body 422, a repeat while the first runs 409.
pub async fn place(
    app: &AppState,
    scope: &str,
    key: &IdempotencyKey,
    order: &NewOrder,
) -> ApiResult<Placement> {
    // Asked before the key is claimed, so that the key, the pending order and its items are
    // recorded in one transaction. If user-service cannot answer, the key is still looked
    // up: a retry of a placement that finished gets its stored answer all the same.
    let user = app.clients.user(order.user_id).await;
    let claim = KeyToClaim {
        scope: scope.to_owned(),
        key: key.as_str().to_owned(),
        fingerprint: order.fingerprint(),
    };
    let now = kit::time::now_unix();
    let (claimed, pending) = match &user {
        Ok(Some(_)) => store::claim_key_for_order(&app.pool, claim, order, now).await?,
        _ => {
            let claimed =
                store::claim_key(&app.pool, &claim.scope, &claim.key, &claim.fingerprint, now)
                    .await?;
            (claimed, None)
        }
    };
    match claimed {
        KeyClaim::Claimed => {}
        KeyClaim::InFlight => {
            return Err(ApiError::conflict(
                "idempotency-key-in-use",
                "a request with this Idempotency-Key is still being processed; retry later",
            ));
        }
        KeyClaim::Mismatch => {
            return Err(ApiError::unprocessable(
                "idempotency-key-reused",
                "this Idempotency-Key was already used for a different request",
            ));
        }
        KeyClaim::Replay { status, body } => return Ok(Placement::Replayed { status, body }),
    }
    let result = match (pending, user) {
        (Some(pending), _) => run(app, scope, key, order, pending).await,
        (None, Ok(_)) => Err(Failure::Final(
            ApiError::unprocessable(
                "unknown-user",
                format!("user {} does not exist", order.user_id),
            )
            .to_problem(),
        )),
        (None, Err(error)) => Err(Failure::Retryable(error.into())),
    };
    let outcome = match &result {
        Ok(_) => "confirmed",
        Err(Failure::Final(_)) => "refused",
        Err(Failure::Retryable(_)) => "failed",
    };
    app.outcomes.inc("result", outcome);
    match result {
        Ok(placement) => Ok(placement),
        Err(Failure::Final(problem)) => {
            let body = serde_json::to_string(&problem).unwrap_or_default();
            let answer = StoredAnswer {
                scope,
                key: key.as_str(),
                status: problem.status,
                body: &body,
            };
            store::finish_key(&app.pool, &answer).await?;
            Ok(Placement::Refused(problem))
        }
        Err(Failure::Retryable(error)) => {
            if let Err(cause) = store::release_key(&app.pool, scope, key.as_str()).await {
                tracing::error!(error = %cause, "could not free an idempotency key");
            }
            Err(error)
        }
    }
}

/// Reserves the stock of the `pending` order and confirms it.
async fn run(
    app: &AppState,
    scope: &str,
    key: &IdempotencyKey,
    order: &NewOrder,
    pending: OrderRow,
) -> Result<Placement, Failure> {
    tracing::info!(order.id = pending.id, "order pending; reserving stock");
    let now = pending.created_at;

    let reservation = match app.clients.reserve(pending.id, &order.lines).await {
        Ok(ReserveOutcome::Held(reservation)) => reservation,
        Ok(ReserveOutcome::Refused(problem)) => {
            store::transition(
                &app.pool,
                pending.id,
                OrderStatus::Pending,
                OrderStatus::Failed,
                now,
            )
            .await?;
            return Err(Failure::Final(problem));
        }
        Err(error) => {
            // We do not know whether product-service took the stock before the call broke
            // off, so we release, which is harmless if it did not.
            compensate(app, pending.id).await;
            return Err(Failure::Retryable(error.into()));
        }
    };

    let prices: Vec<UnitPrice> = reservation
        .items
        .iter()
        .map(|item| UnitPrice {
            product_id: item.product_id,
            unit_price_cents: item.unit_price_cents,
        })
        .collect();
    let total_cents = reservation
        .items
        .iter()
        .map(|item| item.quantity * item.unit_price_cents)
        .sum();
    let confirmed_at = kit::time::now_unix();
    let mut row = pending.clone();
    row.status = OrderStatus::Confirmed;
    row.total_cents = total_cents;
    row.updated_at = confirmed_at;
    let items: Vec<store::ItemRow> = reservation
        .items
        .iter()
        .map(|item| store::ItemRow {
            product_id: item.product_id,
            quantity: item.quantity,
            unit_price_cents: item.unit_price_cents,
        })
        .collect();
    let view = OrderView::new(&row, &items);
    let body = serde_json::to_string(&view).map_err(|e| ApiError::Internal(e.into()))?;
    let answer = StoredAnswer {
        scope,
        key: key.as_str(),
        status: StatusCode::CREATED.as_u16(),
        body: &body,
    };
    match store::confirm(
        &app.pool,
        pending.id,
        &prices,
        total_cents,
        Some(&answer),
        confirmed_at,
    )
    .await
    {
        Ok(true) => {
            tracing::info!(order.id = pending.id, total_cents, "order confirmed");
            Ok(Placement::Confirmed {
                order_id: pending.id,
                body,
            })
        }
        Ok(false) => {
            // Recovery settled the order while we waited for product-service.
            Err(Failure::Retryable(ApiError::Unavailable(
                "The order could not be completed in time; retry.".to_owned(),
            )))
        }
        Err(error) => {
            compensate(app, pending.id).await;
            Err(error.into())
        }
    }
}

/// Releases an order's stock and marks it failed; leaves it `pending` for recovery if
/// product-service cannot be reached now.
async fn compensate(app: &AppState, order_id: i64) {
    match app.clients.release(order_id).await {
        Ok(()) => {
            let now = kit::time::now_unix();
            if let Err(error) = store::transition(
                &app.pool,
                order_id,
                OrderStatus::Pending,
                OrderStatus::Failed,
                now,
            )
            .await
            {
                tracing::error!(order.id = order_id, error = %error, "could not mark order failed");
            } else {
                tracing::info!(order.id = order_id, "order failed; reservation released");
            }
        }
        Err(error) => {
            app.unsettled().insert(order_id);
            tracing::warn!(
                order.id = order_id,
                error = %error,
                "could not release reservation; recovery will settle the order"
            );
        }
    }
}

/// Settles a `pending` order left by a crash or an outage: releases whatever
/// product-service holds for it and marks it `failed`. The client never heard that it
/// succeeded, so releasing is the only outcome that cannot surprise anyone; its
/// Idempotency-Key is freed so a retry places it anew.
pub async fn settle(app: &AppState, order_id: i64) -> anyhow::Result<()> {
    let held = app.clients.reservation(order_id).await?;
    let released = held.status == ReservationStatus::Held;
    if released {
        app.clients.release(order_id).await?;
    }
    store::transition(
        &app.pool,
        order_id,
        OrderStatus::Pending,
        OrderStatus::Failed,
        kit::time::now_unix(),
    )
    .await?;
    store::release_keys_of(&app.pool, order_id).await?;
    app.outcomes.inc("result", "settled");
    tracing::info!(order.id = order_id, released, "settled pending order");
    Ok(())
}

/// Cancels a confirmed order: stock goes back first, then the order is marked, so a
/// failure in between leaves a confirmed order whose cancel can simply be retried.
pub async fn cancel(app: &AppState, order_id: i64) -> ApiResult<()> {
    let order = store::find(&app.readers, order_id)
        .await?
        .ok_or(ApiError::NotFound("order"))?;
    match order.status {
        OrderStatus::Cancelled => return Ok(()),
        OrderStatus::Confirmed => {}
        OrderStatus::Pending => {
            return Err(ApiError::conflict(
                "order-pending",
                "the order is still being placed; retry in a moment",
            ));
        }
        OrderStatus::Failed => {
            return Err(ApiError::conflict(
                "order-failed",
                "the order failed and holds nothing to cancel",
            ));
        }
    }
    app.clients.release(order_id).await?;
    store::transition(
        &app.pool,
        order_id,
        OrderStatus::Confirmed,
        OrderStatus::Cancelled,
        kit::time::now_unix(),
    )
    .await?;
    app.outcomes.inc("result", "cancelled");
    tracing::info!(order.id = order_id, "order cancelled; stock released");
    Ok(())
}
