//! Errors in OpenAI's shape: `{"error": {"message", "type", "param", "code", …}}`, with the
//! numbers involved as extra fields (llama.cpp's `n_prompt_tokens` / `n_ctx`).

use salvo::http::StatusCode;
use salvo::prelude::*;
use serde_json::{Map, Value, json};

/// An HTTP error answer (boxed: it travels in every handler's `Result`).
#[derive(Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    status: StatusCode,
    kind: &'static str,
    message: String,
    param: Option<String>,
    code: Option<&'static str>,
    extra: Map<String, Value>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError(Box::new(Inner {
            status,
            kind,
            message: message.into(),
            param: None,
            code: None,
            extra: Map::new(),
        }))
    }

    /// 400 `invalid_request_error` about `param`.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message);
        e.0.param = Some(param.into());
        e
    }

    /// 400 for a body that is not the JSON expected.
    pub fn bad_json(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message);
        e.0.code = Some("invalid_json");
        e
    }

    /// 400 `context_length_exceeded`, with the numbers.
    pub fn context(n_prompt_tokens: usize, n_ctx: usize) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!(
                "the prompt is {n_prompt_tokens} tokens and the context holds {n_ctx}: \
                 shorten the prompt (at least one token must be left to generate)"
            ),
        );
        e.0.code = Some("context_length_exceeded");
        e.0.param = Some("messages/prompt".into());
        e.0.extra
            .insert("n_prompt_tokens".into(), n_prompt_tokens.into());
        e.0.extra.insert("n_ctx".into(), n_ctx.into());
        e
    }

    /// 401 for a missing or wrong API key.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "authentication_error", message);
        e.0.code = Some("invalid_api_key");
        e
    }

    /// 403 for an admin request outside what it may touch.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "permission_error", message)
    }

    /// 404 for something that does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found_error", message)
    }

    /// 422 for a model file that failed to load.
    pub fn load_failed(message: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request_error",
            message,
        );
        e.0.code = Some("model_load_failed");
        e
    }

    /// 404 for a model this server does not have.
    pub fn model_not_found(requested: &str, served: &str) -> Self {
        let mut e = Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("the model '{requested}' does not exist; this server serves '{served}'"),
        );
        e.0.param = Some("model".into());
        e.0.code = Some("model_not_found");
        e
    }

    /// 413 for a body over the limit.
    pub fn too_large(limit: usize) -> Self {
        let mut e = Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("the request body exceeds the limit of {limit} bytes"),
        );
        e.0.code = Some("body_too_large");
        e.0.extra.insert("limit_bytes".into(), limit.into());
        e
    }

    /// 429 when the queue is full.
    pub fn queue_full(max_queue: usize) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            format!("the request queue is full ({max_queue} waiting); retry later"),
        );
        e.0.code = Some("queue_full");
        e.0.extra.insert("max_queue".into(), max_queue.into());
        e
    }

    /// 503 while no model can serve.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable_error",
            message,
        )
    }

    /// 500 for a failure inside the engine.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let e = &self.0;
        let mut err = Map::new();
        err.insert("message".into(), e.message.clone().into());
        err.insert("type".into(), e.kind.into());
        err.insert(
            "param".into(),
            e.param.clone().map_or(Value::Null, Value::String),
        );
        err.insert("code".into(), e.code.map_or(Value::Null, Value::from));
        err.extend(e.extra.clone());
        json!({ "error": err })
    }

    /// Writes the status and body.
    pub fn write(&self, res: &mut Response) {
        res.status_code(self.0.status);
        res.render(Json(self.body()));
    }
}
