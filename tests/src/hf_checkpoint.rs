//! Small Hugging Face BitNet checkpoints with the real tensor names and dtypes, for the
//! conversion tests: microsoft/bitnet-b1.58-2B-4T's packed layout, its bf16 master weights,
//! and 1bitLLM's bitnet_b1_58 (SiLU, differently named sub-norms, separate LM head).

use crate::model_files::vocab;
use bitnet_engine::gguf::GgufValue;
use safetensors::tensor::{Dtype, TensorView};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// Which checkpoint family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 2B-4T as published: uint8 packed weights plus bf16 `weight_scale`.
    Packed,
    /// 2B-4T's bf16 master weights.
    Master,
    /// 1bitLLM bitnet_b1_58: f16 weights, SiLU, `inner_attn_ln`/`ffn_layernorm`, lm_head.
    OneBitLlm,
}

/// A checkpoint in memory: config, tensors (dtype, shape, bytes), tokenizer files.
pub struct HfCheckpoint {
    /// config.json.
    pub config: Value,
    /// name → (dtype, shape, little-endian bytes).
    pub tensors: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>,
    /// tokenizer.json.
    pub tokenizer: Value,
    /// tokenizer_config.json.
    pub tokenizer_config: Value,
}

/// Dimensions of the test checkpoints.
pub const D: usize = 256;
/// FFN size.
pub const FF: usize = 512;
/// Layers.
pub const LAYERS: usize = 2;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;

/// A deterministic generator (xorshift), so tests need no RNG dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Roughly normal (sum of uniforms), times `std`.
    fn normal(&mut self, std: f32) -> f32 {
        let s: f32 = (0..4)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32)
            .sum();
        (s - 2.0) * std * 1.7
    }
}

fn bf16_bytes(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|x| half::bf16::from_f32(*x).to_le_bytes())
        .collect()
}

fn f16_bytes(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
        .collect()
}

/// BitNet's weight quantization as the test writes it down from the spec (the converter has
/// its own): s = 1/max(mean|W|, 1e-5), codes round(W·s) clamped, scale bf16(1/s).
pub fn ternarize_bf16(w: &[f32]) -> (Vec<i8>, f32) {
    let mean = (w.iter().map(|v| f64::from(v.abs())).sum::<f64>() / w.len() as f64) as f32;
    let s = 1.0 / mean.max(1e-5);
    let codes = w
        .iter()
        .map(|v| (v * s).round_ties_even().clamp(-1.0, 1.0) as i8)
        .collect();
    (codes, half::bf16::from_f32(1.0 / s).to_f32())
}

/// 2B-4T's packing: output row i·M/4 + p goes to bits 2i..2i+1 of packed row p, code w+1.
pub fn pack_2b4t(codes: &[i8], rows: usize, cols: usize) -> Vec<u8> {
    let q = rows / 4;
    let mut out = vec![0u8; q * cols];
    for (r, row) in codes.chunks(cols).enumerate() {
        let (i, p) = (r / q, r % q);
        for (k, &c) in row.iter().enumerate() {
            out[p * cols + k] |= ((c + 1) as u8) << (2 * i);
        }
    }
    out
}

impl HfCheckpoint {
    /// A checkpoint of `kind`; `Packed` and `Master` with the same seed hold the same
    /// weights (the packed one made from the master one).
    pub fn build(kind: Kind, seed: u64) -> HfCheckpoint {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let (tokenizer, tokenizer_config, n_vocab) = match kind {
            Kind::OneBitLlm => spm_tokenizer(),
            _ => bpe_tokenizer_from_vocab_tiny(),
        };
        let kv = D / HEADS * KV_HEADS;
        let mut tensors = BTreeMap::new();
        let float = |v: &[f32]| match kind {
            Kind::OneBitLlm => (Dtype::F16, f16_bytes(v)),
            _ => (Dtype::BF16, bf16_bytes(v)),
        };
        let mut put = |name: String, shape: Vec<usize>, v: Vec<f32>| {
            let (dt, bytes) = float(&v);
            tensors.insert(name, (dt, shape, bytes));
        };
        let emb: Vec<f32> = (0..n_vocab * D).map(|_| rng.normal(0.1)).collect();
        put("model.embed_tokens.weight".into(), vec![n_vocab, D], emb);
        let norm: Vec<f32> = (0..D).map(|_| 1.0 + rng.normal(0.05)).collect();
        put("model.norm.weight".into(), vec![D], norm);
        if kind == Kind::OneBitLlm {
            let head: Vec<f32> = (0..n_vocab * D).map(|_| rng.normal(0.1)).collect();
            put("lm_head.weight".into(), vec![n_vocab, D], head);
        }
        let (attn_sub, ffn_sub) = match kind {
            Kind::OneBitLlm => ("self_attn.inner_attn_ln", "mlp.ffn_layernorm"),
            _ => ("self_attn.attn_sub_norm", "mlp.ffn_sub_norm"),
        };
        let mut packed = Vec::new();
        let mut rotary = Vec::new();
        for i in 0..LAYERS {
            let n = |s: &str| format!("model.layers.{i}.{s}.weight");
            for (s, len) in [
                ("input_layernorm", D),
                (attn_sub, D),
                ("post_attention_layernorm", D),
                (ffn_sub, FF),
            ] {
                let v: Vec<f32> = (0..len).map(|_| 1.0 + rng.normal(0.05)).collect();
                put(n(s), vec![len], v);
            }
            for (s, rows, cols) in [
                ("self_attn.q_proj", D, D),
                ("self_attn.k_proj", kv, D),
                ("self_attn.v_proj", kv, D),
                ("self_attn.o_proj", D, D),
                ("mlp.gate_proj", FF, D),
                ("mlp.up_proj", FF, D),
                ("mlp.down_proj", D, FF),
            ] {
                let w: Vec<f32> = (0..rows * cols).map(|_| rng.normal(0.02)).collect();
                if kind == Kind::Packed {
                    // The master weight as bf16 is what the packed checkpoint was made from.
                    let w: Vec<f32> = w
                        .iter()
                        .map(|x| half::bf16::from_f32(*x).to_f32())
                        .collect();
                    let (codes, scale) = ternarize_bf16(&w);
                    packed.push((n(s), rows, cols, pack_2b4t(&codes, rows, cols), scale));
                } else {
                    put(n(s), vec![rows, cols], w);
                }
            }
            if kind == Kind::OneBitLlm {
                let inv: Vec<f32> = (0..D / HEADS / 2).map(|j| (j as f32).exp2()).collect();
                rotary.push((
                    format!("model.layers.{i}.self_attn.rotary_emb.inv_freq"),
                    (
                        Dtype::F32,
                        vec![inv.len()],
                        inv.iter()
                            .flat_map(|v| v.to_le_bytes())
                            .collect::<Vec<u8>>(),
                    ),
                ));
            }
        }
        tensors.extend(rotary);
        for (name, rows, cols, bytes, scale) in packed {
            tensors.insert(name.clone(), (Dtype::U8, vec![rows / 4, cols], bytes));
            tensors.insert(
                name.replace(".weight", ".weight_scale"),
                (Dtype::BF16, vec![1], bf16_bytes(&[scale])),
            );
        }
        let mut config = json!({
            "hidden_size": D,
            "intermediate_size": FF,
            "num_hidden_layers": LAYERS,
            "num_attention_heads": HEADS,
            "num_key_value_heads": KV_HEADS,
            "vocab_size": n_vocab,
            "max_position_embeddings": 512,
            "rms_norm_eps": 1e-5,
            "rope_theta": 500000.0,
            "tie_word_embeddings": true,
            "torch_dtype": "bfloat16",
        });
        match kind {
            Kind::Packed | Kind::Master => {
                config["architectures"] = json!(["BitNetForCausalLM"]);
                config["model_type"] = json!("bitnet");
                config["hidden_act"] = json!("relu2");
                if kind == Kind::Packed {
                    config["quantization_config"] = json!({
                        "quant_method": "bitnet",
                        "linear_class": "autobitlinear",
                        "quantization_mode": "offline",
                    });
                }
            }
            Kind::OneBitLlm => {
                config["architectures"] = json!(["BitnetForCausalLM"]);
                config["model_type"] = json!("llama");
                config["hidden_act"] = json!("silu");
                config["rope_theta"] = json!(10000.0);
                config["tie_word_embeddings"] = json!(false);
                config["torch_dtype"] = json!("float16");
                config["bos_token_id"] = json!(1);
                config["eos_token_id"] = json!(2);
            }
        }
        HfCheckpoint {
            config,
            tensors,
            tokenizer,
            tokenizer_config,
        }
    }

    /// Writes config.json, model.safetensors, tokenizer.json and tokenizer_config.json.
    pub fn write(&self, dir: &Path) {
        std::fs::create_dir_all(dir).expect("checkpoint dir");
        let json = |name: &str, v: &Value| {
            std::fs::write(dir.join(name), serde_json::to_vec_pretty(v).expect("json"))
                .expect("write json");
        };
        json("config.json", &self.config);
        json("tokenizer.json", &self.tokenizer);
        json("tokenizer_config.json", &self.tokenizer_config);
        let views: Vec<(String, TensorView<'_>)> = self
            .tensors
            .iter()
            .map(|(n, (dt, shape, bytes))| {
                (
                    n.clone(),
                    TensorView::new(*dt, shape.clone(), bytes).expect("valid tensor"),
                )
            })
            .collect();
        safetensors::serialize_to_file(views, None, &dir.join("model.safetensors"))
            .expect("write safetensors");
    }
}

fn strings_of(v: Option<&GgufValue>) -> Vec<String> {
    v.and_then(GgufValue::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The bundled 512-token byte-level BPE (models/vocab-tiny.gguf) written as a HF
/// tokenizer.json with LLaMA 3's pre-tokenizer, as 2B-4T's tokenizer.json is laid out.
fn bpe_tokenizer_from_vocab_tiny() -> (Value, Value, usize) {
    let v = vocab();
    let tokens = strings_of(v.get("tokenizer.ggml.tokens"));
    let merges = strings_of(v.get("tokenizer.ggml.merges"));
    let types: Vec<i64> = v
        .get("tokenizer.ggml.token_type")
        .and_then(GgufValue::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_u64().map(|v| v as i64))
                .collect()
        })
        .unwrap_or_default();
    let mut vocab_map = serde_json::Map::new();
    let mut added = Vec::new();
    for (i, (t, ty)) in tokens.iter().zip(&types).enumerate() {
        match ty {
            3 | 4 => added.push(json!({
                "id": i, "content": t, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": *ty == 3,
            })),
            _ => {
                vocab_map.insert(t.clone(), json!(i));
            }
        }
    }
    let llama3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    let tokenizer = json!({
        "version": "1.0",
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": llama3}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
        ]},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": true, "vocab": vocab_map, "merges": merges},
    });
    let text = |k: &str| {
        v.get(k)
            .and_then(GgufValue::as_u64)
            .and_then(|i| tokens.get(i as usize).cloned())
    };
    let tokenizer_config = json!({
        "bos_token": text("tokenizer.ggml.bos_token_id"),
        "eos_token": text("tokenizer.ggml.eos_token_id"),
        "pad_token": text("tokenizer.ggml.padding_token_id"),
        "add_bos_token": true,
        "chat_template": v.get("tokenizer.chat_template").and_then(GgufValue::as_str),
    });
    (tokenizer, tokenizer_config, tokens.len())
}

/// A tiny LLaMA-2-style SentencePiece BPE with byte fallback, as a HF tokenizer.json.
fn spm_tokenizer() -> (Value, Value, usize) {
    let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
    tokens.extend((0..=255u8).map(|b| format!("<0x{b:02X}>")));
    let pieces = [
        "▁", "t", "h", "e", "l", "o", "w", "r", "d", "a", "n", "▁t", "he", "▁the", "ll", "llo",
        "▁h", "▁he", "▁hello", "or", "ld", "▁w", "▁wor", "▁world", "an", "▁an", "▁and",
    ];
    tokens.extend(pieces.iter().map(|s| s.to_string()));
    // As HF's SentencePieceExtractor lists them: every split of a piece into two tokens,
    // pieces in score (here vocabulary) order.
    let is_token = |t: &str| tokens.iter().any(|x| x == t);
    let merges: Vec<String> = pieces
        .iter()
        .flat_map(|p| {
            p.char_indices()
                .skip(1)
                .map(|(i, _)| p.split_at(i))
                .filter(|(l, r)| is_token(l) && is_token(r))
                .map(|(l, r)| format!("{l} {r}"))
                .collect::<Vec<_>>()
        })
        .collect();
    let vocab_map: serde_json::Map<String, Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect();
    let added: Vec<Value> = (0..3)
        .map(|i| {
            json!({"id": i, "content": tokens[i], "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let tokenizer = json!({
        "version": "1.0",
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
        ]},
        "pre_tokenizer": null,
        "post_processor": null,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ]},
        "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>",
                  "continuing_subword_prefix": null, "end_of_word_suffix": null,
                  "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
                  "vocab": vocab_map, "merges": merges},
    });
    let tokenizer_config = json!({
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "add_bos_token": true, "add_eos_token": false,
    });
    (tokenizer, tokenizer_config, tokens.len())
}
