//! The same ternary weights stored as I2_S, TL1, TL2, TQ1_0 and TQ2_0 compute the same
//! logits; TL files read without their recorded tiling need the user's kernel_config.ini.

use bitnet_engine::backend::ReferenceBackend;
use bitnet_engine::formats::{TL_CONFIG_KEYS, TensorType, TlConfig};
use bitnet_engine::gguf::GgufFile;
use bitnet_engine::model::Model;
use bitnet_tests::logits::{greedy, load, prompt_then_forced};
use bitnet_tests::model_files::{rewrite, synth_tiny};
use bitnet_tests::{argmax, cosine};

const OTHERS: [TensorType; 4] = [
    TensorType::TL1,
    TensorType::TL2,
    TensorType::TQ1_0,
    TensorType::TQ2_0,
];

#[test]
fn all_five_ternary_formats_agree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prompt: Vec<u32> = vec![505, 72, 101, 108, 108, 111, 44, 32, 300, 400, 17, 256];
    let forced = [33, 66, 99];
    for arch in ["bitnet-b1.58", "bitnet"] {
        let run = |ty| {
            prompt_then_forced(
                &load(&synth_tiny(dir.path(), arch, ty, 7)),
                &prompt,
                &forced,
            )
        };
        let base = run(TensorType::I2_S);
        for ty in OTHERS {
            let other = run(ty);
            let mut worst = 1f64;
            for (a, b) in base
                .0
                .iter()
                .chain(&base.1)
                .zip(other.0.iter().chain(&other.1))
            {
                let c = cosine(a, b);
                worst = worst.min(c);
                assert!(c >= 0.99999, "{arch} I2_S vs {ty}: cosine {c}");
                assert_eq!(argmax(a), argmax(b), "{arch} I2_S vs {ty}: argmax");
                if matches!(ty, TensorType::TL1 | TensorType::TL2) {
                    // Same codes, same f32 scale, same arithmetic: identical logits.
                    assert_eq!(a, b, "{arch} I2_S vs {ty}");
                }
            }
            eprintln!("{arch} I2_S vs {ty}: worst cosine {worst:.8}");
        }
    }
}

/// Greedy generation from each format gives the same tokens.
#[test]
fn all_five_ternary_formats_generate_the_same_greedy_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let generate = |ty| {
        greedy(
            &load(&synth_tiny(dir.path(), "bitnet-b1.58", ty, 13)),
            &[504, 72, 101],
            16,
        )
    };
    let base = generate(TensorType::I2_S);
    assert_eq!(base.len(), 16);
    for ty in OTHERS {
        assert_eq!(generate(ty), base, "{ty}");
    }
}

#[test]
fn tl_file_without_its_tiling_needs_a_kernel_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = synth_tiny(dir.path(), "bitnet-b1.58", TensorType::TL2, 3);
    let recorded = TlConfig::from_gguf(&GgufFile::open(&src).expect("open"))
        .expect("valid metadata")
        .expect("our writer records the tiling");
    let bare = dir.path().join("bare.gguf");
    rewrite(&src, &bare, |kvs, _| {
        kvs.retain(|(k, _)| !TL_CONFIG_KEYS.contains(&k.as_str()))
    });
    let file = GgufFile::open(&bare).expect("open");
    let err = Model::load(&file, ReferenceBackend::new(1), |_, _| {})
        .err()
        .expect("no tiling, no preset")
        .to_string();
    assert!(
        err.contains("blk.0.attn_q.weight") && err.contains("--tl-config"),
        "{err}"
    );
    let with_ini = Model::load_with(&file, ReferenceBackend::new(1), Some(&recorded), |_, _| {})
        .expect("loads with the user's tiling");
    let original = load(&src);
    let a = prompt_then_forced(&original, &[505, 72], &[]);
    let b = prompt_then_forced(&with_ini, &[505, 72], &[]);
    assert_eq!(a, b);
}
