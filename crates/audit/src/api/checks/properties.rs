//! API3 Broken Object Property Level Authorization: privileged fields slipped into bodies
//! (mass assignment) must be refused or ignored, and no response may carry a credential.
//! Also the last look at every response of the audit: leaked internals (API8).

use http::Method;
use serde_json::{Value, json};

use super::{broke, granted};
use crate::api::dictionary::Operation;
use crate::api::identity::{self, Account};
use crate::api::owasp::{Check, Item, Outcome};
use crate::api::probe::{Probe, collection_of};
use crate::api::sample;
use crate::api::target::Request;

/// Fields that would make the sender an administrator, when no schema names them.
fn privileges() -> Value {
    json!({"role": "admin", "is_admin": true, "admin": true, "roles": ["admin"]})
}

const PRIVILEGE_FIELDS: [&str; 8] = [
    "role",
    "roles",
    "is_admin",
    "admin",
    "permissions",
    "scopes",
    "privileges",
    "user_type",
];

/// The privileged fields to slip into a body for `schema`: the ones the schema itself
/// has (with an administrator's value), then ones it does not have. A strict server
/// refuses the second kind outright; only the first shows whether it checks who may set
/// what.
fn privileged_variants(schema: Option<&Value>) -> Vec<Value> {
    let properties = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object);
    let mut known = serde_json::Map::new();
    for (name, property) in properties.into_iter().flatten() {
        if PRIVILEGE_FIELDS.contains(&name.to_ascii_lowercase().as_str())
            && let Some(value) = administrator_value(property)
        {
            known.insert(name.clone(), value);
        }
    }
    let unknown: serde_json::Map<String, Value> = privileges()
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| properties.is_none_or(|p| !p.contains_key(*name)))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    [known, unknown]
        .into_iter()
        .filter(|fields| !fields.is_empty())
        .map(Value::Object)
        .collect()
}

/// An administrator's value for a property: the enum value that names one, `true`, or
/// "admin".
fn administrator_value(property: &Value) -> Option<Value> {
    let options: Vec<&Value> = match property.get("oneOf").or_else(|| property.get("anyOf")) {
        Some(Value::Array(options)) => options.iter().collect(),
        _ => vec![property],
    };
    options.into_iter().find_map(|option| {
        if let Some(values) = option.get("enum").and_then(Value::as_array) {
            return values
                .iter()
                .find(|v| {
                    v.as_str()
                        .is_some_and(|v| v.to_ascii_lowercase().contains("admin"))
                })
                .cloned();
        }
        match option.get("type").and_then(Value::as_str) {
            Some("boolean") => Some(json!(true)),
            Some("string") => Some(json!("admin")),
            Some("array") => Some(json!(["admin"])),
            _ => None,
        }
    })
}

pub async fn mass_assignment(probe: &mut Probe) -> Vec<Check> {
    let mut check = Check::new(
        "mass-assignment.privileged-fields",
        Item::PropertyLevelAuthorization,
        "Privileged fields in bodies are refused or ignored",
    );
    let mut tried = Vec::new();
    registration(probe, &mut check, &mut tried).await;
    own_account(probe, &mut check, &mut tried).await;
    creations(probe, &mut check, &mut tried).await;
    if tried.is_empty() {
        return vec![check.not_tested("no registration, account update or creation to try")];
    }
    if check.outcome == Outcome::Pass {
        check.note(format!("refused or ignored: {}", tried.join("; ")));
    }
    vec![check]
}

fn merged(mut body: Value, extra: &Value) -> Value {
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            body.insert(key.clone(), value.clone());
        }
    }
    body
}

fn is_admin(role: Option<&str>) -> bool {
    role.is_some_and(|role| role.to_ascii_lowercase().contains("admin"))
}

/// Registers with an administrator's role in the body, then looks at the role it got.
async fn registration(probe: &mut Probe, check: &mut Check, tried: &mut Vec<String>) {
    let Some(register) = probe.auth.register.clone() else {
        return;
    };
    for variant in privileged_variants(register.body.as_ref()) {
        register_with(probe, &register, &variant, check, tried).await;
    }
}

async fn register_with(
    probe: &mut Probe,
    register: &Operation,
    variant: &Value,
    check: &mut Check,
    tried: &mut Vec<String>,
) {
    let account = Account {
        email: format!("msa-audit-mass-{:x}@example.com", rand::random::<u64>()),
        password: format!("audit-{:032x}", rand::random::<u128>()),
    };
    let mut body = json!({});
    for field in register
        .body
        .as_ref()
        .map(crate::api::dictionary::properties)
        .unwrap_or_default()
    {
        let lower = field.to_ascii_lowercase();
        let value = if lower.contains("pass") {
            json!(account.password)
        } else if lower.contains("mail") || lower == "username" {
            json!(account.email)
        } else {
            json!("Audit Mass")
        };
        body[field] = value;
    }
    let exchange = probe
        .target
        .send(Request::new(Method::POST, register.path.clone()).json(merged(body, variant)))
        .await;
    check.requests += 1;
    tried.push(format!(
        "registration with {variant}: {}",
        exchange.status_code()
    ));
    if broke(&exchange) {
        check.fail(format!("registration with a role: {}", exchange.excerpt()));
        return;
    }
    if !granted(&exchange) {
        return;
    }
    let logged_in = probe
        .auth
        .log_in(&probe.target, &account, &identity::agent("mass"), None)
        .await;
    check.requests += 2;
    if let Ok((session, _)) = logged_in
        && is_admin(session.role.as_deref())
    {
        check.fail(format!(
            "registered with {variant} in the body, the account is {}: {}",
            session.role.unwrap_or_default(),
            exchange.excerpt()
        ));
    }
}

/// Changes user A's own account with an administrator's role in the body.
async fn own_account(probe: &mut Probe, check: &mut Check, tried: &mut Vec<String>) {
    let Some(a_id) = probe.a.user_id else {
        return;
    };
    let updates: Vec<_> = probe
        .probed_operations()
        .into_iter()
        .filter(|op| matches!(op.method, Method::PATCH | Method::PUT) && op.body.is_some())
        .filter(|op| {
            collection_of(&op.path)
                .is_some_and(|c| probe.owned.get(&c) == Some(&a_id) && c.ends_with("users"))
        })
        .collect();
    let attempts: Vec<(Operation, Value)> = updates
        .into_iter()
        .flat_map(|op| {
            privileged_variants(op.body.as_ref())
                .into_iter()
                .map(move |variant| (op.clone(), variant))
        })
        .collect();
    for (op, variant) in &attempts {
        let path = sample::path(op, &a_id.to_string());
        let body = merged(sample::body(op, &probe.ids).unwrap_or(json!({})), variant);
        let exchange = probe.send_as(&probe.a, op, path.clone(), Some(body)).await;
        check.requests += 1;
        tried.push(format!(
            "{} with {variant}: {}",
            op.label(),
            exchange.status_code()
        ));
        if broke(&exchange) {
            check.fail(format!(
                "own account with {variant}: {}",
                exchange.excerpt()
            ));
            continue;
        }
        // What the account is now, by reading it back.
        let read = probe.target.send(probe.a.request(Method::GET, path)).await;
        check.requests += 1;
        let role = read
            .json()
            .and_then(|b| b.get("role")?.as_str().map(str::to_owned));
        if is_admin(role.as_deref()) {
            check.fail(format!(
                "user A sent {variant} for their own account, which now reads: {}",
                read.excerpt()
            ));
        }
    }
}

/// Creates objects as user A with an owner, status and price of the sender's choosing.
async fn creations(probe: &mut Probe, check: &mut Check, tried: &mut Vec<String>) {
    let b_id = probe.b.user_id.unwrap_or(1);
    let creations: Vec<_> = probe
        .probed_operations()
        .into_iter()
        .filter(|op| {
            op.method == Method::POST
                && !op.public
                && op.body.is_some()
                && !op.has_path_parameters()
        })
        .filter(|op| !super::functions::is_administrative(op, &probe.operations))
        .collect();
    let planted = json!({
        "user_id": b_id, "owner_id": b_id, "status": "paid", "total_cents": 0,
        "price_cents": 0, "role": "admin", "verified": true
    });
    for op in creations {
        let Some(body) = sample::body(&op, &probe.ids) else {
            continue;
        };
        let exchange = probe
            .send_as(&probe.a, &op, op.path.clone(), Some(merged(body, &planted)))
            .await;
        check.requests += 1;
        tried.push(format!("{}: {}", op.label(), exchange.status_code()));
        if broke(&exchange) {
            check.fail(format!(
                "creation with planted fields: {}",
                exchange.excerpt()
            ));
            continue;
        }
        let Some(created) = exchange.json().filter(|_| granted(&exchange)) else {
            continue;
        };
        let adopted: Vec<&str> = ["user_id", "owner_id"]
            .into_iter()
            .filter(|field| created.get(*field).and_then(Value::as_i64) == Some(b_id))
            .chain(
                ["status", "role"]
                    .into_iter()
                    .filter(|field| created.get(*field) == planted.get(*field)),
            )
            .collect();
        if !adopted.is_empty() {
            check.fail(format!(
                "user A's creation adopted the planted {}: {}",
                adopted.join(", "),
                exchange.excerpt()
            ));
        }
    }
}

/// What every response of the audit showed: credentials in fields (API3), internals (API8).
pub async fn leaks(probe: &mut Probe) -> Vec<Check> {
    let seen = probe.target.observations();
    let mut exposure = Check::new(
        "exposure.sensitive-fields",
        Item::PropertyLevelAuthorization,
        "No response carries a password, hash or secret",
    );
    let mut internals = Check::new(
        "errors.no-internals",
        Item::Misconfiguration,
        "No response shows a stack trace, source path or database error",
    );
    let total = probe.target.sent();
    exposure.requests = total;
    internals.requests = total;
    for line in seen.sensitive_fields {
        exposure.fail(line);
    }
    for line in seen.internals {
        internals.fail(line);
    }
    if exposure.outcome == Outcome::Pass {
        exposure.note(format!("every response of the audit ({total}) read"));
    }
    if internals.outcome == Outcome::Pass {
        internals.note(format!(
            "every response of the audit ({total}) read, errors provoked included"
        ));
    }
    vec![exposure, internals]
}
