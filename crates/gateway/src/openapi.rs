//! The public API dictionary: the gateway's own routes plus every service's public routes
//! under `/api/v1`, as each service generates them from its code. Internal routes are left
//! out. Built on first request and kept, since services change only on redeploy.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{Method, StatusCode, header};
use kit::Problem;
use serde_json::Value;
use tokio::sync::OnceCell;
use utoipa::openapi::OpenApi;

use crate::AppState;
use crate::access::policy;
use crate::methods::{Documented, Route, routes_of};
use crate::resource::{PREFIX, Resource};

pub struct PublicApi {
    own: OpenApi,
    built: OnceCell<Built>,
}

/// The document as served, and the methods of each of its paths.
struct Built {
    document: Bytes,
    routes: Vec<Route>,
}

impl PublicApi {
    pub fn new(mut own: OpenApi) -> Arc<Self> {
        own.info = kit::serving::http::openapi_info(
            "msa-shop public API",
            "The shop's public API, served by the gateway: the demo routes and /api/v1.",
        );
        Arc::new(Self {
            own,
            built: OnceCell::new(),
        })
    }

    async fn built(&self, app: &AppState) -> Result<&Built, &'static str> {
        self.built
            .get_or_try_init(|| async {
                let document = build(app).await?;
                let routes = routes_of(&document);
                let document = serde_json::to_vec(&document).map_err(|_| "gateway")?;
                Ok(Built {
                    document: Bytes::from(document),
                    routes,
                })
            })
            .await
    }

    /// Whether `method` on `path` is in the dictionary; `None` while a service's part of it
    /// cannot be fetched.
    pub async fn documents(
        &self,
        app: &AppState,
        method: &Method,
        path: &str,
    ) -> Option<Documented> {
        let built = self.built(app).await.ok()?;
        let Some(route) = built.routes.iter().find(|route| route.matches(path)) else {
            return Some(Documented::NoSuchPath);
        };
        let allowed = route.methods.contains(method)
            || (*method == Method::HEAD && route.methods.contains(&Method::GET));
        Some(if allowed {
            Documented::Yes
        } else {
            Documented::OtherMethods(route.methods.clone())
        })
    }
}

pub async fn serve(State(app): State<AppState>) -> Response {
    let api = app.public_api.clone();
    match api.built(&app).await {
        Ok(built) => (
            [(header::CONTENT_TYPE, "application/json")],
            built.document.clone(),
        )
            .into_response(),
        Err(service) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("The {service} service is unavailable, so its part of the API cannot be described yet."),
        )
        .into_response(),
    }
}

async fn build(app: &AppState) -> Result<Value, &'static str> {
    let mut document = app.public_api.own.clone();
    for upstream in crate::proxy::upstreams(app) {
        let service: OpenApi = upstream
            .get_json("/openapi.json")
            .await
            .ok()
            .flatten()
            .ok_or(upstream.service())?;
        let mut published = OpenApi::default();
        published.components = service.components;
        for (path, item) in service.paths.paths {
            if !path.starts_with("/internal") {
                published
                    .paths
                    .paths
                    .insert(format!("{PREFIX}{path}"), item);
            }
        }
        document.merge(published);
    }
    let mut document = serde_json::to_value(&document).map_err(|_| "gateway")?;
    document_rate_limits(&mut document);
    kit::serving::http::document_problems(&mut document);
    document_security(&mut document);
    keep_reachable_schemas(&mut document);
    Ok(document)
}

/// Every request to the gateway counts against its client's rate and share: any operation
/// may answer 429.
fn document_rate_limits(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for operation in item.values_mut() {
            if let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            {
                responses.entry("429").or_insert_with(|| {
                    serde_json::json!({
                        "description": "Too many requests from this client address or API key, or too many at once; wait for `Retry-After` seconds.",
                        "content": { kit::problem::PROBLEM_JSON: { "schema": { "$ref": "#/components/schemas/Problem" } } }
                    })
                });
            }
        }
    }
}

/// States how each operation authenticates: the session cookie or an API key, optional
/// where the route policy lets anyone in.
fn document_security(document: &mut Value) {
    use serde_json::json;
    document["components"]["securitySchemes"] = json!({
        "session": {
            "type": "apiKey",
            "in": "cookie",
            "name": crate::access::sessions::COOKIE_NAME,
            "description": "The session cookie set by POST /api/v1/auth/login."
        },
        "apiKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from POST /api/v1/auth/api-keys, as `Authorization: Bearer <key>`."
        }
    });
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(after) = path.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(resource) = Resource::ALL.into_iter().find(|resource| {
            after
                .strip_prefix('/')
                .is_some_and(|rest| rest.split('/').next() == Some(resource.segment()))
        }) else {
            continue;
        };
        let rest = &after[1 + resource.segment().len()..];
        let Some(operations) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in operations.iter_mut() {
            let Ok(method) = method.to_uppercase().parse::<http::Method>() else {
                continue;
            };
            let mut schemes = vec![json!({"session": []}), json!({"apiKey": []})];
            if policy::need(resource, &method, rest) == policy::Need::Anyone {
                schemes.push(json!({}));
            }
            operation["security"] = Value::Array(schemes);
        }
    }
}

/// Drops the schemas no published path refers to, directly or through other schemas, so
/// the types of internal routes are not described to the public either.
fn keep_reachable_schemas(document: &mut Value) {
    let mut reachable = BTreeSet::new();
    let mut pending: Vec<String> = Vec::new();
    collect_refs(&document["paths"], &mut pending);
    while let Some(name) = pending.pop() {
        if reachable.insert(name.clone()) {
            collect_refs(&document["components"]["schemas"][&name], &mut pending);
        }
    }
    if let Some(Value::Object(schemas)) = document
        .get_mut("components")
        .and_then(|components| components.get_mut("schemas"))
    {
        schemas.retain(|name, _| reachable.contains(name));
    }
}

fn collect_refs(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (key, member) in members {
                match member.as_str().and_then(|r| r.strip_prefix(SCHEMA_REF)) {
                    Some(name) if key == "$ref" => names.push(name.to_owned()),
                    _ => collect_refs(member, names),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, names)),
        _ => {}
    }
}

const SCHEMA_REF: &str = "#/components/schemas/";
