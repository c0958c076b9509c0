//! Plausible input built from the dictionary: a body that a correct server accepts (the
//! schema's examples first), paths with their parameters filled in. A probe changes one
//! thing of an otherwise valid request, so that what it tests is that one thing.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::dictionary::Operation;

/// Known ids by the name that refers to them (`product_id` → ids of products seen).
#[derive(Debug, Clone, Default)]
pub struct Ids(pub BTreeMap<String, Vec<i64>>);

impl Ids {
    pub fn add(&mut self, name: &str, id: i64) {
        let ids = self.0.entry(name.to_owned()).or_default();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }

    pub fn first(&self, name: &str) -> Option<i64> {
        self.0.get(name).and_then(|ids| ids.first().copied())
    }
}

/// A value for `schema`; `name` is the property it is for.
pub fn value(schema: &Value, name: &str, ids: &Ids) -> Value {
    if let Some(example) = schema.get("example") {
        // An id example may name an object that does not exist here; a seen one does.
        if let (Some(known), true) = (ids.first(name), example.is_i64()) {
            return json!(known);
        }
        return example.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|v| v.first())
    {
        return first.clone();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array)
            && let Some(option) = options
                .iter()
                .find(|o| o.get("type").and_then(Value::as_str) != Some("null"))
        {
            return value(option, name, ids);
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("string"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match kind {
        "object" => object(schema, ids, false),
        "array" => json!([value(
            schema.get("items").unwrap_or(&Value::Null),
            name,
            ids
        )]),
        "integer" => json!(ids.first(name).unwrap_or(1)),
        "number" => json!(1.0),
        "boolean" => json!(false),
        _ => {
            let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0);
            let text = if name.contains("mail") {
                "msa-audit@example.com".to_owned()
            } else {
                "msa audit".to_owned()
            };
            json!(format!(
                "{text}{}",
                "x".repeat(usize::try_from(min).unwrap_or(0))
            ))
        }
    }
}

/// An object with its required properties, or (`all`) every property.
pub fn object(schema: &Value, ids: &Ids, all: bool) -> Value {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut body = Map::new();
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let wanted = all || required.contains(&name.as_str());
            if wanted {
                body.insert(name.clone(), value(property, name, ids));
            }
        }
        // A partial update with nothing required still needs something to change.
        if body.is_empty()
            && let Some((name, property)) = properties.iter().find(|(_, p)| {
                p.get("type").and_then(Value::as_str) == Some("string")
                    || p.get("type")
                        .and_then(Value::as_array)
                        .is_some_and(|k| k.contains(&json!("string")))
            })
        {
            body.insert(name.clone(), value(property, name, ids));
        }
    }
    Value::Object(body)
}

/// The operation's body, if it takes one.
pub fn body(operation: &Operation, ids: &Ids) -> Option<Value> {
    operation.body.as_ref().map(|schema| value(schema, "", ids))
}

/// The path with every parameter replaced: `ids` by parameter name first, else `fallback`.
pub fn path(operation: &Operation, fallback: &str) -> String {
    let mut path = operation.path.clone();
    for parameter in operation.path_parameters() {
        path = path.replace(&format!("{{{}}}", parameter.name), fallback);
    }
    path
}

/// Headers the operation requires (an idempotency key gets a fresh one each time).
pub fn required_headers(operation: &Operation) -> Vec<(&'static str, String)> {
    operation
        .parameters
        .iter()
        .filter(|p| p.location == "header" && p.required)
        .filter_map(|p| {
            let lower = p.name.to_ascii_lowercase();
            if lower == "idempotency-key" {
                Some((
                    "idempotency-key",
                    format!("msa-audit-{:x}", rand::random::<u64>()),
                ))
            } else {
                None
            }
        })
        .collect()
}

/// The ids in a response: the item ids of a list, or the id of one object. `key` is the
/// name of the object's id (`id`, or `order_id` for orders).
pub fn ids_in(body: &Value, singular: &str) -> Vec<i64> {
    let own_key = format!("{singular}_id");
    let id_of = |object: &Value| {
        object
            .get(&own_key)
            .or_else(|| object.get("id"))
            .and_then(Value::as_i64)
    };
    let list = match body {
        Value::Array(items) => Some(items),
        Value::Object(object) => ["items", "data", "results"]
            .iter()
            .find_map(|key| object.get(*key)?.as_array()),
        _ => None,
    };
    match list {
        Some(items) => items.iter().filter_map(id_of).collect(),
        None => id_of(body).into_iter().collect(),
    }
}

/// `orders` → `order`, `categories` → `category`.
pub fn singular(segment: &str) -> String {
    if let Some(stem) = segment.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = segment.strip_suffix('s') {
        stem.to_owned()
    } else {
        segment.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_follow_examples_and_seen_ids() {
        let schema = json!({
            "type": "object",
            "required": ["items", "note"],
            "properties": {
                "items": {"type": "array", "items": {"type": "object", "required": ["product_id", "quantity"],
                    "properties": {"product_id": {"type": "integer", "example": 102}, "quantity": {"type": "integer", "example": 1}}}},
                "note": {"type": "string", "minLength": 3},
                "ignored": {"type": "string"}
            }
        });
        let mut ids = Ids::default();
        assert_eq!(
            value(&schema, "", &ids),
            json!({"items": [{"product_id": 102, "quantity": 1}], "note": "msa auditxxx"})
        );
        ids.add("product_id", 7);
        assert_eq!(value(&schema, "", &ids)["items"][0]["product_id"], 7);
        let partial =
            json!({"type": "object", "properties": {"name": {"type": ["string", "null"]}}});
        assert_eq!(object(&partial, &ids, false), json!({"name": "msa audit"}));
    }

    #[test]
    fn ids_come_from_lists_and_single_objects() {
        assert_eq!(
            ids_in(
                &json!({"items": [{"order_id": 3}, {"order_id": 4}]}),
                "order"
            ),
            [3, 4]
        );
        assert_eq!(ids_in(&json!([{"id": 1}]), "product"), [1]);
        assert_eq!(ids_in(&json!({"id": 9, "name": "x"}), "user"), [9]);
        assert!(ids_in(&json!("x"), "user").is_empty());
        assert_eq!(singular("orders"), "order");
        assert_eq!(singular("categories"), "category");
    }
}
