//! API2 Broken Authentication: credentials required where the dictionary says so, and
//! sessions that behave: safe cookie attributes, no fixation, no replay after logging out
//! or from another client, login brute force throttled.

use http::Method;

use super::{broke, granted};
use crate::api::identity::{self, Session};
use crate::api::owasp::{Check, Item};
use crate::api::probe::Probe;
use crate::api::sample;
use crate::api::target::{Credential, Request};

/// A browser's user agent: what a thief replaying a stolen cookie would send.
const OTHER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

pub async fn sessions(probe: &mut Probe) -> Vec<Check> {
    vec![
        cookie_attributes(probe),
        fixation(probe).await,
        logout_replay(probe).await,
        other_agent_replay(probe).await,
    ]
}

fn cookie_attributes(probe: &Probe) -> Check {
    let check = Check::new(
        "session.cookie-attributes",
        Item::Authentication,
        "The session cookie is Secure, HttpOnly and SameSite",
    );
    let Some(cookie) = &probe.a.set_cookie else {
        return check.not_tested("the session is a bearer token, not a cookie");
    };
    let mut check = check;
    check.requests = 1;
    let attributes: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    let has = |name: &str| {
        attributes
            .iter()
            .any(|a| a == name || a.starts_with(&format!("{name}=")))
    };
    let name = cookie.split('=').next().unwrap_or("");
    // The cookie's value is a credential: the evidence shows its attributes only.
    let shown = format!("Set-Cookie: {name}=...; {}", attributes.join("; "));
    for (attribute, why) in [
        ("secure", "without Secure it travels over plain HTTP"),
        (
            "httponly",
            "without HttpOnly any script on the page can read it",
        ),
        (
            "samesite",
            "without SameSite other sites' forms send it (CSRF)",
        ),
    ] {
        if !has(attribute) {
            check.fail(format!("{shown}: {why}"));
        }
    }
    if attributes.iter().any(|a| a == "samesite=none") {
        check.fail(format!("{shown}: SameSite=None lets other sites send it"));
    }
    if check.outcome == crate::api::owasp::Outcome::Pass {
        check.note(shown);
    }
    check
}

async fn fixation(probe: &mut Probe) -> Check {
    let mut check = Check::new(
        "session.fixation",
        Item::Authentication,
        "Logging in never adopts a session id the client chose",
    );
    let Credential::Cookie { name, .. } = &probe.a.credential else {
        return check.not_tested("the session is a bearer token, not a cookie");
    };
    let planted = Credential::Cookie {
        name: name.clone(),
        value: format!("msa-audit-fixed-{:016x}", rand::random::<u64>()),
    };
    let agent = identity::agent("fixation");
    let logged_in = probe
        .auth
        .log_in(&probe.target, &probe.account_a, &agent, Some(&planted))
        .await;
    check.requests = 3;
    match logged_in {
        Err(exchange) => check.not_tested(format!(
            "log-in with a planted cookie: {}",
            exchange.excerpt()
        )),
        Ok((session, _)) => {
            if session.credential == planted {
                check.fail(format!(
                    "the log-in answer kept the planted session id {planted:?}"
                ));
            }
            if let Some(exchange) = probe.auth.accepted(&probe.target, &planted, &agent).await
                && granted(&exchange)
            {
                check.fail(format!(
                    "the planted id works after log-in: {}",
                    exchange.excerpt()
                ));
            }
            if check.outcome == crate::api::owasp::Outcome::Pass {
                check.note(
                    "log-in with a planted cookie set a new one; the planted one stays unknown",
                );
            }
            check
        }
    }
}

async fn fresh_session(probe: &Probe, label: &str) -> Result<Session, String> {
    probe
        .auth
        .log_in(
            &probe.target,
            &probe.account_a,
            &identity::agent(label),
            None,
        )
        .await
        .map(|(session, _)| session)
        .map_err(|exchange| exchange.excerpt())
}

async fn logout_replay(probe: &mut Probe) -> Check {
    let mut check = Check::new(
        "session.logout-replay",
        Item::Authentication,
        "A logged-out session is refused",
    );
    if probe.auth.logout.is_none() || probe.auth.whoami.is_none() {
        return check.not_tested("the dictionary has no log-out or who-am-I operation");
    }
    let session = match fresh_session(probe, "logout").await {
        Ok(session) => session,
        Err(excerpt) => return check.not_tested(format!("log-in: {excerpt}")),
    };
    let logged_out = probe.auth.log_out(&probe.target, &session).await;
    check.requests = 4;
    if let Some(exchange) = &logged_out
        && !granted(exchange)
    {
        return check.not_tested(format!("log-out failed: {}", exchange.excerpt()));
    }
    if let Some(exchange) = probe
        .auth
        .accepted(&probe.target, &session.credential, &session.user_agent)
        .await
    {
        if granted(&exchange) || broke(&exchange) {
            check.fail(format!("after log-out: {}", exchange.excerpt()));
        } else {
            check.note(format!("after log-out: {}", exchange.excerpt()));
        }
    }
    check
}

async fn other_agent_replay(probe: &mut Probe) -> Check {
    let mut check = Check::new(
        "session.replay-other-agent",
        Item::Authentication,
        "A session replayed from another user agent is refused",
    );
    if probe.auth.whoami.is_none() {
        return check.not_tested("the dictionary has no who-am-I operation");
    }
    let session = match fresh_session(probe, "replay").await {
        Ok(session) => session,
        Err(excerpt) => return check.not_tested(format!("log-in: {excerpt}")),
    };
    check.requests = 3;
    if let Some(exchange) = probe
        .auth
        .accepted(&probe.target, &session.credential, OTHER_AGENT)
        .await
    {
        if granted(&exchange) || broke(&exchange) {
            check.fail(format!(
                "replayed with User-Agent \"{OTHER_AGENT}\": {}",
                exchange.excerpt()
            ));
        } else {
            check.note(format!(
                "replayed with another User-Agent: {}",
                exchange.excerpt()
            ));
        }
    }
    check
}

/// Every operation the dictionary guards, without credentials and with garbage ones.
pub async fn required(probe: &mut Probe) -> Vec<Check> {
    let mut check = Check::new(
        "auth.required",
        Item::Authentication,
        "Guarded operations refuse no, garbage and logged-out credentials",
    );
    let cookie_name = probe
        .auth
        .cookie_name
        .clone()
        .unwrap_or_else(|| "session".into());
    // How a request may try to pass: nothing, garbage, and a real session logged out
    // (sent with its own user agent, so that only the log-out can refuse it).
    let mut ways: Vec<(&str, Credential, Option<String>)> = vec![
        ("no credentials", Credential::Anonymous, None),
        (
            "a garbage session cookie",
            Credential::Cookie {
                name: cookie_name,
                value: "msa-audit-garbage-session".into(),
            },
            None,
        ),
        (
            "a garbage bearer token",
            Credential::Bearer("msa_audit_garbage_token.eyJhbGciOiJub25lIn0.e30.".into()),
            None,
        ),
    ];
    if let Ok(session) = fresh_session(probe, "logged out").await
        && probe
            .auth
            .log_out(&probe.target, &session)
            .await
            .is_some_and(|exchange| granted(&exchange))
    {
        ways.push((
            "a logged-out session",
            session.credential,
            Some(session.user_agent),
        ));
    }
    let mut probed = 0;
    for op in probe
        .probed_operations()
        .into_iter()
        .filter(|op| !op.public)
    {
        probe
            .progress
            .note(&format!("authentication required: {}", op.label()));
        let id = crate::api::probe::collection_of(&op.path)
            .and_then(|c| probe.owned.get(&c).copied())
            .unwrap_or(1);
        let path = sample::path(&op, &id.to_string());
        let body = sample::body(&op, &probe.ids);
        probed += 1;
        for (how, credential, agent) in &ways {
            let mut request = Request::new(op.method.clone(), path.clone()).credential(credential);
            if let Some(agent) = agent {
                request = request.user_agent(agent);
            }
            for (name, value) in sample::required_headers(&op) {
                request = request.header(name, &value);
            }
            if let Some(body) = &body {
                request = request.json(body.clone());
            }
            let exchange = probe.target.send(request).await;
            check.requests += 1;
            if granted(&exchange) || broke(&exchange) {
                check.fail(format!("with {how}: {}", exchange.excerpt()));
            }
        }
    }
    if probed == 0 {
        return vec![check.not_tested("the dictionary guards no operation")];
    }
    if check.outcome == crate::api::owasp::Outcome::Pass {
        check.note(format!(
            "{probed} guarded operations, each refused {} ways ({})",
            ways.len(),
            ways.iter()
                .map(|(how, ..)| *how)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    vec![check]
}

/// Wrong passwords for one account until the target throttles, up to the configured count.
pub async fn brute_force(probe: &mut Probe) -> Vec<Check> {
    let mut check = Check::new(
        "auth.brute-force",
        Item::Authentication,
        "Repeated wrong passwords are throttled",
    );
    let Some(login) = probe.auth.login.clone() else {
        return vec![check.not_tested("the dictionary has no log-in operation")];
    };
    let attempts = probe.config.brute_force_attempts;
    let mut wrong = probe.account_a.clone();
    for attempt in 1..=attempts {
        probe.progress.note(&format!(
            "login brute force: attempt {attempt} of {attempts}"
        ));
        wrong.password = format!("wrong-{attempt}-{:08x}", rand::random::<u32>());
        let body = identity::login_body(&probe.auth, &wrong);
        let exchange = probe
            .target
            .send(
                Request::new(Method::POST, login.path.clone())
                    .json(body)
                    .no_pacing(),
            )
            .await;
        check.requests += 1;
        if granted(&exchange) {
            check.fail(format!(
                "attempt {attempt} with a wrong password logged in: {}",
                exchange.excerpt()
            ));
            return vec![check];
        }
        if exchange.status_code() == 429 || exchange.header("retry-after").is_some() {
            check.note(format!(
                "attempt {attempt}: {} (Retry-After: {})",
                exchange.excerpt(),
                exchange.header("retry-after").unwrap_or("none")
            ));
            return vec![check];
        }
    }
    check.fail(format!(
        "{attempts} wrong passwords for one account in a row, none throttled (no 429, no Retry-After)"
    ));
    vec![check]
}
