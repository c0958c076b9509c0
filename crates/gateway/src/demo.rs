//! The classic demo API: hello, greetings in three languages, and an echo.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use http::{HeaderMap, header};
use kit::{ApiError, ApiResult, Problem};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .routes(routes!(hello))
        .routes(routes!(hello_name))
        .routes(routes!(greet))
        .routes(routes!(echo))
}

#[derive(Serialize, ToSchema)]
pub struct Message {
    #[schema(example = "Hello, API!")]
    message: String,
}

/// Say hello.
#[utoipa::path(get, path = "/hello", tag = "demo", responses((status = 200, body = Message)))]
async fn hello() -> Json<Message> {
    Json(Message {
        message: "Hello, API!".to_owned(),
    })
}

/// Say hello to someone.
#[utoipa::path(get, path = "/hello/{name}", tag = "demo",
    params(("name" = String, Path, min_length = 1, max_length = 64,
            pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$")),
    responses((status = 200, body = Message), (status = 400, body = Problem)))]
async fn hello_name(Path(name): Path<String>) -> ApiResult<Json<Message>> {
    let length = name.chars().count();
    if !(1..=64).contains(&length) || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "name must be 1 to 64 characters without control characters",
        ));
    }
    Ok(Json(Message {
        message: format!("Hello, {name}!"),
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct GreetParams {
    /// `ko` (Korean), `es` (Spanish) or `en` (English, the default).
    #[param(value_type = Option<Language>, inline, nullable = false)]
    lang: Option<String>,
}

/// The languages of the greeting, as the dictionary names them.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
enum Language {
    Ko,
    Es,
    En,
}

#[derive(Serialize, ToSchema)]
pub struct Greeting {
    #[schema(example = "ko")]
    lang: &'static str,
    #[schema(example = "안녕하세요!")]
    message: &'static str,
}

/// Greet in Korean, Spanish or English.
#[utoipa::path(get, path = "/greet", tag = "demo", params(GreetParams),
    responses((status = 200, body = Greeting), (status = 400, body = Problem)))]
async fn greet(Query(params): Query<GreetParams>) -> ApiResult<Json<Greeting>> {
    let (lang, message) = match params.lang.as_deref().unwrap_or("en") {
        "ko" => ("ko", "안녕하세요!"),
        "es" => ("es", "¡Hola!"),
        "en" => ("en", "Hello!"),
        _ => return Err(ApiError::bad_request("lang must be one of: ko, es, en")),
    };
    Ok(Json(Greeting { lang, message }))
}

#[derive(Serialize, ToSchema)]
pub struct Echo {
    /// Whatever JSON value was sent: object, array, string, number, boolean or null.
    you_sent: serde_json::Value,
}

/// Echo a JSON body back.
#[utoipa::path(post, path = "/echo", tag = "demo", request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 200, body = Echo), (status = 400, body = Problem), (status = 415, body = Problem)))]
async fn echo(headers: HeaderMap, body: Bytes) -> ApiResult<Json<Echo>> {
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let essence = content_type
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("send a JSON body to echo"));
    }
    let you_sent = serde_json::from_slice(&body)
        .map_err(|error| ApiError::bad_request(format!("the body is not valid JSON: {error}")))?;
    Ok(Json(Echo { you_sent }))
}
