//! Hostile input in every parameter and body field: injection (SQL, NoSQL, path traversal,
//! header and log injection, templates, markup) and malformed input must never get a 5xx,
//! hang, be reflected, or change a result set (API8); oversized input must be refused
//! (API4); parameters that take a URL must not be fetched from the server (API7).

use http::Method;
use serde_json::{Value, json};

use super::{broke, granted};
use crate::api::dictionary::Operation;
use crate::api::owasp::{Check, Item, Outcome};
use crate::api::probe::{Probe, collection_of};
use crate::api::sample;
use crate::api::target::{Exchange, Request};

/// Injected as a string wherever a string goes.
const PAYLOADS: [&str; 9] = [
    "' OR '1'='1",
    "1; DROP TABLE users--",
    "{\"$gt\": \"\"}",
    "../../../../../../etc/passwd",
    "..%2f..%2f..%2f..%2fetc%2fpasswd",
    "msa\r\nX-Msa-Audit: injected",
    "msa\n2026-01-01T00:00:00Z ERROR msa-audit forged log line",
    "{{7*7}}${7*7}<%= 7*7 %>",
    "<script>msa_audit()</script>",
];

/// The sign, in a body, of a traversal having read a file.
const PASSWD_LINE: &str = "root:x:0:0";

/// Path parameter values that are wrong in type or range.
const MALFORMED_IDS: [&str; 7] = [
    "-1",
    "0",
    "99999999999999999999999",
    "1.5",
    "%00",
    "abc",
    "%ff%fe",
];

/// Too large for any field of a shop.
const OVERSIZED: usize = 2 * 1024 * 1024;

pub async fn run(probe: &mut Probe) -> Vec<Check> {
    let mut injection = Check::new(
        "injection.payloads",
        Item::Misconfiguration,
        "Injection payloads in every parameter and field: no 5xx, no reflection, no effect",
    );
    let mut result_set = Check::new(
        "injection.result-set",
        Item::Misconfiguration,
        "Injected search values never widen a result set",
    );
    let mut malformed = Check::new(
        "input.malformed",
        Item::Misconfiguration,
        "Malformed input (types, ids, JSON, encodings) gets a 4xx",
    );
    let mut oversized = Check::new(
        "input.oversized",
        Item::ResourceConsumption,
        "Oversized bodies and parameters are refused",
    );
    // Deletions are not probed: a flaw would destroy data the audit did not make.
    let operations: Vec<Operation> = probe
        .probed_operations()
        .into_iter()
        .filter(|op| op.method != Method::DELETE)
        .collect();
    for op in &operations {
        probe.progress.note(&format!("injection: {}", op.label()));
        payloads(probe, op, &mut injection).await;
        malformed_input(probe, op, &mut malformed).await;
        oversized_input(probe, op, &mut oversized).await;
    }
    login_injection(probe, &mut injection).await;
    result_sets(probe, &operations, &mut result_set).await;
    let ssrf = request_forgery(probe, &operations).await;
    for (check, what) in [
        (&mut injection, "payloads"),
        (&mut malformed, "malformed values"),
        (&mut oversized, "oversized inputs"),
    ] {
        if check.outcome == Outcome::Pass {
            check.note(format!(
                "{} {what} over {} operations, none broke through",
                check.requests,
                operations.len()
            ));
        }
    }
    vec![injection, result_set, malformed, oversized, ssrf]
}

/// The session to probe `op` with: user A's, or none for public operations.
fn send_plan(probe: &Probe, op: &Operation) -> (String, Option<Value>) {
    let id = collection_of(&op.path)
        .and_then(|c| probe.owned.get(&c).copied())
        .unwrap_or(1);
    (
        sample::path(op, &id.to_string()),
        sample::body(op, &probe.ids),
    )
}

/// Where in a request a payload goes.
enum Slot {
    Path(String),
    Query(String),
    Header(String),
    Field(String),
}

fn slots(op: &Operation, body: Option<&Value>) -> Vec<Slot> {
    let mut slots: Vec<Slot> = op
        .parameters
        .iter()
        .filter_map(|p| match p.location.as_str() {
            "path" => Some(Slot::Path(p.name.clone())),
            "query" => Some(Slot::Query(p.name.clone())),
            "header" => Some(Slot::Header(p.name.clone())),
            _ => None,
        })
        .collect();
    if let Some(Value::Object(fields)) = body {
        slots.extend(fields.keys().map(|k| Slot::Field(k.clone())));
    }
    slots
}

/// The request for `op` with `value` in `slot` (encoded for its place).
fn with_value(probe: &Probe, op: &Operation, slot: &Slot, value: &Value) -> Request {
    let (mut path, body) = send_plan(probe, op);
    let text = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned);
    let mut body = body;
    match slot {
        Slot::Path(name) => {
            let id = collection_of(&op.path)
                .and_then(|c| probe.owned.get(&c).copied())
                .unwrap_or(1)
                .to_string();
            path = op.path.clone();
            for parameter in op.path_parameters() {
                let value = if &parameter.name == name {
                    encode(&text)
                } else {
                    id.clone()
                };
                path = path.replace(&format!("{{{}}}", parameter.name), &value);
            }
        }
        Slot::Query(name) => {
            path = format!("{path}?{name}={}", encode(&text));
        }
        Slot::Field(name) => {
            if let Some(Value::Object(fields)) = &mut body {
                fields.insert(name.clone(), value.clone());
            }
        }
        Slot::Header(_) => {}
    }
    let mut request = request_for(probe, op, path);
    for (name, required) in sample::required_headers(op) {
        if !matches!(slot, Slot::Header(header) if header.eq_ignore_ascii_case(name)) {
            request = request.header(name, &required);
        }
    }
    if let Slot::Header(name) = slot {
        request = request.header(name, &text);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request
}

/// A request for `op` as user A, or anonymous where the operation is public.
fn request_for(probe: &Probe, op: &Operation, path: String) -> Request {
    if op.public {
        Request::new(op.method.clone(), path)
    } else {
        probe.a.request(op.method.clone(), path)
    }
}

/// Percent-encodes what a URL cannot carry as is (already-encoded payloads stay encoded).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'%' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether `payload` came back where it could do harm: in a header, or in a body that is
/// not plain JSON data (an error's detail, HTML, text).
fn reflected(exchange: &Exchange, payload: &str) -> bool {
    let in_headers = exchange.headers.iter().any(|(name, value)| {
        name.as_str() == "x-msa-audit" || value.to_str().is_ok_and(|v| v.contains(payload))
    });
    let content_type = exchange.header("content-type").unwrap_or("");
    let data = content_type.starts_with("application/json");
    in_headers || (!data && exchange.body.contains(payload))
}

async fn payloads(probe: &Probe, op: &Operation, check: &mut Check) {
    let (_, body) = send_plan(probe, op);
    for slot in slots(op, body.as_ref()) {
        for payload in PAYLOADS {
            let value = match (&slot, payload.starts_with("{\"$")) {
                // In a JSON body the NoSQL operator goes in as an object, not a string.
                (Slot::Field(_), true) => json!({"$gt": ""}),
                _ => json!(payload),
            };
            let exchange = probe
                .target
                .send(with_value(probe, op, &slot, &value))
                .await;
            check.requests += 1;
            let sign = if exchange.header("x-msa-audit").is_some() {
                Some("a response header X-Msa-Audit")
            } else if exchange.body.contains(PASSWD_LINE) {
                Some("/etc/passwd in the body")
            } else {
                None
            };
            if broke(&exchange) {
                check.fail(format!(
                    "{}: {}",
                    describe(&slot, payload),
                    exchange.excerpt()
                ));
            } else if let Some(sign) = sign {
                check.fail(format!(
                    "{} worked ({sign}): {}",
                    describe(&slot, payload),
                    exchange.excerpt()
                ));
            } else if reflected(&exchange, payload) {
                check.fail(format!(
                    "{} reflected: {}",
                    describe(&slot, payload),
                    exchange.excerpt()
                ));
            }
        }
    }
}

fn describe(slot: &Slot, payload: &str) -> String {
    let payload = payload.escape_debug();
    match slot {
        Slot::Path(name) => format!("path {{{name}}} = \"{payload}\""),
        Slot::Query(name) => format!("query {name} = \"{payload}\""),
        Slot::Header(name) => format!("header {name} = \"{payload}\""),
        Slot::Field(name) => format!("field {name} = \"{payload}\""),
    }
}

/// A log-in whose email is an injection must not log anyone in.
async fn login_injection(probe: &Probe, check: &mut Check) {
    let Some(login) = &probe.auth.login else {
        return;
    };
    for email in ["' OR '1'='1' --", "admin'--", "\" OR \"\"=\""] {
        let body = crate::api::identity::login_body(
            &probe.auth,
            &crate::api::identity::Account {
                email: email.into(),
                password: "' OR '1'='1".into(),
            },
        );
        let exchange = probe
            .target
            .send(Request::new(Method::POST, login.path.clone()).json(body))
            .await;
        check.requests += 1;
        if granted(&exchange) || broke(&exchange) {
            check.fail(format!("log-in as \"{email}\": {}", exchange.excerpt()));
        }
    }
}

/// A search with an injection must not return more than a search for nonsense.
async fn result_sets(probe: &Probe, operations: &[Operation], check: &mut Check) {
    let mut probed = 0;
    for op in operations
        .iter()
        .filter(|op| op.method == Method::GET && !op.has_path_parameters())
    {
        let singular = sample::singular(crate::api::probe::last_segment(&op.path));
        for parameter in op.parameters.iter().filter(|p| {
            p.location == "query"
                && p.schema.get("enum").is_none()
                && p.schema
                    .get("type")
                    .and_then(Value::as_str)
                    .is_none_or(|t| t == "string")
                && p.schema.get("format").is_none()
        }) {
            let count = |exchange: &Exchange| {
                exchange
                    .json()
                    .map_or(0, |body| sample::ids_in(&body, &singular).len())
            };
            let slot = Slot::Query(parameter.name.clone());
            let nonsense = json!(format!("msa-audit-nothing-{:08x}", rand::random::<u32>()));
            let baseline = probe
                .target
                .send(with_value(probe, op, &slot, &nonsense))
                .await;
            check.requests += 1;
            if !granted(&baseline) {
                continue;
            }
            probed += 1;
            for payload in [
                "' OR '1'='1",
                "' OR 1=1 --",
                "\" OR \"\"=\"",
                "') OR ('1'='1",
            ] {
                let exchange = probe
                    .target
                    .send(with_value(probe, op, &slot, &json!(payload)))
                    .await;
                check.requests += 1;
                if count(&exchange) > count(&baseline) {
                    check.fail(format!(
                        "{}?{}: {} items for \"{payload}\", {} for nonsense: {}",
                        op.path,
                        parameter.name,
                        count(&exchange),
                        count(&baseline),
                        exchange.excerpt()
                    ));
                }
            }
        }
    }
    if probed == 0 {
        *check = check
            .clone()
            .not_tested("no list takes a free-text parameter");
    } else if check.outcome == Outcome::Pass {
        check.note(format!(
            "{probed} search parameters: injections found no more than nonsense"
        ));
    }
}

async fn malformed_input(probe: &Probe, op: &Operation, check: &mut Check) {
    for parameter in op.path_parameters() {
        for value in MALFORMED_IDS {
            let request = with_value(
                probe,
                op,
                &Slot::Path(parameter.name.clone()),
                &json!(value),
            );
            // Already encoded: sent as is.
            let mut request = request;
            request.path = request.path.replace(&encode(value), value);
            let exchange = probe.target.send(request).await;
            check.requests += 1;
            if broke(&exchange) {
                check.fail(format!(
                    "path {{{}}} = \"{value}\": {}",
                    parameter.name,
                    exchange.excerpt()
                ));
            }
        }
    }
    let (path, body) = send_plan(probe, op);
    let Some(Value::Object(fields)) = body else {
        return;
    };
    // Each field with the wrong type.
    for field in fields.keys() {
        for wrong in [
            json!(["array"]),
            json!({"nested": true}),
            json!(-1e308),
            json!(null),
            json!("\u{0}"),
        ] {
            let exchange = probe
                .target
                .send(with_value(probe, op, &Slot::Field(field.clone()), &wrong))
                .await;
            check.requests += 1;
            if broke(&exchange) {
                check.fail(format!("field {field} = {wrong}: {}", exchange.excerpt()));
            }
        }
    }
    // The body itself malformed.
    let raw: [(&'static str, &[u8]); 5] = [
        ("application/json", b"{\"truncated\": "),
        ("application/json", b"[1, 2, 3]"),
        ("application/json", b"\xff\xfe{\"bad\": \"utf-8\"}"),
        ("text/plain", b"plain text"),
        ("application/x-www-form-urlencoded", b"a=1&b=2"),
    ];
    for (content_type, bytes) in raw {
        let mut request = request_for(probe, op, path.clone()).raw(content_type, bytes.to_vec());
        for (name, value) in sample::required_headers(op) {
            request = request.header(name, &value);
        }
        let exchange = probe.target.send(request).await;
        check.requests += 1;
        if broke(&exchange) || granted(&exchange) {
            check.fail(format!(
                "{content_type} body {:?}: {}",
                String::from_utf8_lossy(bytes),
                exchange.excerpt()
            ));
        }
    }
}

async fn oversized_input(probe: &Probe, op: &Operation, check: &mut Check) {
    let big = "A".repeat(OVERSIZED);
    let (_, body) = send_plan(probe, op);
    if let Some(Value::Object(fields)) = &body
        && let Some(field) = fields.keys().next()
    {
        let exchange = probe
            .target
            .send(with_value(
                probe,
                op,
                &Slot::Field(field.clone()),
                &json!(big),
            ))
            .await;
        check.requests += 1;
        // Refusing may mean resetting the stream before reading it all: no answer is fine,
        // as long as it came at once (no timeout).
        if (broke(&exchange) && !exchange.closed_without_answer()) || granted(&exchange) {
            check.fail(format!(
                "a {} MiB field {field}: {}",
                OVERSIZED >> 20,
                exchange.excerpt()
            ));
        }
    }
    if let Some(parameter) = op.parameters.iter().find(|p| p.location == "query") {
        let long = "A".repeat(64 * 1024);
        let exchange = probe
            .target
            .send(with_value(
                probe,
                op,
                &Slot::Query(parameter.name.clone()),
                &json!(long),
            ))
            .await;
        check.requests += 1;
        if broke(&exchange) && !exchange.closed_without_answer() {
            check.fail(format!(
                "a 64 KiB query {}: {}",
                parameter.name,
                exchange.excerpt()
            ));
        }
    }
}

/// Parameters and fields that take a URL are given internal addresses: the server must
/// refuse them, not fetch them.
async fn request_forgery(probe: &Probe, operations: &[Operation]) -> Check {
    let mut check = Check::new(
        "ssrf.url-parameters",
        Item::RequestForgery,
        "Parameters that take a URL refuse internal addresses",
    );
    let takes_url = |name: &str, schema: &Value| {
        let lower = name.to_ascii_lowercase();
        [
            "url", "uri", "callback", "webhook", "link", "image", "avatar", "redirect",
        ]
        .iter()
        .any(|word| lower.contains(word))
            || schema
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| f == "uri" || f == "url")
    };
    let mut slots = Vec::new();
    for op in operations {
        for parameter in &op.parameters {
            if parameter.location == "query" && takes_url(&parameter.name, &parameter.schema) {
                slots.push((op.clone(), Slot::Query(parameter.name.clone())));
            }
        }
        if let Some(properties) = op
            .body
            .as_ref()
            .and_then(|b| b.get("properties"))
            .and_then(Value::as_object)
        {
            for (name, schema) in properties {
                if takes_url(name, schema) {
                    slots.push((op.clone(), Slot::Field(name.clone())));
                }
            }
        }
    }
    if slots.is_empty() {
        return check.not_tested("no parameter or field takes a URL");
    }
    for (op, slot) in slots {
        for url in [
            "http://127.0.0.1:22/",
            "http://169.254.169.254/latest/meta-data/",
            "file:///etc/passwd",
        ] {
            let exchange = probe
                .target
                .send(with_value(probe, &op, &slot, &json!(url)))
                .await;
            check.requests += 1;
            let leaked = ["SSH-", "ami-id", PASSWD_LINE, "instance-id"]
                .iter()
                .any(|sign| exchange.body.contains(sign));
            if broke(&exchange) || leaked {
                check.fail(format!(
                    "{} = {url}: {}",
                    describe(&slot, url),
                    exchange.excerpt()
                ));
            }
        }
    }
    check
}
