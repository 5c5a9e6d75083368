//! Batched I2_S products: `n` tokens against one matrix with the batched kernel
//! (`i2s_gemm`, one pass over the bytes) against `n` calls of the single-token kernel
//! (`i2s_gemv`, what a batch cost before), both at the best level this CPU runs. Shapes: the
//! 2B-4T attention and FFN-down matrices and the bundled tiny model's FFN matrix. Throughput
//! is in token-rows per second, so the two lines of a group read as a ratio.
use bitnet_benches::{SHAPES_2B4T, random_i2s, random_q};
use bitnet_cpu_simd::{I2sTokens, i2s_gemm, i2s_gemv};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn bench_i2s_gemm(c: &mut Criterion) {
    let shapes = [
        ("tiny_ffn_512x256", 512, 256),
        (
            SHAPES_2B4T[0].label,
            SHAPES_2B4T[0].rows,
            SHAPES_2B4T[0].cols,
        ),
        (
            SHAPES_2B4T[2].label,
            SHAPES_2B4T[2].rows,
            SHAPES_2B4T[2].cols,
        ),
    ];
    for (label, rows, cols) in shapes {
        let packed = random_i2s(rows, cols, 42);
        let mut group = c.benchmark_group(format!("i2s_gemm/{label}"));
        for n in [1usize, 4, 8] {
            let q = random_q(n * cols, 43);
            let mut out = vec![0i32; n * rows];
            group.throughput(Throughput::Elements((n * rows) as u64));
            group.bench_function(BenchmarkId::new("gemv_per_token", n), |b| {
                b.iter(|| {
                    for (t, o) in out.chunks_exact_mut(rows).enumerate() {
                        i2s_gemv(
                            black_box(&packed),
                            rows,
                            cols,
                            &q[t * cols..(t + 1) * cols],
                            o,
                        );
                    }
                    black_box(&out);
                })
            });
            group.bench_function(BenchmarkId::new("gemm", n), |b| {
                b.iter(|| {
                    let tokens = I2sTokens::new(black_box(&q), n, cols);
                    i2s_gemm(black_box(&packed), rows, cols, &tokens, &mut out);
                    black_box(&out);
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_i2s_gemm);
criterion_main!(benches);
