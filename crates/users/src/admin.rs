//! The first administrator of a deployment that has no demo accounts (`--production`):
//! `msa admin create` writes it straight into user-service's database, the one way in
//! before anyone can sign in. Later administrators are made by an administrator, through
//! the API.

use anyhow::Context;
use kit::storing::db::Database;

use crate::domain::{Email, Password, Role, UserName};
use crate::password::Hasher;
use crate::store::{self, InsertUser};

/// Creates administrator `email` with `password` in `database` (migrated first, as the
/// service would), and returns its id. An address already taken is an error, not a
/// promotion: an existing account keeps the role it was given.
pub async fn create(
    database: &Database,
    email: &str,
    name: &str,
    password: String,
) -> anyhow::Result<i64> {
    let email = Email::parse(email).map_err(|reason| anyhow::anyhow!("the email: {reason}"))?;
    let name = UserName::parse(name).map_err(|reason| anyhow::anyhow!("the name: {reason}"))?;
    let password =
        Password::parse(password).map_err(|reason| anyhow::anyhow!("the password: {reason}"))?;
    let pool = kit::storing::db::open(database, &crate::MIGRATIONS)
        .await
        .context("user-service database")?;
    let hash = Hasher::new(1)?
        .hash(&password)
        .await
        .map_err(|error| anyhow::anyhow!("hashing the password failed: {error}"))?;
    let inserted = store::insert(
        &pool,
        &InsertUser {
            id: None,
            email: email.as_str(),
            name: name.as_str(),
            password_hash: &hash,
            role: Role::Admin.as_str(),
            now: kit::time::now_unix(),
        },
    )
    .await;
    let result = match inserted {
        Ok(row) => Ok(row.id),
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Err(anyhow::anyhow!(
            "{} already has an account; it keeps the role it has",
            email.as_str()
        )),
        Err(error) => Err(error).context("Failed to create the administrator"),
    };
    kit::storing::write::close(&pool).await;
    pool.close().await;
    result
}
