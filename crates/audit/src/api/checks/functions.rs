//! API5 Broken Function Level Authorization: an ordinary user on the administrators'
//! operations. Which operations are the administrators' is read from the dictionary: those
//! that say so, that document a 403, that sit under `/admin`, or that change a resource
//! anyone may read (a catalogue's writes).

use http::Method;

use super::{broke, granted};
use crate::api::dictionary::Operation;
use crate::api::owasp::{Check, Item, Outcome};
use crate::api::probe::{Probe, collection_of};
use crate::api::sample;

pub fn is_administrative(op: &Operation, operations: &[Operation]) -> bool {
    if op.public {
        return false;
    }
    let publicly_read = || {
        let collection = collection_of(&op.path).unwrap_or_else(|| op.path.clone());
        operations.iter().any(|other| {
            other.method == Method::GET && other.public && other.path.starts_with(&collection)
        })
    };
    // "Your orders (an administrator: everyone's)" is an ordinary user's operation that
    // administrators may use more widely: object-level checks cover it.
    let for_everyone = op.summary.to_ascii_lowercase().contains("your");
    let says_so = op.mentions_administrators() || op.responses.iter().any(|status| status == "403");
    (says_so && !for_everyone)
        || op.path.split('/').any(|segment| segment == "admin")
        || (op.method != Method::GET && publicly_read())
}

pub async fn run(probe: &mut Probe) -> Vec<Check> {
    let mut check = Check::new(
        "bfla.admin-operations",
        Item::FunctionLevelAuthorization,
        "An ordinary user cannot use the administrators' operations",
    );
    let operations = probe.probed_operations();
    let mut administrative: Vec<Operation> = operations
        .iter()
        .filter(|op| is_administrative(op, &probe.operations))
        .cloned()
        .collect();
    // Deletions last: a flaw found early must not destroy what later probes use.
    administrative.sort_by_key(|op| op.method == Method::DELETE);
    if administrative.is_empty() {
        return vec![check.not_tested("the dictionary marks no operation as the administrators'")];
    }
    let mut probed = Vec::new();
    let mut skipped = Vec::new();
    let mut throwaway: Vec<(Operation, String)> = Vec::new();
    for op in administrative {
        probe
            .progress
            .note(&format!("function-level authorization: {}", op.label()));
        let path = if op.has_path_parameters() {
            let collection = collection_of(&op.path).unwrap_or_default();
            // An object that is not user B's: user A's, or one the administrator makes.
            let id = match probe.owned.get(&collection).copied() {
                Some(id) => Some(id),
                None => created_by_admin(probe, &collection, &mut throwaway, &mut check).await,
            };
            match id {
                Some(id) => sample::path(&op, &id.to_string()),
                None => {
                    skipped.push(op.label());
                    continue;
                }
            }
        } else {
            op.path.clone()
        };
        let body = sample::body(&op, &probe.ids);
        let exchange = probe.send_as(&probe.b, &op, path, body).await;
        check.requests += 1;
        probed.push(op.label());
        if granted(&exchange) || broke(&exchange) {
            check.fail(format!("as an ordinary user: {}", exchange.excerpt()));
        }
    }
    // What the administrator made for the audit goes again.
    if let Some(admin) = probe.admin.clone() {
        for (delete, path) in throwaway {
            let _ = probe.send_as(&admin, &delete, path, None).await;
        }
    }
    if probed.is_empty() {
        return vec![check.not_tested(format!(
            "no object to try {} on: give an administrator (--admin) to create one",
            skipped.join(", ")
        ))];
    }
    if check.outcome == Outcome::Pass {
        check.note(format!("refused to user B: {}", probed.join(", ")));
    }
    if !skipped.is_empty() {
        check.note(format!(
            "not tried (no object; give --admin to create one): {}",
            skipped.join(", ")
        ));
    }
    vec![check]
}

/// Has the administrator create an object in `collection` for the check, and remembers how
/// to delete it afterwards.
async fn created_by_admin(
    probe: &mut Probe,
    collection: &str,
    throwaway: &mut Vec<(Operation, String)>,
    check: &mut Check,
) -> Option<i64> {
    let admin = probe.admin.clone()?;
    if let Some(id) = probe.made_by_admin.get(collection).copied() {
        return Some(id);
    }
    let create = probe
        .operations
        .iter()
        .find(|op| op.method == Method::POST && op.path == collection)?
        .clone();
    let body = sample::body(&create, &probe.ids).map(|mut body| {
        // Unique names: a catalogue may refuse a duplicate.
        if let Some(object) = body.as_object_mut() {
            for value in object.values_mut() {
                if let Some(text) = value.as_str() {
                    *value = serde_json::json!(format!("{text} {:08x}", rand::random::<u32>()));
                }
            }
        }
        body
    });
    let created = probe
        .send_as(&admin, &create, collection.to_owned(), body)
        .await;
    check.requests += 1;
    let singular = sample::singular(crate::api::probe::last_segment(collection));
    let id = created
        .json()
        .and_then(|body| sample::ids_in(&body, &singular).first().copied())?;
    probe.made_by_admin.insert(collection.to_owned(), id);
    if let Some(delete) = probe.operations.iter().find(|op| {
        op.method == Method::DELETE && collection_of(&op.path).as_deref() == Some(collection)
    }) {
        throwaway.push((delete.clone(), sample::path(delete, &id.to_string())));
    }
    Some(id)
}
