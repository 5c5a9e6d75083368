//! The OpenAI request bodies this server accepts, and their validation into one generation
//! request. Unknown fields are ignored, as OpenAI-compatible servers do; a known field of the
//! wrong type or out of range is a 400 naming it.

use super::error::ApiError;
use bitnet_engine::sampling::SamplerConfig;
use serde::Deserialize;

/// A string or a list of strings (`stop`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One string.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// `prompt` of `/v1/completions`: text, or token ids.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    /// Text.
    Text(String),
    /// Token ids.
    Ids(Vec<u32>),
    /// A batch of one text (OpenAI accepts lists; this server takes exactly one).
    Texts(Vec<String>),
}

/// `stream_options`.
#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    /// Send a last chunk with `usage` before `[DONE]`.
    #[serde(default)]
    pub include_usage: bool,
}

/// A chat message.
#[derive(Debug, Deserialize)]
pub struct Message {
    /// system, user, assistant, …
    pub role: String,
    /// The text.
    pub content: String,
}

/// Fields shared by both endpoints.
#[derive(Debug, Deserialize)]
pub struct Common {
    /// Model name; must be the served one when given.
    pub model: Option<String>,
    /// Most tokens to generate.
    pub max_tokens: Option<i64>,
    /// Newer name of `max_tokens` (chat).
    pub max_completion_tokens: Option<i64>,
    /// Sampling temperature, ≥ 0 (0: greedy).
    pub temperature: Option<f32>,
    /// Nucleus sampling, (0, 1].
    pub top_p: Option<f32>,
    /// Top-k, ≥ 0 (0: off).
    pub top_k: Option<i64>,
    /// Min-p, [0, 1].
    pub min_p: Option<f32>,
    /// Repetition penalty, > 0.
    pub repeat_penalty: Option<f32>,
    /// Seed of the sampler.
    pub seed: Option<u64>,
    /// Stop strings.
    pub stop: Option<OneOrMany>,
    /// Stream over SSE.
    #[serde(default)]
    pub stream: bool,
    /// Streaming options.
    pub stream_options: Option<StreamOptions>,
    /// Number of choices; only 1.
    pub n: Option<i64>,
}

/// `/v1/completions`' own field (the shared ones are parsed from the same body as
/// [`Common`]; serde's `flatten` would lose the path of a field at fault).
#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    /// The prompt.
    pub prompt: Prompt,
}

/// `/v1/chat/completions`' own field.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    /// The conversation.
    pub messages: Vec<Message>,
}

/// Parses `body` as `T`, naming the field at fault.
pub fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_json(format!("the body is not valid JSON: {inner}"))
        } else if path == "." {
            let msg = inner.to_string();
            // "missing field `prompt` at line …": name the field.
            match msg.split('`').nth(1) {
                Some(field) if msg.starts_with("missing field") => {
                    ApiError::invalid(field.to_string(), format!("'{field}' is required"))
                }
                _ => ApiError::bad_json(format!("unexpected body: {msg}")),
            }
        } else {
            ApiError::invalid(path.clone(), format!("'{path}': {inner}"))
        }
    })
}

/// What the shared fields ask for, checked.
#[derive(Debug)]
pub struct Settings {
    /// Most tokens to generate (≥ 1; clamped later to the room left in the context).
    pub max_tokens: usize,
    /// Sampler settings.
    pub sampler: SamplerConfig,
    /// Stop strings.
    pub stop: Vec<String>,
    /// Streamed answer.
    pub stream: bool,
    /// Usage chunk at the end of a stream.
    pub include_usage: bool,
}

/// Default `max_tokens` when the request has none.
pub const DEFAULT_MAX_TOKENS: usize = 256;

impl Common {
    /// Validates the shared fields against the served model and context.
    pub fn settings(&self, served: &str, n_ctx: usize) -> Result<Settings, ApiError> {
        if let Some(m) = &self.model
            && m != served
        {
            return Err(ApiError::model_not_found(m, served));
        }
        let (name, max) = match (self.max_completion_tokens, self.max_tokens) {
            (Some(v), _) => ("max_completion_tokens", Some(v)),
            (None, v) => ("max_tokens", v),
        };
        let max_tokens = match max {
            None => DEFAULT_MAX_TOKENS,
            Some(v) if v < 1 => {
                return Err(ApiError::invalid(
                    name,
                    format!("'{name}' must be at least 1, got {v}"),
                ));
            }
            Some(v) if v as u64 > n_ctx as u64 => {
                return Err(ApiError::invalid(
                    name,
                    format!("'{name}' is {v} but the context holds {n_ctx} tokens"),
                ));
            }
            Some(v) => v as usize,
        };
        if let Some(n) = self.n
            && n != 1
        {
            return Err(ApiError::invalid(
                "n",
                format!("'n' must be 1 (one choice per request), got {n}"),
            ));
        }
        let mut sampler = SamplerConfig::default();
        if let Some(t) = self.temperature {
            if !(t >= 0.0 && t.is_finite()) {
                return Err(ApiError::invalid(
                    "temperature",
                    format!("'temperature' must be a finite number ≥ 0, got {t}"),
                ));
            }
            sampler.temperature = t;
        }
        if let Some(p) = self.top_p {
            sampler.top_p = p;
        }
        if let Some(k) = self.top_k {
            if k < 0 {
                return Err(ApiError::invalid(
                    "top_k",
                    format!("'top_k' must be ≥ 0, got {k}"),
                ));
            }
            sampler.top_k = k as usize;
        }
        if let Some(p) = self.min_p {
            sampler.min_p = p;
        }
        if let Some(r) = self.repeat_penalty {
            sampler.repeat_penalty = r;
        }
        sampler.seed = self.seed.unwrap_or_else(fresh_seed);
        sampler.validate().map_err(|e| {
            let field = match &e {
                bitnet_engine::sampling::SamplingError::InvalidConfig { field, .. } => *field,
                _ => "sampling",
            };
            ApiError::invalid(field, e.to_string())
        })?;
        if self.stream_options.is_some() && !self.stream {
            return Err(ApiError::invalid(
                "stream_options",
                "'stream_options' is only allowed with \"stream\": true",
            ));
        }
        let stop = match &self.stop {
            None => Vec::new(),
            Some(OneOrMany::One(s)) => vec![s.clone()],
            Some(OneOrMany::Many(v)) => v.clone(),
        };
        Ok(Settings {
            max_tokens,
            sampler,
            stop,
            stream: self.stream,
            include_usage: self
                .stream_options
                .as_ref()
                .is_some_and(|o| o.include_usage),
        })
    }
}

/// A seed for a request that gives none: varied answers, as OpenAI's API gives.
fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
