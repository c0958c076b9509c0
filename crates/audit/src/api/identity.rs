//! Who the audit acts as: accounts (given, or registered through the API where registration
//! is open) and their sessions. The log-in, register, log-out and session operations are
//! found in the dictionary by their paths' last segment.

use http::Method;
use serde_json::{Value, json};

use super::dictionary::{self, Operation};
use super::target::{Credential, Exchange, Request, Target, USER_AGENT};

#[derive(Debug, Clone)]
pub struct Account {
    pub email: String,
    pub password: String,
}

/// A logged-in session, with what the target said about it.
#[derive(Debug, Clone)]
pub struct Session {
    pub credential: Credential,
    /// The `Set-Cookie` header that created it, for the attribute checks.
    pub set_cookie: Option<String>,
    pub user_id: Option<i64>,
    pub role: Option<String>,
    pub user_agent: String,
}

impl Session {
    /// A request sent as this session: its credential and its user agent (which the
    /// target may bind the session to).
    pub fn request(&self, method: Method, path: impl Into<String>) -> Request {
        Request::new(method, path)
            .credential(&self.credential)
            .user_agent(&self.user_agent)
    }
}

/// The operations that manage sessions, found in the dictionary.
#[derive(Debug, Clone, Default)]
pub struct AuthOperations {
    pub login: Option<Operation>,
    pub register: Option<Operation>,
    pub logout: Option<Operation>,
    /// A GET that says who the caller is.
    pub whoami: Option<Operation>,
    /// The session cookie's name, from the dictionary's security schemes.
    pub cookie_name: Option<String>,
}

impl AuthOperations {
    pub fn find(document: &Value, operations: &[Operation]) -> Self {
        let last = |op: &Operation| op.path.rsplit('/').next().unwrap_or("").to_owned();
        let find = |method: &Method, names: &[&str]| {
            operations
                .iter()
                .find(|op| op.method == *method && names.contains(&last(op).as_str()))
                .cloned()
        };
        let cookie_name = document
            .pointer("/components/securitySchemes")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|schemes| schemes.values())
            .find(|scheme| scheme.get("in").and_then(Value::as_str) == Some("cookie"))
            .and_then(|scheme| scheme.get("name")?.as_str().map(str::to_owned));
        Self {
            login: find(&Method::POST, &["login", "signin", "sessions"]),
            register: find(&Method::POST, &["register", "signup"]),
            logout: find(&Method::POST, &["logout", "signout"]),
            whoami: find(&Method::GET, &["session", "me", "whoami"]),
            cookie_name,
        }
    }

    /// Whether `op` is one of these (they are probed by the session checks instead).
    pub fn contains(&self, op: &Operation) -> bool {
        [&self.login, &self.register, &self.logout]
            .into_iter()
            .flatten()
            .any(|own| own.method == op.method && own.path == op.path)
    }

    /// Logs in; `Err` with the exchange when the target refused.
    pub async fn log_in(
        &self,
        target: &Target,
        account: &Account,
        user_agent: &str,
        extra: Option<&Credential>,
    ) -> Result<(Session, Exchange), Exchange> {
        let Some(login) = &self.login else {
            return Err(no_operation("log-in"));
        };
        let mut request = Request::new(Method::POST, login.path.clone())
            .json(login_body(self, account))
            .user_agent(user_agent);
        if let Some(extra) = extra {
            request = request.credential(extra);
        }
        let exchange = target.send(request).await;
        if !exchange.is_success() {
            return Err(exchange);
        }
        let set_cookie = exchange
            .headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find(|cookie| {
                self.cookie_name
                    .as_ref()
                    .is_none_or(|name| cookie.starts_with(&format!("{name}=")))
            })
            .map(str::to_owned);
        let credential = match &set_cookie {
            Some(cookie) => {
                let pair = cookie.split(';').next().unwrap_or("");
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                Credential::Cookie {
                    name: name.trim().to_owned(),
                    value: value.trim().to_owned(),
                }
            }
            None => {
                // A token API: the token is in the body.
                let token = exchange.json().and_then(|body| {
                    ["token", "access_token", "session"]
                        .iter()
                        .find_map(|key| body.get(key)?.as_str().map(str::to_owned))
                });
                match token {
                    Some(token) => Credential::Bearer(token),
                    None => return Err(exchange),
                }
            }
        };
        let mut session = Session {
            credential,
            set_cookie,
            user_id: None,
            role: None,
            user_agent: user_agent.to_owned(),
        };
        self.identify(target, &mut session).await;
        Ok((session, exchange))
    }

    /// Asks the target who the session is (user id and role), where it can say.
    pub async fn identify(&self, target: &Target, session: &mut Session) {
        let Some(whoami) = &self.whoami else {
            return;
        };
        let exchange = target
            .send(session.request(Method::GET, whoami.path.clone()))
            .await;
        if let Some(body) = exchange.json() {
            session.user_id = ["user_id", "id"]
                .iter()
                .find_map(|key| body.get(key)?.as_i64());
            session.role = body.get("role").and_then(Value::as_str).map(str::to_owned);
        }
    }

    /// Whether the session is still accepted (the who-am-I operation answers 2xx).
    pub async fn accepted(
        &self,
        target: &Target,
        credential: &Credential,
        agent: &str,
    ) -> Option<Exchange> {
        let whoami = self.whoami.as_ref()?;
        Some(
            target
                .send(
                    Request::new(Method::GET, whoami.path.clone())
                        .credential(credential)
                        .user_agent(agent),
                )
                .await,
        )
    }

    pub async fn log_out(&self, target: &Target, session: &Session) -> Option<Exchange> {
        let logout = self.logout.as_ref()?;
        Some(
            target
                .send(session.request(Method::POST, logout.path.clone()))
                .await,
        )
    }

    /// Registers a fresh account with a random address and a long random password.
    pub async fn register(&self, target: &Target, label: &str) -> Result<Account, Exchange> {
        let Some(register) = &self.register else {
            return Err(no_operation("registration"));
        };
        let nonce: u64 = rand::random();
        let account = Account {
            email: format!("msa-audit-{label}-{nonce:x}@example.com"),
            password: format!("audit-{:032x}", rand::random::<u128>()),
        };
        let fields = register
            .body
            .as_ref()
            .map(dictionary::properties)
            .unwrap_or_default();
        let mut body = serde_json::Map::new();
        for field in fields {
            let lower = field.to_ascii_lowercase();
            let value = if lower.contains("pass") {
                json!(account.password)
            } else if lower.contains("mail") || lower == "username" || lower == "login" {
                json!(account.email)
            } else if lower.contains("name") {
                json!(format!("Audit {label}"))
            } else {
                continue;
            };
            body.insert(field, value);
        }
        let exchange = target
            .send(Request::new(Method::POST, register.path.clone()).json(Value::Object(body)))
            .await;
        if exchange.is_success() {
            Ok(account)
        } else {
            Err(exchange)
        }
    }
}

/// A log-in body for `account`, shaped by the dictionary's schema.
pub fn login_body(auth: &AuthOperations, account: &Account) -> Value {
    let fields = auth
        .login
        .as_ref()
        .and_then(|op| op.body.as_ref())
        .map(dictionary::properties)
        .unwrap_or_default();
    let mut body = serde_json::Map::new();
    for field in fields {
        let lower = field.to_ascii_lowercase();
        if lower.contains("pass") {
            body.insert(field, json!(account.password));
        } else if ["email", "username", "user", "login", "name"].contains(&lower.as_str()) {
            body.insert(field, json!(account.email));
        }
    }
    if body.is_empty() {
        return json!({"email": account.email, "password": account.password});
    }
    Value::Object(body)
}

fn no_operation(what: &str) -> Exchange {
    Exchange {
        method: Method::POST,
        path: String::new(),
        status: None,
        headers: http::HeaderMap::new(),
        body: String::new(),
        error: Some(format!("the dictionary has no {what} operation")),
    }
}

/// The default user agent of the audit's sessions.
pub fn agent(label: &str) -> String {
    format!("{USER_AGENT} ({label})")
}
