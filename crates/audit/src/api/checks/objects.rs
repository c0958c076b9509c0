//! API1 Broken Object Level Authorization: user B's credentials on user A's objects, for
//! every operation with an object id in its path, and for list filters that name a user.

use http::Method;

use super::{broke, granted};
use crate::api::owasp::{Check, Item, Outcome};
use crate::api::probe::{Probe, collection_of};
use crate::api::sample;

/// Query parameters that pick whose objects a list shows.
const OWNER_FILTERS: [&str; 5] = ["user_id", "owner_id", "customer_id", "account_id", "user"];

pub async fn run(probe: &mut Probe) -> Vec<Check> {
    vec![foreign_objects(probe).await, foreign_filters(probe).await]
}

async fn foreign_objects(probe: &mut Probe) -> Check {
    let mut check = Check::new(
        "bola.foreign-objects",
        Item::ObjectLevelAuthorization,
        "User B cannot read, change or delete user A's objects",
    );
    let mut operations: Vec<_> = probe
        .probed_operations()
        .into_iter()
        .filter(|op| !op.public && op.has_path_parameters())
        .collect();
    // Reads first, deletions last: a flaw found early must not destroy what later checks use.
    operations.sort_by_key(|op| match op.method {
        Method::GET => 0,
        Method::DELETE => 2,
        _ => 1,
    });
    let mut probed = 0;
    let mut inconclusive = Vec::new();
    for op in operations {
        let Some(id) = collection_of(&op.path).and_then(|c| probe.owned.get(&c).copied()) else {
            inconclusive.push(format!("{}: no object of user A's to try", op.label()));
            continue;
        };
        probe
            .progress
            .note(&format!("object-level authorization: {}", op.label()));
        let path = sample::path(&op, &id.to_string());
        let body = sample::body(&op, &probe.ids);
        if op.method == Method::GET {
            let own = probe.send_as(&probe.a, &op, path.clone(), None).await;
            check.requests += 1;
            if !granted(&own) {
                inconclusive.push(format!("user A's own request: {}", own.excerpt()));
                continue;
            }
        }
        let foreign = probe.send_as(&probe.b, &op, path, body).await;
        check.requests += 1;
        probed += 1;
        if granted(&foreign) || broke(&foreign) {
            check.fail(format!(
                "as user B, on user A's object: {}",
                foreign.excerpt()
            ));
        }
    }
    if probed == 0 {
        let reason = inconclusive
            .first()
            .cloned()
            .unwrap_or_else(|| "no operation takes an object id".into());
        return check.not_tested(reason);
    }
    if check.outcome == Outcome::Pass {
        check.note(format!(
            "{probed} operations on user A's objects, all refused to user B{}",
            if inconclusive.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} not tried: {}",
                    inconclusive.len(),
                    inconclusive.join("; ")
                )
            }
        ));
    }
    check
}

async fn foreign_filters(probe: &mut Probe) -> Check {
    let mut check = Check::new(
        "bola.foreign-filter",
        Item::ObjectLevelAuthorization,
        "A list filtered by user A's id shows user B nothing of A's",
    );
    let Some(a_id) = probe.a.user_id else {
        return check.not_tested("user A's id is unknown (no who-am-I operation)");
    };
    let lists: Vec<_> = probe
        .probed_operations()
        .into_iter()
        .filter(|op| op.method == Method::GET && !op.public && !op.has_path_parameters())
        .filter(|op| {
            op.parameters
                .iter()
                .any(|p| p.location == "query" && OWNER_FILTERS.contains(&p.name.as_str()))
        })
        .collect();
    if lists.is_empty() {
        return check.not_tested("no list takes a user filter");
    }
    for op in lists {
        let Some(filter) = op
            .parameters
            .iter()
            .find(|p| p.location == "query" && OWNER_FILTERS.contains(&p.name.as_str()))
        else {
            continue;
        };
        let a_objects: Vec<i64> = probe.owned.get(&op.path).copied().into_iter().collect();
        let path = format!("{}?{}={a_id}", op.path, filter.name);
        let exchange = probe.send_as(&probe.b, &op, path, None).await;
        check.requests += 1;
        let singular = sample::singular(crate::api::probe::last_segment(&op.path));
        let shown = exchange
            .json()
            .map(|body| sample::ids_in(&body, &singular))
            .unwrap_or_default();
        if broke(&exchange) || (granted(&exchange) && shown.iter().any(|id| a_objects.contains(id)))
        {
            check.fail(format!(
                "as user B, filtered by user A's id: {}",
                exchange.excerpt()
            ));
        } else {
            check.note(format!("as user B: {}", exchange.excerpt()));
        }
    }
    check
}
