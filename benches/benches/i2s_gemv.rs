//! Scalar reference vs run-time-dispatched SIMD I2_S GEMV on the
//! bitnet-b1.58-2B-4T shapes. Throughput is reported in weight bytes per
//! second (the packed matrix is what a decode step streams), so the
//! scalar/SIMD ratio reads directly off the two lines of each group.
use bitnet_benches::{SHAPES_2B4T, random_i2s, random_q};
use bitnet_cpu_simd::{i2s_gemv, i2s_gemv_portable, i2s_gemv_scalar, simd_level};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn bench_i2s_gemv(c: &mut Criterion) {
    eprintln!("i2s_gemv dispatch: {}", simd_level());
    for shape in SHAPES_2B4T {
        let packed = random_i2s(shape.rows, shape.cols, 42);
        let q = random_q(shape.cols, 43);
        let mut out = vec![0i32; shape.rows];
        let mut group = c.benchmark_group(format!("i2s_gemv/{}", shape.label));
        group.throughput(Throughput::Bytes(packed.len() as u64));
        type Kernel = fn(&[u8], usize, usize, &[i8], &mut [i32]);
        let kernels: [(&str, Kernel); 3] = [
            ("scalar", i2s_gemv_scalar),
            ("portable", i2s_gemv_portable),
            ("simd", i2s_gemv),
        ];
        for (name, kernel) in kernels {
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    kernel(
                        black_box(&packed),
                        shape.rows,
                        shape.cols,
                        black_box(&q),
                        &mut out,
                    );
                    black_box(&out);
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_i2s_gemv);
criterion_main!(benches);
