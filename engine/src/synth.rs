//! Synthetic models: random ternary weights with the real tensor names, shapes and metadata.
//!
//! No trained BitNet weights can be downloaded here, so tests, benchmarks and the bundled
//! default model are generated. Random weights exercise every code path and give real speed;
//! correctness comes from agreement with the reference engines, not from the text they write.
//! Every file is labelled synthetic in `general.name` and `bitnet-rs.synthetic`.

use crate::formats::{
    FormatError, TensorType, TlConfig, TlTiles, encode_floats, ternary::TernaryMatrix,
    ternary::pack_ternary,
};
use crate::gguf::{GgufError, GgufFile, GgufValue, GgufWriter};
use crate::model::{Architecture, ModelConfig};
use half::f16;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;

/// A model shape.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthShape {
    /// Name used on the command line.
    pub name: &'static str,
    /// Hidden size.
    pub n_embd: usize,
    /// Blocks.
    pub n_layer: usize,
    /// FFN inner size.
    pub n_ff: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads.
    pub n_kv_head: usize,
    /// Context length written to the metadata.
    pub n_ctx: usize,
    /// RoPE base.
    pub rope_theta: f32,
    /// Vocabulary size the shape calls for; a smaller vocab file is padded up to it with
    /// unused tokens (so the embedding and LM head have their real size). 0: the vocab
    /// file's own size.
    pub n_vocab: usize,
}

/// The named shapes: `tiny` (tests, the bundled model) and `2b4t` (microsoft/bitnet-b1.58-2B-4T).
pub const SHAPES: &[SynthShape] = &[
    SynthShape {
        name: "tiny",
        n_embd: 256,
        n_layer: 2,
        n_ff: 512,
        n_head: 4,
        n_kv_head: 2,
        n_ctx: 512,
        rope_theta: 10000.0,
        n_vocab: 0,
    },
    SynthShape {
        name: "2b4t",
        n_embd: 2560,
        n_layer: 30,
        n_ff: 6912,
        n_head: 20,
        n_kv_head: 5,
        n_ctx: 4096,
        rope_theta: 500000.0,
        n_vocab: 128_256,
    },
];

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// The shape.
    pub shape: SynthShape,
    /// `bitnet-b1.58` (squared ReLU) or `bitnet` (SiLU).
    pub arch: String,
    /// Storage type of the ternary weights: I2_S, TL1, TL2, TQ1_0 or TQ2_0.
    pub ternary_type: TensorType,
    /// Storage type of token_embd: F16, F32 or Q8_0.
    pub embd_type: TensorType,
    /// RNG seed; the same seed gives the same file.
    pub seed: u64,
}

/// Synthesis failed.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// Reading the vocab or writing the model failed.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// A weight could not be packed.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The options do not make sense.
    #[error("{0}")]
    Options(String),
}

/// Looks a shape up by name.
pub fn shape(name: &str) -> Option<SynthShape> {
    SHAPES.iter().find(|s| s.name == name).cloned()
}

/// Writes a synthetic model to `out`, taking every `tokenizer.*` key from `vocab`.
/// Calls `progress(done, total)` per tensor. Returns the number of bytes written.
pub fn synthesize(
    vocab: &GgufFile,
    opts: &SynthOptions,
    out: &Path,
    mut progress: impl FnMut(usize, usize),
) -> Result<u64, SynthError> {
    let sh = &opts.shape;
    if !matches!(opts.arch.as_str(), "bitnet-b1.58" | "bitnet-25" | "bitnet") {
        return Err(SynthError::Options(format!(
            "unknown architecture '{}' (bitnet-b1.58, bitnet-25, bitnet)",
            opts.arch
        )));
    }
    if !opts.ternary_type.is_ternary() {
        return Err(SynthError::Options(format!(
            "ternary type must be i2_s, tl1, tl2, tq1_0 or tq2_0, not {}",
            opts.ternary_type
        )));
    }
    if !matches!(
        opts.embd_type,
        TensorType::F16 | TensorType::F32 | TensorType::Q8_0
    ) {
        return Err(SynthError::Options(format!(
            "embedding type must be f16, f32 or q8_0, not {}",
            opts.embd_type
        )));
    }
    let file_vocab = vocab
        .get("tokenizer.ggml.tokens")
        .and_then(GgufValue::as_array)
        .map(<[GgufValue]>::len)
        .ok_or_else(|| {
            SynthError::Options("the vocab file has no tokenizer.ggml.tokens array".into())
        })?;
    let n_vocab = file_vocab.max(sh.n_vocab);

    let arch = opts.arch.as_str();
    let mut w = GgufWriter::new();
    let ftype = file_type(opts.ternary_type);
    w.add_kv("general.architecture", GgufValue::String(arch.into()));
    w.add_kv(
        "general.name",
        GgufValue::String(format!(
            "bitnet-rs synthetic {} (random weights, not a trained model)",
            sh.name
        )),
    );
    w.add_kv("general.file_type", GgufValue::U32(ftype));
    w.add_kv("general.quantization_version", GgufValue::U32(2));
    w.add_kv("bitnet-rs.synthetic", GgufValue::Bool(true));
    w.add_kv("bitnet-rs.synthetic.seed", GgufValue::U64(opts.seed));
    // Replaces general.architecture in place, then appends the hyper-parameters.
    ModelConfig {
        arch_name: arch.to_string(),
        arch: Architecture::from_name(arch)
            .ok_or_else(|| SynthError::Options(format!("unknown architecture '{arch}'")))?,
        n_embd: sh.n_embd,
        n_layer: sh.n_layer,
        n_ff: sh.n_ff,
        n_head: sh.n_head,
        n_kv_head: sh.n_kv_head,
        head_dim: sh.n_embd / sh.n_head,
        n_rot: sh.n_embd / sh.n_head,
        rope_theta: sh.rope_theta,
        rms_eps: 1e-5,
        n_ctx_train: sh.n_ctx,
        n_vocab,
    }
    .write_gguf(&mut w);
    for (k, v) in vocab.metadata() {
        if k.starts_with("tokenizer.") {
            w.add_kv(k.clone(), pad_vocab_array(k, v, file_vocab, n_vocab));
        }
    }

    let (d, ff, kv) = (
        sh.n_embd as u64,
        sh.n_ff as u64,
        (sh.n_embd / sh.n_head * sh.n_kv_head) as u64,
    );
    if matches!(opts.ternary_type, TensorType::TL1 | TensorType::TL2) {
        let mut tl = TlConfig::new();
        for (m, k) in [(d, d), (kv, d), (ff, d), (d, ff)] {
            let (m, k) = (m as usize, k as usize);
            tl.insert(m, k, TlTiles::choose(opts.ternary_type, m, k)?);
        }
        tl.write(&mut w);
    }
    w.add_tensor_info("token_embd.weight", &[d, n_vocab as u64], opts.embd_type)?;
    w.add_tensor_info("output_norm.weight", &[d], TensorType::F32)?;
    for i in 0..sh.n_layer {
        let t = opts.ternary_type;
        for (name, dims, ty) in [
            ("attn_norm", vec![d], TensorType::F32),
            ("attn_q", vec![d, d], t),
            ("attn_k", vec![d, kv], t),
            ("attn_v", vec![d, kv], t),
            ("attn_sub_norm", vec![d], TensorType::F32),
            ("attn_output", vec![d, d], t),
            ("ffn_norm", vec![d], TensorType::F32),
            ("ffn_gate", vec![d, ff], t),
            ("ffn_up", vec![d, ff], t),
            ("ffn_sub_norm", vec![ff], TensorType::F32),
            ("ffn_down", vec![ff, d], t),
        ] {
            w.add_tensor_info(format!("blk.{i}.{name}.weight"), &dims, ty)?;
        }
    }
    let total = 2 + 11 * sh.n_layer;
    let mut done = 0;
    w.write_file_with(out, |name| {
        let mut rng = StdRng::seed_from_u64(opts.seed ^ fnv1a(name));
        let data = tensor_bytes(name, opts, n_vocab, &mut rng)
            .map_err(|e| GgufError::Write(e.to_string()))?;
        done += 1;
        progress(done, total);
        Ok(data)
    })?;
    Ok(std::fs::metadata(out).map(|m| m.len()).unwrap_or(0))
}

/// `general.file_type` of a model whose linear weights are `ty`: llama.cpp's LLAMA_FTYPE
/// values for TQ1_0 (36) and TQ2_0 (37), bitnet.cpp's for I2_S (40), TL1 (38) and TL2 (39).
pub fn file_type(ty: TensorType) -> u32 {
    match ty {
        TensorType::TQ1_0 => 36,
        TensorType::TQ2_0 => 37,
        TensorType::TL1 => 38,
        TensorType::TL2 => 39,
        _ => 40,
    }
}

/// Pads the per-token arrays of the tokenizer to `n_vocab` entries. The extra tokens are
/// typed UNUSED (5): no merge produces them and they are never matched in text, so the
/// tokenizer behaves exactly as the vocab file's, while the model has its real vocab size.
fn pad_vocab_array(key: &str, v: &GgufValue, file_vocab: usize, n_vocab: usize) -> GgufValue {
    let GgufValue::Array(ty, items) = v else {
        return v.clone();
    };
    if n_vocab <= file_vocab || items.len() != file_vocab {
        return v.clone();
    }
    let pad = |i: usize| match key {
        "tokenizer.ggml.tokens" => Some(GgufValue::String(format!("<|bitnet-rs-unused-{i}|>"))),
        "tokenizer.ggml.token_type" => Some(GgufValue::I32(5)),
        "tokenizer.ggml.scores" => Some(GgufValue::F32(-1e9)),
        _ => None,
    };
    if pad(0).is_none() {
        return v.clone();
    }
    let mut out = items.clone();
    out.extend((file_vocab..n_vocab).filter_map(pad));
    GgufValue::Array(*ty, out)
}

fn tensor_bytes(
    name: &str,
    opts: &SynthOptions,
    n_vocab: usize,
    rng: &mut StdRng,
) -> Result<Vec<u8>, SynthError> {
    let sh = &opts.shape;
    let (d, ff, kv) = (sh.n_embd, sh.n_ff, sh.n_embd / sh.n_head * sh.n_kv_head);
    let role = name
        .strip_prefix("blk.")
        .and_then(|s| s.split_once('.'))
        .map_or(name, |(_, r)| r);
    let (rows, cols) = match role {
        "token_embd.weight" => {
            // Embedding std 2/√d puts tied-head logits at a std of about 2: peaked but not
            // one-hot distributions, so sampling tests see real choices.
            let std = 2.0 / (d as f32).sqrt();
            let vals: Vec<f32> = (0..d * n_vocab).map(|_| normal(rng) * std).collect();
            return Ok(encode_floats(&vals, opts.embd_type)?);
        }
        "output_norm.weight" | "attn_norm.weight" | "attn_sub_norm.weight" | "ffn_norm.weight" => {
            return Ok(norm_weights(d, rng));
        }
        "ffn_sub_norm.weight" => return Ok(norm_weights(ff, rng)),
        "attn_q.weight" | "attn_output.weight" => (d, d),
        "attn_k.weight" | "attn_v.weight" => (kv, d),
        "ffn_gate.weight" | "ffn_up.weight" => (ff, d),
        "ffn_down.weight" => (d, ff),
        other => {
            return Err(SynthError::Options(format!(
                "no generator for tensor '{other}'"
            )));
        }
    };
    // Uniform codes over {−1, 0, +1}; the scale keeps each output near unit variance and is
    // rounded to f16 so that I2_S (f32 scale) and TQ (f16 scales) hold identical weights.
    let mut codes = vec![0i8; rows * cols];
    let mut buf = [0u8; 64];
    for chunk in codes.chunks_mut(64) {
        rng.fill(&mut buf[..]);
        for (c, b) in chunk.iter_mut().zip(buf) {
            *c = (b % 3) as i8 - 1;
        }
    }
    let jitter = 0.8 + 0.4 * rng.random::<f32>();
    let scale = f16::from_f32(jitter / (cols as f32 * 2.0 / 3.0).sqrt()).to_f32();
    Ok(pack_ternary(
        opts.ternary_type,
        &TernaryMatrix {
            rows,
            cols,
            codes,
            scale,
        },
    )?)
}

fn norm_weights(n: usize, rng: &mut StdRng) -> Vec<u8> {
    (0..n)
        .flat_map(|_| (1.0 + 0.1 * normal(rng)).to_le_bytes())
        .collect()
}

/// A standard normal sample (Box–Muller); avoids a distributions dependency for one use.
fn normal(rng: &mut StdRng) -> f32 {
    let u1: f32 = rng.random::<f32>().max(f32::MIN_POSITIVE);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Per-tensor seeds derived from names keep a tensor's values independent of write order.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
