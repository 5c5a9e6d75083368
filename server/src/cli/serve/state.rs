//! What the handlers share: the model's state (loading, ready, failed) and, once ready,
//! everything a request needs.

use super::error::ApiError;
use super::scheduler::Scheduler;
use bitnet_engine::chat::ChatTemplate;
use bitnet_engine::tokenizer::Tokenizer;
use std::sync::{Arc, RwLock};

/// A loaded model, ready to serve.
pub struct Served {
    /// The name clients use (`model`).
    pub name: String,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    /// Its chat template, when one could be built.
    pub template: Result<ChatTemplate, String>,
    /// The engine thread.
    pub scheduler: Scheduler,
    /// Context per request.
    pub n_ctx: usize,
    /// Vocabulary size.
    pub n_vocab: usize,
    /// End-of-generation tokens.
    pub stop_tokens: Vec<u32>,
    /// Seconds the load took.
    pub load_seconds: f64,
}

/// The model's lifecycle state.
pub enum ModelState {
    /// No model (after an unload).
    Unloaded,
    /// Being loaded (the name), nothing served meanwhile.
    Loading(String),
    /// Serving.
    Ready(Arc<Served>),
    /// Serving the old model while the new one (its name) loads beside it.
    Swapping {
        /// Still serving.
        old: Arc<Served>,
        /// Loading.
        new: String,
    },
    /// Loading failed, with the reason (nothing served).
    Failed(String),
}

/// Shared by every handler.
pub struct AppState {
    /// The model.
    pub model: RwLock<ModelState>,
    /// `--api-key`: required as a Bearer token on `/v1/*`, `/tokenize`, `/detokenize`.
    pub api_key: Option<String>,
    /// Largest request body accepted.
    pub max_body: usize,
    /// The instruments behind `/metrics`.
    pub metrics: Arc<super::metrics::Metrics>,
    /// `--admin-key`: required on `/api/*`; without it the admin routes are off.
    pub admin_key: Option<String>,
    /// How models are loaded and where from.
    pub loader: super::lifecycle::Loader,
    /// The last load failure per model name (for `/api/models`).
    pub failures: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
    /// One admin operation at a time.
    pub admin_lock: tokio::sync::Mutex<()>,
    /// What `/health/ready` checks besides the model state.
    pub thresholds: super::thresholds::Thresholds,
}

impl AppState {
    /// The served model, or the 503 that says why there is none.
    pub fn served(&self) -> Result<Arc<Served>, ApiError> {
        let state = self.model.read().unwrap_or_else(|e| e.into_inner());
        match &*state {
            ModelState::Ready(s) | ModelState::Swapping { old: s, .. } => Ok(Arc::clone(s)),
            ModelState::Unloaded => Err(ApiError::unavailable(
                "no model is loaded (POST /api/load loads one)",
            )),
            ModelState::Loading(name) => Err(ApiError::unavailable(format!(
                "the model '{name}' is loading; retry when /health/ready answers 200"
            ))),
            ModelState::Failed(why) => Err(ApiError::unavailable(format!(
                "no model is loaded: loading failed: {why}"
            ))),
        }
    }

    /// Sets the state.
    pub fn set(&self, s: ModelState) {
        *self.model.write().unwrap_or_else(|e| e.into_inner()) = s;
    }
}
