//! `bitnet convert` on small checkpoints with the real tensor names and dtypes: 2B-4T packed
//! and bf16 master weights give the same GGUF tensors; 1bitLLM converts to the `bitnet` arch;
//! converted tokenizers encode as HF does; malformed checkpoints are named and leave nothing.

use bitnet_engine::convert::{HfConvertOptions, convert_hf};
use bitnet_engine::formats::TensorType;
use bitnet_engine::gguf::{GgufFile, GgufValue};
use bitnet_engine::tokenizer::Tokenizer;
use bitnet_tests::hf_checkpoint::{HfCheckpoint, Kind};
use bitnet_tests::logits::{load, prompt_then_forced};
use bitnet_tests::model_files::vocab;
use safetensors::tensor::Dtype;
use std::path::{Path, PathBuf};

fn convert(ck: &HfCheckpoint, dir: &Path, name: &str, ty: TensorType) -> PathBuf {
    let src = dir.join(format!("{name}-hf"));
    ck.write(&src);
    let out = dir.join(format!("{name}.gguf"));
    let opts = HfConvertOptions {
        ternary_type: ty,
        embd_type: TensorType::F16,
    };
    convert_hf(&src, &out, &opts, |_, _| {}).unwrap_or_else(|e| panic!("{name}: {e}"));
    out
}

const TEXTS: &[&str] = &[
    "hello world",
    "the thello and hand",
    " leading  and   runs of spaces ",
    "héllo wörld — ünïcode 世界 🙂",
    "Numbers 12345 and 'contractions' don't we'll",
    "line\nbreaks\r\nand\ttabs",
];

/// Our tokenizer rebuilt from the converted GGUF encodes as HF does from the tokenizer.json.
fn assert_tokenizer_matches_hf(gguf: &Path, tokenizer_json: &serde_json::Value) {
    let ours = Tokenizer::from_gguf(&GgufFile::open(gguf).expect("open")).expect("tokenizer");
    let hf = tokenizers::Tokenizer::from_bytes(serde_json::to_vec(tokenizer_json).expect("json"))
        .expect("HF loads the tokenizer.json");
    for text in TEXTS {
        let want = hf
            .encode(*text, false)
            .expect("HF encodes")
            .get_ids()
            .to_vec();
        let got = ours.encode(text, false, false).expect("encodes");
        assert_eq!(got, want, "{text:?}");
    }
}

#[test]
fn packed_and_master_2b4t_checkpoints_give_identical_tensors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let packed = HfCheckpoint::build(Kind::Packed, 5);
    let master = HfCheckpoint::build(Kind::Master, 5);
    let a = convert(&packed, dir.path(), "packed", TensorType::I2_S);
    let b = convert(&master, dir.path(), "master", TensorType::I2_S);
    let (fa, fb) = (
        GgufFile::open(&a).expect("a"),
        GgufFile::open(&b).expect("b"),
    );
    assert_eq!(fa.architecture(), Some("bitnet-b1.58"));
    assert_eq!(fa.tensors().len(), 2 + 11 * 2);
    for t in fa.tensors() {
        let u = fb.tensor(&t.name).expect("same tensors");
        assert_eq!((t.ty, &t.dims), (u.ty, &u.dims), "{}", t.name);
        assert!(
            fa.tensor_data(t)[..] == fb.tensor_data(u)[..],
            "{}: packed and master conversions differ",
            t.name
        );
    }
    for (k, v) in fa.metadata() {
        if k != "general.name" {
            assert_eq!(fb.get(k), Some(v), "{k}");
        }
    }
    // The tokenizer metadata reproduces the vocabulary the tokenizer.json was written from.
    let v = vocab();
    for key in [
        "tokenizer.ggml.model",
        "tokenizer.ggml.pre",
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.merges",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.padding_token_id",
        "tokenizer.ggml.add_bos_token",
        "tokenizer.chat_template",
    ] {
        assert_eq!(fa.get(key), v.get(key), "{key}");
    }
    let types = |f: &GgufFile| -> Vec<Option<u64>> {
        f.get("tokenizer.ggml.token_type")
            .and_then(GgufValue::as_array)
            .map(|a| a.iter().map(GgufValue::as_u64).collect())
            .unwrap_or_default()
    };
    assert_eq!(types(&fa), types(&v));
    assert_tokenizer_matches_hf(&a, &packed.tokenizer);

    // Both run, identically, and TL2 from the same checkpoint computes the same logits.
    let tl2 = convert(&packed, dir.path(), "packed-tl2", TensorType::TL2);
    let prompt = [504, 72, 101, 108, 108, 111];
    let la = prompt_then_forced(&load(&a), &prompt, &[33]);
    assert_eq!(la, prompt_then_forced(&load(&b), &prompt, &[33]));
    assert_eq!(la, prompt_then_forced(&load(&tl2), &prompt, &[33]));
    assert!(la.0.iter().flatten().all(|x| x.is_finite()));
}

#[test]
fn onebitllm_checkpoint_converts_to_the_bitnet_arch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ck = HfCheckpoint::build(Kind::OneBitLlm, 9);
    let src = dir.path().join("1bit-hf");
    ck.write(&src);
    let out = dir.path().join("1bit.gguf");
    let report = convert_hf(&src, &out, &HfConvertOptions::default(), |_, _| {}).expect("converts");
    assert_eq!(report.arch, "bitnet");
    assert!(!report.packed);
    assert_eq!(report.ignored.len(), 2, "{:?}", report.ignored);
    assert!(report.ignored[0].ends_with("rotary_emb.inv_freq"));
    let f = GgufFile::open(&out).expect("open");
    assert_eq!(f.architecture(), Some("bitnet"));
    assert!(f.tensor("output.weight").is_some(), "separate LM head");
    assert!(f.tensor("blk.1.attn_sub_norm.weight").is_some());
    assert_eq!(
        f.get("tokenizer.ggml.model").and_then(GgufValue::as_str),
        Some("llama")
    );
    assert_tokenizer_matches_hf(&out, &ck.tokenizer);
    let (logits, _) = prompt_then_forced(&load(&out), &[1, 270, 280], &[]);
    assert!(logits.iter().flatten().all(|x| x.is_finite()));
}

/// Each mutation of a valid checkpoint, the text its error must contain.
type Mutation = (&'static str, fn(&mut HfCheckpoint), &'static str);

#[test]
fn malformed_checkpoints_are_named_and_leave_no_file() {
    let cases: &[Mutation] = &[
        (
            "missing tensor",
            |c| {
                c.tensors.remove("model.layers.1.mlp.up_proj.weight");
            },
            "model.layers.1.mlp.up_proj.weight",
        ),
        (
            "missing scale",
            |c| {
                c.tensors
                    .remove("model.layers.0.self_attn.v_proj.weight_scale");
            },
            "model.layers.0.self_attn.v_proj.weight_scale",
        ),
        (
            "wrong dtype",
            |c| {
                let t = c
                    .tensors
                    .get_mut("model.layers.1.self_attn.o_proj.weight")
                    .expect("o_proj");
                t.0 = Dtype::I8;
            },
            "model.layers.1.self_attn.o_proj.weight",
        ),
        (
            "wrong shape",
            |c| {
                let t = c.tensors.get_mut("model.norm.weight").expect("norm");
                t.1 = vec![128];
                t.2.truncate(256);
            },
            "model.norm.weight",
        ),
        (
            "non-ternary code",
            |c| {
                let t = c
                    .tensors
                    .get_mut("model.layers.0.mlp.down_proj.weight")
                    .expect("down");
                t.2[7] |= 0b11 << 4;
            },
            "code 3",
        ),
        (
            "config has fewer layers",
            |c| c.config["num_hidden_layers"] = 1.into(),
            "config.json says 1 layers",
        ),
        (
            "config disagrees on width",
            |c| c.config["intermediate_size"] = 640.into(),
            "the config implies",
        ),
        (
            "unknown activation",
            |c| c.config["hidden_act"] = "gelu".into(),
            "hidden_act 'gelu'",
        ),
        (
            "bad tokenizer",
            |c| c.tokenizer["model"]["merges"] = serde_json::json!(["Ġ nonexistent"]),
            "nonexistent",
        ),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, (what, mutate, want)) in cases.iter().enumerate() {
        let mut ck = HfCheckpoint::build(Kind::Packed, 1);
        mutate(&mut ck);
        let src = dir.path().join(format!("case{i}"));
        ck.write(&src);
        let out_dir = dir.path().join(format!("out{i}"));
        std::fs::create_dir_all(&out_dir).expect("out dir");
        let out = out_dir.join("model.gguf");
        let err = convert_hf(&src, &out, &HfConvertOptions::default(), |_, _| {})
            .err()
            .unwrap_or_else(|| panic!("{what}: converted"))
            .to_string();
        assert!(err.contains(want), "{what}: {err}");
        let left = std::fs::read_dir(&out_dir).expect("list").count();
        assert_eq!(left, 0, "{what}: files left behind");
    }
    // A directory that is not a checkpoint at all.
    let err = convert_hf(
        dir.path(),
        &dir.path().join("x.gguf"),
        &HfConvertOptions::default(),
        |_, _| {},
    )
    .expect_err("no config")
    .to_string();
    assert!(err.contains("config.json"), "{err}");
}

/// LLaMA 3's real tokenizer.json (2B-4T's tokenizer) becomes the same vocabulary llama.cpp's
/// converter wrote into ggml-vocab-llama-bpe.gguf: tokens, types, merges, pre-tokenizer.
#[test]
fn real_llama3_tokenizer_json_gives_llama_cpps_vocabulary() {
    let (Some(json), Some(gguf)) = (
        bitnet_tests::test_data::file("hf/llama3-tokenizer.json"),
        bitnet_tests::test_data::file("vocab/ggml-vocab-llama-bpe.gguf"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&json, dir.path().join("tokenizer.json")).expect("copy");
    let want = GgufFile::open(&gguf).expect("open");
    let n = want
        .get("tokenizer.ggml.tokens")
        .and_then(GgufValue::as_array)
        .map_or(0, <[GgufValue]>::len);
    let got = bitnet_engine::convert::tokenizer_metadata(dir.path(), n, Some(128000), Some(128001))
        .expect("converts");
    let get = |k: &str| got.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    for key in [
        "tokenizer.ggml.model",
        "tokenizer.ggml.pre",
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.merges",
        "tokenizer.ggml.bos_token_id",
    ] {
        let same = match (get(key), want.get(key)) {
            // Token types: compare the numbers (llama.cpp writes i32, as we do).
            (Some(a), Some(b)) => a == b,
            _ => false,
        };
        assert!(same, "{key} differs from llama.cpp's conversion");
    }
}
