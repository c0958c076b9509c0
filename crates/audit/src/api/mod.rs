//! `msa audit api`: probes a running deployment from outside, as an attacker with two
//! ordinary accounts (and an administrator's, if given) would, guided by the deployment's
//! own API dictionary. Every check is filed under its OWASP API Security Top 10 (2023)
//! item and carries the exchanges it rests on.
//!
//! It sends requests only to the base URL (and, if given, the plain-HTTP URL whose
//! redirect it checks), never follows a redirect, and never uses the dictionary's servers.
//! It changes data: it registers accounts, places orders and tries what an attacker would.
//! Point it at a deployment of your own.

pub mod dictionary;
pub mod identity;
pub mod owasp;
pub mod sample;
pub mod target;

mod checks;
mod probe;
mod progress;

use std::fmt::Write as _;

use serde::Serialize;

use identity::Session;
use owasp::{Check, Item, Outcome};
pub use probe::{Config, Probe, SetupError};
pub use progress::Progress;

/// The phases `run` goes through, for the progress bar.
const PHASES: usize = 10;

#[derive(Debug, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    pub target: String,
    pub date: String,
    pub operations: usize,
    pub requests: usize,
    pub identities: Vec<String>,
    pub items: Vec<ItemReport>,
}

#[derive(Debug, Serialize)]
pub struct ItemReport {
    pub id: Item,
    pub name: &'static str,
    pub outcome: Outcome,
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// Runs every check against the target, in an order that keeps the noisy ones (brute force)
/// late, and files the results under the OWASP items.
pub async fn run(config: Config, progress: Progress, today: String) -> Result<Report, SetupError> {
    let mut probe = Probe::set_up(config, progress).await?;
    let mut checks = Vec::new();
    probe.progress.start(PHASES);
    probe.progress.phase("sessions");
    checks.extend(checks::authentication::sessions(&mut probe).await);
    probe.progress.phase("authentication required");
    checks.extend(checks::authentication::required(&mut probe).await);
    probe.progress.phase("object-level authorization");
    checks.extend(checks::objects::run(&mut probe).await);
    probe.progress.phase("function-level authorization");
    checks.extend(checks::functions::run(&mut probe).await);
    probe.progress.phase("mass assignment");
    checks.extend(checks::properties::mass_assignment(&mut probe).await);
    probe.progress.phase("transport and headers");
    checks.extend(checks::transport::run(&mut probe).await);
    probe.progress.phase("inventory");
    checks.extend(checks::inventory::run(&mut probe).await);
    probe.progress.phase("injection and malformed input");
    checks.extend(checks::injection::run(&mut probe).await);
    // Last: it may leave user A throttled at log-in for a while.
    probe.progress.phase("login brute force");
    checks.extend(checks::authentication::brute_force(&mut probe).await);
    probe.progress.phase("leaks in every response");
    checks.extend(checks::properties::leaks(&mut probe).await);
    checks.push(checks::transport::keep_alive(&probe));
    probe.progress.finish(probe.target.sent());
    let items = Item::ALL
        .into_iter()
        .map(|item| {
            let mine: Vec<Check> = checks.iter().filter(|c| c.item == item).cloned().collect();
            let outcome = owasp::verdict(&mine);
            ItemReport {
                id: item,
                name: item.name(),
                outcome,
                reason: if mine.is_empty() {
                    item.untested_reason()
                } else {
                    None
                },
                checks: mine,
            }
        })
        .collect();
    let identity = |label: &str, session: &Session, how: &str| {
        format!(
            "{label}: user {} ({}), {how}",
            session.user_id.map_or("?".into(), |id| id.to_string()),
            session.role.as_deref().unwrap_or("role unknown")
        )
    };
    let how = if probe.config.users.is_some() {
        "given"
    } else {
        "registered by the audit"
    };
    let mut identities = vec![identity("A", &probe.a, how), identity("B", &probe.b, how)];
    if let Some(admin) = &probe.admin {
        identities.push(identity("admin", admin, "given"));
    }
    Ok(Report {
        tool: "msa audit api",
        version: env!("CARGO_PKG_VERSION"),
        target: probe.target.base().to_owned(),
        date: today,
        operations: probe.operations.len(),
        requests: probe.target.sent(),
        identities,
        items,
    })
}

impl Report {
    pub fn failed(&self) -> bool {
        self.items.iter().any(|item| item.outcome == Outcome::Fail)
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {}  {} ({}; {} operations in its dictionary, {} requests)",
            self.tool, self.version, self.target, self.date, self.operations, self.requests
        );
        for identity in &self.identities {
            let _ = writeln!(out, "  as {identity}");
        }
        let _ = writeln!(out);
        for item in &self.items {
            owasp::render_item(&mut out, item.id, &item.checks);
        }
        let failed = self
            .items
            .iter()
            .filter(|i| i.outcome == Outcome::Fail)
            .count();
        let untested = self
            .items
            .iter()
            .filter(|i| i.outcome == Outcome::NotTested)
            .count();
        let _ = writeln!(
            out,
            "\n{} of 10 items failed, {} passed, {} not tested",
            failed,
            10 - failed - untested,
            untested
        );
        out
    }
}
