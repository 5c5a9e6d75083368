//! Lookup-table ternary GEMV (lut2 pairs, lut3 triplets) at every level this CPU runs, against
//! their scalar references and the I2_S kernel, on the bitnet-b1.58-2B-4T shapes.
//!
//! Throughput is in weights per second: the three layouts pack a different number of bytes
//! per weight (I2_S and lut2 2 bits, lut3 5/3), so weights are the common unit and every line
//! of a group compares directly.
use bitnet_benches::{SHAPES_2B4T, XorShift, random_i2s, random_q};
use bitnet_cpu_simd::{
    Level, i2s_gemv, lut2_gemv_at, lut2_pack, lut3_gemv_at, lut3_pack, simd_level,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// Uniform random ternary codes, row-major.
fn random_codes(n: usize, seed: u64) -> Vec<i8> {
    let mut rng = XorShift::new(seed);
    (0..n).map(|_| (rng.next_u64() % 3) as i8 - 1).collect()
}

fn bench_lut_gemv(c: &mut Criterion) {
    eprintln!(
        "levels: {:?}; i2s_gemv dispatch: {}",
        Level::available(),
        simd_level()
    );
    type GemvAt = fn(Level, &[u8], usize, usize, &[i8], &mut [i32]);
    type Pack = fn(&[i8], usize, usize) -> Vec<u8>;
    let families: [(&str, Pack, GemvAt); 2] = [
        ("lut2", lut2_pack, lut2_gemv_at),
        ("lut3", lut3_pack, lut3_gemv_at),
    ];
    for shape in SHAPES_2B4T {
        let (rows, cols) = (shape.rows, shape.cols);
        let codes = random_codes(rows * cols, 42);
        let q = random_q(cols, 43);
        let mut out = vec![0i32; rows];
        let mut group = c.benchmark_group(format!("lut_gemv/{}", shape.label));
        group.throughput(Throughput::Elements((rows * cols) as u64));
        for (name, pack, gemv_at) in families {
            let packed = pack(&codes, rows, cols);
            for level in Level::available() {
                let id = BenchmarkId::new(name, level.name());
                group.bench_function(id, |b| {
                    b.iter(|| {
                        gemv_at(
                            level,
                            black_box(&packed),
                            rows,
                            cols,
                            black_box(&q),
                            &mut out,
                        );
                        black_box(&out);
                    })
                });
            }
        }
        // The I2_S kernel on the same shape (its own random codes: speed does not depend on
        // the values).
        let i2s = random_i2s(rows, cols, 42);
        group.bench_function(BenchmarkId::new("i2s", "dispatched"), |b| {
            b.iter(|| {
                i2s_gemv(black_box(&i2s), rows, cols, black_box(&q), &mut out);
                black_box(&out);
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench_lut_gemv);
criterion_main!(benches);
