//! The SIMD CPU backend against the reference backend: the same logits (ternary matmuls are
//! bit-identical; the float LM head differs by summation order) and the same greedy tokens,
//! for every ternary format and both architectures, batched prefill included.

use bitnet_engine::formats::TensorType;
use bitnet_tests::logits::{greedy, load, load_cpu, prompt_then_forced};
use bitnet_tests::model_files::synth_tiny;
use bitnet_tests::{argmax, cosine, max_abs_diff};

/// The worst cosine between two runs' logits, position by position.
fn worst_cosine(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| cosine(x, y))
        .fold(1f64, f64::min)
}

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
        let worst = worst_cosine(&a, &b);
        let name = model_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        eprintln!("{name:?} {format:?} LM head vs reference: worst cosine {worst:.7}");
        assert!(worst >= floor, "{name:?} {format:?}: cosine {worst}");
    }
}

/// TQ1_0/TQ2_0 files whose blocks have different scales (possible in llama.cpp's types; no
/// single-scale layout can hold them) run in place on the TQ kernels, close to the reference
/// and with the same greedy tokens. Built from synthetic files by doubling every other
/// block's f16 scale.
#[test]
fn tq_files_with_per_block_scales_run_in_place_like_the_reference() {
    use bitnet_engine::backend::cpu::TernaryKernel;
    let dir = tempfile::tempdir().expect("tempdir");
    for (ty, kernel, block_bytes) in [
        (TensorType::TQ1_0, TernaryKernel::Tq1, 54),
        (TensorType::TQ2_0, TernaryKernel::Tq2, 66),
    ] {
        let src = synth_tiny(dir.path(), "bitnet-b1.58", ty, 31);
        let path = dir.path().join(format!("{ty}-mixed-scales.gguf"));
        bitnet_tests::model_files::rewrite(&src, &path, |_, tensors| {
            for (_, _, _, data) in tensors.iter_mut().filter(|t| t.2 == ty) {
                for block in data.chunks_exact_mut(block_bytes).step_by(2) {
                    let d = block_bytes - 2;
                    let v = half::f16::from_le_bytes([block[d], block[d + 1]]).to_f32();
                    block[d..].copy_from_slice(&half::f16::from_f32(2.0 * v).to_le_bytes());
                }
            }
        });
        let (reference, cpu) = (load(&path), load_cpu(&path, 2));
        // In place on the TQ kernel, not on the reference path.
        let in_use = cpu.backend().kernels_in_use();
        assert_eq!(in_use, vec![(kernel, 14)], "{ty}");
        let prompt = [505, 72, 101, 108, 108, 111, 44, 32];
        let (a, _) = prompt_then_forced(&reference, &prompt, &[]);
        let (b, _) = prompt_then_forced(&cpu, &prompt, &[]);
        let worst = worst_cosine(&a, &b);
        eprintln!("{ty} with per-block scales: CPU vs reference worst cosine {worst:.9}");
        assert!(worst >= 0.9999, "{ty}: cosine {worst}");
        assert_eq!(
            greedy(&reference, &[504, 72, 101, 108], 16),
            greedy(&cpu, &[504, 72, 101, 108], 16),
            "{ty}: greedy tokens"
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
        // Every ternary matrix runs on the forced kernel (the synthetic codes hold no code 3,
        // so nothing falls back).
        let in_use = cpu.backend().kernels_in_use();
        assert!(
            in_use.len() == 1 && in_use[0].0 == kernel && in_use[0].1 > 0,
            "{kernel}: {in_use:?}"
        );
        let (got, _) = prompt_then_forced(&cpu, &prompt, &[]);
        let worst = worst_cosine(&want, &got);
        assert!(worst >= 0.99999, "{kernel}: cosine {worst}");
        for (x, y) in want.iter().zip(&got) {
            assert_eq!(argmax(x), argmax(y), "{kernel}: argmax");
        }
    }
}

/// Sequences decoded together in one step (the server's continuous batching, which runs the
/// batched I2_S kernel and the batched LM head) give bit for bit the logits each sequence
/// gets alone.
#[test]
fn batched_sequences_equal_each_sequence_alone() {
    use bitnet_engine::backend::CpuBackend;
    use bitnet_engine::backend::cpu::TernaryKernel;
    use bitnet_engine::gguf::GgufFile;
    use bitnet_engine::model::{KvCache, LogitsWanted, Model, SeqBatch};
    let dir = tempfile::tempdir().expect("tempdir");
    let prompts: [&[u32]; 5] = [
        &[505, 72, 101],
        &[504, 300, 400, 17, 256, 9],
        &[1],
        &[88, 99, 111, 222],
        &[7, 7, 7, 7, 7, 7, 7, 7],
    ];
    // The two I2_S kernels batch; TQ2_0 in place runs its kernel once per token.
    for (ty, kernel) in [
        (TensorType::I2_S, TernaryKernel::I2s),
        (TensorType::I2_S, TernaryKernel::I2sMasked),
        (TensorType::TQ2_0, TernaryKernel::Tq2),
    ] {
        let path = synth_tiny(dir.path(), "bitnet-b1.58", ty, 31);
        let file = GgufFile::open(&path).expect("open");
        let backend = CpuBackend::new(2)
            .expect("pool")
            .with_kernels(Some(kernel), None);
        let model = Model::load(&file, backend, |_, _| {}).expect("loads");
        assert_eq!(model.backend().kernels_in_use()[0].0, kernel);
        let caches = || -> Vec<KvCache<CpuBackend>> {
            prompts
                .iter()
                .map(|_| model.new_cache(32).expect("cache"))
                .collect()
        };
        // Prompts together, then three decode steps together.
        let mut together = caches();
        let mut got: Vec<Vec<Vec<f32>>> = vec![Vec::new(); prompts.len()];
        let mut next: Vec<Vec<u32>> = prompts.iter().map(|p| p.to_vec()).collect();
        for step in 0..4 {
            let mut batch: Vec<SeqBatch<'_, CpuBackend>> = together
                .iter_mut()
                .zip(&next)
                .map(|(cache, t)| SeqBatch {
                    cache,
                    tokens: t,
                    logits: LogitsWanted::Last,
                })
                .collect();
            let out = model.step(&mut batch).expect("batched step");
            for (s, l) in out.into_iter().enumerate() {
                next[s] = vec![(argmax(&l) as u32 + step) % 500];
                got[s].push(l);
            }
        }
        // Each sequence alone, fed the same tokens.
        for (s, prompt) in prompts.iter().enumerate() {
            let mut cache = model.new_cache(32).expect("cache");
            let mut tokens = prompt.to_vec();
            for (step, want_next) in got[s].iter().enumerate() {
                let out = model
                    .step(&mut [SeqBatch {
                        cache: &mut cache,
                        tokens: &tokens,
                        logits: LogitsWanted::Last,
                    }])
                    .expect("single step");
                assert!(
                    out[0]
                        .iter()
                        .zip(want_next)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{ty} {kernel}: sequence {s} step {step} differs between batched and alone"
                );
                tokens = vec![(argmax(&out[0]) as u32 + step as u32) % 500];
            }
        }
    }
}
