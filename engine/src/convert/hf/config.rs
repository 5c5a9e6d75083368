//! config.json of a BitNet checkpoint → the GGUF architecture and hyper-parameters.

use super::super::ConvertError;
use crate::model::{Architecture, ModelConfig};
use serde::Deserialize;
use std::path::Path;

/// The fields of config.json the conversion reads.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct HfConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: Option<usize>,
    pub vocab_size: usize,
    #[serde(default = "default_ctx")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f32,
    #[serde(default = "default_theta")]
    pub rope_theta: f32,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub tie_word_embeddings: Option<bool>,
    pub bos_token_id: Option<serde_json::Value>,
    pub eos_token_id: Option<serde_json::Value>,
}

fn default_ctx() -> usize {
    2048
}
fn default_eps() -> f32 {
    1e-6
}
fn default_theta() -> f32 {
    10000.0
}
fn default_act() -> String {
    "silu".into()
}

impl HfConfig {
    /// Reads and checks config.json.
    pub(crate) fn read(path: &Path) -> Result<HfConfig, ConvertError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConvertError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let c: HfConfig = serde_json::from_str(&text)
            .map_err(|e| ConvertError::Invalid(format!("{}: {e}", path.display())))?;
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), ConvertError> {
        let bad = |why: String| Err(ConvertError::Invalid(format!("config.json: {why}")));
        for (name, v) in [
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("vocab_size", self.vocab_size),
        ] {
            if v == 0 {
                return bad(format!("{name} is 0"));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        let kv = self.n_kv_head();
        if kv == 0 || !self.num_attention_heads.is_multiple_of(kv) {
            return bad(format!(
                "num_key_value_heads {kv} does not divide num_attention_heads {}",
                self.num_attention_heads
            ));
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            return bad(format!(
                "rms_norm_eps {} is not positive",
                self.rms_norm_eps
            ));
        }
        self.arch()?;
        Ok(())
    }

    /// The GGUF architecture, by the FFN activation (the architectures list is not reliable:
    /// both families call themselves Bitnet…ForCausalLM).
    pub(crate) fn arch(&self) -> Result<&'static str, ConvertError> {
        match self.hidden_act.as_str() {
            "relu2" => Ok("bitnet-b1.58"),
            "silu" => Ok("bitnet"),
            other => Err(ConvertError::Invalid(format!(
                "config.json: hidden_act '{other}' is not a BitNet FFN (relu2 for \
                 bitnet-b1.58 2B-4T, silu for 1bitLLM bitnet_b1_58)"
            ))),
        }
    }

    /// The hyper-parameters as the model reads them from GGUF.
    pub(crate) fn model_config(&self) -> Result<ModelConfig, ConvertError> {
        let arch_name = self.arch()?;
        Ok(ModelConfig {
            arch_name: arch_name.to_string(),
            arch: Architecture::from_name(arch_name).ok_or_else(|| {
                ConvertError::Invalid(format!("unknown architecture '{arch_name}'"))
            })?,
            n_embd: self.hidden_size,
            n_layer: self.num_hidden_layers,
            n_ff: self.intermediate_size,
            n_head: self.num_attention_heads,
            n_kv_head: self.n_kv_head(),
            head_dim: self.head_dim(),
            n_rot: self.head_dim(),
            rope_theta: self.rope_theta,
            rms_eps: self.rms_norm_eps,
            n_ctx_train: self.max_position_embeddings,
            n_vocab: self.vocab_size,
        })
    }

    pub(crate) fn n_kv_head(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub(crate) fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    pub(crate) fn kv_dim(&self) -> usize {
        self.head_dim() * self.n_kv_head()
    }

    /// A token id field (an integer, or the first of a list).
    pub(crate) fn token_id(v: &Option<serde_json::Value>) -> Option<u32> {
        match v {
            Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Some(serde_json::Value::Array(a)) => a
                .first()
                .and_then(|n| n.as_u64())
                .and_then(|n| u32::try_from(n).ok()),
            _ => None,
        }
    }
}
