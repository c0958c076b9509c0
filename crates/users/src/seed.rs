//! The demo accounts of the classic exercise, created on first start.
//!
//! Their passwords are generated here, never written in code, and handed to the operator
//! in `<data-dir>/demo-credentials.json` (owner-only), a JSON object of email -> password.

use std::path::Path;

use anyhow::Context;
use kit::storing::db::Pool;
use rand::RngExt;
use rand::distr::Alphanumeric;

use crate::domain::{Password, Role};
use crate::password::Hasher;
use crate::store::{self, InsertUser};

pub const CREDENTIALS_FILE: &str = "demo-credentials.json";

/// (id, email, name, role) of each demo account; ids are fixed so the tour can name them.
const DEMO_USERS: [(i64, &str, &str, Role); 3] = [
    (1, "alice@example.com", "Alice", Role::Customer),
    (2, "bob@example.com", "Bob", Role::Customer),
    (3, "admin@example.com", "Admin", Role::Admin),
];

/// Seeds the demo users into an empty database; a database with any user is left alone.
pub async fn demo_users(pool: &Pool, hasher: &Hasher, data_dir: &Path) -> anyhow::Result<()> {
    if store::count(pool).await? > 0 {
        return Ok(());
    }
    let mut credentials = serde_json::Map::new();
    let mut accounts = Vec::new();
    for (id, email, name, role) in DEMO_USERS {
        let password = Password::parse(generate_password())
            .map_err(|reason| anyhow::anyhow!("generated password refused: {reason}"))?;
        let hash = hasher
            .hash(&password)
            .await
            .map_err(|error| anyhow::anyhow!("hashing a demo password failed: {error}"))?;
        credentials.insert(email.to_owned(), password.expose().into());
        accounts.push((id, email, name, role, hash));
    }
    // The file is written before the rows: a crash in between leaves an empty table, and
    // the next start writes both again, so no account ever exists without its password.
    kit::files::write_private_file(
        &data_dir.join(CREDENTIALS_FILE),
        &serde_json::to_vec_pretty(&credentials)?,
    )?;
    let now = kit::time::now_unix();
    let mut tx = pool.begin().await?;
    for (id, email, name, role, hash) in &accounts {
        store::insert(
            &mut *tx,
            &InsertUser {
                id: Some(*id),
                email,
                name,
                password_hash: hash,
                role: role.as_str(),
                now,
            },
        )
        .await
        .with_context(|| format!("Failed to seed demo user {email}"))?;
    }
    tx.commit().await?;
    kit::storing::db::sync_id_sequence(pool, "users").await?;
    tracing::info!(
        file = %data_dir.join(CREDENTIALS_FILE).display(),
        "seeded demo users; their passwords are in the credentials file"
    );
    Ok(())
}

/// 20 alphanumeric characters: about 119 bits, and easy to paste into a curl command.
fn generate_password() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}
