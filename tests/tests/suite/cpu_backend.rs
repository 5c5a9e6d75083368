//! The SIMD CPU backend against the reference backend: the same logits (ternary matmuls are
//! bit-identical; the float LM head differs by summation order) and the same greedy tokens,
//! for every ternary format and both architectures, batched prefill included.

use bitnet_engine::formats::TensorType;
use bitnet_tests::logits::{greedy, load, load_cpu, prompt_then_forced};
use bitnet_tests::model_files::synth_tiny;
use bitnet_tests::{argmax, cosine, max_abs_diff};

#[test]
fn cpu_backend_matches_the_reference() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prompt: Vec<u32> = vec![505, 72, 101, 108, 108, 111, 44, 32, 300, 400, 17, 256];
    let forced = [33, 66, 99];
    for arch in ["bitnet-b1.58", "bitnet"] {
        for ty in [
            TensorType::I2_S,
            TensorType::TL1,
            TensorType::TL2,
            TensorType::TQ1_0,
            TensorType::TQ2_0,
        ] {
            let path = synth_tiny(dir.path(), arch, ty, 21);
            let (reference, cpu) = (load(&path), load_cpu(&path, 2));
            let a = prompt_then_forced(&reference, &prompt, &forced);
            let b = prompt_then_forced(&cpu, &prompt, &forced);
            let mut worst = 1f64;
            let mut diff = 0f32;
            for (x, y) in a.0.iter().chain(&a.1).zip(b.0.iter().chain(&b.1)) {
                worst = worst.min(cosine(x, y));
                diff = diff.max(max_abs_diff(x, y));
                assert_eq!(argmax(x), argmax(y), "{arch} {ty}: argmax");
            }
            eprintln!("{arch} {ty}: CPU vs reference worst cosine {worst:.9}, max |Δ| {diff:e}");
            assert!(worst >= 0.9999, "{arch} {ty}: cosine {worst}");
            assert!(diff <= 1e-3, "{arch} {ty}: max |Δ| {diff}");
            assert_eq!(
                greedy(&reference, &[504, 72, 101, 108], 16),
                greedy(&cpu, &[504, 72, 101, 108], 16),
                "{arch} {ty}: greedy tokens"
            );
        }
    }
}

/// A Q8_0 LM head (`--lm-head q8_0`) stays close to the reference's F16 head.
#[test]
fn q8_0_lm_head_stays_close_to_the_reference() {
    use bitnet_engine::backend::{CpuBackend, LmHeadFormat};
    use bitnet_engine::gguf::GgufFile;
    use bitnet_engine::model::Model;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = synth_tiny(dir.path(), "bitnet-b1.58", TensorType::I2_S, 4);
    let file = GgufFile::open(&path).expect("open");
    let backend = CpuBackend::new(2)
        .expect("pool")
        .with_lm_head(LmHeadFormat::Q8_0);
    let cpu = Model::load(&file, backend, |_, _| {}).expect("loads");
    let reference = load(&path);
    let prompt = [505, 72, 101, 108, 108, 111];
    let (a, _) = prompt_then_forced(&reference, &prompt, &[]);
    let (b, _) = prompt_then_forced(&cpu, &prompt, &[]);
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| cosine(x, y))
        .fold(1f64, f64::min);
    eprintln!("Q8_0 LM head vs reference: worst cosine {worst:.6}");
    assert!(worst >= 0.999, "cosine {worst}");
}
