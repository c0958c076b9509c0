//! API9 Improper Inventory Management: what the dictionary does not list must not answer:
//! other API versions of documented paths, and the usual leftovers (debug pages, actuator
//! endpoints, configuration files, version control).

use http::Method;

use super::{broke, granted};
use crate::api::owasp::{Check, Item, Outcome};
use crate::api::probe::Probe;

const LEFTOVERS: [&str; 16] = [
    "/.env",
    "/.git/config",
    "/.git/HEAD",
    "/actuator",
    "/actuator/env",
    "/debug/pprof/",
    "/debug/vars",
    "/admin",
    "/internal",
    "/api/internal",
    "/swagger-ui.html",
    "/server-status",
    "/phpinfo.php",
    "/console",
    "/config.json",
    "/backup.sql",
];

pub async fn run(probe: &mut Probe) -> Vec<Check> {
    let mut check = Check::new(
        "inventory.undocumented",
        Item::Inventory,
        "Nothing answers that the dictionary does not list",
    );
    let mut paths: Vec<String> = LEFTOVERS.iter().map(|p| (*p).to_owned()).collect();
    // Other versions of the documented API.
    let documented: Vec<String> = probe
        .operations
        .iter()
        .filter(|op| op.method == Method::GET && !op.has_path_parameters())
        .map(|op| op.path.clone())
        .collect();
    for path in documented.iter().take(6) {
        for (current, other) in [
            ("/v1/", "/v0/"),
            ("/v1/", "/v2/"),
            ("/v2/", "/v1/"),
            ("/v1/", "/beta/"),
        ] {
            if path.contains(current) {
                let swapped = path.replacen(current, other, 1);
                if !documented.contains(&swapped) && !paths.contains(&swapped) {
                    paths.push(swapped);
                }
            }
        }
    }
    for path in &paths {
        probe.progress.note(&format!("inventory: {path}"));
        let exchange = probe
            .target
            .send(probe.a.request(Method::GET, path.clone()))
            .await;
        check.requests += 1;
        if granted(&exchange) || broke(&exchange) {
            check.fail(format!("undocumented: {}", exchange.excerpt()));
        }
    }
    if check.outcome == Outcome::Pass {
        check.note(format!(
            "{} undocumented paths, none answered (e.g. {})",
            paths.len(),
            paths.last().map_or("", String::as_str)
        ));
    }
    vec![check]
}
