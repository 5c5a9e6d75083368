//! Scalar reference vs run-time-dispatched SIMD I2_S GEMV on the
//! bitnet-b1.58-2B-4T shapes. Throughput is reported in weight bytes per
//! second (the packed matrix is what a decode step streams), so the
//! scalar/SIMD ratio reads directly off the two lines of each group.
use bitnet_benches::{SHAPES_2B4T, random_i2s, random_q};
use bitnet_cpu_simd::{
    Level, i2s_gemv_at, i2s_gemv_no_code3_at, i2s_gemv_scalar, i2s_has_code_3, simd_level,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// One matrix-vector product: packed bytes, activations, output.
type Kernel<'a> = dyn Fn(&[u8], &[i8], &mut [i32]) + 'a;

/// The scalar reference, then the shift-and-lookup kernel at every level this CPU runs, then
/// the masked kernel (its VNNI code; other levels run the former).
fn bench_i2s_gemv(c: &mut Criterion) {
    eprintln!("i2s_gemv dispatch: {}", simd_level());
    for shape in SHAPES_2B4T {
        let packed = random_i2s(shape.rows, shape.cols, 42);
        let q = random_q(shape.cols, 43);
        let mut out = vec![0i32; shape.rows];
        let mut group = c.benchmark_group(format!("i2s_gemv/{}", shape.label));
        group.throughput(Throughput::Bytes(packed.len() as u64));
        let mut run = |name: String, kernel: &Kernel| {
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    kernel(black_box(&packed), black_box(&q), &mut out);
                    black_box(&out);
                })
            });
        };
        let (rows, cols) = (shape.rows, shape.cols);
        run("scalar".into(), &|p, q, o| {
            i2s_gemv_scalar(p, rows, cols, q, o)
        });
        for level in Level::available().into_iter().skip(1) {
            run(level.name().into(), &|p, q, o| {
                i2s_gemv_at(level, p, rows, cols, q, o)
            });
        }
        if !i2s_has_code_3(&packed) && Level::Avx512Vnni.is_available() {
            run("masked-avx512-vnni".into(), &|p, q, o| {
                i2s_gemv_no_code3_at(Level::Avx512Vnni, p, rows, cols, q, o)
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_i2s_gemv);
criterion_main!(benches);
