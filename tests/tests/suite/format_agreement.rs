//! The same ternary weights stored as I2_S, TQ1_0 and TQ2_0 compute the same logits.

use bitnet_engine::formats::TensorType;
use bitnet_tests::logits::{load, prompt_then_forced};
use bitnet_tests::model_files::synth_tiny;
use bitnet_tests::{argmax, cosine};

#[test]
fn i2s_tq1_tq2_agree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prompt: Vec<u32> = vec![505, 72, 101, 108, 108, 111, 44, 32, 300, 400, 17, 256];
    let forced = [33, 66, 99];
    for arch in ["bitnet-b1.58", "bitnet"] {
        let runs: Vec<_> = [TensorType::I2_S, TensorType::TQ1_0, TensorType::TQ2_0]
            .into_iter()
            .map(|ty| {
                prompt_then_forced(
                    &load(&synth_tiny(dir.path(), arch, ty, 7)),
                    &prompt,
                    &forced,
                )
            })
            .collect();
        let base = &runs[0];
        for (other, name) in runs[1..].iter().zip(["TQ1_0", "TQ2_0"]) {
            let mut worst = 1f64;
            for (a, b) in base
                .0
                .iter()
                .chain(&base.1)
                .zip(other.0.iter().chain(&other.1))
            {
                let c = cosine(a, b);
                worst = worst.min(c);
                assert!(c >= 0.99999, "{arch} I2_S vs {name}: cosine {c}");
                assert_eq!(argmax(a), argmax(b), "{arch} I2_S vs {name}: argmax");
            }
            eprintln!("{arch} I2_S vs {name}: worst cosine {worst:.8}");
        }
    }
}
