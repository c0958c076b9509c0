//! The storefront in a real browser: Debian's Chromium, headless, over WebDriver, against
//! the test system's HTTPS port. Screenshots of every page at 1280 and 375 px are saved in
//! `target/tmp/storefront-screenshots/`.
//!
//! Run by `.ci/browser`, which installs the browser and fails if it cannot:
//! `cargo test -p testkit --test browser -- --ignored`.

use fantoccini::key::Key;
use reqwest::{Method, StatusCode};
use serde_json::json;
use testkit::{ALICE, LAPTOP, PHONE, TestApp};

mod driver;
mod events;

use driver::{Browser, Driver, Look};
use events::SecurityEvents;

const ENGLISH: &str = "en-US,en";
const KOREAN: &str = "ko-KR,ko";

fn look(user_agent: &'static str, languages: &'static str, javascript: bool) -> Look {
    Look {
        user_agent,
        languages,
        javascript,
    }
}

/// The test system, with the catcher of security events installed first: the process has
/// one log subscriber, and it must be ours, whichever test starts first.
async fn spawn() -> TestApp {
    SecurityEvents::installed();
    TestApp::spawn().await
}

async fn sign_in(browser: &Browser, email: &str, password: &str) {
    browser.goto("/sign-in").await;
    browser.fill("#email", email).await;
    browser.fill("#password", password).await;
    browser.click("#sign-in").await;
    assert!(
        browser.has("#sign-out").await,
        "signed in: {}",
        browser.path().await
    );
}

/// The stock a product page shows.
async fn stock_shown(browser: &Browser, product: i64) -> i64 {
    browser.goto(&format!("/products/{product}")).await;
    let text = browser.text("#stock").await;
    text.rsplit(' ')
        .next()
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no stock in `{text}`"))
}

#[tokio::test]
#[ignore = "needs Debian's chromium and chromium-driver: run by .ci/browser"]
async fn a_shopper_without_javascript_buys_once_on_a_double_click_then_cancels() {
    let app = spawn().await;
    let driver = Driver::start().await;
    let shopper = driver
        .browser(
            &app,
            look("Mozilla/5.0 (msa-shop test) shopper", ENGLISH, false),
        )
        .await;

    shopper.goto("/").await;
    assert!(shopper.text("#products").await.contains("Phone"));
    shopper.shoot("catalogue").await;

    shopper.click("a[href='/sign-up']").await;
    shopper.shoot("sign-up").await;
    let email = format!("shopper-{}@example.com", rand::random::<u32>());
    let password = "a long passphrase for the shop";
    shopper.fill("#email", &email).await;
    shopper.fill("#name", "Shopper").await;
    shopper.fill("#password", password).await;
    shopper.click("#sign-up").await;
    assert!(shopper.text("#notice").await.contains("Welcome"));
    shopper.click("#sign-out").await;
    assert!(shopper.text("#notice").await.contains("signed out"));

    shopper.goto("/sign-in").await;
    shopper.shoot("sign-in").await;
    sign_in(&shopper, &email, password).await;

    shopper.fill("#q", "Pho").await;
    shopper.click("#search").await;
    let found = shopper.text("#products").await;
    assert!(
        found.contains("Phone") && !found.contains("Laptop"),
        "{found}"
    );
    shopper.shoot("search").await;

    let stock_before = stock_shown(&shopper, PHONE).await;
    shopper.shoot("product").await;
    shopper.fill("#quantity", "2").await;
    shopper.click("#add-to-cart").await;
    assert_eq!(shopper.text("#cart-count").await, "2");
    assert!(shopper.text("#cart-total").await.contains("$1,600.00"));
    shopper.shoot("cart").await;

    shopper.click("#to-checkout").await;
    shopper.shoot("checkout").await;
    // What a person sees: one order for a double click. Which defence holds here depends
    // on the browser's timing (the second click may land after the first answer emptied
    // the cart); the idempotency key itself is proven in the_trust_boundary_holds_in_the_
    // browser, where the same form goes again with the cart as it was.
    shopper.double_click("#place-order").await;
    shopper.find("#order-status, #orders").await;
    shopper.goto("/orders").await;
    assert_eq!(
        shopper
            .client
            .find_all(fantoccini::Locator::Css("tr.order"))
            .await
            .map(|rows| rows.len())
            .unwrap_or_default(),
        1,
        "one order for a double click"
    );
    assert_eq!(shopper.text("#cart-count").await, "0");
    shopper.shoot("orders").await;
    assert_eq!(stock_shown(&shopper, PHONE).await, stock_before - 2);

    shopper.goto("/orders").await;
    shopper.click("tr.order a").await;
    assert!(shopper.text("#order-total").await.contains("$1,600.00"));
    shopper.shoot("order").await;
    shopper.click("#cancel-order").await;
    assert_eq!(shopper.text("#order-status").await, "cancelled");
    assert_eq!(stock_shown(&shopper, PHONE).await, stock_before);

    shopper.goto("/products/999999").await;
    assert!(shopper.text("#error").await.contains("nothing here"));
    shopper.shoot("not-found").await;

    shopper.goto("/").await;
    shopper.click("#sign-out").await;
    shopper.goto("/orders").await;
    assert!(shopper.path().await.starts_with("/sign-in"));
}

#[tokio::test]
#[ignore = "needs Debian's chromium and chromium-driver: run by .ci/browser"]
async fn account_and_admin_pages_work_by_keyboard_in_both_languages() {
    let app = spawn().await;
    let driver = Driver::start().await;
    let admin = driver
        .browser(
            &app,
            look("Mozilla/5.0 (msa-shop test) admin", ENGLISH, true),
        )
        .await;
    let password = app.demo_password("admin@example.com");

    // Signing in by keyboard alone: Tab to the field, type, Tab, type, Enter.
    admin.goto("/sign-in").await;
    for _ in 0..30 {
        if admin.focused_id().await == "email" {
            break;
        }
        admin.press(Key::Tab).await;
    }
    assert_eq!(
        admin.focused_id().await,
        "email",
        "the email field is reachable by Tab"
    );
    admin.type_here("admin@example.com").await;
    admin.press(Key::Tab).await;
    assert_eq!(admin.focused_id().await, "password");
    admin.type_here(&password).await;
    admin.press(Key::Enter).await;
    admin.find("#sign-out").await;

    admin.goto("/account").await;
    assert!(admin.text("#sessions").await.contains("this browser"));
    admin.shoot("account").await;
    admin.fill("#key-name", "browser test").await;
    admin
        .click("input[name=scope][value='products:read']")
        .await;
    admin.click("#create-key").await;
    let key = admin.text("#new-key").await;
    assert!(key.starts_with("msa_"), "{key}");
    admin.shoot("account-new-key").await;
    let listed = app
        .http
        .get(format!("{}/api/v1/products/{LAPTOP}", app.gateway))
        .bearer_auth(&key)
        .send()
        .await
        .expect("an answer");
    assert_eq!(listed.status(), StatusCode::OK, "the key works");
    admin.goto("/account").await;
    assert!(!admin.has("#new-key").await, "a key is shown once");
    admin.click("button.revoke").await;
    assert!(admin.text("#keys").await.contains("revoked"));
    let refused = app
        .http
        .get(format!("{}/api/v1/products/{LAPTOP}", app.gateway))
        .bearer_auth(&key)
        .send()
        .await
        .expect("an answer");
    assert_eq!(
        refused.status(),
        StatusCode::UNAUTHORIZED,
        "a revoked key is refused"
    );

    admin.goto("/admin").await;
    admin.shoot("admin").await;
    admin.fill(&format!("#stock-{LAPTOP}"), "77").await;
    admin.fill(&format!("#price-{LAPTOP}"), "123456").await;
    admin.press(Key::Enter).await;
    assert!(admin.text("#notice").await.contains("Saved"));
    admin.goto(&format!("/products/{LAPTOP}")).await;
    assert!(admin.text("#stock").await.ends_with("77"));
    assert!(admin.text(".price").await.contains("$1,234.56"));

    let korean = driver
        .browser(
            &app,
            look("Mozilla/5.0 (msa-shop test) korean", KOREAN, true),
        )
        .await;
    korean.goto("/").await;
    assert_eq!(
        korean
            .find("html")
            .await
            .attr("lang")
            .await
            .ok()
            .flatten()
            .as_deref(),
        Some("ko")
    );
    assert_eq!(korean.text("h1").await, "상품 목록");
    korean.shoot("catalogue-ko").await;
    korean.click("#switch-language").await;
    assert_eq!(korean.text("h1").await, "Catalogue");
}

#[tokio::test]
#[ignore = "needs Debian's chromium and chromium-driver: run by .ci/browser"]
async fn the_trust_boundary_holds_in_the_browser() {
    let app = spawn().await;
    let driver = Driver::start().await;
    let alice = driver
        .browser(
            &app,
            look("Mozilla/5.0 (msa-shop test) alice", ENGLISH, true),
        )
        .await;

    // A product named like a script is text, and no script of it runs.
    let name = "<script>alert(1)</script>";
    let created = app
        .admin
        .send_json(
            Method::POST,
            "/api/v1/products",
            &json!({"name": name, "description": "<img src=x onerror=alert(2)>", "price_cents": 500, "stock": 3}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<serde_json::Value>().await.expect("JSON")["id"]
        .as_i64()
        .unwrap_or_default();
    alice.goto(&format!("/products/{id}")).await;
    assert_eq!(alice.text("#product-name").await, name);
    assert!(
        alice.client.get_alert_text().await.is_err(),
        "no alert opened"
    );
    alice.shoot("xss-product").await;
    alice.goto("/?q=script").await;
    assert!(alice.text("#products").await.contains(name));
    assert!(
        alice.client.get_alert_text().await.is_err(),
        "no alert opened"
    );

    // The session cookie is not the page's to read.
    sign_in(
        &alice,
        "alice@example.com",
        &app.demo_password("alice@example.com"),
    )
    .await;
    let cookies = alice.js("return document.cookie").await;
    assert!(
        !cookies.as_str().unwrap_or_default().contains("msa_session"),
        "{cookies}"
    );

    // A tampered form: a negative quantity, then a checkout with fields of the attacker's.
    alice.goto(&format!("/products/{PHONE}")).await;
    alice
        .js("const q = document.getElementById('quantity'); q.removeAttribute('min'); q.value = '-3'; q.form.submit();")
        .await;
    assert!(alice.text("#error").await.contains("Choose a quantity"));
    alice.goto(&format!("/products/{PHONE}")).await;
    alice.click("#add-to-cart").await;
    alice.goto("/checkout").await;
    alice
        .js(r#"const form = document.getElementById('checkout-form');
               for (const [name, value] of [['user_id', '2'], ['price_cents', '1'], ['total_cents', '1'], ['quantity', '-1']]) {
                 const input = document.createElement('input');
                 input.type = 'hidden'; input.name = name; input.value = value; form.appendChild(input);
               }
               form.submit();"#)
        .await;
    assert!(
        alice.text("#order-total").await.contains("$800.00"),
        "the shop's price"
    );
    let order_id: i64 = alice
        .path()
        .await
        .trim_start_matches("/orders/")
        .split('?')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("the order's page");
    let order = app.admin.order(order_id).await;
    assert_eq!(order["user"]["email"], "alice@example.com");
    assert_eq!(order["total_cents"], 80_000);

    // The same checkout form sent again after its answer was lost: the first answer
    // emptied the cart, so the cart is put back as it was, and the form goes again with
    // its key. Each submission goes to a window of its own; the checkout page stays.
    let alices_orders = || async {
        let all = app.admin.all_orders().await;
        all.iter().filter(|order| order["user_id"] == ALICE).count()
    };
    let before = alices_orders().await;
    alice.goto(&format!("/products/{PHONE}")).await;
    alice.click("#add-to-cart").await;
    alice.goto("/checkout").await;
    let home = alice.client.window().await.expect("a window");
    let mut placed = Vec::new();
    for (window, restore_cart) in [("first", false), ("second", true)] {
        if restore_cart {
            alice
                .js(&format!(
                    "document.cookie = '__Host-msa_cart={PHONE}x1; Path=/; Secure; SameSite=Strict'"
                ))
                .await;
        }
        alice
            .js(&format!(
                "const form = document.getElementById('checkout-form'); \
                 form.target = '{window}'; form.submit();"
            ))
            .await;
        let opened = alice.client.windows().await.expect("windows");
        let shown = opened.last().cloned().expect("the new window");
        alice
            .client
            .switch_to_window(shown)
            .await
            .expect("a window");
        alice.find("#order-status").await;
        placed.push(alice.path().await);
        alice
            .client
            .switch_to_window(home.clone())
            .await
            .expect("back home");
    }
    assert_eq!(placed[0], placed[1], "the same order, answered again");
    assert_eq!(
        alices_orders().await,
        before + 1,
        "one order for two submissions of one form"
    );

    // A form on another site that posts to the shop: refused, and nothing changes.
    let attacker = attacker_site(&alice.base).await;
    alice
        .client
        .goto(&attacker)
        .await
        .expect("the attacker's page");
    alice.click("#bait").await;
    assert!(
        alice
            .text("#error")
            .await
            .contains("did not come from this shop")
    );
    alice.shoot("forged-form").await;
    alice.goto("/orders").await;
    assert!(alice.has("#orders").await, "still signed in");
}

/// A page on another origin with a form that signs the visitor out of the shop.
async fn attacker_site(shop: &str) -> String {
    let page = format!(
        "<!doctype html><html lang=en><title>prize</title><form method=post action='{shop}/sign-out'>\
         <input type=hidden name=form_token value=guessed><button id=bait>Claim your prize</button></form>"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    let router = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(page) }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}/")
}

#[tokio::test]
#[ignore = "needs Debian's chromium and chromium-driver: run by .ci/browser"]
async fn a_copied_session_cookie_ends_the_session_in_both_browsers() {
    let events = SecurityEvents::installed();
    let app = spawn().await;
    let driver = Driver::start().await;
    let a = driver
        .browser(
            &app,
            look("Mozilla/5.0 (msa-shop test) browser A", KOREAN, true),
        )
        .await;
    let b = driver
        .browser(
            &app,
            look("Mozilla/5.0 (msa-shop test) browser B", ENGLISH, true),
        )
        .await;
    sign_in(
        &a,
        "alice@example.com",
        &app.demo_password("alice@example.com"),
    )
    .await;
    a.goto("/orders").await;
    assert!(a.has("#orders").await);

    let stolen = a
        .client
        .get_named_cookie("__Host-msa_session")
        .await
        .expect("A holds a session cookie");
    b.goto("/").await;
    // Pasted in as a person would with the developer tools. (WebDriver's own way sends a
    // null domain, which Chromium refuses, and a `__Host-` cookie may have no domain.)
    b.js(&format!(
        "document.cookie = '__Host-msa_session={}; Path=/; Secure; SameSite=Strict'",
        stolen.value()
    ))
    .await;
    b.goto("/orders").await;
    assert!(b.path().await.starts_with("/sign-in"), "{}", b.path().await);
    assert!(
        b.text("#notice")
            .await
            .contains("used from another browser")
    );

    a.goto("/orders").await;
    assert!(
        a.path().await.starts_with("/sign-in"),
        "A is signed out too"
    );
    let told = a.text("#notice").await;
    assert!(told.contains("다른 브라우저에서 세션이 사용되어"), "{told}");
    a.shoot("session-ended-ko").await;
    assert!(events.contains("session-replayed"), "the theft is logged");
}
