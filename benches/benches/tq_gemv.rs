//! TQ2_0 / TQ1_0 GEMV straight from llama.cpp's bytes, at every level this CPU runs, against
//! the scalar references and the I2_S kernel, on the bitnet-b1.58-2B-4T shapes.
//!
//! Throughput is in weights per second: TQ2_0 (2.06 bits per weight), TQ1_0 (1.69) and I2_S
//! (2) pack a different number of bytes per weight, so weights are the common unit.
//!
//! Before timing, every level is checked against the engine's own `decode_block` (the
//! definition of both formats) on a slice of the bench matrices and on random bytes, so the
//! numbers are for kernels that compute the right thing.
use bitnet_benches::{SHAPES_2B4T, XorShift, random_i2s, random_q};
use bitnet_cpu_simd::{
    Level, TQ1_BLOCK_BYTES, TQ2_BLOCK_BYTES, i2s_gemv, simd_level, tq1_gemv_at, tq2_gemv_at,
};
use bitnet_engine::formats::{tq1_0, tq2_0};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use half::f16;
use std::hint::black_box;

type GemvAt = fn(Level, &[u8], usize, usize, &[i8], &mut [f32]);
type Random = fn(usize, usize, u64) -> Vec<u8>;

/// A random scale in ±[1/64, 1), as a quantizer's block maxima would be after the model's
/// weight scale.
fn random_scale(rng: &mut XorShift) -> [u8; 2] {
    let v = (rng.next_u64() % 1000) as f32 / 1000.0 + 1.0 / 64.0;
    let v = if rng.next_u64() & 1 == 0 { v } else { -v };
    f16::from_f32(v).to_le_bytes()
}

/// `rows × cols` TQ2_0 bytes with uniformly random codes in {0, 1, 2} (what quantizers write).
fn random_tq2(rows: usize, cols: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift::new(seed);
    let mut out = vec![0u8; rows * cols / 256 * TQ2_BLOCK_BYTES];
    for block in out.chunks_exact_mut(TQ2_BLOCK_BYTES) {
        for byte in &mut block[..64] {
            *byte = (0..4).fold(0, |b, _| (b << 2) | (rng.next_u64() % 3) as u8);
        }
        block[64..].copy_from_slice(&random_scale(&mut rng));
    }
    out
}

/// `rows × cols` TQ1_0 bytes: random base-3 numbers stored as the encoder stores them,
/// `⌈v·256/243⌉` (qh bytes hold four trits and a zero).
fn random_tq1(rows: usize, cols: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift::new(seed);
    let mut out = vec![0u8; rows * cols / 256 * TQ1_BLOCK_BYTES];
    for block in out.chunks_exact_mut(TQ1_BLOCK_BYTES) {
        for (i, byte) in block[..52].iter_mut().enumerate() {
            let v = if i < 48 {
                rng.next_u64() % 243
            } else {
                (rng.next_u64() % 81) * 3
            };
            *byte = (v * 256).div_ceil(243) as u8;
        }
        block[52..].copy_from_slice(&random_scale(&mut rng));
    }
    out
}

/// `Σ_b d_b · Σ_j w_j·q_j` per row through the engine's decoder, in f64, with the tolerance
/// scale `Σ_b |d_b| · Σ_j |w_j·q_j|`.
fn engine_rows(tq1: bool, packed: &[u8], rows: usize, cols: usize, q: &[i8]) -> Vec<(f64, f64)> {
    let bb = if tq1 {
        TQ1_BLOCK_BYTES
    } else {
        TQ2_BLOCK_BYTES
    };
    let nb = cols / 256;
    (0..rows)
        .map(|r| {
            let (mut value, mut bound) = (0f64, 0f64);
            for b in 0..nb {
                let block = &packed[(r * nb + b) * bb..][..bb];
                let mut w = [0i8; 256];
                let d = if tq1 {
                    tq1_0::decode_block(block.try_into().expect("54 bytes"), &mut w)
                } else {
                    tq2_0::decode_block(block.try_into().expect("66 bytes"), &mut w)
                };
                let qb = &q[b * 256..][..256];
                let s: i64 = w
                    .iter()
                    .zip(qb)
                    .map(|(&a, &c)| i64::from(a) * i64::from(c))
                    .sum();
                let abs: i64 = w
                    .iter()
                    .zip(qb)
                    .map(|(&a, &c)| (i64::from(a) * i64::from(c)).abs())
                    .sum();
                value += f64::from(d) * s as f64;
                bound += f64::from(d.abs()) * abs as f64;
            }
            (value, bound)
        })
        .collect()
}

/// Every level agrees with the engine's decoder on `packed` (finite scales only).
fn check_against_engine(
    name: &str,
    gemv: GemvAt,
    packed: &[u8],
    rows: usize,
    cols: usize,
    q: &[i8],
) {
    let want = engine_rows(name == "tq1", packed, rows, cols, q);
    let mut out = vec![f32::NAN; rows];
    for level in Level::available() {
        gemv(level, packed, rows, cols, q, &mut out);
        for (r, (&got, &(value, bound))) in out.iter().zip(&want).enumerate() {
            assert!(
                (f64::from(got) - value).abs() <= 1e-5 * bound,
                "{name} at {level}, row {r}: {got} vs engine decode_block {value}"
            );
        }
    }
}

/// Random bytes everywhere but in the scales (TQ2_0 code 3 and TQ1_0 bytes ≥ 243 included).
fn hostile(bb: usize, blocks: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift::new(seed);
    let mut out: Vec<u8> = (0..blocks * bb).map(|_| rng.next_u64() as u8).collect();
    for block in out.chunks_exact_mut(bb) {
        block[bb - 2..].copy_from_slice(&random_scale(&mut rng));
    }
    out
}

fn bench_tq_gemv(c: &mut Criterion) {
    eprintln!(
        "levels: {:?}; i2s_gemv dispatch: {}",
        Level::available(),
        simd_level()
    );
    let formats: [(&str, GemvAt, Random, usize); 2] = [
        ("tq2", tq2_gemv_at, random_tq2, TQ2_BLOCK_BYTES),
        ("tq1", tq1_gemv_at, random_tq1, TQ1_BLOCK_BYTES),
    ];
    for (name, gemv, _, bb) in formats {
        let (rows, cols) = (5, 7 * 256);
        let q = random_q(cols, 7);
        check_against_engine(name, gemv, &hostile(bb, rows * 7, 8), rows, cols, &q);
    }
    for shape in SHAPES_2B4T {
        let (rows, cols) = (shape.rows, shape.cols);
        let q = random_q(cols, 43);
        let mut out = vec![0f32; rows];
        let mut group = c.benchmark_group(format!("tq_gemv/{}", shape.label));
        group.throughput(Throughput::Elements((rows * cols) as u64));
        for (name, gemv, random, bb) in formats {
            let packed = random(rows, cols, 42);
            let head = 16 * cols / 256 * bb;
            check_against_engine(name, gemv, &packed[..head], 16, cols, &q);
            for level in Level::available() {
                group.bench_function(BenchmarkId::new(name, level.name()), |b| {
                    b.iter(|| {
                        gemv(
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
        let mut raw = vec![0i32; rows];
        group.bench_function(BenchmarkId::new("i2s", "dispatched"), |b| {
            b.iter(|| {
                i2s_gemv(black_box(&i2s), rows, cols, black_box(&q), &mut raw);
                black_box(&raw);
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench_tq_gemv);
criterion_main!(benches);
