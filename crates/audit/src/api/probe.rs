//! The audit's state and how it is set up: the target, its dictionary, the sessions
//! of the two users (and the administrator), and the objects user A owns. Every check
//! reads and extends this one value.

use std::collections::BTreeMap;
use std::time::Duration;

use http::Method;
use serde_json::Value;

use crate::api::dictionary::{self, Operation};
use crate::api::identity::{self, Account, AuthOperations, Session};
use crate::api::progress::Progress;
use crate::api::sample::{self, Ids};
use crate::api::target::{self, Request, Target};

/// How long a starting deployment's dictionary (503) is waited for.
const DICTIONARY_WAIT_SECONDS: u32 = 30;

/// What to audit, and as whom.
#[derive(Debug, Clone)]
pub struct Config {
    pub base: String,
    /// A PEM file of the CA to trust for HTTPS (the audit trusts no other).
    pub ca_pem: Option<Vec<u8>>,
    /// The plain-HTTP address of the same deployment, whose redirect to HTTPS is checked.
    pub http_url: Option<String>,
    /// Two ordinary accounts; registered through the API when absent.
    pub users: Option<(Account, Account)>,
    pub admin: Option<Account>,
    pub timeout: Duration,
    /// Wrong passwords tried before a throttle must have answered.
    pub brute_force_attempts: usize,
}

/// The audit's state: the target, its dictionary, the sessions, the objects seen.
pub struct Probe {
    pub target: Target,
    pub config: Config,
    pub operations: Vec<Operation>,
    pub auth: AuthOperations,
    pub a: Session,
    pub b: Session,
    pub admin: Option<Session>,
    pub account_a: Account,
    /// Objects user A owns, by the collection path they live under.
    pub owned: BTreeMap<String, i64>,
    /// Objects the administrator made for the function-level checks, likewise.
    pub made_by_admin: BTreeMap<String, i64>,
    /// Ids seen in public lists, by the field name that refers to them (`product_id`).
    pub ids: Ids,
    pub progress: Progress,
}

/// Why the audit could not start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Target(String),
    #[error("the API dictionary: {0}")]
    Dictionary(String),
    #[error("cannot act as {who}: {evidence}")]
    Identity { who: String, evidence: String },
}

impl Probe {
    pub async fn set_up(config: Config, mut progress: Progress) -> Result<Self, SetupError> {
        let target = Target::new(&config.base, config.ca_pem.as_deref(), config.timeout)
            .map_err(SetupError::Target)?;
        progress.note("reading the API dictionary");
        let mut dictionary = target
            .send(Request::new(Method::GET, "/openapi.json"))
            .await;
        // A deployment that is still starting says so with 503: give it a little while.
        for _ in 0..DICTIONARY_WAIT_SECONDS {
            if dictionary.status_code() != 503 {
                break;
            }
            progress.note("waiting for the API dictionary (503: the deployment is starting)");
            tokio::time::sleep(Duration::from_secs(1)).await;
            dictionary = target
                .send(Request::new(Method::GET, "/openapi.json"))
                .await;
        }
        let document: Value = match (dictionary.is_success(), dictionary.json()) {
            (true, Some(document)) => document,
            _ => return Err(SetupError::Dictionary(dictionary.excerpt())),
        };
        let operations = dictionary::operations(&document);
        if operations.is_empty() {
            return Err(SetupError::Dictionary("it describes no operation".into()));
        }
        let auth = AuthOperations::find(&document, &operations);
        progress.note("logging in");
        let (account_a, account_b) = match &config.users {
            Some(users) => users.clone(),
            None => {
                let register = |label: &'static str| {
                    let auth = &auth;
                    let target = &target;
                    async move {
                        auth.register(target, label).await.map_err(|exchange| {
                            SetupError::Identity {
                                who: format!("a registered user {label}"),
                                evidence: exchange
                                    .error
                                    .clone()
                                    .unwrap_or_else(|| exchange.excerpt()),
                            }
                        })
                    }
                };
                (register("a").await?, register("b").await?)
            }
        };
        let log_in = |account: Account, label: &'static str| {
            let auth = &auth;
            let target = &target;
            async move {
                auth.log_in(target, &account, &identity::agent(label), None)
                    .await
                    .map(|(session, _)| session)
                    .map_err(|exchange| SetupError::Identity {
                        who: account.email.clone(),
                        evidence: exchange.error.clone().unwrap_or_else(|| exchange.excerpt()),
                    })
            }
        };
        let a = log_in(account_a.clone(), "user a").await?;
        let b = log_in(account_b, "user b").await?;
        let admin = match config.admin.clone() {
            Some(account) => Some(log_in(account, "admin").await?),
            None => None,
        };
        let mut probe = Self {
            target,
            config,
            operations,
            auth,
            a,
            b,
            admin,
            account_a,
            owned: BTreeMap::new(),
            made_by_admin: BTreeMap::new(),
            ids: Ids::default(),
            progress,
        };
        probe.progress.note("finding objects user A owns");
        probe.discover().await;
        Ok(probe)
    }

    /// Learns ids from public lists, then finds (or creates) an object of user A's under
    /// every collection that has per-object operations.
    async fn discover(&mut self) {
        let public_lists: Vec<Operation> = self
            .operations
            .iter()
            .filter(|op| op.method == Method::GET && op.public && !op.has_path_parameters())
            .cloned()
            .collect();
        for list in public_lists {
            let exchange = self
                .target
                .send(Request::new(Method::GET, list.path.clone()))
                .await;
            let singular = sample::singular(last_segment(&list.path));
            if let Some(body) = exchange.json() {
                for id in sample::ids_in(&body, &singular) {
                    self.ids.add(&format!("{singular}_id"), id);
                }
            }
        }
        let collections: Vec<String> = self
            .operations
            .iter()
            .filter(|op| !op.public)
            .filter_map(|op| collection_of(&op.path))
            .fold(Vec::new(), |mut seen, path| {
                if !seen.contains(&path) {
                    seen.push(path);
                }
                seen
            });
        for collection in collections {
            let singular = sample::singular(last_segment(&collection));
            if ["user", "account", "customer"].contains(&singular.as_str())
                && let Some(id) = self.a.user_id
            {
                self.owned.insert(collection, id);
                continue;
            }
            if let Some(id) = self.own_object(&collection, &singular).await {
                self.owned.insert(collection, id);
            }
        }
    }

    /// One of user A's objects in `collection`: listed, or created for the audit.
    async fn own_object(&self, collection: &str, singular: &str) -> Option<i64> {
        let has = |method: Method| {
            self.operations
                .iter()
                .find(|op| op.method == method && op.path == collection)
                .cloned()
        };
        if has(Method::GET).is_some() {
            let listed = self
                .target
                .send(self.a.request(Method::GET, collection))
                .await;
            if let Some(id) = listed
                .json()
                .and_then(|body| sample::ids_in(&body, singular).first().copied())
            {
                return Some(id);
            }
        }
        let create = has(Method::POST)?;
        let created = self
            .send_as(
                &self.a,
                &create,
                collection.to_owned(),
                sample::body(&create, &self.ids),
            )
            .await;
        created
            .json()
            .and_then(|body| sample::ids_in(&body, singular).first().copied())
            .or_else(|| {
                created
                    .header("location")
                    .and_then(|location| location.rsplit('/').next()?.parse().ok())
            })
    }

    /// Sends `op` at `path` as `session` with `body` and the headers it requires.
    pub async fn send_as(
        &self,
        session: &Session,
        op: &Operation,
        path: String,
        body: Option<Value>,
    ) -> target::Exchange {
        let mut request = session.request(op.method.clone(), path);
        for (name, value) in sample::required_headers(op) {
            request = request.header(name, &value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        self.target.send(request).await
    }

    /// The operations the audit probes (not the session operations themselves).
    pub fn probed_operations(&self) -> Vec<Operation> {
        self.operations
            .iter()
            .filter(|op| !self.auth.contains(op))
            .cloned()
            .collect()
    }
}

/// `/api/v1/orders/{id}/cancel` → `/api/v1/orders`.
pub fn collection_of(path: &str) -> Option<String> {
    let at = path.find("/{")?;
    Some(path[..at].to_owned())
}

pub fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_and_segments() {
        assert_eq!(
            collection_of("/api/v1/orders/{id}/cancel").as_deref(),
            Some("/api/v1/orders")
        );
        assert_eq!(collection_of("/api/v1/orders"), None);
        assert_eq!(last_segment("/api/v1/orders"), "orders");
    }
}
