//! End to end: the built `msa up`, driven over HTTP through the gateway, stopped with
//! SIGINT; every child must be gone afterwards.

mod support;

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use support::{Shop, alive, children_of, client_with, credentials, json_of, login, start, stop};
#[tokio::test(flavor = "multi_thread")]
async fn msa_up_runs_the_shop_restarts_children_and_stops_cleanly() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut shop = start(data.path(), &[]);
    let http = login(&shop.gateway, data.path(), "admin@example.com").await;
    let get = |path: &str| http.get(format!("{}{path}", shop.gateway)).send();
    let anonymous = client_with(&[])
        .get(format!("{}/api/v1/orders/9001", shop.gateway))
        .send()
        .await
        .expect("answer");
    assert_eq!(anonymous.status(), 401, "orders are for signed-in users");

    let hello = json_of(http.get(format!("{}/hello", shop.gateway))).await;
    assert_eq!(hello, json!({"message": "Hello, API!"}));
    let order = json_of(http.get(format!("{}/api/v1/orders/9001", shop.gateway))).await;
    assert_eq!(order["user"]["name"], "Alice");
    assert_eq!(order["items"][0]["product"]["name"], "Phone");
    let bob = login(&shop.gateway, data.path(), "bob@example.com").await;
    let placed = bob
        .post(format!("{}/api/v1/orders", shop.gateway))
        .header("idempotency-key", "e2e-1")
        .json(&json!({"items": [{"product_id": 101, "quantity": 1}]}))
        .send()
        .await
        .expect("answer");
    assert_eq!(placed.status(), 201);
    let placed: Value = placed.json().await.expect("JSON");

    let credentials = credentials(data.path());
    assert!(credentials["alice@example.com"].is_string());
    assert!(
        data.path().join("tls/ca.pem").exists(),
        "msa up creates a local CA for HTTPS"
    );
    for key in ["gateway.key", "orders.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.path().join("keys").join(key))
            .expect("a signing key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }

    // A child that dies is restarted, and the shop answers again.
    let children = children_of(shop.child.id());
    assert_eq!(children.len(), 4, "one child per service: {children:?}");
    let victim = children[1];
    kill(Pid::from_raw(victim), Signal::SIGKILL).expect("kill a child");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let restarted = children_of(shop.child.id()).len() == 4 && !alive_as_child(&shop, victim);
        let answers = get("/api/v1/products/101")
            .await
            .is_ok_and(|r| r.status() == 200)
            && get("/api/v1/users/1")
                .await
                .is_ok_and(|r| r.status() == 200)
            && get("/api/v1/orders/9001")
                .await
                .is_ok_and(|r| r.status() == 200);
        if restarted && answers {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the killed service did not come back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log: Vec<String> = shop.stderr.try_iter().collect();
    assert!(
        log.iter().any(|l| l.contains("restarting")),
        "restart not logged"
    );
    assert!(
        log.iter().any(|l| l.starts_with("gateway  | ")),
        "lines carry the service name"
    );

    let children = children_of(shop.child.id());
    let took = stop(&mut shop, Signal::SIGINT);
    assert!(took < Duration::from_secs(10), "stop took {took:?}");
    for child in children {
        assert!(!alive(child), "child {child} outlived msa up");
    }

    // Data and sessions survive a restart; --reset starts clean with new demo passwords.
    let mut shop = start(data.path(), &[]);
    let placed_path = format!("/api/v1/orders/{}", placed["order_id"]);
    let again = get_as(&bob, &shop, &placed_path).await;
    assert_eq!(again.status(), 200);
    let children = children_of(shop.child.id());
    assert_eq!(children.len(), 4);
    let took = stop(&mut shop, Signal::SIGTERM);
    assert!(took < Duration::from_secs(10), "stop took {took:?}");
    for child in children {
        assert!(!alive(child), "child {child} outlived msa up after SIGTERM");
    }
    let mut shop = start(data.path(), &["--reset"]);
    let old_session = get_as(&bob, &shop, "/api/v1/auth/session").await;
    assert_eq!(old_session.status(), 401, "a reset ends every session");
    let admin = login(&shop.gateway, data.path(), "admin@example.com").await;
    let gone = get_as(&admin, &shop, &placed_path).await;
    assert_eq!(gone.status(), 404);
    let fresh = crate::credentials(data.path());
    assert_ne!(fresh["alice@example.com"], credentials["alice@example.com"]);
    stop(&mut shop, Signal::SIGINT);
}

async fn get_as(client: &reqwest::Client, shop: &Shop, path: &str) -> reqwest::Response {
    client
        .get(format!("{}{path}", shop.gateway))
        .send()
        .await
        .expect("answer")
}

fn alive_as_child(shop: &Shop, pid: i32) -> bool {
    children_of(shop.child.id()).contains(&pid)
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_one_object_per_line_with_the_service_name() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut shop = start(data.path(), &["--log-format", "json"]);
    let _ = client_with(&[])
        .get(format!("{}/hello", shop.gateway))
        .send()
        .await
        .expect("answer");
    stop(&mut shop, Signal::SIGINT);
    let lines: Vec<String> = shop.stderr.try_iter().collect();
    assert!(lines.len() > 5, "{lines:?}");
    let mut services = std::collections::BTreeSet::new();
    for line in &lines {
        let object: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        services.insert(object["service"].as_str().unwrap_or_default().to_owned());
    }
    for service in ["msa", "users", "products", "orders", "gateway"] {
        assert!(
            services.contains(service),
            "no line from {service}: {services:?}"
        );
    }
}

#[test]
fn a_taken_port_fails_fast_with_the_flag_to_change() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let data = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_msa"))
        .args(["up", "--gateway-port", &port.to_string()])
        .env("MSA_DATA_DIR", data.path())
        .output()
        .expect("msa runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--gateway-port"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn children_exit_when_msa_up_is_killed() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut shop = start(data.path(), &[]);
    let children = children_of(shop.child.id());
    assert_eq!(children.len(), 4);
    // SIGKILL cannot be caught: the supervisor gets no chance to stop anyone.
    shop.child.kill().expect("SIGKILL");
    shop.child.wait().expect("reaped");
    // The children are no longer ours to wait on (they were re-parented), so their exit is
    // observed by polling, bounded by a deadline.
    let deadline = Instant::now() + Duration::from_secs(10);
    while children.iter().any(|child| alive(*child)) {
        assert!(Instant::now() < deadline, "orphans left: {children:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn msa_keys_prints_stable_public_keys_and_refuses_a_missing_key_file() {
    let data = tempfile::tempdir().expect("tempdir");
    let keys = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_msa"))
            .arg("keys")
            .args(extra)
            .env("MSA_DATA_DIR", data.path())
            .output()
            .expect("msa runs")
    };
    let first = keys(&[]);
    assert!(first.status.success());
    let text = String::from_utf8_lossy(&first.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let names: Vec<&str> = lines
        .iter()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .collect();
    assert_eq!(
        names,
        [
            "MSA_GATEWAY_PUBLIC_KEY",
            "MSA_USERS_PUBLIC_KEY",
            "MSA_PRODUCTS_PUBLIC_KEY",
            "MSA_ORDERS_PUBLIC_KEY"
        ],
        "{text}"
    );
    assert!(lines.iter().all(|l| l.len() > 40), "{text}");
    assert_eq!(keys(&[]).stdout, first.stdout, "the keys are made once");
    let missing = keys(&["--gateway-key-file", "/nonexistent/gateway.key"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
}

/// Whether `line` holds something shaped like an identity token (`v3.<payload>.<tag>`,
/// both long base64url runs).
fn holds_identity_token(line: &str) -> bool {
    let is_b64 = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    line.match_indices("v3.").any(|(at, _)| {
        let rest = &line.as_bytes()[at + 3..];
        let payload = rest.iter().take_while(|b| is_b64(**b)).count();
        let tag = rest
            .get(payload + 1..)
            .map_or(0, |after| after.iter().take_while(|b| is_b64(**b)).count());
        payload >= 40 && rest.get(payload) == Some(&b'.') && tag >= 43
    })
}

#[test]
fn the_token_pattern_finds_a_real_token_in_a_log_line() {
    use kit::identity::token::{Claims, PartyKey, TokenSigner, parse_public_key};
    let orders = PartyKey::from_bytes([2; 32]);
    let public = parse_public_key(&orders.public_key()).expect("a public key");
    let key = PartyKey::from_bytes([1; 32])
        .pair_key(&public, "gateway", "orders")
        .expect("agreed");
    let token = TokenSigner::new("gateway")
        .towards("orders", key)
        .sign(Claims {
            iss: String::new(),
            kid: String::new(),
            aud: "orders".to_owned(),
            sub: "user:1".to_owned(),
            role: "customer".to_owned(),
            scopes: Vec::new(),
            rid: String::new(),
            iat: 0,
            exp: 30,
            jti: kit::identity::token::new_token_id(),
            htm: "GET".to_owned(),
            htu: "/orders/1".to_owned(),
            bdh: None,
        })
        .expect("a token");
    let line = format!(r#"{{"level":"DEBUG","headers":"x-msa-identity: {token}"}}"#);
    assert!(holds_identity_token(&line), "{line}");
    assert!(!holds_identity_token(r#"{"message":"v3.e30.AAAA"}"#));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_password_token_cookie_or_key_reaches_the_logs_even_at_debug() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut shop = start(
        data.path(),
        &["--log-level", "debug", "--log-format", "json"],
    );
    let base = shop.gateway.clone();
    let anonymous = kit::calling::transport::builder()
        .no_proxy()
        .user_agent("e2e-browser")
        .build()
        .expect("client");
    let (first, second) = (
        "correct horse battery staple 42",
        "another long passphrase 7",
    );
    let mut secrets: Vec<String> = vec![first.into(), second.into(), "wrong-guess-1234567".into()];

    let registered = anonymous
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": "carol@example.com", "name": "Carol", "password": first}))
        .send()
        .await
        .expect("answer");
    assert_eq!(registered.status(), 202);
    let wrong = anonymous
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "carol@example.com", "password": "wrong-guess-1234567"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(wrong.status(), 401);
    let login_answer = anonymous
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "carol@example.com", "password": first}))
        .send()
        .await
        .expect("answer");
    assert_eq!(login_answer.status(), 200);
    let cookie = login_answer
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .expect("a session cookie")
        .to_owned();
    secrets.push(cookie.split_once('=').expect("name=value").1.to_owned());
    let carol = client_with(&[("cookie", &cookie)]);
    let placed = carol
        .post(format!("{base}/api/v1/orders"))
        .header("idempotency-key", "logs-1")
        .json(&json!({"items": [{"product_id": 102, "quantity": 1}]}))
        .send()
        .await
        .expect("answer");
    assert_eq!(placed.status(), 201);
    let changed = carol
        .put(format!("{base}/api/v1/auth/password"))
        .json(&json!({"current_password": first, "new_password": second}))
        .send()
        .await
        .expect("answer");
    assert_eq!(changed.status(), 204);

    let admin = login(&base, data.path(), "admin@example.com").await;
    secrets.push(
        credentials(data.path())["admin@example.com"]
            .as_str()
            .expect("a password")
            .to_owned(),
    );
    let created = json_of(
        admin
            .post(format!("{base}/api/v1/auth/api-keys"))
            .json(&json!({"name": "logs", "scopes": ["products:read"]})),
    )
    .await;
    let key = created["key"].as_str().expect("a key").to_owned();
    let program = client_with(&[("authorization", &format!("Bearer {key}"))]);
    let read = program
        .get(format!("{base}/api/v1/products/101"))
        .send()
        .await
        .expect("answer");
    assert_eq!(read.status(), 200);
    secrets.push(key);
    // A forged key and cookie are secrets of somebody too, and must not be echoed.
    let forged = client_with(&[
        (
            "authorization",
            "Bearer msa_forgedforgedforgedforged0123456789",
        ),
        (
            "cookie",
            "__Host-msa_session=forgedcookieforgedcookie0123456789",
        ),
    ]);
    let refused = forged
        .get(format!("{base}/api/v1/orders"))
        .send()
        .await
        .expect("answer");
    assert_eq!(refused.status(), 401);
    secrets.push("forgedforgedforgedforged0123456789".into());
    secrets.push("forgedcookieforgedcookie0123456789".into());

    stop(&mut shop, Signal::SIGTERM);
    let lines: Vec<String> = shop.stderr.try_iter().collect();
    let answered: Vec<Value> = lines
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "answered")
        .collect();
    assert!(
        answered.len() >= 20,
        "debug logs of the whole flow: {} lines",
        lines.len()
    );
    // Every answered request says which request and which trace it belongs to.
    for line in &answered {
        let spans = line["spans"].as_array().cloned().unwrap_or_default();
        assert!(
            spans
                .iter()
                .any(|span| span["trace_id"].as_str().is_some_and(|id| id.len() == 32)),
            "no trace id: {line}"
        );
        assert!(
            spans.iter().any(|span| span["request.id"].is_string()),
            "no request id: {line}"
        );
    }
    for line in &lines {
        for secret in &secrets {
            assert!(
                !line.contains(secret.as_str()),
                "a secret in the logs: {line}"
            );
        }
        assert!(
            !holds_identity_token(line),
            "an identity token in the logs: {line}"
        );
        let lower = line.to_lowercase();
        for personal in ["carol@example.com", "\"cookie\"", "set-cookie", "bearer "] {
            assert!(!lower.contains(personal), "{personal} in the logs: {line}");
        }
    }
}
