//! `bitnet convert`: a Hugging Face BitNet checkpoint (safetensors + config.json +
//! tokenizer.json) → GGUF.
//!
//! Three kinds of checkpoint are read, told apart by the dtype of their projection weights:
//!
//! - microsoft/bitnet-b1.58-2B-4T: uint8 weights packed four rows to a byte plus a bf16
//!   `weight_scale` each (specs/formats-and-models.md §1.2), arch `bitnet-b1.58`;
//! - its bf16 master-weight variant, ternarized with BitNet's absmean rule;
//! - 1bitLLM bitnet_b1_58 (SiLU FFN, sub-norms named `inner_attn_ln`/`ffn_layernorm`), arch
//!   `bitnet`, also ternarized from floats.
//!
//! The architecture follows `hidden_act` (relu2 → `bitnet-b1.58`, silu → `bitnet`). Every
//! shape is checked against config.json; no Q/K permutation is applied (both graphs use NEOX
//! RoPE, which is HF's rotate-half). The output is written to a temporary file and renamed.

mod checkpoint;
mod config;
mod ternarize;
mod vocab;

pub use vocab::tokenizer_metadata;

use super::requantize::EMBD_TYPES;
use super::{ConvertError, write_atomically};
use crate::formats::ternary::pack_ternary_with_tiles;
use crate::formats::{TensorType, TlConfig, TlTiles, encode_floats};
use crate::gguf::{GgufError, GgufValue, GgufWriter};
use crate::synth::file_type;
use checkpoint::Checkpoint;
use config::HfConfig;
use safetensors::tensor::Dtype;
use std::path::Path;

/// What to write.
#[derive(Debug, Clone)]
pub struct HfConvertOptions {
    /// The ternary type of the projection weights.
    pub ternary_type: TensorType,
    /// The type of `token_embd.weight` (and `output.weight`): F32, F16, Q8_0 or Q6_K.
    pub embd_type: TensorType,
}

impl Default for HfConvertOptions {
    fn default() -> Self {
        HfConvertOptions {
            ternary_type: TensorType::I2_S,
            embd_type: TensorType::F16,
        }
    }
}

/// What [`convert_hf`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct HfConvertReport {
    /// The GGUF architecture.
    pub arch: &'static str,
    /// Whether the ternary weights were unpacked (true) or ternarized from floats (false).
    pub packed: bool,
    /// Tensors written.
    pub tensors: usize,
    /// Checkpoint tensors not used (e.g. rotary caches).
    pub ignored: Vec<String>,
    /// Bytes written.
    pub bytes: u64,
}

/// HF names of a layer's projections → GGUF names.
const PROJECTIONS: [(&str, &str); 7] = [
    ("self_attn.q_proj", "attn_q"),
    ("self_attn.k_proj", "attn_k"),
    ("self_attn.v_proj", "attn_v"),
    ("self_attn.o_proj", "attn_output"),
    ("mlp.gate_proj", "ffn_gate"),
    ("mlp.up_proj", "ffn_up"),
    ("mlp.down_proj", "ffn_down"),
];

/// HF names of a layer's norms (alternatives in order) → GGUF names.
const NORMS: [(&[&str], &str); 4] = [
    (&["input_layernorm"], "attn_norm"),
    (
        &["self_attn.attn_sub_norm", "self_attn.inner_attn_ln"],
        "attn_sub_norm",
    ),
    (&["post_attention_layernorm"], "ffn_norm"),
    (&["mlp.ffn_sub_norm", "mlp.ffn_layernorm"], "ffn_sub_norm"),
];

/// One tensor to write: GGUF name, dims (ggml order), type, and how to make its bytes.
struct Plan {
    name: String,
    dims: Vec<u64>,
    ty: TensorType,
    source: Source,
}

enum Source {
    /// A float vector (norm weights), written as F32.
    Floats(String),
    /// A float matrix written as the embedding type.
    Matrix(String),
    /// A projection: HF weight name, (M, K), and the packed scale's name when packed.
    Ternary {
        hf: String,
        rows: usize,
        cols: usize,
        packed_scale: Option<String>,
        tiles: Option<TlTiles>,
    },
}

/// Converts the checkpoint in `dir` to `out`. Calls `progress(done, total)` per tensor.
pub fn convert_hf(
    dir: &Path,
    out: &Path,
    opts: &HfConvertOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<HfConvertReport, ConvertError> {
    if !opts.ternary_type.is_ternary() {
        return Err(ConvertError::Invalid(format!(
            "--type must be a ternary type (i2_s, tl1, tl2, tq1_0, tq2_0), not {}",
            opts.ternary_type
        )));
    }
    if !EMBD_TYPES.contains(&opts.embd_type) {
        return Err(ConvertError::Invalid(format!(
            "--embd-type must be f32, f16, q8_0 or q6_k, not {}",
            opts.embd_type
        )));
    }
    let cfg = HfConfig::read(&dir.join("config.json"))?;
    let arch = cfg.arch()?;
    let ck = Checkpoint::open(dir)?;
    let (d, ff, kv, nv) = (
        cfg.hidden_size,
        cfg.intermediate_size,
        cfg.kv_dim(),
        cfg.vocab_size,
    );

    // Which kind of checkpoint, from the first projection's dtype.
    let first = ck.tensor("model.layers.0.self_attn.q_proj.weight")?;
    let packed = first.dtype == Dtype::U8;

    let mut plan = Vec::new();
    let mut used: Vec<String> = Vec::new();
    let mut use_name = |n: &str| used.push(n.to_string());
    let embd = "model.embed_tokens.weight";
    ck.tensor(embd)?.expect_shape(&[nv, d])?;
    use_name(embd);
    plan.push(Plan {
        name: "token_embd.weight".into(),
        dims: vec![d as u64, nv as u64],
        ty: opts.embd_type,
        source: Source::Matrix(embd.into()),
    });
    ck.tensor("model.norm.weight")?.expect_shape(&[d])?;
    use_name("model.norm.weight");
    plan.push(Plan {
        name: "output_norm.weight".into(),
        dims: vec![d as u64],
        ty: TensorType::F32,
        source: Source::Floats("model.norm.weight".into()),
    });
    // A separate LM head only when the checkpoint has one and does not tie it.
    if ck.has("lm_head.weight") && cfg.tie_word_embeddings != Some(true) {
        ck.tensor("lm_head.weight")?.expect_shape(&[nv, d])?;
        use_name("lm_head.weight");
        plan.push(Plan {
            name: "output.weight".into(),
            dims: vec![d as u64, nv as u64],
            ty: opts.embd_type,
            source: Source::Matrix("lm_head.weight".into()),
        });
    }
    let mut tl = TlConfig::new();
    for i in 0..cfg.num_hidden_layers {
        let hf = |s: &str| format!("model.layers.{i}.{s}.weight");
        for (names, gguf) in NORMS {
            let name = names
                .iter()
                .map(|n| hf(n))
                .find(|n| ck.has(n))
                .ok_or_else(|| {
                    ConvertError::Invalid(format!(
                        "the checkpoint has no tensor '{}'",
                        hf(names[0])
                    ))
                })?;
            let len = if gguf == "ffn_sub_norm" { ff } else { d };
            ck.tensor(&name)?.expect_shape(&[len])?;
            use_name(&name);
            plan.push(Plan {
                name: format!("blk.{i}.{gguf}.weight"),
                dims: vec![len as u64],
                ty: TensorType::F32,
                source: Source::Floats(name),
            });
        }
        for (proj, gguf) in PROJECTIONS {
            let (rows, cols) = match gguf {
                "attn_q" | "attn_output" => (d, d),
                "attn_k" | "attn_v" => (kv, d),
                "ffn_gate" | "ffn_up" => (ff, d),
                _ => (d, ff),
            };
            let name = hf(proj);
            let t = ck.tensor(&name)?;
            let packed_scale = if packed {
                let s = format!("model.layers.{i}.{proj}.weight_scale");
                ck.tensor(&s)?;
                use_name(&s);
                t.expect_shape(&[rows / 4, cols])?;
                Some(s)
            } else {
                t.expect_shape(&[rows, cols])?;
                None
            };
            if (t.dtype == Dtype::U8) != packed {
                return Err(ConvertError::Invalid(format!(
                    "tensor '{name}' is {:?}, but the first projection is {:?}: a checkpoint \
                     is either packed (U8) or float throughout",
                    t.dtype, first.dtype
                )));
            }
            let tiles = if matches!(opts.ternary_type, TensorType::TL1 | TensorType::TL2) {
                let t = TlTiles::choose(opts.ternary_type, rows, cols).map_err(|source| {
                    ConvertError::Tensor {
                        name: name.clone(),
                        source,
                    }
                })?;
                tl.insert(rows, cols, t);
                Some(t)
            } else {
                None
            };
            use_name(&name);
            plan.push(Plan {
                name: format!("blk.{i}.{gguf}.weight"),
                dims: vec![cols as u64, rows as u64],
                ty: opts.ternary_type,
                source: Source::Ternary {
                    hf: name,
                    rows,
                    cols,
                    packed_scale,
                    tiles,
                },
            });
        }
    }
    // Layers beyond the config's count mean the config does not describe these weights.
    let extra = format!("model.layers.{}.", cfg.num_hidden_layers);
    if let Some(n) = ck.names().find(|n| n.starts_with(&extra)) {
        return Err(ConvertError::Invalid(format!(
            "config.json says {} layers, but the checkpoint has '{n}'",
            cfg.num_hidden_layers
        )));
    }
    let ignored: Vec<String> = ck
        .names()
        .filter(|n| !used.iter().any(|u| u == n))
        .map(str::to_string)
        .collect();
    for n in &ignored {
        tracing::warn!("checkpoint tensor '{n}' is not used");
    }

    let mut w = GgufWriter::new();
    let name = dir
        .file_name()
        .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    cfg.model_config()?.write_gguf(&mut w);
    w.add_kv("general.name", GgufValue::String(name));
    w.add_kv(
        "general.file_type",
        GgufValue::U32(file_type(opts.ternary_type)),
    );
    w.add_kv("general.quantization_version", GgufValue::U32(2));
    let bos = HfConfig::token_id(&cfg.bos_token_id);
    let eos = HfConfig::token_id(&cfg.eos_token_id);
    for (k, v) in vocab::tokenizer_metadata(dir, nv, bos, eos)? {
        w.add_kv(k, v);
    }
    tl.write(&mut w);
    for p in &plan {
        w.add_tensor_info(&p.name, &p.dims, p.ty)?;
    }

    let total = plan.len();
    let mut steps = plan.iter();
    let mut done = 0;
    let bytes = write_atomically(out, |tmp| {
        w.write_file_with(tmp, |name| {
            let p = steps
                .next()
                .filter(|p| p.name == name)
                .ok_or_else(|| GgufError::Write(format!("tensor '{name}' out of order")))?;
            let data = tensor_bytes(&ck, p, opts).map_err(|e| GgufError::Write(e.to_string()))?;
            done += 1;
            progress(done, total);
            Ok(data)
        })?;
        Ok(std::fs::metadata(tmp).map(|m| m.len()).unwrap_or(0))
    })?;
    Ok(HfConvertReport {
        arch,
        packed,
        tensors: total,
        ignored,
        bytes,
    })
}

fn tensor_bytes(
    ck: &Checkpoint,
    p: &Plan,
    opts: &HfConvertOptions,
) -> Result<Vec<u8>, ConvertError> {
    match &p.source {
        Source::Floats(name) => Ok(ck
            .tensor(name)?
            .to_f32()?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()),
        Source::Matrix(name) => {
            encode_floats(&ck.tensor(name)?.to_f32()?, opts.embd_type).map_err(|source| {
                ConvertError::Tensor {
                    name: name.clone(),
                    source,
                }
            })
        }
        Source::Ternary {
            hf,
            rows,
            cols,
            packed_scale,
            tiles,
        } => {
            let t = ck.tensor(hf)?;
            let m = match packed_scale {
                Some(s) => ternarize::unpack_packed(&t, &ck.tensor(s)?, *rows, *cols)?,
                None => ternarize::absmean(&t, *rows, *cols)?,
            };
            pack_ternary_with_tiles(p.ty, &m, *tiles).map_err(|source| ConvertError::Tensor {
                name: hf.clone(),
                source,
            })
        }
    }
}
