//! The GPU backends' conformance suite: every op against the reference backend on ragged and
//! edge inputs, then whole models, written once over [`GpuUnderTest`] and instantiated per
//! backend by [`conformance_tests!`] (wgpu_backend.rs, cuda_backend.rs).
//!
//! Error budgets: ternary products are exact integer sums (compared for equality, with inputs
//! whose int8 quantization is exact on both sides); float ops within 1e-4 relative to the
//! largest magnitude involved; int8 codes equal except for values within a rounding of a .5
//! tie; whole-model logits cosine ≥ 0.9999 at every position and identical greedy tokens.

use bitnet_engine::backend::{
    AttnShape, Backend, LmHeadFormat, MatmulInput, ReferenceBackend, SeqChunk, WeightSource,
};
use bitnet_engine::formats::{TensorType, i2s};
use bitnet_engine::gguf::{GgufFile, TensorData};
use bitnet_engine::model::{KvCache, LogitsWanted, Model, SeqBatch};
use bitnet_tests::logits::{greedy, load, prompt_then_forced};
use bitnet_tests::model_files::synth_tiny;
use bitnet_tests::{argmax, cosine, repo_path};

/// A GPU backend the suite runs on.
pub trait GpuUnderTest: Backend + Sized + 'static {
    /// Its name in messages.
    const NAME: &'static str;
    /// The variable that, set to 1, makes "no device here" a failure instead of a skip.
    const REQUIRE: &'static str;
    /// Its first device, running float matrices as `lm_head`.
    fn open(lm_head: LmHeadFormat) -> Result<Self, String>;
}

/// The backend's first device, or `None` (with the reason printed) when this machine has none.
pub fn gpu<B: GpuUnderTest>() -> Option<B> {
    gpu_with(LmHeadFormat::Stored)
}

fn gpu_with<B: GpuUnderTest>(lm_head: LmHeadFormat) -> Option<B> {
    match B::open(lm_head) {
        Ok(b) => Some(b),
        Err(e) => {
            let required = std::env::var(B::REQUIRE).is_ok_and(|v| v == "1");
            assert!(!required, "{}=1 but: {e}", B::REQUIRE);
            eprintln!("skipping ({}): {e}", B::NAME);
            None
        }
    }
}

fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn read<B: Backend>(g: &B, b: &B::Buf, n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n];
    g.read(b, &mut out).expect("read");
    out
}

/// Every element within `rel` of the largest magnitude in `want`.
pub fn assert_close(got: &[f32], want: &[f32], rel: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= rel * scale,
            "{what}: element {i}: {a} vs {b} (scale {scale})"
        );
    }
}

/// rms_norm and the elementwise ops (add, relu²·, silu·, scale) on ragged lengths.
pub fn float_ops<B: GpuUnderTest>() {
    let Some(g) = gpu::<B>() else { return };
    let re = ReferenceBackend::new(1);
    for (rows, dim) in [(1usize, 2560usize), (5, 300), (3, 17), (2, 1)] {
        let (x, w) = (data(rows * dim, 1), data(dim, 2));
        let mut want = vec![0f32; rows * dim];
        re.rms_norm(&x, &w, rows, dim, 1e-5, &mut want)
            .expect("reference");
        let (gx, gw) = (g.upload(&x).expect("x"), g.upload(&w).expect("w"));
        let mut out = g.alloc(rows * dim).expect("alloc");
        g.rms_norm(&gx, &gw, rows, dim, 1e-5, &mut out)
            .expect("rms_norm");
        assert_close(&read(&g, &out, rows * dim), &want, 1e-4, "rms_norm");
    }
    type Op = fn(&ReferenceBackend, &mut Vec<f32>, &Vec<f32>, usize);
    let ops: [(&str, Op); 4] = [
        ("add", |r, x, y, n| r.add(x, y, n).expect("ref")),
        ("relu2_mul", |r, x, y, n| r.relu2_mul(x, y, n).expect("ref")),
        ("silu_mul", |r, x, y, n| r.silu_mul(x, y, n).expect("ref")),
        ("scale", |r, x, _, n| r.scale(x, n, -0.37).expect("ref")),
    ];
    for len in [1usize, 255, 257, 70_001] {
        for (name, op) in ops {
            let (mut x, y) = (data(len, 3), data(len, 4));
            let (mut gx, gy) = (g.upload(&x).expect("x"), g.upload(&y).expect("y"));
            op(&re, &mut x, &y, len);
            match name {
                "add" => g.add(&mut gx, &gy, len),
                "relu2_mul" => g.relu2_mul(&mut gx, &gy, len),
                "silu_mul" => g.silu_mul(&mut gx, &gy, len),
                _ => g.scale(&mut gx, len, -0.37),
            }
            .expect(name);
            assert_close(&read(&g, &gx, len), &x, 1e-5, name);
        }
    }
}

/// RoPE at positions up to 4095 and grouped-query attention after another sequence's rows.
pub fn rope_and_attention<B: GpuUnderTest>() {
    let Some(g) = gpu::<B>() else { return };
    let re = ReferenceBackend::new(1);
    // RoPE at positions up to 4095 (where angles are largest), GQA heads of 64 and 128.
    for (heads, head_dim, n_rot) in [(4usize, 64usize, 64usize), (2, 128, 64), (3, 8, 8)] {
        let positions = [0usize, 1, 7, 511, 4095];
        let n = positions.len() * heads * head_dim;
        let mut x = data(n, 5);
        let mut gx = g.upload(&x).expect("x");
        re.rope_neox(&mut x, &positions, heads, head_dim, n_rot, 10_000.0)
            .expect("ref");
        g.rope_neox(&mut gx, &positions, heads, head_dim, n_rot, 10_000.0)
            .expect("gpu");
        assert_close(&read(&g, &gx, n), &x, 1e-4, "rope");
    }
    for (n_head, n_kv_head, head_dim, pos, len) in [
        (4usize, 2usize, 64usize, 0usize, 5usize),
        (4, 1, 32, 37, 1),
        (2, 2, 128, 300, 3),
    ] {
        let shape = AttnShape {
            n_head,
            n_kv_head,
            head_dim,
        };
        let row = 2; // the sequence's rows sit after two rows of another sequence
        let chunk = SeqChunk { row, len, pos };
        let q_dim = n_head * head_dim;
        let kv = (pos + len) * n_kv_head * head_dim;
        let (q, k, v) = (data((row + len) * q_dim, 6), data(kv, 7), data(kv, 8));
        let mut want = vec![0f32; (row + len) * q_dim];
        re.attention(&q, &k, &v, chunk, shape, &mut want)
            .expect("ref");
        let (gq, gk, gv) = (
            g.upload(&q).expect("q"),
            g.upload(&k).expect("k"),
            g.upload(&v).expect("v"),
        );
        let mut out = g.alloc((row + len) * q_dim).expect("out");
        g.attention(&gq, &gk, &gv, chunk, shape, &mut out)
            .expect("gpu");
        let got = read(&g, &out, (row + len) * q_dim);
        assert_close(&got[row * q_dim..], &want[row * q_dim..], 1e-4, "attention");
    }
}

/// Ternary products as exact integer sums, and the int8 quantizer on arbitrary floats.
pub fn quantization_and_ternary_products<B: GpuUnderTest>() {
    let Some(g) = gpu::<B>() else { return };
    let re = ReferenceBackend::new(1);
    // Activations: any floats for the quantizer.
    let (rows, cols) = (3usize, 384usize);
    let x = data(rows * cols, 9);
    let mut rq = re.alloc_q(rows, cols).expect("ref q");
    re.quantize_act(&x, rows, cols, &mut rq).expect("ref");
    // Integer-valued activations with max 127 quantize exactly (s = 1) on both sides, so the
    // ternary products below compare as exact integers.
    let xi: Vec<f32> = (0..rows * cols)
        .map(|i| {
            if i % cols == 0 {
                127.0
            } else {
                ((i * 37 % 255) as f32) - 127.0
            }
        })
        .collect();
    for (m, k) in [(1usize, 128usize), (7, 384), (300, 2560)] {
        let codes: Vec<i8> = (0..m * k)
            .map(|i| ((i * 7 + i / 5) % 3) as i8 - 1)
            .collect();
        let bytes = i2s::pack(&codes, m, k, 1.0).expect("pack");
        let src = WeightSource {
            name: "t",
            ty: TensorType::I2_S,
            dims: [k, m],
            data: TensorData::from_vec(bytes),
            tiles: None,
        };
        let (rw, gw) = (
            re.upload_weight(&src).expect("ref w"),
            g.upload_weight(&src).expect("gpu w"),
        );
        let mut xk: Vec<f32> = (0..rows * k)
            .map(|i| xi[(i / k) * cols + i % k % cols])
            .collect();
        for r in 0..rows {
            xk[r * k] = 127.0;
        }
        let mut rq = re.alloc_q(rows, k).expect("q");
        re.quantize_act(&xk, rows, k, &mut rq).expect("ref q");
        let mut want = vec![0f32; rows * m];
        re.matmul(
            &rw,
            &MatmulInput {
                x: &xk,
                q: Some(&rq),
                rows,
            },
            &mut want,
        )
        .expect("ref matmul");
        let gx = g.upload(&xk).expect("x");
        let mut gq = g.alloc_q(rows, k).expect("gq");
        g.quantize_act(&gx, rows, k, &mut gq).expect("gpu q");
        let mut out = g.alloc(rows * m).expect("out");
        g.matmul(
            &gw,
            &MatmulInput {
                x: &gx,
                q: Some(&gq),
                rows,
            },
            &mut out,
        )
        .expect("gpu matmul");
        let got = read(&g, &out, rows * m);
        assert_eq!(got, want, "ternary {m}×{k}: exact integer sums");
        assert!(
            want.iter().all(|v| v.fract() == 0.0),
            "integers by construction"
        );
    }
    // The quantizer on arbitrary floats: ternary products of its codes against all-ones
    // weights read back Σq / s per row, which checks codes and scales together.
    let ones = i2s::pack(&vec![1i8; 4 * cols], 4, cols, 1.0).expect("pack");
    let src = WeightSource {
        name: "ones",
        ty: TensorType::I2_S,
        dims: [cols, 4],
        data: TensorData::from_vec(ones),
        tiles: None,
    };
    let (rw, gw) = (
        re.upload_weight(&src).expect("w"),
        g.upload_weight(&src).expect("w"),
    );
    let mut want = vec![0f32; rows * 4];
    re.matmul(
        &rw,
        &MatmulInput {
            x: &x,
            q: Some(&rq),
            rows,
        },
        &mut want,
    )
    .expect("ref");
    let gx = g.upload(&x).expect("x");
    let mut gq = g.alloc_q(rows, cols).expect("q");
    g.quantize_act(&gx, rows, cols, &mut gq).expect("q");
    let mut out = g.alloc(rows * 4).expect("out");
    g.matmul(
        &gw,
        &MatmulInput {
            x: &gx,
            q: Some(&gq),
            rows,
        },
        &mut out,
    )
    .expect("matmul");
    // A code that rounds the other way at a tie moves Σq by 1, i.e. y by 1/s ≈ 0.008·max|x|.
    assert_close(&read(&g, &out, rows * 4), &want, 2e-3, "quantize_act");
}

/// Float matrices as f16 rows, including a single column pair and a ragged row count.
pub fn f16_matmul<B: GpuUnderTest>() {
    let Some(g) = gpu::<B>() else { return };
    let re = ReferenceBackend::new(1);
    for (m, k, n) in [(1usize, 2usize, 1usize), (513, 256, 3), (70, 2560, 2)] {
        let w = data(m * k, 10);
        let bytes: Vec<u8> = w
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect();
        let src = WeightSource {
            name: "output.weight",
            ty: TensorType::F16,
            dims: [k, m],
            data: TensorData::from_vec(bytes),
            tiles: None,
        };
        let (rw, gw) = (
            re.upload_weight(&src).expect("w"),
            g.upload_weight(&src).expect("w"),
        );
        let x = data(n * k, 11);
        let mut want = vec![0f32; n * m];
        re.matmul(
            &rw,
            &MatmulInput {
                x: &x,
                q: None,
                rows: n,
            },
            &mut want,
        )
        .expect("ref");
        let gx = g.upload(&x).expect("x");
        let mut out = g.alloc(n * m).expect("out");
        g.matmul(
            &gw,
            &MatmulInput {
                x: &gx,
                q: None,
                rows: n,
            },
            &mut out,
        )
        .expect("gpu");
        assert_close(&read(&g, &out, n * m), &want, 1e-4, "f16 matmul");
    }
}

fn load_gpu<B: GpuUnderTest>(path: &std::path::Path) -> Option<Model<B>> {
    let g = gpu::<B>()?;
    let file = GgufFile::open(path).expect("open");
    Some(Model::load(&file, g, |_, _| {}).unwrap_or_else(|e| panic!("loads on {}: {e}", B::NAME)))
}

/// Logits at every prompt position and forced step, and 32 greedy tokens, for every ternary
/// format and both architectures, plus the bundled model.
pub fn whole_models<B: GpuUnderTest>() {
    if gpu::<B>().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut paths = vec![repo_path("models/bitnet-tiny-synthetic.gguf")];
    for arch in ["bitnet-b1.58", "bitnet"] {
        for ty in [
            TensorType::I2_S,
            TensorType::TL1,
            TensorType::TL2,
            TensorType::TQ1_0,
            TensorType::TQ2_0,
        ] {
            paths.push(synth_tiny(dir.path(), arch, ty, 23));
        }
    }
    let prompt: Vec<u32> = vec![505, 72, 101, 108, 108, 111, 44, 32, 300, 400, 17, 256];
    let forced = [33, 66, 99, 7];
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let reference = load(&path);
        let Some(gpu) = load_gpu::<B>(&path) else {
            return;
        };
        let a = prompt_then_forced(&reference, &prompt, &forced);
        let b = prompt_then_forced(&gpu, &prompt, &forced);
        let mut worst = 1f64;
        for (x, y) in a.0.iter().chain(&a.1).zip(b.0.iter().chain(&b.1)) {
            worst = worst.min(cosine(x, y));
        }
        eprintln!("{name}: {} vs reference worst cosine {worst:.9}", B::NAME);
        assert!(worst >= 0.9999, "{name}: cosine {worst}");
        assert_eq!(
            greedy(&reference, &[504, 72, 101, 108], 32),
            greedy(&gpu, &[504, 72, 101, 108], 32),
            "{name}: 32 greedy tokens"
        );
    }
}

/// Sequences stepped together give what each gives alone (same kernels per token).
pub fn batched_and_single_sequences_agree<B: GpuUnderTest>() {
    let Some(model) = load_gpu::<B>(&repo_path("models/bitnet-tiny-synthetic.gguf")) else {
        return;
    };
    let prompts: [&[u32]; 3] = [&[505, 72, 101], &[504, 300, 400, 17, 256, 9], &[1]];
    let mut caches: Vec<KvCache<B>> = prompts
        .iter()
        .map(|_| model.new_cache(16).expect("cache"))
        .collect();
    let mut batch: Vec<SeqBatch<'_, B>> = caches
        .iter_mut()
        .zip(prompts)
        .map(|(cache, tokens)| SeqBatch {
            cache,
            tokens,
            logits: LogitsWanted::Last,
        })
        .collect();
    let together = model.step(&mut batch).expect("batched");
    for (s, prompt) in prompts.iter().enumerate() {
        let mut cache = model.new_cache(16).expect("cache");
        let alone = model
            .step(&mut [SeqBatch {
                cache: &mut cache,
                tokens: prompt,
                logits: LogitsWanted::Last,
            }])
            .expect("single");
        let c = cosine(&alone[0], &together[s]);
        assert!(c >= 0.99999, "sequence {s}: cosine {c}");
        assert_eq!(argmax(&alone[0]), argmax(&together[s]), "sequence {s}");
    }
}

/// The int8 LM head (`--lm-head q8_0`): the CPU backend's Q8_0 arithmetic (llama.cpp's
/// quantization at load, per-token int8 activations, exact block sums), so its logits match
/// the CPU backend's Q8_0 head to float rounding and stay close to the reference's F16 head;
/// a Q6_K head is refused with a message.
pub fn int8_lm_head<B: GpuUnderTest>() {
    use bitnet_engine::backend::CpuBackend;
    let Some(g) = gpu_with::<B>(LmHeadFormat::Q8_0) else {
        return;
    };
    let path = repo_path("models/bitnet-tiny-synthetic.gguf");
    let file = GgufFile::open(&path).expect("open");
    let gpu = Model::load(&file, g, |_, _| {}).expect("gpu");
    let cpu = CpuBackend::new(1)
        .expect("pool")
        .with_lm_head(LmHeadFormat::Q8_0);
    let cpu = Model::load(&file, cpu, |_, _| {}).expect("cpu");
    let reference = load(&path);
    let prompt = [505u32, 72, 101, 108, 108, 111, 44, 32, 300];
    let (w, _) = prompt_then_forced(&gpu, &prompt, &[]);
    let (c, _) = prompt_then_forced(&cpu, &prompt, &[]);
    let (r, _) = prompt_then_forced(&reference, &prompt, &[]);
    for (i, ((w, c), r)) in w.iter().zip(&c).zip(&r).enumerate() {
        assert_close(w, c, 1e-4, &format!("position {i}: gpu q8_0 vs cpu q8_0"));
        let cr = cosine(w, r);
        assert!(
            cr >= 0.999,
            "position {i}: cosine {cr} against the F16 reference"
        );
    }
    let Some(g) = gpu_with::<B>(LmHeadFormat::Q6K) else {
        return;
    };
    let err = Model::load(&file, g, |_, _| {})
        .err()
        .expect("a Q6_K head is refused");
    assert!(err.to_string().contains("Q6_K"), "{err}");
}

/// The device's greedy pick (what greedy decoding reads back instead of logits) follows the
/// host sampler's rule: NaN and −∞ never win, +∞ counts as the largest finite value, ties go
/// to the lowest index, and a row with nothing to pick says so.
pub fn device_argmax_follows_the_greedy_rule<B: GpuUnderTest>() {
    use bitnet_engine::sampling::greedy_pick;
    let Some(g) = gpu::<B>() else { return };
    let cols = 128_256; // a 2B-4T vocabulary: far more values than threads
    let mut rows: Vec<Vec<f32>> = vec![data(cols, 12), data(cols, 13)];
    rows[1][77_777] = f32::NAN;
    rows[1][5] = 7.0;
    rows[1][90_000] = 7.0; // a tie: the lower index wins
    let mut inf = vec![0f32; cols];
    inf[3] = f32::INFINITY;
    inf[2] = f32::MAX; // +∞ ties with the largest finite value
    rows.push(inf);
    let mut dead = vec![f32::NAN; cols];
    dead[cols - 1] = f32::NEG_INFINITY;
    rows.push(dead);
    let mut late = vec![f32::NEG_INFINITY; cols];
    late[cols - 1] = -1e30;
    rows.push(late);
    let flat: Vec<f32> = rows.concat();
    let x = g.upload(&flat).expect("upload");
    let got = g.argmax_rows(&x, rows.len(), cols).expect("argmax");
    let want: Vec<Option<u32>> = rows.iter().map(|r| greedy_pick(r)).collect();
    assert_eq!(got, want);
    assert_eq!(want[1], Some(5));
    assert_eq!(want[2], Some(2));
    assert_eq!(want[3], None);
    assert_eq!(want[4], Some(cols as u32 - 1));
}

/// One `#[test]` per conformance check, for backend `$b` (a [`GpuUnderTest`]).
macro_rules! conformance_tests {
    ($b:ty) => {
        #[test]
        fn float_ops_match_the_reference() {
            $crate::gpu_conformance::float_ops::<$b>();
        }

        #[test]
        fn rope_and_attention_match_the_reference() {
            $crate::gpu_conformance::rope_and_attention::<$b>();
        }

        #[test]
        fn quantization_and_ternary_products_match_the_reference() {
            $crate::gpu_conformance::quantization_and_ternary_products::<$b>();
        }

        #[test]
        fn f16_matmul_matches_the_reference() {
            $crate::gpu_conformance::f16_matmul::<$b>();
        }

        #[test]
        fn whole_models_match_the_reference() {
            $crate::gpu_conformance::whole_models::<$b>();
        }

        #[test]
        fn batched_and_single_sequences_agree() {
            $crate::gpu_conformance::batched_and_single_sequences_agree::<$b>();
        }

        #[test]
        fn int8_lm_head_matches_the_cpu_backends() {
            $crate::gpu_conformance::int8_lm_head::<$b>();
        }

        #[test]
        fn device_argmax_follows_the_greedy_rule() {
            $crate::gpu_conformance::device_argmax_follows_the_greedy_rule::<$b>();
        }
    };
}
pub(crate) use conformance_tests;
