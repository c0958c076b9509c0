//! product-service's catalogue over HTTP, public through the gateway. The stock
//! reservations order-service makes are in [`crate::reservations`].

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use kit::identity::Caller;
use kit::serving::pagination::Numbered;
use kit::{ApiError, ApiResult, Problem};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::domain::{
    Description, MAX_PRICE_CENTS, Price, ProductChanges, ProductDraft, ProductName, Sort, Stock,
};
use crate::store::{self, ProductRow};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_product, list_products))
        .routes(routes!(
            get_product,
            replace_product,
            patch_product,
            delete_product
        ))
}

/// A new product, or the full replacement of one (`PUT`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    /// 1 to 200 characters, no control characters; spaces around it are dropped.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        example = "Tablet"
    )]
    name: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    description: String,
    /// Price in cents, 1 to 100000000.
    #[serde(deserialize_with = "kit::whole_number::integer")]
    #[schema(minimum = 1, maximum = 100_000_000, example = 45000)]
    price_cents: i64,
    /// Units in stock, 0 to 1000000.
    #[serde(deserialize_with = "kit::whole_number::integer")]
    #[schema(minimum = 0, maximum = 1_000_000, example = 20)]
    stock: i64,
}

impl ProductInput {
    fn parse(self) -> ApiResult<ProductDraft> {
        Ok(ProductDraft {
            name: ProductName::parse(&self.name).map_err(ApiError::invalid)?,
            description: Description::parse(&self.description).map_err(ApiError::invalid)?,
            price: Price::parse(self.price_cents).map_err(ApiError::invalid)?,
            stock: Stock::parse(self.stock).map_err(ApiError::invalid)?,
        })
    }
}

/// A partial change (`PATCH`): absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    name: Option<String>,
    #[schema(max_length = 2000)]
    description: Option<String>,
    #[serde(default, deserialize_with = "kit::whole_number::optional_integer")]
    #[schema(minimum = 1, maximum = 100_000_000)]
    price_cents: Option<i64>,
    #[serde(default, deserialize_with = "kit::whole_number::optional_integer")]
    #[schema(minimum = 0, maximum = 1_000_000)]
    stock: Option<i64>,
}

/// A product. `version` grows with every change; send it back in `If-Match` to change the
/// product only if nobody changed it since you read it.
#[derive(Serialize, ToSchema)]
pub struct ProductView {
    id: i64,
    name: String,
    description: String,
    price_cents: i64,
    stock: i64,
    version: i64,
    created_at: String,
    updated_at: String,
}

impl From<ProductRow> for ProductView {
    fn from(row: ProductRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            description: row.description,
            price_cents: row.price_cents,
            stock: row.stock,
            version: row.version,
            created_at: kit::time::rfc3339(row.created_at),
            updated_at: kit::time::rfc3339(row.updated_at),
        }
    }
}

/// A product with its `ETag` (the version), so `If-Match` can be sent back as received.
fn with_etag(status: StatusCode, row: ProductRow) -> Response {
    let etag = HeaderValue::from_str(&format!("\"{}\"", row.version))
        .expect("BUG: a quoted integer is a valid header value");
    (status, [(header::ETAG, etag)], Json(ProductView::from(row))).into_response()
}

#[derive(Serialize, ToSchema)]
pub struct ProductPage {
    items: Vec<ProductView>,
    page: u32,
    limit: u32,
    /// The next page number, if there is one.
    next_page: Option<u32>,
}

/// The orderings of a product list, as the dictionary names them; the server parses the
/// text itself ([`crate::domain::Sort`]).
#[derive(ToSchema)]
#[allow(dead_code)]
enum SortKey {
    #[schema(rename = "id")]
    IdAsc,
    #[schema(rename = "-id")]
    IdDesc,
    #[schema(rename = "name")]
    NameAsc,
    #[schema(rename = "-name")]
    NameDesc,
    #[schema(rename = "price")]
    PriceAsc,
    #[schema(rename = "-price")]
    PriceDesc,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Part of the name, case-insensitive; at most 100 characters.
    #[param(max_length = 100)]
    q: Option<String>,
    /// Lowest price in cents.
    #[param(minimum = 0, maximum = 100_000_000)]
    min_price: Option<i64>,
    /// Highest price in cents.
    #[param(minimum = 0, maximum = 100_000_000)]
    max_price: Option<i64>,
    /// The order of the list (`-` = descending); by id unless given.
    #[param(value_type = Option<SortKey>, inline, nullable = false)]
    sort: Option<String>,
    /// Page number, from 1 (default 1).
    #[param(minimum = 1, maximum = 100_000)]
    page: Option<u32>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// Create a product.
#[utoipa::path(post, path = "/products", tag = "products", request_body = ProductInput,
    responses((status = 201, body = ProductView,
                headers(("Location" = String, description = "The product's address"), ("ETag" = String, description = "The product's version, such as `\"3\"`: send it back in `If-Match`"))),
              (status = 422, body = Problem)))]
async fn create_product(
    State(app): State<AppState>,
    caller: Caller,
    Json(body): Json<ProductInput>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let draft = body.parse()?;
    let row = store::insert(&app.pool, None, &draft, kit::time::now_unix()).await?;
    let location = format!("/products/{}", row.id);
    let mut response = with_etag(StatusCode::CREATED, row);
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).expect("BUG: a path of digits is a valid header"),
    );
    Ok(response)
}

/// List and search products.
#[utoipa::path(get, path = "/products", tag = "products", params(ListParams),
    responses((status = 200, body = ProductPage), (status = 400, body = Problem)))]
async fn list_products(
    State(app): State<AppState>,
    _caller: Caller,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<ProductPage>> {
    let query = params.parse()?;
    let rows = store::list(
        &app.readers,
        &store::ListFilter {
            name_pattern: query.name_pattern.as_deref(),
            min_price: query.min_price,
            max_price: query.max_price,
            sort: query.sort,
            limit: query.paging.fetch(),
            offset: query.paging.offset(),
        },
    )
    .await?;
    let (rows, next_page) = query.paging.page(rows);
    Ok(Json(ProductPage {
        items: rows.into_iter().map(ProductView::from).collect(),
        page: query.paging.page,
        limit: query.paging.limit,
        next_page,
    }))
}

/// A product search as the list parameters ask for it, every value checked.
struct ProductQuery {
    /// A LIKE pattern matching the search text anywhere in the name.
    name_pattern: Option<String>,
    min_price: Option<i64>,
    max_price: Option<i64>,
    sort: Sort,
    paging: Numbered,
}

impl ListParams {
    fn parse(self) -> ApiResult<ProductQuery> {
        let paging = Numbered::parse(self.page, self.limit)?;
        for price in [self.min_price, self.max_price].into_iter().flatten() {
            if !(0..=MAX_PRICE_CENTS).contains(&price) {
                return Err(ApiError::bad_request(format!(
                    "price filters must be between 0 and {MAX_PRICE_CENTS}"
                )));
            }
        }
        let sort = match self.sort.as_deref() {
            None => Sort::IdAsc,
            Some(raw) => Sort::parse(raw).map_err(ApiError::BadRequest)?,
        };
        if self.q.as_deref().is_some_and(|q| q.chars().count() > 100) {
            return Err(ApiError::bad_request("q must be at most 100 characters"));
        }
        let q = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
        Ok(ProductQuery {
            name_pattern: q.map(|q| format!("%{}%", escape_like(q))),
            min_price: self.min_price,
            max_price: self.max_price,
            sort,
            paging,
        })
    }
}

/// `%` and `_` in a search are literal characters, not wildcards.
fn escape_like(raw: &str) -> String {
    let mut escaped = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Get one product.
#[utoipa::path(get, path = "/products/{id}", tag = "products", params(("id" = i64, Path)),
    responses((status = 200, body = ProductView, headers(("ETag" = String, description = "The product's version, such as `\"3\"`: send it back in `If-Match`"))),
              (status = 404, body = Problem)))]
async fn get_product(
    State(app): State<AppState>,
    _caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let row = store::find(&app.readers, id)
        .await?
        .ok_or(ApiError::NotFound("product"))?;
    Ok(with_etag(StatusCode::OK, row))
}

/// The version an `If-Match` header demands: `None` when absent or `*`.
fn expected_version(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default().trim();
    if value == "*" {
        return Ok(None);
    }
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse::<i64>().ok())
        .map(Some)
        // A condition that cannot be read is a malformed request, not one that failed.
        .ok_or_else(|| {
            ApiError::bad_request("If-Match must be the ETag of the product, such as \"3\", or *")
        })
}

async fn apply(
    app: &AppState,
    id: i64,
    headers: &HeaderMap,
    changes: ProductChanges,
) -> ApiResult<Response> {
    let expected = expected_version(headers)?;
    match store::update(&app.pool, id, expected, &changes, kit::time::now_unix()).await? {
        Some(row) => Ok(with_etag(StatusCode::OK, row)),
        None => match store::find(&app.readers, id).await? {
            None => Err(ApiError::NotFound("product")),
            Some(current) => Err(ApiError::PreconditionFailed(format!(
                "the product changed since you read it: it is at version {}",
                current.version
            ))),
        },
    }
}

/// Replace a product.
#[utoipa::path(put, path = "/products/{id}", tag = "products",
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^(\*|"[0-9]{1,18}")$"#, description = "ETag of the version you read, or `*`")),
    request_body = ProductInput,
    responses((status = 200, body = ProductView, headers(("ETag" = String, description = "The product's version, such as `\"3\"`: send it back in `If-Match`"))),
              (status = 404, body = Problem),
              (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn replace_product(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Json(body): Json<ProductInput>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let draft = body.parse()?;
    let changes = ProductChanges {
        name: Some(draft.name),
        description: Some(draft.description),
        price: Some(draft.price),
        stock: Some(draft.stock),
    };
    apply(&app, id, &headers, changes).await
}

/// Change some fields of a product.
#[utoipa::path(patch, path = "/products/{id}", tag = "products",
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^(\*|"[0-9]{1,18}")$"#, description = "ETag of the version you read, or `*`")),
    request_body = ProductPatch,
    responses((status = 200, body = ProductView, headers(("ETag" = String, description = "The product's version, such as `\"3\"`: send it back in `If-Match`"))),
              (status = 404, body = Problem),
              (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn patch_product(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Json(body): Json<ProductPatch>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let changes = ProductChanges {
        name: body
            .name
            .as_deref()
            .map(ProductName::parse)
            .transpose()
            .map_err(ApiError::invalid)?,
        description: body
            .description
            .as_deref()
            .map(Description::parse)
            .transpose()
            .map_err(ApiError::invalid)?,
        price: body
            .price_cents
            .map(Price::parse)
            .transpose()
            .map_err(ApiError::invalid)?,
        stock: body
            .stock
            .map(Stock::parse)
            .transpose()
            .map_err(ApiError::invalid)?,
    };
    apply(&app, id, &headers, changes).await
}

/// Delete a product that no open order holds.
#[utoipa::path(delete, path = "/products/{id}", tag = "products", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_product(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    match store::delete_unreserved(&app.pool, id).await? {
        None => Err(ApiError::NotFound("product")),
        Some(true) => Ok(StatusCode::NO_CONTENT),
        Some(false) => Err(ApiError::conflict(
            "product-reserved",
            "open orders hold this product; cancel them first",
        )),
    }
}
