//! End to end: `msa up --production` starts with no demo accounts or data, and
//! `msa admin create` makes the first administrator, who can then sign in and administer.

mod support;

use std::process::{Command, Output};

use serde_json::{Value, json};
use support::{client_with, session_of, start};

fn admin_create(data: &std::path::Path, email: &str, password: &str) -> Output {
    let file = data.join("admin-password");
    std::fs::write(&file, format!("{password}\n")).expect("a password file");
    Command::new(env!("CARGO_BIN_EXE_msa"))
        .args(["admin", "create", "--email", email, "--name", "Root"])
        .arg("--password-file")
        .arg(&file)
        .env("MSA_DATA_DIR", data)
        .output()
        .expect("msa admin create runs")
}

async fn log_in(gateway: &str, email: &str, password: &str) -> reqwest::Response {
    client_with(&[])
        .post(format!("{gateway}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("an answer")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_production_shop_has_no_demo_accounts_until_an_administrator_is_created() {
    let data = tempfile::tempdir().expect("tempdir");
    let shop = start(data.path(), &["--production"]);
    assert!(
        !data.path().join("demo-credentials.json").exists(),
        "no demo passwords are made"
    );
    // The demo administrator does not exist: any password is wrong.
    let demo = log_in(&shop.gateway, "admin@example.com", "some long guess 123").await;
    assert_eq!(demo.status(), 401);
    let catalogue: Value = client_with(&[])
        .get(format!("{}/api/v1/products", shop.gateway))
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(catalogue["items"], json!([]), "no demo products");

    let password = "a long first password 42";
    let created = admin_create(data.path(), "root@example.com", password);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let answer = log_in(&shop.gateway, "root@example.com", password).await;
    assert_eq!(answer.status(), 200);
    let root = session_of(&answer);
    let users = root
        .get(format!("{}/api/v1/users", shop.gateway))
        .send()
        .await
        .expect("an answer");
    assert_eq!(users.status(), 200, "the administrator lists the users");
    let product = root
        .post(format!("{}/api/v1/products", shop.gateway))
        .json(&json!({"name": "First", "description": "the first product", "price_cents": 100, "stock": 5}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(product.status(), 201, "and stocks the shop");

    // A second time, the address is taken: nothing changes, and the tool says why.
    let again = admin_create(data.path(), "root@example.com", "another long password 7");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has an account"));
    let short = admin_create(data.path(), "other@example.com", "short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("password"));
    let still = log_in(&shop.gateway, "root@example.com", password).await;
    assert_eq!(still.status(), 200, "the first password still holds");
}
