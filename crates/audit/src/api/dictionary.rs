//! The target's public API dictionary (`/openapi.json`): its operations, what each takes,
//! and whether it asks for credentials. Only paths are taken from it: its `servers` are
//! ignored, so that every probe goes to the base URL the operator gave.

use serde_json::{Map, Value, json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub method: http::Method,
    /// The path template, such as `/api/v1/orders/{id}`.
    pub path: String,
    pub summary: String,
    pub parameters: Vec<Parameter>,
    /// The JSON request body's schema, `$ref`s resolved.
    pub body: Option<Value>,
    /// Whether the dictionary lets anyone in (no security, or an empty requirement).
    pub public: bool,
    /// Documented response statuses ("200", "4XX").
    pub responses: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    /// `path`, `query` or `header`.
    pub location: String,
    pub required: bool,
    pub schema: Value,
}

impl Operation {
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    pub fn path_parameters(&self) -> impl Iterator<Item = &Parameter> {
        self.parameters.iter().filter(|p| p.location == "path")
    }

    pub fn has_path_parameters(&self) -> bool {
        self.path_parameters().next().is_some()
    }

    /// The summary and description mention administrators.
    pub fn mentions_administrators(&self) -> bool {
        self.summary.to_ascii_lowercase().contains("admin")
    }
}

/// Reads every operation of the document; an entry it cannot read is skipped.
pub fn operations(document: &Value) -> Vec<Operation> {
    let top_security = document.get("security");
    let Some(paths) = document.get("paths").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        let shared = item.get("parameters").cloned().unwrap_or_else(|| json!([]));
        for (method, operation) in item {
            let Ok(method) = method.to_ascii_uppercase().parse::<http::Method>() else {
                continue;
            };
            if !matches!(
                method,
                http::Method::GET
                    | http::Method::POST
                    | http::Method::PUT
                    | http::Method::PATCH
                    | http::Method::DELETE
            ) {
                continue;
            }
            let mut parameters = parameters(document, &shared);
            parameters.extend(parameters_of(document, operation.get("parameters")));
            let security = operation.get("security").or(top_security);
            let public = match security.and_then(Value::as_array) {
                None => true,
                Some(requirements) => {
                    requirements.is_empty()
                        || requirements
                            .iter()
                            .any(|r| r.as_object().is_some_and(Map::is_empty))
                }
            };
            let body = operation
                .pointer("/requestBody/content/application~1json/schema")
                .map(|schema| resolve(document, schema, 0));
            let text = |key: &str| operation.get(key).and_then(Value::as_str).unwrap_or("");
            found.push(Operation {
                method,
                path: path.clone(),
                summary: format!("{} {}", text("summary"), text("description"))
                    .trim()
                    .to_owned(),
                parameters,
                body,
                public,
                responses: operation
                    .get("responses")
                    .and_then(Value::as_object)
                    .map(|r| r.keys().cloned().collect())
                    .unwrap_or_default(),
            });
        }
    }
    found
}

fn parameters(document: &Value, list: &Value) -> Vec<Parameter> {
    parameters_of(document, Some(list))
}

fn parameters_of(document: &Value, list: Option<&Value>) -> Vec<Parameter> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|parameter| resolve(document, parameter, 0))
        .filter_map(|parameter| {
            Some(Parameter {
                name: parameter.get("name")?.as_str()?.to_owned(),
                location: parameter.get("in")?.as_str()?.to_owned(),
                required: parameter
                    .get("required")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                schema: parameter
                    .get("schema")
                    .map(|schema| resolve(document, schema, 0))
                    .unwrap_or(Value::Null),
            })
        })
        .collect()
}

/// Replaces every local `$ref` with what it points to (to a bounded depth: schemas may be
/// recursive).
pub fn resolve(document: &Value, value: &Value, depth: usize) -> Value {
    if depth > 12 {
        return Value::Null;
    }
    match value {
        Value::Object(object) => {
            if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
                let target = reference
                    .strip_prefix('#')
                    .and_then(|pointer| document.pointer(pointer))
                    .cloned()
                    .unwrap_or(Value::Null);
                return resolve(document, &target, depth + 1);
            }
            Value::Object(
                object
                    .iter()
                    .map(|(key, value)| (key.clone(), resolve(document, value, depth + 1)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| resolve(document, item, depth + 1))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The names of an object schema's properties.
pub fn properties(schema: &Value) -> Vec<String> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_resolve_references_and_security() {
        let document = json!({
            "servers": [{"url": "https://elsewhere.example"}],
            "paths": {
                "/things/{id}": {
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                    "get": {"summary": "Get a thing", "security": [{"session": []}, {}], "responses": {"200": {}}},
                    "delete": {"description": "Delete (administrators)", "security": [{"session": []}]},
                    "options": {}
                },
                "/things": {
                    "post": {
                        "security": [{"session": []}],
                        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}
                    }
                }
            },
            "components": {"schemas": {"Thing": {"type": "object", "properties": {"name": {"type": "string"}}}}}
        });
        let found = operations(&document);
        let labels: Vec<String> = found.iter().map(Operation::label).collect();
        // Paths and methods in the document's (sorted) order.
        assert_eq!(
            labels,
            ["POST /things", "DELETE /things/{id}", "GET /things/{id}"]
        );
        assert!(!found[0].public);
        assert_eq!(
            properties(found[0].body.as_ref().unwrap_or(&Value::Null)),
            ["name"]
        );
        assert!(found[2].public && found[2].has_path_parameters());
        assert!(!found[1].public && found[1].mentions_administrators());
        assert_eq!(found[2].responses, ["200"]);
    }

    #[test]
    fn a_document_without_security_is_public_and_cycles_end() {
        let document = json!({
            "paths": {"/a": {"get": {}}},
            "components": {"schemas": {"Loop": {"$ref": "#/components/schemas/Loop"}}}
        });
        assert!(operations(&document)[0].public);
        let looped = resolve(&document, &json!({"$ref": "#/components/schemas/Loop"}), 0);
        assert_eq!(looped, Value::Null);
        assert!(operations(&json!({})).is_empty());
    }
}
