//! API8 Security Misconfiguration, from the transport up: HTTPS (and plain HTTP that only
//! redirects), security headers, no version banners, CORS closed to foreign origins with
//! credentials, errors provoked on purpose (read for internals at the end), and keep-alive
//! connections that are never closed without a word (read off every exchange at the end).

use std::time::Duration;

use http::Method;

use super::granted;
use crate::api::owasp::{Check, Item, Outcome};
use crate::api::probe::Probe;
use crate::api::target::{Exchange, Request, Target};

const FOREIGN_ORIGIN: &str = "https://msa-audit.evil.example";

pub async fn run(probe: &mut Probe) -> Vec<Check> {
    // Answers to look at: a guarded read, a public one, and an error.
    let mut answers = Vec::new();
    if let Some(whoami) = probe.auth.whoami.clone() {
        answers.push(
            probe
                .target
                .send(probe.a.request(Method::GET, whoami.path))
                .await,
        );
    }
    answers.push(
        probe
            .target
            .send(Request::new(Method::GET, "/openapi.json"))
            .await,
    );
    let missing = format!("/msa-audit-missing-{:08x}", rand::random::<u32>());
    answers.push(probe.target.send(Request::new(Method::GET, missing)).await);
    provoke_errors(probe).await;
    vec![
        https(probe).await,
        headers(probe, &answers),
        banners(&answers),
        cors(probe).await,
    ]
}

async fn https(probe: &Probe) -> Check {
    let mut check = Check::new(
        "transport.https",
        Item::Misconfiguration,
        "The API is served over HTTPS; plain HTTP only redirects",
    );
    if !probe.target.is_https() && !is_loopback(probe.target.base()) {
        check.requests = 1;
        check.fail(format!(
            "the API answers over plain HTTP at {}",
            probe.target.base()
        ));
        return check;
    }
    let Some(http_url) = probe.config.http_url.clone() else {
        return check.not_tested(if probe.target.is_https() {
            "give the plain-HTTP address (--http-url) to check that it only redirects"
        } else {
            "plain HTTP on loopback: nothing travels a network"
        });
    };
    let Ok(plain) = Target::new(&http_url, None, Duration::from_secs(10)) else {
        return check.not_tested(format!("{http_url} is not an http URL"));
    };
    let path = probe
        .auth
        .whoami
        .as_ref()
        .map_or("/openapi.json".to_owned(), |op| op.path.clone());
    let exchange = plain.send(Request::new(Method::GET, path)).await;
    check.requests = 1;
    let location = exchange.header("location").unwrap_or("");
    match exchange.status_code() {
        0 => check.note(format!(
            "{http_url}: nothing listens ({})",
            exchange.excerpt()
        )),
        301 | 302 | 307 | 308 if location.starts_with("https://") => {
            check.note(format!("{} (Location: {location})", exchange.excerpt()));
        }
        _ if granted(&exchange) => {
            check.fail(format!("plain HTTP serves the API: {}", exchange.excerpt()))
        }
        _ => check.fail(format!(
            "plain HTTP does not redirect to HTTPS: {}",
            exchange.excerpt()
        )),
    }
    check
}

fn is_loopback(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .is_some_and(|host| ["localhost", "127.0.0.1", "[::1]", "::1"].contains(&host.as_str()))
}

fn headers(probe: &Probe, answers: &[Exchange]) -> Check {
    let mut check = Check::new(
        "headers.security",
        Item::Misconfiguration,
        "Answers carry HSTS (over HTTPS), a CSP and nosniff",
    );
    check.requests = answers.len();
    for answer in answers.iter().filter(|a| a.status.is_some()) {
        let mut missing = Vec::new();
        if probe.target.is_https() && answer.header("strict-transport-security").is_none() {
            missing.push("Strict-Transport-Security");
        }
        if answer.header("content-security-policy").is_none() {
            missing.push("Content-Security-Policy");
        }
        if !answer
            .header("x-content-type-options")
            .is_some_and(|v| v.eq_ignore_ascii_case("nosniff"))
        {
            missing.push("X-Content-Type-Options: nosniff");
        }
        if !missing.is_empty() {
            check.fail(format!("{} lacks {}", answer.excerpt(), missing.join(", ")));
        }
    }
    if check.outcome == Outcome::Pass {
        check.note(format!("{} answers, each with every header", answers.len()));
    }
    check
}

fn banners(answers: &[Exchange]) -> Check {
    let mut check = Check::new(
        "headers.no-banner",
        Item::Misconfiguration,
        "No answer names its server software or version",
    );
    check.requests = answers.len();
    for answer in answers {
        for name in [
            "server",
            "x-powered-by",
            "x-aspnet-version",
            "x-runtime",
            "via",
        ] {
            if let Some(value) = answer.header(name) {
                let versioned = value.chars().any(|c| c.is_ascii_digit());
                if versioned || name != "server" {
                    check.fail(format!("{}: {name}: {value}", answer.excerpt()));
                }
            }
        }
    }
    if check.outcome == Outcome::Pass {
        check.note("no Server version, X-Powered-By or similar header");
    }
    check
}

async fn cors(probe: &Probe) -> Check {
    let mut check = Check::new(
        "cors.foreign-origin",
        Item::Misconfiguration,
        "CORS does not admit a foreign origin with credentials",
    );
    let path = probe
        .auth
        .whoami
        .as_ref()
        .map_or("/openapi.json".to_owned(), |op| op.path.clone());
    let simple = probe
        .target
        .send(
            probe
                .a
                .request(Method::GET, path.clone())
                .header("origin", FOREIGN_ORIGIN),
        )
        .await;
    let preflight = probe
        .target
        .send(
            Request::new(Method::OPTIONS, path)
                .header("origin", FOREIGN_ORIGIN)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type"),
        )
        .await;
    check.requests = 2;
    for answer in [&simple, &preflight] {
        let origin = answer.header("access-control-allow-origin").unwrap_or("");
        let credentials = answer
            .header("access-control-allow-credentials")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if origin == FOREIGN_ORIGIN || (origin == "*" && credentials) {
            check.fail(format!(
                "Origin: {FOREIGN_ORIGIN} -> Access-Control-Allow-Origin: {origin}, Allow-Credentials: {credentials} ({})",
                answer.excerpt()
            ));
        }
    }
    if check.outcome == Outcome::Pass {
        check.note(format!(
            "Origin: {FOREIGN_ORIGIN} -> {} / preflight {}",
            simple
                .header("access-control-allow-origin")
                .unwrap_or("no Access-Control-Allow-Origin"),
            preflight.status_code()
        ));
    }
    check
}

/// Errors on purpose: an unknown path, a wrong method, malformed JSON. Their bodies are
/// read for internals with every other response at the end.
async fn provoke_errors(probe: &Probe) {
    let _ = probe
        .target
        .send(Request::new(Method::DELETE, "/openapi.json"))
        .await;
    if let Some(login) = &probe.auth.login {
        let _ = probe
            .target
            .send(
                Request::new(Method::POST, login.path.clone())
                    .raw("application/json", b"{\"email\": ".to_vec()),
            )
            .await;
    }
    let _ = probe
        .target
        .send(Request::new(Method::GET, "/%c0%ae%c0%ae/%ff").header("accept", "text/html"))
        .await;
}

/// Whether any exchange of the audit was lost on a reused connection and answered on a
/// fresh one: the server closed a keep-alive connection without `Connection: close`, and
/// every pooled client of it sees requests fail at random.
pub fn keep_alive(probe: &Probe) -> Check {
    let mut check = Check::new(
        "transport.keep-alive",
        Item::Misconfiguration,
        "No request is lost to a keep-alive connection the server closed without saying so",
    );
    let total = probe.target.sent();
    check.requests = total;
    for race in probe.target.observations().keep_alive_races {
        check.fail(race);
    }
    if check.outcome == Outcome::Pass {
        check.note(format!(
            "every exchange of the audit ({total}) answered on the connection it was sent on"
        ));
    }
    check
}
