//! The graph's float ops at 2B-4T's sizes, scalar reference against the best level of this CPU:
//! RMSNorm of one 2560-wide row, ReLU²·up over the 6912-wide FFN, and one head's attention
//! tail over a 512-token context (softmax of the scores, then the probability-weighted sum of
//! 512 value rows of 128 at the 5-KV-head stride of 640), with the scores step beside it.
//! Throughput is in elements (row values, or context positions for attention).
use bitnet_cpu_simd::Level;
use bitnet_cpu_simd::float_ops::{
    attn_scores_at, axpy_at, relu2_mul_at, rms_norm_at, softmax_at, weighted_sum_at,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const DIM: usize = 2560;
const FF: usize = 6912;
const CTX: usize = 512;
const HEAD: usize = 128;
const KV_DIM: usize = 5 * HEAD;

fn data(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 37 + seed * 11) % 101) as f32 - 50.0) / 25.0)
        .collect()
}

/// Scalar, then the best level this CPU has (once, if that is scalar).
fn levels() -> Vec<Level> {
    let mut v = vec![Level::Scalar, Level::detect()];
    v.dedup();
    v
}

fn bench_float_ops(c: &mut Criterion) {
    let (x, w) = (data(DIM, 1), data(DIM, 2));
    let mut out = vec![0f32; DIM];
    let mut group = c.benchmark_group("float_ops/rms_norm_2560");
    group.throughput(Throughput::Elements(DIM as u64));
    for level in levels() {
        group.bench_function(BenchmarkId::from_parameter(level), |b| {
            b.iter(|| rms_norm_at(level, black_box(&x), black_box(&w), 1e-6, &mut out))
        });
    }
    group.finish();

    // In place on an exact fixed point, so the data stays warm and unchanged from one
    // iteration to the next: positive gates are powers of two with `up = 1/gate` (relu² · up
    // gives the gate back without rounding), negative gates become 0, which stays 0.
    let mut gate: Vec<f32> = (0..FF)
        .map(|i| {
            let sign = if (i * 37) % 101 < 50 { -1.0 } else { 1.0 };
            sign * 2f32.powi((i * 5 % 7) as i32 - 3)
        })
        .collect();
    let up: Vec<f32> = gate
        .iter()
        .map(|&g| if g > 0.0 { 1.0 / g } else { -g })
        .collect();
    let mut group = c.benchmark_group("float_ops/relu2_mul_6912");
    group.throughput(Throughput::Elements(FF as u64));
    for level in levels() {
        group.bench_function(BenchmarkId::from_parameter(level), |b| {
            b.iter(|| relu2_mul_at(level, black_box(&mut gate), black_box(&up)))
        });
    }
    group.finish();

    let q = data(HEAD, 5);
    let keys = data(CTX * KV_DIM, 6);
    let values = data(CTX * KV_DIM, 7);
    let raw: Vec<f32> = data(CTX, 8).iter().map(|v| v * 3.0).collect();
    let mut scores = raw.clone();
    let mut o = vec![0f32; HEAD];
    let mut group = c.benchmark_group("float_ops/softmax_axpy_512x128");
    group.throughput(Throughput::Elements(CTX as u64));
    for level in levels() {
        group.bench_function(BenchmarkId::from_parameter(level), |b| {
            b.iter(|| {
                scores.copy_from_slice(&raw);
                softmax_at(level, black_box(&mut scores));
                weighted_sum_at(level, &scores, black_box(&values), KV_DIM, &mut o);
                black_box(&o);
            })
        });
    }
    // The same sum as one axpy per value row: what register blocking saves.
    let best = Level::detect();
    group.bench_function(BenchmarkId::new("axpy-per-row", best), |b| {
        b.iter(|| {
            scores.copy_from_slice(&raw);
            softmax_at(best, black_box(&mut scores));
            o.fill(0.0);
            for (j, &p) in scores.iter().enumerate() {
                axpy_at(best, p, &values[j * KV_DIM..][..HEAD], &mut o);
            }
            black_box(&o);
        })
    });
    group.finish();

    let mut group = c.benchmark_group("float_ops/attn_scores_512x128");
    group.throughput(Throughput::Elements(CTX as u64));
    for level in levels() {
        group.bench_function(BenchmarkId::from_parameter(level), |b| {
            b.iter(|| {
                attn_scores_at(
                    level,
                    black_box(&q),
                    black_box(&keys),
                    KV_DIM,
                    0.088,
                    &mut scores,
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_float_ops);
criterion_main!(benches);
