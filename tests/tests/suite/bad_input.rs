//! Bad model files give one clear error naming the problem, never a panic.

use bitnet_engine::backend::ReferenceBackend;
use bitnet_engine::formats::TensorType;
use bitnet_engine::gguf::{GgufFile, GgufValue};
use bitnet_engine::model::{LogitsWanted, Model};
use bitnet_engine::session::Session;
use bitnet_tests::model_files::{rewrite, synth_tiny};
use proptest::prelude::*;

fn load_err(path: &std::path::Path) -> String {
    let file = match GgufFile::open(path) {
        Ok(f) => f,
        Err(e) => return e.to_string(),
    };
    match Model::load(&file, ReferenceBackend::new(1), |_, _| {}) {
        Ok(_) => panic!("{} loaded but should not", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn missing_hyper_parameter_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = synth_tiny(dir.path(), "bitnet-b1.58", TensorType::I2_S, 1);
    let dst = dir.path().join("no-blocks.gguf");
    rewrite(&src, &dst, |kv, _| {
        kv.retain(|(k, _)| k != "bitnet-b1.58.block_count")
    });
    assert_eq!(
        load_err(&dst),
        "missing hyper-parameter 'bitnet-b1.58.block_count'"
    );
}

#[test]
fn inconsistent_hyper_parameter_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = synth_tiny(dir.path(), "bitnet-b1.58", TensorType::I2_S, 1);
    let dst = dir.path().join("bad-heads.gguf");
    rewrite(&src, &dst, |kv, _| {
        for (k, v) in kv.iter_mut() {
            if k == "bitnet-b1.58.attention.head_count_kv" {
                *v = GgufValue::U32(3);
            }
        }
    });
    let e = load_err(&dst);
    assert!(
        e.contains("attention.head_count_kv") && e.contains("does not divide"),
        "{e}"
    );
}

#[test]
fn wrong_hyper_parameter_type_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = synth_tiny(dir.path(), "bitnet-b1.58", TensorType::I2_S, 1);
    let dst = dir.path().join("bad-type.gguf");
    rewrite(&src, &dst, |kv, _| {
        for (k, v) in kv.iter_mut() {
            if k == "bitnet-b1.58.embedding_length" {
                *v = GgufValue::String("256".into());
            }
        }
    });
    let e = load_err(&dst);
    assert!(
        e.contains("embedding_length") && e.contains("non-negative integer"),
        "{e}"
    );
}

#[test]
fn tensor_shape_that_disagrees_with_the_config_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = synth_tiny(dir.path(), "bitnet-b1.58", TensorType::I2_S, 1);
    let dst = dir.path().join("bad-shape.gguf");
    rewrite(&src, &dst, |_, tensors| {
        for t in tensors.iter_mut() {
            if t.0 == "blk.1.attn_k.weight" {
                // Same byte count, different shape: [256,128] → [512,64].
                t.1 = vec![512, 64];
            }
        }
    });
    let e = load_err(&dst);
    assert!(
        e.contains("blk.1.attn_k.weight") && e.contains("[512, 64]"),
        "{e}"
    );
}

#[test]
fn missing_tensor_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = synth_tiny(dir.path(), "bitnet-b1.58", TensorType::TQ2_0, 1);
    let dst = dir.path().join("no-norm.gguf");
    rewrite(&src, &dst, |_, tensors| {
        tensors.retain(|t| t.0 != "blk.0.ffn_sub_norm.weight")
    });
    assert_eq!(load_err(&dst), "missing tensor 'blk.0.ffn_sub_norm.weight'");
}

#[test]
fn unsupported_architecture_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    // TQ2_0 (35) means the same under every architecture; I2_S would fail earlier as an
    // unknown type outside bitnet files.
    let src = synth_tiny(dir.path(), "bitnet-b1.58", TensorType::TQ2_0, 1);
    let dst = dir.path().join("llama.gguf");
    rewrite(&src, &dst, |kv, _| {
        for (k, v) in kv.iter_mut() {
            if k == "general.architecture" {
                *v = GgufValue::String("gpt-neox".into());
            }
        }
    });
    assert!(load_err(&dst).contains("unsupported architecture 'gpt-neox'"));
}

#[test]
fn truncated_model_file_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = synth_tiny(dir.path(), "bitnet-b1.58", TensorType::I2_S, 1);
    let bytes = std::fs::read(&src).expect("read");
    let dst = dir.path().join("cut.gguf");
    std::fs::write(&dst, &bytes[..bytes.len() - 100]).expect("write");
    let e = load_err(&dst);
    assert!(e.contains("past the end of the file"), "{e}");
}

#[test]
fn out_of_vocab_token_and_context_overflow_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = synth_tiny(dir.path(), "bitnet-b1.58", TensorType::I2_S, 1);
    let file = GgufFile::open(&src).expect("open");
    let model = Model::load(&file, ReferenceBackend::new(1), |_, _| {}).expect("load");
    let mut s = Session::new(&model, 4).expect("session");
    let e = s
        .feed(&model, &[1, 99999], LogitsWanted::Last)
        .expect_err("oov");
    assert!(e.to_string().contains("token id 99999"), "{e}");
    let e = s
        .feed(&model, &[1, 2, 3, 4, 5], LogitsWanted::Last)
        .expect_err("overflow");
    assert!(e.to_string().contains("exceed the context size 4"), "{e}");
    // Neither error advanced the cache: a valid feed still starts at position 0.
    assert!(s.tokens().is_empty());
    s.feed(&model, &[1, 2, 3, 4], LogitsWanted::Last)
        .expect("fits exactly");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn mutated_model_files_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
                                       header_only in any::<bool>(), ty in 0usize..3) {
        // I2_S, and the TL types whose tiling (bitnet_rs.tl_config.*) comes from the file.
        const TYPES: [TensorType; 3] = [TensorType::I2_S, TensorType::TL1, TensorType::TL2];
        static MODELS: [std::sync::OnceLock<Vec<u8>>; 3] = [const { std::sync::OnceLock::new() }; 3];
        let bytes = MODELS[ty].get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::read(synth_tiny(dir.path(), "bitnet-b1.58", TYPES[ty], 3)).expect("read")
        });
        let mut b = bytes.clone();
        // Half the cases aim at the header and metadata, where structure lives.
        let span = if header_only { 40_000.min(b.len()) } else { b.len() };
        for (i, v) in flips {
            let at = i.index(span);
            b[at] = v;
        }
        if let Ok(file) = GgufFile::from_bytes(b) {
            if let Ok(model) = Model::load(&file, ReferenceBackend::new(1), |_, _| {})
                && let Ok(mut s) = Session::new(&model, 8)
            {
                let _ = s.feed(&model, &[0, 1, 2], LogitsWanted::All);
            }
            // The CPU backend reads I2_S in place and repacks the rest: it must hold up too.
            if let Ok(backend) = bitnet_engine::backend::CpuBackend::new(1)
                && let Ok(model) = Model::load(&file, backend, |_, _| {})
                && let Ok(mut s) = Session::new(&model, 8)
            {
                let _ = s.feed(&model, &[0, 1, 2], LogitsWanted::All);
            }
        }
    }
}
