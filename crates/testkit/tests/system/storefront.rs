//! The storefront's pages over real HTTP, as a browser without JavaScript sends them: the
//! trust boundary for pages (CSP, forged forms, escaping, tampered forms, a copied session
//! cookie). The same cases in a real browser are `crates/testkit/tests/browser.rs`.

use std::collections::BTreeMap;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde_json::json;
use testkit::{ALICE, PHONE, TestApp};

const ALICE_EMAIL: &str = "alice@example.com";

/// A browser's cookie jar and user agent, over the gateway's plain HTTP port.
struct Browser {
    base: String,
    user_agent: &'static str,
    cookies: BTreeMap<String, String>,
    http: reqwest::Client,
}

struct Page {
    status: StatusCode,
    location: String,
    csp: String,
    body: String,
}

impl Browser {
    fn new(app: &TestApp, user_agent: &'static str) -> Self {
        Self {
            base: app.gateway.clone(),
            user_agent,
            cookies: BTreeMap::new(),
            http: kit::calling::transport::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Page {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(USER_AGENT, self.user_agent)
            .header("accept-language", "en");
        if !self.cookies.is_empty() {
            request = request.header(COOKIE, self.cookie_header());
        }
        if let Some(origin) = origin {
            request = request
                .header("origin", origin)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(urlencoded(form));
        }
        let response = request.send().await.expect("the gateway answers");
        for set in response.headers().get_all(SET_COOKIE) {
            let text = set.to_str().unwrap_or_default();
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || text.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        Page {
            status: response.status(),
            location: header(LOCATION.as_str()),
            csp: header("content-security-policy"),
            body: response.text().await.unwrap_or_default(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send(Method::GET, path, &[], None).await
    }

    /// A form posted from a page of this shop (its origin).
    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let origin = self.base.clone();
        self.send(Method::POST, path, form, Some(&origin)).await
    }

    /// The form token of the page at `path`.
    async fn form_token(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        hidden(&page.body, "form_token")
    }

    async fn sign_in(&mut self, email: &str, password: &str) {
        let token = self.form_token("/sign-in").await;
        let page = self
            .post(
                "/sign-in",
                &[
                    ("form_token", &token),
                    ("email", email),
                    ("password", password),
                    ("next", "/"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    }
}

/// `pairs` as an HTML form sends them.
fn urlencoded(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|byte| match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(byte).to_string()
                }
                _ => format!("%{byte:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of the hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    html.split_once(&marker)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(value, _)| value.to_owned())
        .unwrap_or_else(|| panic!("no {name} in the page"))
}

#[tokio::test]
async fn pages_have_a_strict_policy_and_speak_the_visitors_language() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app, "page-reader");
    let page = browser.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(page.csp.contains(directive), "{}", page.csp);
    }
    assert!(!page.csp.contains("unsafe-inline"), "{}", page.csp);
    assert!(page.body.contains("<html lang=\"en\">"));
    assert!(page.body.contains("Phone"));
    let korean = app
        .http
        .get(format!("{}/", app.gateway))
        .header("accept-language", "ko-KR,ko;q=0.9")
        .send()
        .await
        .expect("an answer")
        .text()
        .await
        .unwrap_or_default();
    assert!(korean.contains("<html lang=\"ko\">"), "{korean}");
    assert!(korean.contains("상품 목록"));
}

#[tokio::test]
async fn a_form_from_another_origin_or_without_its_token_changes_nothing() {
    let app = TestApp::spawn().await;
    let password = app.demo_password(ALICE_EMAIL);
    let mut alice = Browser::new(&app, "alice-browser");
    alice.sign_in(ALICE_EMAIL, &password).await;
    let token = alice.form_token("/").await;
    let forged = alice
        .send(
            Method::POST,
            "/sign-out",
            &[("form_token", &token)],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(
        forged.body.contains("did not come from this shop"),
        "{}",
        forged.body
    );
    let tokenless = alice.post("/sign-out", &[("form_token", "forged")]).await;
    assert_eq!(tokenless.status, StatusCode::FORBIDDEN);
    // Still signed in: neither form did anything.
    assert!(alice.get("/orders").await.status == StatusCode::OK);
    let signed_out = alice.post("/sign-out", &[("form_token", &token)]).await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert!(alice.get("/orders").await.location.starts_with("/sign-in"));
}

#[tokio::test]
async fn a_product_named_like_a_script_is_shown_as_text() {
    let app = TestApp::spawn().await;
    let created = app
        .admin
        .send_json(
            Method::POST,
            "/api/v1/products",
            &json!({"name": "<script>alert(1)</script>", "description": "\"><img src=x onerror=alert(2)>", "price_cents": 100, "stock": 5}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<serde_json::Value>().await.expect("JSON")["id"]
        .as_i64()
        .unwrap_or_default();
    let mut browser = Browser::new(&app, "reader");
    for path in [format!("/products/{id}"), "/?q=script".to_owned()] {
        let page = browser.get(&path).await;
        assert!(
            !page.body.contains("<script>alert"),
            "{path}: {}",
            page.body
        );
        assert!(!page.body.contains("<img src=x"), "{path}");
        assert!(
            page.body
                .contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{path}: {}",
            page.body
        );
    }
}

#[tokio::test]
async fn a_tampered_checkout_buys_at_the_shops_price_for_the_signed_in_buyer() {
    let app = TestApp::spawn().await;
    let password = app.demo_password(ALICE_EMAIL);
    let mut alice = Browser::new(&app, "alice-browser");
    alice.sign_in(ALICE_EMAIL, &password).await;
    let token = alice.form_token("/").await;
    let phone = PHONE.to_string();
    let negative = alice
        .post(
            "/cart",
            &[
                ("form_token", &token),
                ("product_id", &phone),
                ("quantity", "-3"),
                ("action", "add"),
            ],
        )
        .await;
    assert_eq!(negative.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        negative.body.contains("Choose a quantity"),
        "{}",
        negative.body
    );
    let added = alice
        .post(
            "/cart",
            &[
                ("form_token", &token),
                ("product_id", &phone),
                ("quantity", "2"),
                ("action", "add"),
                ("price_cents", "1"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    // A planted cart line with a negative quantity is dropped, not ordered.
    let planted = format!("{}.{}x-5", alice.cookies["__Host-msa_cart"], 101);
    alice.cookies.insert("__Host-msa_cart".to_owned(), planted);
    let checkout = alice.get("/checkout").await;
    assert!(checkout.body.contains("$1,600.00"), "{}", checkout.body);
    let key = hidden(&checkout.body, "idempotency_key");
    let stock_before = app.admin.stock(PHONE).await;
    let fields = [
        ("form_token", token.as_str()),
        ("idempotency_key", &key),
        ("user_id", "2"),
        ("total_cents", "1"),
        ("price_cents", "1"),
    ];
    let placed = alice.post("/checkout", &fields).await;
    assert_eq!(placed.status, StatusCode::SEE_OTHER, "{}", placed.body);
    let order_id: i64 = placed
        .location
        .trim_start_matches("/orders/")
        .split('?')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("the order's page");
    let order = app.admin.order(order_id).await;
    assert_eq!(order["user"]["id"], ALICE);
    assert_eq!(order["total_cents"], 160_000);
    assert_eq!(order["items"].as_array().map(Vec::len), Some(1));
    // The same form again (a double click): the same order, no second one.
    let cart = format!("{}x2", PHONE);
    alice.cookies.insert("__Host-msa_cart".to_owned(), cart);
    let again = alice.post("/checkout", &fields).await;
    assert_eq!(again.location, placed.location);
    assert_eq!(app.admin.stock(PHONE).await, stock_before - 2);
}

#[tokio::test]
async fn a_copied_session_cookie_ends_the_session_in_both_browsers_and_says_why() {
    let app = TestApp::spawn().await;
    let password = app.demo_password(ALICE_EMAIL);
    let mut a = Browser::new(&app, "Mozilla/5.0 browser A");
    a.sign_in(ALICE_EMAIL, &password).await;
    assert_eq!(a.get("/orders").await.status, StatusCode::OK);
    let mut b = Browser::new(&app, "Mozilla/5.0 browser B");
    let stolen = a.cookies["__Host-msa_session"].clone();
    b.cookies.insert("__Host-msa_session".to_owned(), stolen);
    let copied = b.get("/orders").await;
    assert_eq!(copied.status, StatusCode::SEE_OTHER);
    assert!(
        copied.location.starts_with("/sign-in"),
        "{}",
        copied.location
    );
    assert!(copied.location.contains("done=used-elsewhere"));
    assert!(!b.cookies.contains_key("__Host-msa_session"));
    let back = a.get("/").await;
    assert!(
        back.body.contains("used from another browser"),
        "{}",
        back.body
    );
    assert!(
        !a.cookies.contains_key("__Host-msa_session"),
        "the cookie is cleared"
    );
    assert!(a.get("/orders").await.location.starts_with("/sign-in"));
}

#[tokio::test]
async fn every_failure_is_a_page_in_words() {
    let mut options = testkit::Options::default();
    // Enough for the flow below; the loop at the end outruns it.
    options.rates.per_address = 50;
    let mut app = TestApp::spawn_with(options).await;
    let password = app.demo_password(ALICE_EMAIL);
    let mut alice = Browser::new(&app, "alice-browser");
    alice.sign_in(ALICE_EMAIL, &password).await;
    let token = alice.form_token("/").await;

    // More than is in stock: the order is refused, and the page says so.
    let phone = PHONE.to_string();
    let added = alice
        .post(
            "/cart",
            &[
                ("form_token", &token),
                ("product_id", &phone),
                ("quantity", "100"),
                ("action", "add"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    let checkout = alice.get("/checkout").await;
    let key = hidden(&checkout.body, "idempotency_key");
    let refused = alice
        .post(
            "/checkout",
            &[("form_token", &token), ("idempotency_key", &key)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.body.contains("Not enough stock"),
        "{}",
        refused.body
    );

    // product-service down: the catalogue says so in words, not in JSON.
    app.stop(testkit::Service::Products).await;
    let page = alice.get("/").await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.body
    );
    assert!(page.body.contains("not answering"), "{}", page.body);
    assert!(page.body.starts_with("<!doctype html>"));

    // Too many pages too fast: the gateway's refusal, as a page, with its Retry-After.
    let mut limited = None;
    for _ in 0..200 {
        let response = app
            .http
            .get(format!("{}/sign-in", app.gateway))
            .send()
            .await
            .expect("an answer");
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("the rate limit refuses at last");
    assert!(limited.headers().contains_key("retry-after"));
    let content_type = limited.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let body = limited.text().await.unwrap_or_default();
    assert!(body.contains("Too many requests"), "{body}");
}

#[tokio::test]
async fn the_catalogue_sorts_and_pages() {
    let app = TestApp::spawn().await;
    for n in 0..13 {
        let created = app
            .admin
            .send_json(
                Method::POST,
                "/api/v1/products",
                &json!({"name": format!("Widget {n:02}"), "description": "", "price_cents": 1000 + n, "stock": 1}),
            )
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    let mut browser = Browser::new(&app, "reader");
    let first = browser.get("/?sort=price").await;
    let names: Vec<&str> = first
        .body
        .split("<h2><a href=\"/products/")
        .skip(1)
        .filter_map(|rest| {
            rest.split_once("\">")
                .and_then(|(_, rest)| rest.split_once('<'))
                .map(|(name, _)| name)
        })
        .collect();
    assert_eq!(names.len(), 12, "a page holds twelve");
    assert_eq!(names[0], "Widget 00", "cheapest first");
    assert!(first.body.contains("rel=\"next\""));
    let second = browser.get("/?page=2&sort=price").await;
    assert!(second.body.contains("rel=\"prev\""));
    assert!(
        !second.body.contains("rel=\"next\""),
        "15 products: two pages"
    );
    let searched = browser.get("/?q=widget%2012").await;
    assert!(searched.body.contains("Widget 12") && !searched.body.contains("Widget 11"));
}

#[tokio::test]
async fn a_customer_posting_the_admin_form_is_refused_by_the_api() {
    let app = TestApp::spawn().await;
    let password = app.demo_password(ALICE_EMAIL);
    let mut alice = Browser::new(&app, "alice-browser");
    alice.sign_in(ALICE_EMAIL, &password).await;
    let page = alice.get("/admin").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let token = alice.form_token("/").await;
    let stock = app.admin.stock(PHONE).await;
    // The page's own check is skipped by posting the form directly: the API refuses.
    let posted = alice
        .post(
            &format!("/admin/products/{PHONE}"),
            &[
                ("form_token", &token),
                ("price_cents", "1"),
                ("stock", "9999"),
            ],
        )
        .await;
    assert_eq!(posted.status, StatusCode::FORBIDDEN, "{}", posted.body);
    assert!(posted.body.contains("not allowed"), "{}", posted.body);
    assert_eq!(app.admin.stock(PHONE).await, stock);
    let product = app
        .admin
        .get_json(&format!("/api/v1/products/{PHONE}"))
        .await;
    assert_eq!(product["price_cents"], 80_000);
}
