//! Loading a model for serving, and resolving the model names admin requests give to files
//! inside `--models-dir` (and nowhere else).

use super::super::loaded::{self, with_model};
use super::super::{device, load};
use super::error::ApiError;
use super::scheduler::Scheduler;
use super::state::Served;
use anyhow::Context;
use bitnet_engine::chat::ChatTemplate;
use bitnet_engine::model::ModelConfig;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// What every load uses, from the command line.
pub struct Loader {
    /// Threads, backend options.
    pub runner: load::RunnerArgs,
    /// `--ctx`.
    pub ctx: Option<usize>,
    /// `--parallel`.
    pub parallel: usize,
    /// `--max-queue`.
    pub max_queue: usize,
    /// `--models-dir`: where admin loads may read from.
    pub models_dir: Option<PathBuf>,
}

/// A model's name: its file name without `.gguf`.
pub fn model_name(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

impl Loader {
    /// Loads `path` and starts its engine thread.
    pub fn load(&self, path: &Path) -> anyhow::Result<Served> {
        let t0 = Instant::now();
        let threads = load::threads(self.runner.threads)?;
        let file = load::open(path)?;
        let tokenizer = super::super::tokenize::load_tokenizer(&file, None)?;
        let template = ChatTemplate::for_model(&file, &tokenizer, None).map_err(|e| e.to_string());
        let config = ModelConfig::from_gguf(&file)
            .with_context(|| format!("cannot load {}", path.display()))?;
        let n_ctx = self
            .ctx
            .unwrap_or(config.n_ctx_train)
            .min(config.n_ctx_train);
        if n_ctx < 2 {
            anyhow::bail!("--ctx must be at least 2");
        }
        // Each of `parallel` requests holds a KV cache of up to the context.
        let plan = device::plan(&self.runner, &file, &config, n_ctx, self.parallel.max(1))?;
        eprintln!("device: {}", plan.why);
        let model = loaded::load(&plan, &file, path, &self.runner, threads)?;
        let n_vocab = model.config().n_vocab;
        let ids = tokenizer.special_ids();
        let stop_tokens = [ids.eos, ids.eot, ids.eom].into_iter().flatten().collect();
        let scheduler =
            with_model!(model, m => Scheduler::start(Arc::new(m), self.parallel, self.max_queue))
                .context("cannot start the engine thread")?;
        Ok(Served {
            name: model_name(path),
            tokenizer,
            template,
            scheduler,
            n_ctx,
            n_vocab,
            stop_tokens,
            load_seconds: t0.elapsed().as_secs_f64(),
        })
    }

    /// The file an admin request names: a name (`tiny` → `tiny.gguf`) or a relative path
    /// inside `--models-dir`. Absolute paths, `..` and links that lead outside are refused
    /// (403); a name with no file is 404.
    pub fn resolve(&self, requested: &str) -> Result<PathBuf, ApiError> {
        let dir = self
            .models_dir
            .as_ref()
            .ok_or_else(|| ApiError::forbidden("loading models at run time needs --models-dir"))?;
        let rel = Path::new(requested);
        let escapes = rel.components().any(|c| {
            matches!(
                c,
                Component::ParentDir | Component::RootDir | Component::Prefix(_)
            )
        });
        if requested.is_empty() || escapes {
            return Err(ApiError::forbidden(format!(
                "'{requested}' is not a path inside the models directory (no absolute paths, no '..')"
            )));
        }
        let mut path = dir.join(rel);
        if path.extension().is_none() {
            path.set_extension("gguf");
        }
        let (Ok(real), Ok(root)) = (path.canonicalize(), dir.canonicalize()) else {
            return Err(ApiError::not_found(format!(
                "no model '{requested}' in the models directory"
            )));
        };
        if !real.starts_with(&root) {
            return Err(ApiError::forbidden(format!(
                "'{requested}' leads outside the models directory"
            )));
        }
        if !real.is_file() {
            return Err(ApiError::not_found(format!(
                "'{requested}' is not a model file"
            )));
        }
        Ok(real)
    }

    /// The `.gguf` files of the models directory, by name.
    pub fn available(&self) -> Vec<String> {
        let Some(dir) = &self.models_dir else {
            return Vec::new();
        };
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
            .map(|p| model_name(&p))
            .collect();
        names.sort();
        names
    }
}
