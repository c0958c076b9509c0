//! `msa audit api` against a deliberately weakened shop: with no flaw every check it can
//! run passes; with each flaw switched on, the check that is about it fails. A probe that
//! cannot fail proves nothing. (Against our own system it runs in CI: `.ci/api-audit`.)

mod weakened;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use audit::api::owasp::Outcome;
use audit::api::{self, Config, Progress, Report};
use weakened::Flaw;

/// A listener that counts connections: the dictionary names it as its server, and the
/// audit must never go there.
async fn decoy() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            seen.fetch_add(1, Ordering::Relaxed);
        }
    });
    (url, count)
}

async fn audit(flaw: Flaw, decoy_url: &str) -> Report {
    let base = weakened::start(flaw, decoy_url).await;
    let http_url = if flaw == Flaw::PlainHttpServes {
        base.clone()
    } else {
        weakened::start_redirector("https://127.0.0.1:1".into()).await
    };
    let config = Config {
        base,
        ca_pem: None,
        http_url: Some(http_url),
        users: None,
        admin: None,
        timeout: Duration::from_secs(10),
        brute_force_attempts: 10,
    };
    api::run(config, Progress::hidden(), "2026-11-25".into())
        .await
        .unwrap_or_else(|error| panic!("{flaw:?}: the audit could not start: {error}"))
}

fn failed_checks(report: &Report) -> Vec<&'static str> {
    report
        .items
        .iter()
        .flat_map(|item| &item.checks)
        .filter(|check| check.outcome == Outcome::Fail)
        .map(|check| check.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_flaw_every_check_passes() {
    let (decoy_url, decoy_hits) = decoy().await;
    let report = audit(Flaw::None, &decoy_url).await;
    assert_eq!(
        failed_checks(&report),
        Vec::<&str>::new(),
        "{}",
        report.to_text()
    );
    let passed: Vec<&str> = report
        .items
        .iter()
        .flat_map(|item| &item.checks)
        .filter(|check| check.outcome == Outcome::Pass)
        .map(|check| check.id)
        .collect();
    // Everything this shop offers a check for was checked, not skipped.
    for id in [
        "auth.required",
        "auth.brute-force",
        "session.cookie-attributes",
        "session.fixation",
        "session.logout-replay",
        "session.replay-other-agent",
        "bola.foreign-objects",
        "bfla.admin-operations",
        "mass-assignment.privileged-fields",
        "exposure.sensitive-fields",
        "transport.https",
        "headers.security",
        "headers.no-banner",
        "cors.foreign-origin",
        "injection.payloads",
        "injection.result-set",
        "input.malformed",
        "input.oversized",
        "errors.no-internals",
        "inventory.undocumented",
        "ssrf.url-parameters",
    ] {
        assert!(
            passed.contains(&id),
            "{id} did not pass:\n{}",
            report.to_text()
        );
    }
    assert!(!report.failed());
    assert_eq!(
        decoy_hits.load(Ordering::Relaxed),
        0,
        "the audit called the dictionary's server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_flaw_fails_its_check() {
    let (decoy_url, decoy_hits) = decoy().await;
    let cases = [
        (Flaw::OrdersWithoutLogin, "auth.required"),
        (Flaw::ForeignOrders, "bola.foreign-objects"),
        (Flaw::CustomersAddProducts, "bfla.admin-operations"),
        (
            Flaw::RoleAtRegistration,
            "mass-assignment.privileged-fields",
        ),
        (Flaw::SelfPromotion, "mass-assignment.privileged-fields"),
        (Flaw::LaxCookie, "session.cookie-attributes"),
        (Flaw::Fixation, "session.fixation"),
        (Flaw::LogoutKeepsSession, "session.logout-replay"),
        (Flaw::AnyUserAgent, "session.replay-other-agent"),
        (Flaw::NoThrottle, "auth.brute-force"),
        (Flaw::ReflectsSearch, "injection.payloads"),
        (Flaw::CrashesOnBadId, "input.malformed"),
        (Flaw::InjectableSearch, "injection.result-set"),
        (Flaw::OpenCors, "cors.foreign-origin"),
        (Flaw::VersionBanner, "headers.no-banner"),
        (Flaw::NoSecurityHeaders, "headers.security"),
        (Flaw::OldVersionAnswers, "inventory.undocumented"),
        (Flaw::LeaksHash, "exposure.sensitive-fields"),
        (Flaw::StackTraces, "errors.no-internals"),
        (Flaw::NoBodyLimit, "input.oversized"),
        (Flaw::PlainHttpServes, "transport.https"),
        (Flaw::FetchesAnyUrl, "ssrf.url-parameters"),
    ];
    let mut missed = Vec::new();
    for (flaw, check) in cases {
        let report = audit(flaw, &decoy_url).await;
        let failed = failed_checks(&report);
        if !failed.contains(&check) || !report.failed() {
            missed.push(format!(
                "{flaw:?}: expected {check} to fail, failed: {failed:?}"
            ));
        }
    }
    assert!(
        missed.is_empty(),
        "checks that did not catch their flaw:\n{}",
        missed.join("\n")
    );
    assert_eq!(
        decoy_hits.load(Ordering::Relaxed),
        0,
        "the audit called the dictionary's server"
    );
}
