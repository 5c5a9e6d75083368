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

/// LM heads quantized at load (`--lm-head q8_0` / `q6_k`) stay close to the reference's F16
/// head, and a Q6_K head stored in the file (as llama.cpp and bitnet.cpp write it) runs as
/// stored, close to the reference computing the same file.
#[test]
fn quantized_lm_heads_stay_close_to_the_reference() {
    use bitnet_engine::backend::{CpuBackend, LmHeadFormat};
    use bitnet_engine::convert::{RequantizeOptions, requantize};
    use bitnet_engine::gguf::GgufFile;
    use bitnet_engine::model::Model;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = synth_tiny(dir.path(), "bitnet-b1.58", TensorType::I2_S, 4);
    let q6_path = dir.path().join("q6-head.gguf");
    let opts = RequantizeOptions {
        ternary_type: TensorType::I2_S,
        embd_type: Some(TensorType::Q6_K),
        tl_config: None,
    };
    let file = GgufFile::open(&path).expect("open");
    requantize(&file, &opts, &q6_path, |_, _| {}).expect("requantize");
    let prompt = [505, 72, 101, 108, 108, 111];
    for (model_path, format, floor) in [
        (&path, LmHeadFormat::Q8_0, 0.999),
        (&path, LmHeadFormat::Q6K, 0.999),
        (&q6_path, LmHeadFormat::Stored, 0.9999),
        (&q6_path, LmHeadFormat::F16, 0.9999),
    ] {
        let file = GgufFile::open(model_path).expect("open");
        let backend = CpuBackend::new(2).expect("pool").with_lm_head(format);
        let cpu = Model::load(&file, backend, |_, _| {}).expect("loads");
        let reference = load(model_path);
        let (a, _) = prompt_then_forced(&reference, &prompt, &[]);
        let (b, _) = prompt_then_forced(&cpu, &prompt, &[]);
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| cosine(x, y))
            .fold(1f64, f64::min);
        let name = model_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        eprintln!("{name:?} {format:?} LM head vs reference: worst cosine {worst:.7}");
        assert!(worst >= floor, "{name:?} {format:?}: cosine {worst}");
    }
}

/// llama.cpp's own TQ1_0/TQ2_0 files (llama-quantize from F16: every block has its own scale)
/// run in place on the TQ kernels, close to the reference and with the same greedy tokens.
#[test]
fn llamacpp_tq_files_run_in_place_like_the_reference() {
    for name in ["tiny-bitnet-tq1_0.gguf", "tiny-bitnet-tq2_0.gguf"] {
        let path = bitnet_tests::repo_path(&format!("tests/fixtures/llamacpp/{name}"));
        let (reference, cpu) = (load(&path), load_cpu(&path, 2));
        let prompt = [505, 72, 101, 108, 108, 111, 44, 32];
        let (a, _) = prompt_then_forced(&reference, &prompt, &[]);
        let (b, _) = prompt_then_forced(&cpu, &prompt, &[]);
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| cosine(x, y))
            .fold(1f64, f64::min);
        eprintln!("{name}: CPU vs reference worst cosine {worst:.9}");
        assert!(worst >= 0.9999, "{name}: cosine {worst}");
        assert_eq!(
            greedy(&reference, &[504, 72, 101, 108], 16),
            greedy(&cpu, &[504, 72, 101, 108], 16),
            "{name}: greedy tokens"
        );
    }
}

/// Every ternary kernel, forced for the whole model, gives the reference's logits: the
/// kernels compute the same exact integers, so only the float LM head differs.
#[test]
fn every_forced_kernel_matches_the_reference() {
    use bitnet_engine::backend::CpuBackend;
    use bitnet_engine::backend::cpu::TernaryKernel;
    use bitnet_engine::gguf::GgufFile;
    use bitnet_engine::model::Model;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = synth_tiny(dir.path(), "bitnet-b1.58", TensorType::I2_S, 8);
    let reference = load(&path);
    let prompt = [505, 72, 101, 108, 108, 111];
    let (want, _) = prompt_then_forced(&reference, &prompt, &[]);
    let file = GgufFile::open(&path).expect("open");
    for kernel in TernaryKernel::ALL {
        let backend = CpuBackend::new(2)
            .expect("pool")
            .with_kernels(Some(kernel), None);
        let cpu = Model::load(&file, backend, |_, _| {}).expect("loads");
        let chosen: Vec<String> = cpu
            .backend()
            .kernel_report()
            .into_iter()
            .map(|c| c.kernel)
            .collect();
        assert!(
            !chosen.is_empty() && chosen.iter().all(|k| k == kernel.name()),
            "{kernel}: {chosen:?}"
        );
        let (got, _) = prompt_then_forced(&cpu, &prompt, &[]);
        let worst = want
            .iter()
            .zip(&got)
            .map(|(x, y)| cosine(x, y))
            .fold(1f64, f64::min);
        assert!(worst >= 0.99999, "{kernel}: cosine {worst}");
        for (x, y) in want.iter().zip(&got) {
            assert_eq!(argmax(x), argmax(y), "{kernel}: argmax");
        }
    }
}
