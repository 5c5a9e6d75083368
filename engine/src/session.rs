//! Sessions: one sequence with its KV cache, and the generation loop shared by the CLI and
//! the server.

use crate::backend::Backend;
use crate::model::{KvCache, LogitsWanted, Model, ModelError, SeqBatch};
use crate::sampling::Sampler;
use std::time::{Duration, Instant};

/// A sequence being evaluated: its cache and the tokens it holds.
pub struct Session<B: Backend> {
    cache: KvCache<B>,
    history: Vec<u32>,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `max_new_tokens` reached.
    Length,
    /// An end-of-generation token (EOS/EOT) was sampled; it is not emitted.
    EndToken(u32),
    /// The caller asked to stop (e.g. a stop string matched).
    Caller,
    /// The context is full.
    ContextFull,
}

/// Limits of one generation.
#[derive(Debug, Clone, Default)]
pub struct GenerateConfig {
    /// Most tokens to generate; 0 only evaluates the prompt.
    pub max_new_tokens: usize,
    /// Tokens that end generation (EOS, EOT).
    pub stop_tokens: Vec<u32>,
}

/// Timings and counts of one generation.
#[derive(Debug, Clone)]
pub struct GenerationStats {
    /// Prompt tokens evaluated.
    pub prompt_tokens: usize,
    /// Tokens generated (emitted).
    pub generated_tokens: usize,
    /// Time spent evaluating the prompt.
    pub prompt_time: Duration,
    /// Time spent generating (sampling + decode steps).
    pub gen_time: Duration,
    /// Why it ended.
    pub stop: StopReason,
    /// Logits of every prompt position when asked for (`rows × n_vocab`).
    pub prompt_logits: Option<Vec<f32>>,
}

impl<B: Backend> Session<B> {
    /// A new session with room for `capacity` tokens.
    pub fn new(model: &Model<B>, capacity: usize) -> Result<Self, ModelError> {
        Ok(Session {
            cache: model.new_cache(capacity)?,
            history: Vec::new(),
        })
    }

    /// Tokens evaluated so far.
    pub fn tokens(&self) -> &[u32] {
        &self.history
    }

    /// Most tokens the session can hold.
    pub fn capacity(&self) -> usize {
        self.cache.capacity()
    }

    /// Forgets every token after the first `len`, so a new prompt that shares them (the next
    /// turn of a chat) is evaluated only from where it differs.
    pub fn truncate(&mut self, len: usize) {
        self.cache.truncate(len);
        self.history.truncate(len);
    }

    /// Evaluates `tokens` after what the session already holds; returns the requested logits.
    pub fn feed(
        &mut self,
        model: &Model<B>,
        tokens: &[u32],
        logits: LogitsWanted,
    ) -> Result<Vec<f32>, ModelError> {
        let mut batch = [SeqBatch {
            cache: &mut self.cache,
            tokens,
            logits,
        }];
        let mut out = model.step(&mut batch)?;
        self.history.extend_from_slice(tokens);
        Ok(out.pop().unwrap_or_default())
    }

    /// Evaluates `prompt` in one batch, then samples up to `cfg.max_new_tokens` tokens, calling
    /// `on_token(token, logits after evaluating it)` for each one (returning `false` stops).
    /// With `all_prompt_logits` the logits of every prompt position are kept in the stats.
    ///
    /// Greedy decoding that keeps no prompt logits (a [`Sampler::is_plain_greedy`] sampler,
    /// `all_prompt_logits` false) lets the backend pick each token on the device and read back
    /// only its id ([`Model::step_greedy`]); `on_token` then gets an empty logits slice.
    pub fn generate(
        &mut self,
        model: &Model<B>,
        prompt: &[u32],
        cfg: &GenerateConfig,
        sampler: &mut Sampler,
        all_prompt_logits: bool,
        mut on_token: impl FnMut(u32, &[f32]) -> bool,
    ) -> Result<GenerationStats, ModelError> {
        if prompt.is_empty() && self.history.is_empty() {
            return Err(ModelError::Input("the prompt is empty".into()));
        }
        if sampler.is_plain_greedy() && !all_prompt_logits {
            return self.generate_greedy(model, prompt, cfg, on_token);
        }
        let vocab = model.config.n_vocab;
        let t0 = Instant::now();
        let want = if all_prompt_logits {
            LogitsWanted::All
        } else {
            LogitsWanted::Last
        };
        let logits = self.feed(model, prompt, want)?;
        let prompt_time = t0.elapsed();
        let mut last = logits[logits.len().saturating_sub(vocab)..].to_vec();
        let prompt_logits = all_prompt_logits.then_some(logits);

        let t1 = Instant::now();
        let mut generated = 0;
        let mut stop = StopReason::Length;
        while generated < cfg.max_new_tokens {
            if self.cache.len() >= self.cache.capacity() {
                stop = StopReason::ContextFull;
                break;
            }
            let tok = sampler
                .sample(&last, &self.history)
                .map_err(|e| ModelError::Input(e.to_string()))?;
            if cfg.stop_tokens.contains(&tok) {
                stop = StopReason::EndToken(tok);
                break;
            }
            generated += 1;
            // Every emitted token is evaluated, so the cache always matches `tokens()` and a
            // chat can continue from it.
            last = self.feed(model, &[tok], LogitsWanted::Last)?;
            if !on_token(tok, &last) {
                stop = StopReason::Caller;
                break;
            }
        }
        Ok(GenerationStats {
            prompt_tokens: prompt.len(),
            generated_tokens: generated,
            prompt_time,
            gen_time: t1.elapsed(),
            stop,
            prompt_logits,
        })
    }

    /// [`Self::generate`]'s loop for plain greedy decoding, on token ids alone.
    fn generate_greedy(
        &mut self,
        model: &Model<B>,
        prompt: &[u32],
        cfg: &GenerateConfig,
        mut on_token: impl FnMut(u32, &[f32]) -> bool,
    ) -> Result<GenerationStats, ModelError> {
        let t0 = Instant::now();
        let mut next = self.feed_greedy(model, prompt)?;
        let prompt_time = t0.elapsed();
        let t1 = Instant::now();
        let mut generated = 0;
        let mut stop = StopReason::Length;
        while generated < cfg.max_new_tokens {
            if self.cache.len() >= self.cache.capacity() {
                stop = StopReason::ContextFull;
                break;
            }
            let tok = next;
            if cfg.stop_tokens.contains(&tok) {
                stop = StopReason::EndToken(tok);
                break;
            }
            generated += 1;
            // As in `generate`: every emitted token is evaluated.
            next = self.feed_greedy(model, &[tok])?;
            if !on_token(tok, &[]) {
                stop = StopReason::Caller;
                break;
            }
        }
        Ok(GenerationStats {
            prompt_tokens: prompt.len(),
            generated_tokens: generated,
            prompt_time,
            gen_time: t1.elapsed(),
            stop,
            prompt_logits: None,
        })
    }

    /// Evaluates `tokens` and returns the greedy token after the last one.
    fn feed_greedy(&mut self, model: &Model<B>, tokens: &[u32]) -> Result<u32, ModelError> {
        let mut batch = [SeqBatch {
            cache: &mut self.cache,
            tokens,
            logits: LogitsWanted::Last,
        }];
        let picked = model.step_greedy(&mut batch)?;
        self.history.extend_from_slice(tokens);
        picked
            .into_iter()
            .next()
            .and_then(|t| t.last().copied())
            .ok_or_else(|| ModelError::Input("the prompt is empty".into()))
    }
}
