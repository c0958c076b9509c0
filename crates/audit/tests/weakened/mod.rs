//! A small shop that is correct in every respect `msa audit api` checks, unless told to
//! have one flaw: the target that proves each check can fail. Not one of our services: a
//! stand-in with the same kind of API, whose flaws are switched on one at a time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// One flaw at a time (or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    None,
    OrdersWithoutLogin,
    ForeignOrders,
    CustomersAddProducts,
    RoleAtRegistration,
    SelfPromotion,
    LaxCookie,
    Fixation,
    LogoutKeepsSession,
    AnyUserAgent,
    NoThrottle,
    ReflectsSearch,
    CrashesOnBadId,
    InjectableSearch,
    OpenCors,
    VersionBanner,
    NoSecurityHeaders,
    OldVersionAnswers,
    LeaksHash,
    StackTraces,
    NoBodyLimit,
    PlainHttpServes,
    FetchesAnyUrl,
}

#[derive(Default)]
struct Shop {
    users: Vec<User>,
    sessions: HashMap<String, (i64, String)>,
    orders: Vec<(i64, i64)>,
    products: Vec<(i64, String)>,
    failures: HashMap<String, u32>,
}

struct User {
    id: i64,
    email: String,
    password: String,
    role: &'static str,
    name: String,
}

#[derive(Clone)]
struct App {
    flaw: Flaw,
    shop: Arc<Mutex<Shop>>,
}

fn problem(status: StatusCode, detail: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        json!({"type": "about:blank", "title": status.canonical_reason(), "status": status.as_u16(), "detail": detail})
            .to_string(),
    )
        .into_response()
}

impl App {
    fn shop(&self) -> std::sync::MutexGuard<'_, Shop> {
        self.shop
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The caller's user id and role, from the session cookie.
    fn caller(&self, headers: &HeaderMap) -> Option<(i64, &'static str)> {
        let cookie = headers.get(header::COOKIE)?.to_str().ok()?;
        let sid = cookie
            .split(';')
            .find_map(|pair| pair.trim().strip_prefix("sid="))?;
        let agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let shop = self.shop();
        let (user, bound_agent) = shop.sessions.get(sid)?;
        if bound_agent != agent && self.flaw != Flaw::AnyUserAgent {
            return None;
        }
        let role = shop.users.iter().find(|u| u.id == *user)?.role;
        Some((*user, role))
    }
}

fn unauthenticated() -> Response {
    problem(StatusCode::UNAUTHORIZED, "Log in first.")
}

async fn register(State(app): State<App>, Json(body): Json<Value>) -> Response {
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let (Some(email), Some(password), Some(name)) = (text("email"), text("password"), text("name"))
    else {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "email, password and name are required",
        );
    };
    if name.len() > 1000 {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, "the name is too long");
    }
    let role = match body.get("role").and_then(Value::as_str) {
        None | Some("customer") => "customer",
        Some("admin") if app.flaw == Flaw::RoleAtRegistration => "admin",
        Some(_) => {
            return problem(
                StatusCode::FORBIDDEN,
                "only an administrator chooses a role",
            );
        }
    };
    if body.as_object().is_some_and(|o| {
        o.keys()
            .any(|k| !["email", "password", "name", "role"].contains(&k.as_str()))
    }) {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown field");
    }
    let mut shop = app.shop();
    let id = shop.users.len() as i64 + 1;
    shop.users.push(User {
        id,
        email,
        password,
        role,
        name,
    });
    (StatusCode::CREATED, Json(json!({"detail": "registered"}))).into_response()
}

async fn login(State(app): State<App>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let email = body
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let password = body.get("password").and_then(Value::as_str).unwrap_or("");
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut shop = app.shop();
    if app.flaw != Flaw::NoThrottle && shop.failures.get(&email).copied().unwrap_or(0) >= 5 {
        let mut response = problem(StatusCode::TOO_MANY_REQUESTS, "Too many failed logins.");
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return response;
    }
    let Some(user) = shop
        .users
        .iter()
        .find(|u| u.email == email && u.password == password)
        .map(|u| u.id)
    else {
        *shop.failures.entry(email).or_default() += 1;
        return problem(StatusCode::UNAUTHORIZED, "Wrong email or password.");
    };
    let planted = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.strip_prefix("sid="))
        .map(str::to_owned);
    let sid = match planted {
        Some(planted) if app.flaw == Flaw::Fixation => planted,
        _ => format!("{:032x}", rand_id()),
    };
    shop.sessions.insert(sid.clone(), (user, agent));
    let attributes = if app.flaw == Flaw::LaxCookie {
        "Path=/"
    } else {
        "Path=/; Secure; HttpOnly; SameSite=Strict"
    };
    (
        [(header::SET_COOKIE, format!("sid={sid}; {attributes}"))],
        Json(json!({"user_id": user})),
    )
        .into_response()
}

fn rand_id() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let mut high = std::collections::hash_map::RandomState::new().build_hasher();
    high.write_u8(1);
    let mut low = std::collections::hash_map::RandomState::new().build_hasher();
    low.write_u8(2);
    (u128::from(high.finish()) << 64) | u128::from(low.finish())
}

async fn logout(State(app): State<App>, headers: HeaderMap) -> Response {
    if app.caller(&headers).is_none() {
        return unauthenticated();
    }
    if app.flaw != Flaw::LogoutKeepsSession {
        let sid = headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|c| c.strip_prefix("sid="))
            .unwrap_or("")
            .to_owned();
        app.shop().sessions.remove(&sid);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn session(State(app): State<App>, headers: HeaderMap) -> Response {
    match app.caller(&headers) {
        Some((user, role)) => Json(json!({"user_id": user, "role": role})).into_response(),
        None => unauthenticated(),
    }
}

async fn list_orders(State(app): State<App>, headers: HeaderMap) -> Response {
    let caller = app.caller(&headers);
    if caller.is_none() && app.flaw != Flaw::OrdersWithoutLogin {
        return unauthenticated();
    }
    let user = caller.map_or(0, |(user, _)| user);
    let shop = app.shop();
    let items: Vec<Value> = shop
        .orders
        .iter()
        .filter(|(_, owner)| *owner == user || app.flaw == Flaw::OrdersWithoutLogin)
        .map(|(id, owner)| json!({"order_id": id, "user_id": owner}))
        .collect();
    Json(json!({"items": items})).into_response()
}

async fn place_order(
    State(app): State<App>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let Some((user, _)) = app.caller(&headers) else {
        return unauthenticated();
    };
    let valid = body
        .as_object()
        .is_some_and(|o| o.keys().all(|k| k == "items"))
        && body["items"].as_array().is_some_and(|items| {
            !items.is_empty()
                && items
                    .iter()
                    .all(|i| i["product_id"].is_i64() && i["quantity"].is_i64())
        });
    if !valid {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "items of product_id and quantity",
        );
    }
    let mut shop = app.shop();
    let id = 9000 + shop.orders.len() as i64 + 1;
    shop.orders.push((id, user));
    (
        StatusCode::CREATED,
        Json(json!({"order_id": id, "user_id": user, "status": "confirmed"})),
    )
        .into_response()
}

async fn get_order(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some((user, _)) = app.caller(&headers) else {
        return unauthenticated();
    };
    let Ok(id) = id.parse::<i64>() else {
        if app.flaw == Flaw::CrashesOnBadId {
            return problem(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
        return problem(StatusCode::BAD_REQUEST, "the id is a number");
    };
    let shop = app.shop();
    match shop.orders.iter().find(|(order, _)| *order == id) {
        Some((order, owner)) if *owner == user || app.flaw == Flaw::ForeignOrders => {
            Json(json!({"order_id": order, "user_id": owner})).into_response()
        }
        _ => problem(StatusCode::NOT_FOUND, "no such order"),
    }
}

async fn search(State(app): State<App>, Query(query): Query<HashMap<String, String>>) -> Response {
    let q = query.get("q").cloned().unwrap_or_default();
    if q.len() > 256 {
        return problem(StatusCode::BAD_REQUEST, "the search is too long");
    }
    if app.flaw == Flaw::ReflectsSearch && !q.chars().all(|c| c.is_alphanumeric() || c == ' ') {
        return problem(StatusCode::BAD_REQUEST, &format!("cannot search for `{q}`"));
    }
    let shop = app.shop();
    let everything = app.flaw == Flaw::InjectableSearch && q.contains("' OR");
    let items: Vec<Value> = shop
        .products
        .iter()
        .filter(|(_, name)| everything || name.contains(&q))
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect();
    Json(json!({"items": items})).into_response()
}

async fn add_product(
    State(app): State<App>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let Some((_, role)) = app.caller(&headers) else {
        return unauthenticated();
    };
    if role != "admin" && app.flaw != Flaw::CustomersAddProducts {
        return problem(StatusCode::FORBIDDEN, "administrators only");
    }
    let Some(name) = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| n.len() <= 1000)
    else {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "a name of at most 1000 characters",
        );
    };
    let mut shop = app.shop();
    let id = shop.products.len() as i64 + 1;
    shop.products.push((id, name.to_owned()));
    (StatusCode::CREATED, Json(json!({"id": id, "name": name}))).into_response()
}

async fn get_product(State(app): State<App>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return problem(StatusCode::BAD_REQUEST, "the id is a number");
    };
    let shop = app.shop();
    match shop.products.iter().find(|(product, _)| *product == id) {
        Some((id, name)) => Json(json!({"id": id, "name": name})).into_response(),
        None => problem(StatusCode::NOT_FOUND, "no such product"),
    }
}

async fn list_users(State(app): State<App>, headers: HeaderMap) -> Response {
    match app.caller(&headers) {
        None => unauthenticated(),
        Some((_, "admin")) => Json(json!({"items": []})).into_response(),
        Some(_) => problem(StatusCode::FORBIDDEN, "administrators only"),
    }
}

fn user_view(app: &App, user: &User) -> Value {
    let mut view =
        json!({"id": user.id, "email": user.email, "name": user.name, "role": user.role});
    if app.flaw == Flaw::LeaksHash {
        view["password_hash"] = json!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
    }
    view
}

async fn get_user(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some((caller, role)) = app.caller(&headers) else {
        return unauthenticated();
    };
    let Ok(id) = id.parse::<i64>() else {
        return problem(StatusCode::BAD_REQUEST, "the id is a number");
    };
    let shop = app.shop();
    match shop.users.iter().find(|u| u.id == id) {
        Some(user) if user.id == caller || role == "admin" => {
            Json(user_view(&app, user)).into_response()
        }
        _ => problem(StatusCode::NOT_FOUND, "no such user"),
    }
}

async fn change_user(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let Some((caller, role)) = app.caller(&headers) else {
        return unauthenticated();
    };
    let Ok(id) = id.parse::<i64>() else {
        return problem(StatusCode::BAD_REQUEST, "the id is a number");
    };
    if id != caller && role != "admin" {
        return problem(StatusCode::NOT_FOUND, "no such user");
    }
    if body
        .as_object()
        .is_none_or(|o| o.keys().any(|k| k != "name" && k != "role"))
    {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, "only name and role");
    }
    let new_role = match body.get("role").and_then(Value::as_str) {
        None => None,
        Some("admin") if role == "admin" || app.flaw == Flaw::SelfPromotion => Some("admin"),
        Some("customer") => Some("customer"),
        Some(_) => return problem(StatusCode::FORBIDDEN, "only an administrator changes roles"),
    };
    let name = body.get("name").and_then(Value::as_str);
    if name.is_some_and(|n| n.len() > 1000) && app.flaw != Flaw::NoBodyLimit {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, "the name is too long");
    }
    let mut shop = app.shop();
    let Some(user) = shop.users.iter_mut().find(|u| u.id == id) else {
        return problem(StatusCode::NOT_FOUND, "no such user");
    };
    if let Some(new_role) = new_role {
        user.role = new_role;
    }
    if let Some(name) = name {
        user.name = name.to_owned();
    }
    let view = user_view(&app, user);
    Json(view).into_response()
}

/// Takes an image URL. Correct: only https URLs, and this stand-in fetches nothing. Flawed:
/// "fetches" whatever it is given, a local file included.
async fn set_avatar(
    State(app): State<App>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if app.caller(&headers).is_none() {
        return unauthenticated();
    }
    let Some(url) = body.get("image_url").and_then(Value::as_str) else {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, "image_url is required");
    };
    if app.flaw == Flaw::FetchesAnyUrl
        && let Some(path) = url.strip_prefix("file://")
    {
        let fetched = std::fs::read_to_string(path).unwrap_or_default();
        return Json(json!({"fetched": fetched})).into_response();
    }
    if !url.starts_with("https://") || url.len() > 2048 {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "an https URL of a public image",
        );
    }
    Json(json!({"detail": "avatar set"})).into_response()
}

async fn fallback(State(app): State<App>) -> Response {
    if app.flaw == Flaw::StackTraces {
        return (
            StatusCode::NOT_FOUND,
            "thread 'main' panicked at src/main.rs:42:7: no route\nstack backtrace:\n",
        )
            .into_response();
    }
    problem(StatusCode::NOT_FOUND, "There is nothing here.")
}

/// The largest body the shop without [`Flaw::NoBodyLimit`] reads.
const BODY_LIMIT: usize = 64 * 1024;

async fn edge(State(app): State<App>, request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    // The whole body is read before anything answers, as our services do: an answer that
    // left it unread would make hyper close the connection without saying so, and the
    // audit's keep-alive check would (rightly) fail the shop that has no flaw. A body too
    // large to read is refused with `Connection: close`.
    let limit = if app.flaw == Flaw::NoBodyLimit {
        usize::MAX
    } else {
        BODY_LIMIT
    };
    let (parts, body) = request.into_parts();
    let request = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Request::from_parts(parts, axum::body::Body::from(bytes)),
        Err(_) => {
            let mut refused = problem(StatusCode::PAYLOAD_TOO_LARGE, "too large");
            refused
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return refused;
        }
    };
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if app.flaw != Flaw::NoSecurityHeaders {
        headers.insert(
            "content-security-policy",
            HeaderValue::from_static("default-src 'none'"),
        );
        headers.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
    }
    if app.flaw == Flaw::VersionBanner {
        headers.insert(header::SERVER, HeaderValue::from_static("weakshop/1.2.3"));
    }
    if app.flaw == Flaw::OpenCors
        && let Some(origin) = origin
    {
        headers.insert("access-control-allow-origin", origin);
        headers.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
    }
    response
}

/// Serves the shop with `flaw` on an ephemeral loopback port; returns its base URL.
pub async fn start(flaw: Flaw, decoy: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let address: SocketAddr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let base = format!("http://{address}");
    // The dictionary names a decoy as its server: the audit must never call it.
    let dictionary = include_str!("dictionary.json").replace("SERVERS_URL", decoy);
    let mut shop = Shop::default();
    shop.products.push((1, "Lamp".into()));
    shop.products.push((2, "Phone".into()));
    let app = App {
        flaw,
        shop: Arc::new(Mutex::new(shop)),
    };
    let mut router = Router::new()
        .route(
            "/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], dictionary) }),
        )
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/session", get(session))
        .route("/api/orders", get(list_orders).post(place_order))
        .route("/api/orders/{id}", get(get_order))
        .route("/api/products", get(search).post(add_product))
        .route("/api/products/{id}", get(get_product))
        .route("/api/users", get(list_users))
        .route("/api/users/{id}", get(get_user).patch(change_user))
        .route("/api/avatars", post(set_avatar));
    if flaw == Flaw::OldVersionAnswers {
        router = router.route("/api/v2/products", get(search));
    }
    if flaw == Flaw::OldVersionAnswers {
        router = router.route("/.env", get(|| async { "DB_PASSWORD=x" }));
    }
    let limit = if flaw == Flaw::NoBodyLimit {
        DefaultBodyLimit::disable()
    } else {
        DefaultBodyLimit::max(BODY_LIMIT)
    };
    let router = router
        .fallback(fallback)
        .layer(limit)
        .layer(middleware::from_fn_with_state(app.clone(), edge))
        .method_not_allowed_fallback(|| async {
            problem(StatusCode::METHOD_NOT_ALLOWED, "not allowed")
        })
        .with_state(app);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    base
}

/// A plain-HTTP listener that only redirects to `https_base` (what a correct deployment's
/// plain port does); returns its URL.
pub async fn start_redirector(to: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let base = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let router = Router::new().fallback(move |method: Method, uri: axum::http::Uri| {
        let to = to.clone();
        async move {
            let _ = method;
            (
                StatusCode::PERMANENT_REDIRECT,
                [(header::LOCATION, format!("{to}{uri}"))],
            )
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    base
}
