//! Hyper-parameters read from GGUF metadata and checked for consistency.

use super::ModelError;
use crate::gguf::{GgufFile, GgufValue, GgufWriter};

/// The BitNet graph variants this engine implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// `bitnet-b1.58` (and the early alias `bitnet-25`): squared-ReLU gated FFN (2B-4T).
    BitnetB158,
    /// `bitnet` (1bitLLM/bitnet_b1_58-large, llama.cpp's `bitnet`): SiLU-gated FFN and optional
    /// per-tensor `*.scale` multipliers.
    Bitnet,
}

impl Architecture {
    /// The variant a `general.architecture` name selects.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "bitnet-b1.58" | "bitnet-25" => Some(Self::BitnetB158),
            "bitnet" => Some(Self::Bitnet),
            _ => None,
        }
    }
}

/// The FFN's gate activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FfnActivation {
    /// `relu(gate)² · up`.
    Relu2,
    /// `silu(gate) · up`.
    Silu,
}

/// Everything the graph needs to know about the model's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// `general.architecture` as written in the file (`bitnet-b1.58`, `bitnet-25`, `bitnet`).
    pub arch_name: String,
    /// The graph variant.
    pub arch: Architecture,
    /// Hidden size.
    pub n_embd: usize,
    /// Transformer blocks.
    pub n_layer: usize,
    /// FFN inner size.
    pub n_ff: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads.
    pub n_kv_head: usize,
    /// Dimension of one head.
    pub head_dim: usize,
    /// Dimensions rotated by RoPE (≤ head_dim).
    pub n_rot: usize,
    /// RoPE base frequency.
    pub rope_theta: f32,
    /// RMSNorm epsilon.
    pub rms_eps: f32,
    /// Training context length.
    pub n_ctx_train: usize,
    /// Vocabulary size (rows of the embedding).
    pub n_vocab: usize,
}

impl ModelConfig {
    /// Reads and checks the hyper-parameters of a GGUF file.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, ModelError> {
        let arch_name = file
            .architecture()
            .ok_or_else(|| ModelError::MissingKey("general.architecture".into()))?
            .to_string();
        let arch = Architecture::from_name(&arch_name)
            .ok_or_else(|| ModelError::UnsupportedArch(arch_name.clone()))?;
        let key = |k: &str| format!("{arch_name}.{k}");
        let uint = |k: &str| -> Result<Option<usize>, ModelError> {
            let full = key(k);
            match file.get(&full) {
                None => Ok(None),
                Some(v) => match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
                    Some(n) => Ok(Some(n)),
                    None => Err(ModelError::BadKey {
                        key: full,
                        why: format!("must be a non-negative integer, got {} {v}", v.type_name()),
                    }),
                },
            }
        };
        let required = |k: &str| uint(k)?.ok_or_else(|| ModelError::MissingKey(key(k)));
        let float = |k: &str| -> Result<Option<f32>, ModelError> {
            let full = key(k);
            match file.get(&full) {
                None => Ok(None),
                Some(v @ (GgufValue::F32(_) | GgufValue::F64(_))) => {
                    Ok(v.as_f64().map(|f| f as f32))
                }
                Some(v) => Err(ModelError::BadKey {
                    key: full,
                    why: format!("must be a float, got {} {v}", v.type_name()),
                }),
            }
        };

        let n_embd = required("embedding_length")?;
        let n_layer = required("block_count")?;
        let n_ff = required("feed_forward_length")?;
        let n_head = required("attention.head_count")?;
        let n_kv_head = uint("attention.head_count_kv")?.unwrap_or(n_head);
        let rms_eps = float("attention.layer_norm_rms_epsilon")?
            .ok_or_else(|| ModelError::MissingKey(key("attention.layer_norm_rms_epsilon")))?;
        let rope_theta = float("rope.freq_base")?.unwrap_or(10000.0);
        let n_ctx_train = required("context_length")?;

        let bad = |k: &str, why: String| ModelError::BadKey { key: key(k), why };
        for (k, v) in [
            ("embedding_length", n_embd),
            ("block_count", n_layer),
            ("feed_forward_length", n_ff),
            ("attention.head_count", n_head),
            ("attention.head_count_kv", n_kv_head),
            ("context_length", n_ctx_train),
        ] {
            if v == 0 {
                return Err(bad(k, "must be positive".into()));
            }
        }
        if !n_embd.is_multiple_of(n_head) {
            return Err(bad(
                "attention.head_count",
                format!("{n_head} does not divide embedding_length {n_embd}"),
            ));
        }
        if !n_head.is_multiple_of(n_kv_head) {
            return Err(bad(
                "attention.head_count_kv",
                format!("{n_kv_head} does not divide head_count {n_head}"),
            ));
        }
        let head_dim = n_embd / n_head;
        let n_rot = uint("rope.dimension_count")?.unwrap_or(head_dim);
        if n_rot > head_dim || !n_rot.is_multiple_of(2) {
            return Err(bad(
                "rope.dimension_count",
                format!("{n_rot} must be even and at most the head size {head_dim}"),
            ));
        }
        if !(rms_eps > 0.0 && rms_eps < 1.0) {
            return Err(bad(
                "attention.layer_norm_rms_epsilon",
                format!("{rms_eps} is not in (0, 1)"),
            ));
        }
        if !(rope_theta > 0.0 && rope_theta.is_finite()) {
            return Err(bad(
                "rope.freq_base",
                format!("{rope_theta} is not a positive number"),
            ));
        }

        let embd = file
            .tensor("token_embd.weight")
            .ok_or_else(|| ModelError::MissingTensor("token_embd.weight".into()))?;
        let n_vocab = match embd.dims.as_slice() {
            [d, v] if *d as usize == n_embd => *v as usize,
            other => {
                return Err(ModelError::TensorShape {
                    name: embd.name.clone(),
                    got: other.to_vec(),
                    expected: vec![n_embd as u64, 0],
                });
            }
        };
        if let Some(v) = uint("vocab_size")?
            && v != n_vocab
        {
            return Err(bad(
                "vocab_size",
                format!("{v} disagrees with token_embd.weight's {n_vocab} rows"),
            ));
        }
        Ok(ModelConfig {
            arch_name,
            arch,
            n_embd,
            n_layer,
            n_ff,
            n_head,
            n_kv_head,
            head_dim,
            n_rot,
            rope_theta,
            rms_eps,
            n_ctx_train,
            n_vocab,
        })
    }

    /// Writes `general.architecture` and the hyper-parameters as [`Self::from_gguf`] reads
    /// them (what converters and the synthesizer record).
    pub fn write_gguf(&self, w: &mut GgufWriter) {
        let arch = &self.arch_name;
        let u = |v: usize| GgufValue::U32(v as u32);
        w.add_kv("general.architecture", GgufValue::String(arch.clone()));
        for (k, v) in [
            ("vocab_size", u(self.n_vocab)),
            ("context_length", u(self.n_ctx_train)),
            ("embedding_length", u(self.n_embd)),
            ("block_count", u(self.n_layer)),
            ("feed_forward_length", u(self.n_ff)),
            ("rope.dimension_count", u(self.n_rot)),
            ("attention.head_count", u(self.n_head)),
            ("attention.head_count_kv", u(self.n_kv_head)),
            (
                "attention.layer_norm_rms_epsilon",
                GgufValue::F32(self.rms_eps),
            ),
            ("rope.freq_base", GgufValue::F32(self.rope_theta)),
        ] {
            w.add_kv(format!("{arch}.{k}"), v);
        }
    }

    /// The FFN activation the architecture prescribes.
    pub fn ffn_activation(&self) -> FfnActivation {
        match self.arch {
            Architecture::BitnetB158 => FfnActivation::Relu2,
            Architecture::Bitnet => FfnActivation::Silu,
        }
    }

    /// Width of one K or V row (`n_kv_head · head_dim`).
    pub fn kv_dim(&self) -> usize {
        self.n_kv_head * self.head_dim
    }
}
