//! The LM-head and activation kernels against their scalar references on 2B-4T's sizes: one
//! 2560-wide row dotted with a token as F16 (`f16_dot`), as Q8_0 (`q8_row_dot`) and as Q6_K
//! (`Q6kRows`, at every level this CPU runs, against the scalar reference on the file's bytes), and the
//! per-token int8 quantization of a 2560-wide activation row (`quantize_row_i8`). Throughput is
//! in weight bytes per second for the dots (what a decode step streams).
use bitnet_benches::random_q;
use bitnet_cpu_simd::{
    Level, Q6kActs, Q6kRows, f16_dot, f16_dot_scalar, q6k_row_dot_scalar, q8_row_dot,
    q8_row_dot_scalar, quantize_row_i8,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const K: usize = 2560;
/// Rows per iteration: enough that one iteration streams well beyond the caches' reuse.
const ROWS: usize = 4096;

fn bench_lm_head(c: &mut Criterion) {
    let x: Vec<f32> = (0..K)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
        .collect();
    let w16: Vec<u8> = (0..ROWS * K)
        .flat_map(|i| half::f16::from_f32(((i * 13 % 97) as f32 - 48.0) / 400.0).to_le_bytes())
        .collect();
    let mut group = c.benchmark_group("lm_head/f16_row_dot");
    group.throughput(Throughput::Bytes(w16.len() as u64));
    type F16Kernel = fn(&[u8], &[f32]) -> f32;
    for (name, kernel) in [("scalar", f16_dot_scalar as F16Kernel), ("simd", f16_dot)] {
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let s: f32 = w16
                    .chunks_exact(2 * K)
                    .map(|row| kernel(black_box(row), black_box(&x)))
                    .sum();
                black_box(s)
            })
        });
    }
    group.finish();

    let w8: Vec<i8> = random_q(ROWS * K, 5)
        .into_iter()
        .map(|v| v.max(-127))
        .collect();
    let d: Vec<f32> = (0..ROWS * K / 32)
        .map(|i| 0.01 + (i % 7) as f32 * 1e-3)
        .collect();
    let q = random_q(K, 6);
    let mut group = c.benchmark_group("lm_head/q8_0_row_dot");
    group.throughput(Throughput::Bytes((w8.len() + d.len() * 2) as u64));
    type Q8Kernel = fn(&[i8], &[f32], &[i8]) -> f32;
    for (name, kernel) in [
        ("scalar", q8_row_dot_scalar as Q8Kernel),
        ("simd", q8_row_dot),
    ] {
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let s: f32 = w8
                    .chunks_exact(K)
                    .zip(d.chunks_exact(K / 32))
                    .map(|(row, dr)| kernel(black_box(row), dr, black_box(&q)))
                    .sum();
                black_box(s)
            })
        });
    }
    group.finish();

    // Q6_K: random file blocks (any codes and scales, a small positive d).
    let blocks = ROWS * K / 256;
    let mut rng = bitnet_benches::XorShift::new(9);
    let mut file = vec![0u8; blocks * 210];
    for b in file.chunks_exact_mut(210) {
        for v in &mut b[..208] {
            *v = rng.next_u64() as u8;
        }
        b[208..].copy_from_slice(&half::f16::from_f32(1e-3).to_le_bytes());
    }
    let rows = Q6kRows::from_q6k(&file, ROWS, K);
    let acts = Q6kActs::new(&q);
    let mut group = c.benchmark_group("lm_head/q6_k_row_dot");
    group.throughput(Throughput::Bytes(file.len() as u64));
    group.bench_function(BenchmarkId::from_parameter("scalar"), |b| {
        b.iter(|| {
            let s: f32 = file
                .chunks_exact(K / 256 * 210)
                .map(|row| q6k_row_dot_scalar(black_box(row), black_box(&q)))
                .sum();
            black_box(s)
        })
    });
    let mut out = vec![0f32; ROWS];
    for level in Level::available().into_iter().skip(1) {
        group.bench_function(BenchmarkId::from_parameter(level.name()), |b| {
            b.iter(|| {
                rows.rows_dot_at(level, 0, &mut out, black_box(&acts));
                black_box(&out);
            })
        });
    }
    group.finish();

    let mut qx = vec![0i8; K];
    c.bench_function("act_quant/quantize_row_i8_2560", |b| {
        b.iter(|| black_box(quantize_row_i8(black_box(&x), &mut qx)))
    });
}

criterion_group!(benches, bench_lm_head);
criterion_main!(benches);
