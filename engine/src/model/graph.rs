//! The BitNet b1.58 graph, written once against [`Backend`].
//!
//! One [`Model::step`] evaluates a batch of sequences, each bringing any number of new tokens
//! at its own position: a prompt is a batch of one, the server's concurrent requests are a
//! batch of many. Linear layers run over all rows at once; attention runs per sequence against
//! that sequence's KV cache.

use super::weights::Linear;
use super::{FfnActivation, ModelConfig, ModelError, ModelWeights};
use crate::backend::{AttnShape, Backend, MatmulInput, SeqChunk};
use crate::gguf::GgufFile;

/// A loaded model: configuration, weights on a backend, and the backend itself.
pub struct Model<B: Backend> {
    /// Hyper-parameters.
    pub config: ModelConfig,
    /// Resident weights.
    pub weights: ModelWeights<B>,
    /// The device.
    pub backend: B,
}

/// One sequence's KV cache: per layer a K and a V buffer of `capacity × kv_dim`.
pub struct KvCache<B: Backend> {
    k: Vec<B::Buf>,
    v: Vec<B::Buf>,
    len: usize,
    capacity: usize,
}

impl<B: Backend> KvCache<B> {
    /// Tokens already cached (the position of the next token).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Maximum tokens this cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets everything after `len` tokens (e.g. to reuse a shared prefix).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

/// Which logits a sequence wants back from a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogitsWanted {
    /// None (e.g. the first chunks of a long prompt).
    None,
    /// Only after the last new token (generation).
    Last,
    /// After every new token (`--logits-out`, perplexity).
    All,
}

/// One sequence's share of a batched step.
pub struct SeqBatch<'a, B: Backend> {
    /// The sequence's cache; its length is the position of `tokens[0]`.
    pub cache: &'a mut KvCache<B>,
    /// New tokens to evaluate.
    pub tokens: &'a [u32],
    /// Which logits to return.
    pub logits: LogitsWanted,
}

impl<B: Backend> Model<B> {
    /// Reads hyper-parameters and uploads all weights of `file` to `backend`.
    pub fn load(
        file: &GgufFile,
        backend: B,
        progress: impl FnMut(usize, usize),
    ) -> Result<Self, ModelError> {
        Self::load_with(file, backend, None, progress)
    }

    /// [`Self::load`], reading TL1/TL2 weights that the file has no tile parameters for with
    /// those of `tl_config` (bitnet.cpp's kernel_config.ini, [`crate::formats::TlConfig`]).
    pub fn load_with(
        file: &GgufFile,
        backend: B,
        tl_config: Option<&crate::formats::TlConfig>,
        progress: impl FnMut(usize, usize),
    ) -> Result<Self, ModelError> {
        let config = ModelConfig::from_gguf(file)?;
        let weights = ModelWeights::load(file, &config, &backend, tl_config, progress)?;
        Ok(Model {
            config,
            weights,
            backend,
        })
    }

    /// The backend's device name.
    pub fn backend_name(&self) -> &str {
        &self.backend.info().name
    }

    /// The backend the weights live on (for its reports, such as the CPU kernel choices).
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// A new empty KV cache for up to `capacity` tokens (at most the training context).
    pub fn new_cache(&self, capacity: usize) -> Result<KvCache<B>, ModelError> {
        if capacity == 0 {
            return Err(ModelError::Input("context size must be positive".into()));
        }
        let n = capacity * self.config.kv_dim();
        let mut k = Vec::with_capacity(self.config.n_layer);
        let mut v = Vec::with_capacity(self.config.n_layer);
        for _ in 0..self.config.n_layer {
            k.push(self.backend.alloc_kv(n)?);
            v.push(self.backend.alloc_kv(n)?);
        }
        Ok(KvCache {
            k,
            v,
            len: 0,
            capacity,
        })
    }

    /// Evaluates a batch; returns per sequence the requested logits, row-major
    /// (`rows × n_vocab`). On error no cache is advanced.
    pub fn step(&self, batch: &mut [SeqBatch<'_, B>]) -> Result<Vec<Vec<f32>>, ModelError> {
        let vocab = self.config.n_vocab;
        let Some((logits_dev, n_out)) = self.forward(batch)? else {
            return Ok(batch.iter().map(|_| Vec::new()).collect());
        };
        let mut logits = vec![0f32; n_out * vocab];
        self.backend.read(&logits_dev, &mut logits)?;
        Ok(split_rows(batch, |r| {
            logits[r.start * vocab..r.end * vocab].to_vec()
        }))
    }

    /// [`Self::step`] for greedy decoding: per sequence, the greedy token
    /// ([`crate::sampling::greedy_pick`]) of each requested row instead of its logits, chosen
    /// on the device so only the token ids are read back. A row where no logit qualifies
    /// (all NaN) is an error.
    pub fn step_greedy(&self, batch: &mut [SeqBatch<'_, B>]) -> Result<Vec<Vec<u32>>, ModelError> {
        let vocab = self.config.n_vocab;
        let Some((logits_dev, n_out)) = self.forward(batch)? else {
            return Ok(batch.iter().map(|_| Vec::new()).collect());
        };
        let picks = self.backend.argmax_rows(&logits_dev, n_out, vocab)?;
        let tokens = picks
            .into_iter()
            .collect::<Option<Vec<u32>>>()
            .ok_or_else(|| {
                ModelError::Input("no finite logit to pick a greedy token from".into())
            })?;
        Ok(split_rows(batch, |r| tokens[r].to_vec()))
    }

    /// The whole graph for a batch: the logits of every requested row on the device
    /// (`rows × n_vocab`) and the number of rows, or `None` when no row is requested.
    fn forward(
        &self,
        batch: &mut [SeqBatch<'_, B>],
    ) -> Result<Option<(B::Buf, usize)>, ModelError> {
        let cfg = &self.config;
        let be = &self.backend;
        let (d, ff, kvd, vocab) = (cfg.n_embd, cfg.n_ff, cfg.kv_dim(), cfg.n_vocab);

        let mut ids = Vec::new();
        let mut positions = Vec::new();
        let mut chunks = Vec::with_capacity(batch.len());
        let mut out_rows = Vec::new();
        for (s, seq) in batch.iter().enumerate() {
            let pos = seq.cache.len;
            if pos + seq.tokens.len() > seq.cache.capacity {
                return Err(ModelError::Input(format!(
                    "sequence {s}: {} cached + {} new tokens exceed the context size {}",
                    pos,
                    seq.tokens.len(),
                    seq.cache.capacity
                )));
            }
            if let Some(&bad) = seq.tokens.iter().find(|&&t| t as usize >= vocab) {
                return Err(ModelError::Input(format!(
                    "sequence {s}: token id {bad} is outside the vocabulary of {vocab}"
                )));
            }
            let chunk = SeqChunk {
                row: ids.len(),
                len: seq.tokens.len(),
                pos,
            };
            match seq.logits {
                LogitsWanted::None => {}
                LogitsWanted::Last if chunk.len > 0 => out_rows.push(chunk.row + chunk.len - 1),
                LogitsWanted::Last => {}
                LogitsWanted::All => out_rows.extend(chunk.row..chunk.row + chunk.len),
            }
            ids.extend_from_slice(seq.tokens);
            positions.extend(pos..pos + seq.tokens.len());
            chunks.push(chunk);
        }
        let n = ids.len();
        if n == 0 {
            return Ok(None);
        }

        let mut x = be.alloc(n * d)?;
        be.embed(&self.weights.token_embd, &ids, &mut x)?;
        let mut h = be.alloc(n * d)?;
        let mut hq = be.alloc_q(n, d)?;
        let mut q = be.alloc(n * d)?;
        let mut k = be.alloc(n * kvd)?;
        let mut v = be.alloc(n * kvd)?;
        let mut attn = be.alloc(n * d)?;
        let mut gate = be.alloc(n * ff)?;
        let mut up = be.alloc(n * ff)?;
        let mut f = be.alloc(n * ff)?;
        let mut fq = be.alloc_q(n, ff)?;
        let shape = AttnShape {
            n_head: cfg.n_head,
            n_kv_head: cfg.n_kv_head,
            head_dim: cfg.head_dim,
        };

        for (l, lw) in self.weights.layers.iter().enumerate() {
            be.rms_norm(&x, &lw.attn_norm, n, d, cfg.rms_eps, &mut h)?;
            let hqd =
                self.quantize_for(&h, &mut hq, n, d, &[&lw.attn_q, &lw.attn_k, &lw.attn_v])?;
            self.linear(&lw.attn_q, &h, &hq, hqd, n, &mut q)?;
            self.linear(&lw.attn_k, &h, &hq, hqd, n, &mut k)?;
            self.linear(&lw.attn_v, &h, &hq, hqd, n, &mut v)?;
            be.rope_neox(
                &mut q,
                &positions,
                cfg.n_head,
                cfg.head_dim,
                cfg.n_rot,
                cfg.rope_theta,
            )?;
            be.rope_neox(
                &mut k,
                &positions,
                cfg.n_kv_head,
                cfg.head_dim,
                cfg.n_rot,
                cfg.rope_theta,
            )?;
            for (seq, &chunk) in batch.iter_mut().zip(&chunks) {
                if chunk.len == 0 {
                    continue;
                }
                be.kv_store(&mut seq.cache.k[l], &k, chunk, kvd)?;
                be.kv_store(&mut seq.cache.v[l], &v, chunk, kvd)?;
                be.attention(
                    &q,
                    &seq.cache.k[l],
                    &seq.cache.v[l],
                    chunk,
                    shape,
                    &mut attn,
                )?;
            }
            be.rms_norm(&attn, &lw.attn_sub_norm, n, d, cfg.rms_eps, &mut h)?;
            let hqd = self.quantize_for(&h, &mut hq, n, d, &[&lw.attn_output])?;
            self.linear(&lw.attn_output, &h, &hq, hqd, n, &mut attn)?;
            be.add(&mut x, &attn, n * d)?;

            be.rms_norm(&x, &lw.ffn_norm, n, d, cfg.rms_eps, &mut h)?;
            let hqd = self.quantize_for(&h, &mut hq, n, d, &[&lw.ffn_gate, &lw.ffn_up])?;
            self.linear(&lw.ffn_gate, &h, &hq, hqd, n, &mut gate)?;
            self.linear(&lw.ffn_up, &h, &hq, hqd, n, &mut up)?;
            match cfg.ffn_activation() {
                FfnActivation::Relu2 => be.relu2_mul(&mut gate, &up, n * ff)?,
                FfnActivation::Silu => be.silu_mul(&mut gate, &up, n * ff)?,
            }
            be.rms_norm(&gate, &lw.ffn_sub_norm, n, ff, cfg.rms_eps, &mut f)?;
            let fqd = self.quantize_for(&f, &mut fq, n, ff, &[&lw.ffn_down])?;
            self.linear(&lw.ffn_down, &f, &fq, fqd, n, &mut h)?;
            be.add(&mut x, &h, n * d)?;
        }
        for (seq, chunk) in batch.iter_mut().zip(&chunks) {
            seq.cache.len = chunk.pos + chunk.len;
        }

        let n_out = out_rows.len();
        if n_out == 0 {
            return Ok(None);
        }
        {
            let mut sel = be.alloc(n_out * d)?;
            be.gather_rows(&x, &out_rows, d, &mut sel)?;
            let mut normed = be.alloc(n_out * d)?;
            be.rms_norm(
                &sel,
                &self.weights.output_norm,
                n_out,
                d,
                cfg.rms_eps,
                &mut normed,
            )?;
            let head = self
                .weights
                .output
                .as_ref()
                .unwrap_or(&self.weights.token_embd);
            let mut nq = be.alloc_q(n_out, d)?;
            let q = if be.weight_is_ternary(head) {
                be.quantize_act(&normed, n_out, d, &mut nq)?;
                Some(&nq)
            } else {
                None
            };
            let mut logits_dev = be.alloc(n_out * vocab)?;
            be.matmul(
                head,
                &MatmulInput {
                    x: &normed,
                    q,
                    rows: n_out,
                },
                &mut logits_dev,
            )?;
            Ok(Some((logits_dev, n_out)))
        }
    }

    /// Quantizes `x` once when any of `consumers` is ternary, so Q/K/V (or gate/up) share
    /// one set of int8 rows. Returns whether it did.
    fn quantize_for(
        &self,
        x: &B::Buf,
        xq: &mut B::QBuf,
        rows: usize,
        cols: usize,
        consumers: &[&Linear<B>],
    ) -> Result<bool, ModelError> {
        let any = consumers
            .iter()
            .any(|c| self.backend.weight_is_ternary(&c.weight));
        if any {
            self.backend.quantize_act(x, rows, cols, xq)?;
        }
        Ok(any)
    }

    /// `out = W·x`, times the layer's `*.scale` when the file has one.
    fn linear(
        &self,
        lin: &Linear<B>,
        x: &B::Buf,
        xq: &B::QBuf,
        quantized: bool,
        rows: usize,
        out: &mut B::Buf,
    ) -> Result<(), ModelError> {
        let input = MatmulInput {
            x,
            q: quantized.then_some(xq),
            rows,
        };
        self.backend.matmul(&lin.weight, &input, out)?;
        if let Some(s) = lin.scale {
            self.backend.scale(out, rows * lin.out_dim, s)?;
        }
        Ok(())
    }
}

/// Per sequence of `batch`, `take` of its range of requested rows (in batch order, as
/// [`LogitsWanted`] asks).
fn split_rows<B: Backend, T>(
    batch: &[SeqBatch<'_, B>],
    mut take: impl FnMut(std::ops::Range<usize>) -> T,
) -> Vec<T> {
    let mut next = 0;
    batch
        .iter()
        .map(|seq| {
            let rows = match seq.logits {
                LogitsWanted::None => 0,
                LogitsWanted::Last => usize::from(!seq.tokens.is_empty()),
                LogitsWanted::All => seq.tokens.len(),
            };
            next += rows;
            take(next - rows..next)
        })
        .collect()
}
