//! End to end: `msa keys rotate` gives the gateway and order-service, the two processes
//! that make identity tokens, new keys while the shop serves a steady load, and not one
//! request fails.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use support::{login, start};

/// What one load worker saw.
#[derive(Debug, Default)]
struct Seen {
    answered: usize,
    failures: Vec<String>,
}

/// Places an order, reads it and cancels it, over and over until told to stop: each round
/// crosses every link that carries a token (gateway to each service, orders to users and
/// products), and leaves the stock as it found it.
async fn work(
    client: reqwest::Client,
    gateway: String,
    worker: usize,
    stop: Arc<AtomicBool>,
) -> Seen {
    let mut seen = Seen::default();
    let mut round = 0;
    while !stop.load(Ordering::SeqCst) {
        round += 1;
        let placed = client
            .post(format!("{gateway}/api/v1/orders"))
            .header("idempotency-key", format!("rotation-{worker}-{round}"))
            .json(&json!({"items": [{"product_id": 102, "quantity": 1}]}))
            .send()
            .await;
        let order: Value = match placed {
            Ok(answer) if answer.status() == 201 => answer.json().await.expect("an order"),
            Ok(answer) => {
                let status = answer.status();
                let body = answer.text().await.unwrap_or_default();
                seen.failures.push(format!("place: {status} {body}"));
                continue;
            }
            Err(error) => {
                seen.failures.push(format!("place: {error}"));
                continue;
            }
        };
        seen.answered += 1;
        let path = format!("{gateway}/api/v1/orders/{}", order["order_id"]);
        for (what, request) in [
            ("read", client.get(&path)),
            ("cancel", client.post(format!("{path}/cancel"))),
            (
                "product",
                client.get(format!("{gateway}/api/v1/products/101")),
            ),
        ] {
            match request.send().await {
                Ok(answer) if answer.status().is_success() => seen.answered += 1,
                Ok(answer) => {
                    let status = answer.status();
                    let body = answer.text().await.unwrap_or_default();
                    seen.failures.push(format!("{what}: {status} {body}"));
                }
                Err(error) => seen.failures.push(format!("{what}: {error}")),
            }
        }
    }
    seen
}

fn key_lines(data: &std::path::Path, party: &str) -> Vec<String> {
    std::fs::read_to_string(data.join("keys").join(format!("{party}.key")))
        .expect("a key file")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn both_issuers_rotate_their_keys_under_load_and_not_one_request_fails() {
    let data = tempfile::tempdir().expect("tempdir");
    // One test client is one address: the per-address limit would refuse the load itself.
    let shop = start(data.path(), &["--rate-per-address=100000"]);
    let before: Vec<Vec<String>> = ["gateway", "orders", "users", "products"]
        .iter()
        .map(|party| key_lines(data.path(), party))
        .collect();
    let client = login(&shop.gateway, data.path(), "alice@example.com").await;
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            tokio::spawn(work(
                client.clone(),
                shop.gateway.clone(),
                worker,
                stop.clone(),
            ))
        })
        .collect();

    let data_dir = data.path().to_owned();
    let rotation = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_msa"))
            .args(["keys", "rotate", "--party", "gateway", "--party", "orders"])
            .args(["--grace-seconds", "2"])
            .env("MSA_DATA_DIR", &data_dir)
            .output()
            .expect("msa keys rotate runs")
    })
    .await
    .expect("the rotation finishes");
    stop.store(true, Ordering::SeqCst);
    let mut answered = 0;
    let mut failures = Vec::new();
    for worker in workers {
        let seen = worker.await.expect("a worker finishes");
        answered += seen.answered;
        failures.extend(seen.failures);
    }
    let progress = String::from_utf8_lossy(&rotation.stderr);
    assert!(
        rotation.status.success(),
        "the rotation failed:\n{progress}"
    );
    for step in ["introducing", "switching", "retiring", "done"] {
        assert!(progress.contains(step), "no `{step}` step in:\n{progress}");
    }
    assert_eq!(
        failures,
        Vec::<String>::new(),
        "failed requests during the rotation"
    );
    assert!(
        answered > 20,
        "too little load to mean anything: {answered} answers"
    );

    // The issuers hold one new key each; the services' keys did not change.
    for (party, old) in ["gateway", "orders", "users", "products"]
        .iter()
        .zip(&before)
    {
        let now = key_lines(data.path(), party);
        assert_eq!(now.len(), 1, "{party} holds one key after the rotation");
        if ["gateway", "orders"].contains(party) {
            assert_ne!(&now, old, "{party} has a new key");
        } else {
            assert_eq!(&now, old, "{party} kept its key");
        }
    }
    // And the shop goes on answering under the new keys.
    let order = client
        .get(format!("{}/api/v1/orders/9001", shop.gateway))
        .send()
        .await
        .expect("an answer");
    assert_eq!(order.status(), 200);
}

/// Runs `msa keys rotate --step STEP --party gateway` on `data`; returns each process's
/// digest as printed, or the error output.
fn rotate_step(data: &std::path::Path, step: &str) -> Result<Vec<(String, String)>, String> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_msa"))
        .args(["keys", "rotate", "--step", step, "--party", "gateway"])
        .env("MSA_DATA_DIR", data)
        .output()
        .expect("msa keys rotate runs");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(party, digest)| (party.to_owned(), digest.to_owned()))
        .collect())
}

/// Waits (up to 30 s) until every process notes the keys whose digests `printed` gives.
async fn held(data: &std::path::Path, printed: &[(String, String)]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let behind: Vec<&String> = printed
            .iter()
            .filter(|(party, digest)| {
                let noted = std::fs::read_to_string(data.join("keys").join("loaded").join(party))
                    .unwrap_or_default();
                !noted.starts_with(digest.as_str())
            })
            .map(|(party, _)| party)
            .collect();
        if behind.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{behind:?} never held the keys printed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_step_by_step_prints_what_each_process_then_holds() {
    let data = tempfile::tempdir().expect("tempdir");
    let shop = start(data.path(), &[]);
    let client = login(&shop.gateway, data.path(), "alice@example.com").await;
    let before = key_lines(data.path(), "gateway");

    let introduced = rotate_step(data.path(), "introduce").expect("introduce");
    assert_eq!(
        introduced.len(),
        4,
        "a digest for each process: {introduced:?}"
    );
    held(data.path(), &introduced).await;
    assert_eq!(key_lines(data.path(), "gateway").len(), 2);
    // A second introduction would stack a third key: refused, and nothing changes.
    let refused = rotate_step(data.path(), "introduce").expect_err("a second introduce");
    assert!(refused.contains("rotation is under way"), "{refused}");

    let switched = rotate_step(data.path(), "switch").expect("switch");
    held(data.path(), &switched).await;
    let retired = rotate_step(data.path(), "retire").expect("retire");
    held(data.path(), &retired).await;

    let after = key_lines(data.path(), "gateway");
    assert_eq!(after.len(), 1);
    assert_ne!(after, before, "the gateway has a new key");
    let refused = rotate_step(data.path(), "retire").expect_err("retire with one key");
    assert!(refused.contains("--step introduce first"), "{refused}");
    let order = client
        .get(format!("{}/api/v1/orders/9001", shop.gateway))
        .send()
        .await
        .expect("an answer");
    assert_eq!(order.status(), 200, "the shop answers under the new key");
}
