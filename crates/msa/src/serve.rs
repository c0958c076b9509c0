//! `msa serve <role>`: one service in this process, until SIGINT/SIGTERM, or until the
//! supervising `msa up` goes away.

use kit::serving::shutdown::CancellationToken;
use tokio::io::AsyncReadExt;

use crate::settings::{Role, Settings};

/// Set by `msa up` for its children: stdin is then a pipe from the supervisor, and its end
/// means the supervisor died, even by SIGKILL, so the child stops instead of living on as
/// an orphan that holds its port.
pub const SUPERVISED_ENV: &str = "MSA_SUPERVISED";

pub async fn run(role: Role, settings: Settings) -> anyhow::Result<()> {
    let shutdown = kit::serving::shutdown::on_signal();
    if std::env::var_os(SUPERVISED_ENV).is_some() {
        watch_supervisor(shutdown.clone());
    }
    let server = match role {
        Role::Users => users::build(settings.users()?).await?,
        Role::Products => products::build(settings.products()?).await?,
        Role::Orders => orders::build(settings.orders()?).await?,
        Role::Gateway => gateway::build(settings.gateway()?).await?,
    };
    server.run(shutdown).await
}

fn watch_supervisor(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        let end = loop {
            match stdin.read(&mut buf).await {
                Ok(0) => break "end of input".to_owned(),
                Ok(_) => {}
                Err(error) => break error.to_string(),
            }
        };
        shutdown.cancel();
        tracing::warn!(reason = end, "supervisor is gone; shutting down");
    });
}
