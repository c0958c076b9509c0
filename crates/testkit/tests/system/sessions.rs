//! Accounts and sessions at the gateway: login, the session cookie, replay, logout,
//! password policy and changes.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{ALICE, BOB, Client, SESSION_COOKIE, TestApp, assert_problem, session_cookie};

const ALICE_EMAIL: &str = "alice@example.com";

#[tokio::test]
async fn login_sets_a_hardened_cookie_with_a_new_token_each_time() {
    let app = TestApp::spawn().await;
    let password = app.demo_password(ALICE_EMAIL);
    let first = app.login(ALICE_EMAIL, &password, "browser-a").await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["cache-control"], "no-store");
    let set_cookie = first.headers()["set-cookie"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    let attributes: Vec<&str> = set_cookie.split(';').map(str::trim).collect();
    assert!(attributes[0].starts_with(&format!("{SESSION_COOKIE}=")));
    for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(attributes.contains(&attribute), "{set_cookie}");
    }
    assert!(
        !attributes.iter().any(|a| a.starts_with("Domain")),
        "a __Host- cookie has no Domain: {set_cookie}"
    );
    let token = attributes[0].split_once('=').map(|(_, t)| t).unwrap_or("");
    assert!(token.len() >= 43, "256 random bits: {token}");
    let session: Value = first.json().await.expect("JSON");
    assert_eq!(session["user_id"], ALICE);
    assert_eq!(session["role"], "customer");

    let first_cookie = format!("{SESSION_COOKIE}={token}");
    let old = Client::with_cookie(&app.gateway, "browser-a", &first_cookie);
    assert_eq!(
        old.get("/api/v1/auth/session").await.status(),
        StatusCode::OK
    );
    // Logging in again from the same browser (or with a planted cookie) never keeps the
    // presented token: no session fixation.
    let again = old
        .send_json(
            Method::POST,
            "/api/v1/auth/login",
            &json!({"email": ALICE_EMAIL, "password": password}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let second_cookie = session_cookie(&again).expect("a new cookie");
    assert_ne!(second_cookie, first_cookie);
    assert_problem(
        old.get("/api/v1/auth/session").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let new = Client::with_cookie(&app.gateway, "browser-a", &second_cookie);
    assert_eq!(
        new.get("/api/v1/auth/session").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_cookie_copied_into_another_browser_fails_and_ends_the_session() {
    let app = TestApp::spawn().await;
    let (user_agent, cookie) = stolen(&app).await;
    let victim = Client::with_cookie(&app.gateway, &user_agent, &cookie);
    assert_eq!(
        victim.get("/api/v1/orders/9001").await.status(),
        StatusCode::OK
    );
    // The attacker's copy: the same cookie, in another browser.
    let thief = Client::with_cookie(&app.gateway, "Mozilla/5.0 (attacker)", &cookie);
    let refused = thief.get("/api/v1/orders/9001").await;
    let cleared = refused
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_problem(refused, StatusCode::UNAUTHORIZED).await;
    // The replay revoked the session: the victim must log in again, and the copy is
    // worth nothing from any browser, the victim's included.
    for client in [&victim, &thief] {
        assert_problem(
            client.get("/api/v1/auth/session").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
}

/// A fresh session of Alice: (user agent, cookie).
async fn stolen(app: &TestApp) -> (String, String) {
    let user_agent = "Mozilla/5.0 (victim)".to_owned();
    let response = app
        .login(ALICE_EMAIL, &app.demo_password(ALICE_EMAIL), &user_agent)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = session_cookie(&response).expect("cookie");
    (user_agent, cookie)
}

#[tokio::test]
async fn logout_makes_the_cookie_useless_at_once_and_logout_all_ends_every_session() {
    let app = TestApp::spawn().await;
    let (user_agent, cookie) = stolen(&app).await;
    let browser = Client::with_cookie(&app.gateway, &user_agent, &cookie);
    let out = browser.send(Method::POST, "/api/v1/auth/logout").await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let cleared = out.headers()["set-cookie"].to_str().unwrap_or_default();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // A client that kept the cookie anyway gets nothing for it.
    assert_problem(
        browser.get("/api/v1/orders/9001").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    let phone = app.login_demo(ALICE).await;
    let laptop = app.login_demo(ALICE).await;
    assert_eq!(
        phone.get("/api/v1/auth/session").await.status(),
        StatusCode::OK
    );
    let all = laptop.send(Method::POST, "/api/v1/auth/logout-all").await;
    assert_eq!(all.status(), StatusCode::NO_CONTENT);
    for client in [&phone, &laptop] {
        assert_problem(
            client.get("/api/v1/auth/session").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    // Bob's session is his own business.
    let bob = app.as_user(BOB).await;
    assert_eq!(
        bob.get("/api/v1/auth/session").await.status(),
        StatusCode::OK
    );
}

/// The answer to a failed login without what differs per request.
async fn refusal(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let mut body: Value = response.json().await.expect("JSON");
    body.as_object_mut().map(|o| o.remove("request_id"));
    (status, body)
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_answer_alike_in_similar_time() {
    let app = TestApp::spawn().await;
    let mut wrong_password = Vec::new();
    let mut unknown_email = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let wrong = app.login(ALICE_EMAIL, "not her password", "ua").await;
        wrong_password.push(started.elapsed());
        let started = Instant::now();
        let unknown = app
            .login("nobody@example.com", "not her password", "ua")
            .await;
        unknown_email.push(started.elapsed());
        let (wrong, unknown) = (refusal(wrong).await, refusal(unknown).await);
        assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong, unknown);
    }
    // Both verify a hash: an unknown email is not answered in a fraction of the time.
    let median = |mut times: Vec<Duration>| {
        times.sort();
        times[2]
    };
    let (wrong, unknown) = (median(wrong_password), median(unknown_email));
    assert!(
        unknown * 4 > wrong && wrong * 4 > unknown,
        "wrong password {wrong:?}, unknown email {unknown:?}"
    );

    // Registration tells nothing either: a taken email gets the same answer as a new one.
    let new = app.register("new@example.com", "a long passphrase").await;
    let taken = app.register(ALICE_EMAIL, "a long passphrase").await;
    assert_eq!(new.status(), StatusCode::ACCEPTED);
    assert_eq!(refusal(new).await, refusal(taken).await);
}

#[tokio::test]
async fn passwords_follow_asvs_length_not_composition_and_are_never_truncated() {
    let app = TestApp::spawn().await;
    for (i, password, accepted) in [
        ("seven77", false),
        ("tram8cow", true),
        ("password123", false),
        ("Password1", false),
        ("qwertyuiop", false),
        ("all lowercase words", true),
        ("🔑🔑🔑🔑🔑🔑🔑🔑", true),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (password, accepted))| (i, password, accepted))
    {
        let email = format!("p{i}@example.com");
        let response = app.register(&email, password).await;
        let expected = if accepted {
            StatusCode::ACCEPTED
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        assert_eq!(response.status(), expected, "{password}");
    }
    // 128 characters are accepted, and every one of them counts.
    let long: String = "correct horse battery staple "
        .repeat(5)
        .chars()
        .take(128)
        .collect();
    let registered = app.register("long@example.com", &long).await;
    assert_eq!(registered.status(), StatusCode::ACCEPTED);
    let login = app.login("long@example.com", &long, "ua").await;
    assert_eq!(login.status(), StatusCode::OK);
    let truncated: String = long.chars().take(72).collect();
    let refused = app.login("long@example.com", &truncated, "ua").await;
    assert_problem(refused, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions() {
    let app = TestApp::spawn().await;
    let old_password = "the first long passphrase";
    let new_password = "the second long passphrase";
    let email = "changer@example.com";
    assert_eq!(
        app.register(email, old_password).await.status(),
        StatusCode::ACCEPTED
    );
    let here = app.session_of(email, old_password, "browser-here").await;
    let elsewhere = app
        .session_of(email, old_password, "browser-elsewhere")
        .await;
    let wrong_current = here
        .send_json(
            Method::PUT,
            "/api/v1/auth/password",
            &json!({"current_password": "a guess at it", "new_password": new_password}),
        )
        .await;
    assert_problem(wrong_current, StatusCode::UNAUTHORIZED).await;
    let weak = here
        .send_json(
            Method::PUT,
            "/api/v1/auth/password",
            &json!({"current_password": old_password, "new_password": "password"}),
        )
        .await;
    assert_problem(weak, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        elsewhere.get("/api/v1/auth/session").await.status(),
        StatusCode::OK,
        "refused changes end nothing"
    );

    let changed = here
        .send_json(
            Method::PUT,
            "/api/v1/auth/password",
            &json!({"current_password": old_password, "new_password": new_password}),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        here.get("/api/v1/auth/session").await.status(),
        StatusCode::OK
    );
    assert_problem(
        elsewhere.get("/api/v1/auth/session").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_problem(
        app.login(email, old_password, "ua").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        app.login(email, new_password, "ua").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_login_flood_does_not_starve_other_routes() {
    let app = TestApp::spawn().await;
    let password = app.demo_password("bob@example.com");
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let flood = (0..40).map(|i| {
        let (app, password, finished) = (&app, &password, &finished);
        async move {
            let status = app
                .login("bob@example.com", password, &format!("flood-{i}"))
                .await
                .status();
            finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            status
        }
    });
    let visitor = app.anonymous();
    let browse = async {
        // Hashing runs on a bounded blocking pool: the catalogue answers while the
        // logins still queue for their turn.
        let response = visitor.get("/api/v1/products/101").await;
        (
            response.status(),
            finished.load(std::sync::atomic::Ordering::SeqCst),
        )
    };
    let (logins, (browsed, done_by_then)) = tokio::join!(futures::future::join_all(flood), browse);
    assert_eq!(browsed, StatusCode::OK);
    assert!(
        done_by_then < 40,
        "the catalogue answered only after every login ({done_by_then})"
    );
    // Every login either succeeds or is shed with 503 (never a 500, never a hang).
    assert!(
        logins
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::SERVICE_UNAVAILABLE),
        "{logins:?}"
    );
    assert!(logins.contains(&StatusCode::OK));
}

#[tokio::test]
async fn lookalike_addresses_are_refused_or_are_the_same_account() {
    let app = TestApp::spawn().await;
    for (what, email) in [
        ("a zero-width space", "ali\u{200b}ce@example.com"),
        ("a right-to-left override", "\u{202e}alice@example.com"),
        (
            "a Cyrillic a among Latin letters",
            "\u{430}lice@example.com",
        ),
        ("a stray combining stroke", "alic\u{336}e@example.com"),
    ] {
        let response = app.register(email, "a long passphrase").await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(
            problem["type"], "urn:msa-shop:problem:validation-failed",
            "{what}"
        );
    }
    // Fullwidth Alice is Alice: registering it makes no second account ...
    let taken = app
        .register(
            "\u{ff41}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}@example.com",
            "a long passphrase",
        )
        .await;
    assert_eq!(taken.status(), StatusCode::ACCEPTED);
    let users = app.get_json("/api/v1/users?limit=100").await;
    let alices = users["items"].as_array().map_or(0, |items| {
        items
            .iter()
            .filter(|u| u["name"] == "Alice" || u["name"] == "Someone")
            .count()
    });
    assert_eq!(alices, 1, "{users}");
    // ... and logs in as her, with her password.
    let password = app.demo_password(ALICE_EMAIL);
    let fullwidth_upper = "\u{ff21}\u{ff2c}\u{ff29}\u{ff23}\u{ff25}@example.com";
    let login = app
        .login(fullwidth_upper, &password, "lookalike-browser")
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    // Failures under any spelling count against the one account.
    for n in 0..6 {
        let spelling = if n % 2 == 0 {
            fullwidth_upper
        } else {
            "ALICE@example.com"
        };
        let status = app
            .login(spelling, "not her password", "guesser")
            .await
            .status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let throttled = app.login(ALICE_EMAIL, "not her password", "guesser").await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
}
