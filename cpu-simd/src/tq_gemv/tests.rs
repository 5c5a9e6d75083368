//! Every available level against the scalar reference, and both against an oracle that
//! dequantizes whole blocks through byte tables (the way the engine's `decode_block` does)
//! and sums in f64.

use super::*;
use proptest::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fmt {
    Tq2,
    Tq1,
}

impl Fmt {
    fn block_bytes(self) -> usize {
        match self {
            Fmt::Tq2 => TQ2_BLOCK_BYTES,
            Fmt::Tq1 => TQ1_BLOCK_BYTES,
        }
    }

    fn scalar(self, packed: &[u8], rows: usize, cols: usize, q: &[i8], out: &mut [f32]) {
        match self {
            Fmt::Tq2 => tq2_gemv_scalar(packed, rows, cols, q, out),
            Fmt::Tq1 => tq1_gemv_scalar(packed, rows, cols, q, out),
        }
    }

    fn dispatched(self, packed: &[u8], rows: usize, cols: usize, q: &[i8], out: &mut [f32]) {
        match self {
            Fmt::Tq2 => tq2_gemv(packed, rows, cols, q, out),
            Fmt::Tq1 => tq1_gemv(packed, rows, cols, q, out),
        }
    }

    fn at(self, l: Level, packed: &[u8], rows: usize, cols: usize, q: &[i8], out: &mut [f32]) {
        match self {
            Fmt::Tq2 => tq2_gemv_at(l, packed, rows, cols, q, out),
            Fmt::Tq1 => tq1_gemv_at(l, packed, rows, cols, q, out),
        }
    }

    fn sums_at(self, l: Level, packed: &[u8], rows: usize, cols: usize, q: &[i8]) -> Vec<i32> {
        let mut sums = vec![i32::MIN; rows * (cols / TQ_BLOCK_WEIGHTS)];
        match self {
            Fmt::Tq2 => tq2_block_sums_at(l, packed, rows, cols, q, &mut sums),
            Fmt::Tq1 => tq1_block_sums_at(l, packed, rows, cols, q, &mut sums),
        }
        sums
    }

    /// The oracle's decoder: weights in order, and the scale.
    fn decode(self, block: &[u8]) -> ([i8; 256], f32) {
        let mut w = [0i8; 256];
        match self {
            Fmt::Tq2 => {
                for c in 0..2 {
                    for m in 0..32 {
                        let codes = TQ2_TABLE[block[c * 32 + m] as usize];
                        for (l, &v) in codes.iter().enumerate() {
                            w[c * 128 + l * 32 + m] = v;
                        }
                    }
                }
            }
            Fmt::Tq1 => {
                for m in 0..32 {
                    for (n, &t) in TQ1_TABLE[block[m] as usize].iter().enumerate() {
                        w[m + 32 * n] = t;
                    }
                }
                for m in 0..16 {
                    for (n, &t) in TQ1_TABLE[block[32 + m] as usize].iter().enumerate() {
                        w[160 + m + 16 * n] = t;
                    }
                }
                for j in 0..4 {
                    for (n, &t) in TQ1_TABLE[block[48 + j] as usize][..4].iter().enumerate() {
                        w[240 + j + 4 * n] = t;
                    }
                }
            }
        }
        let bb = self.block_bytes();
        (
            w,
            f16::from_le_bytes([block[bb - 2], block[bb - 1]]).to_f32(),
        )
    }
}

/// Per byte, the four TQ2_0 weights `code − 1` (code 3 → +2, as upstream decodes it).
static TQ2_TABLE: [[i8; 4]; 256] = {
    let mut t = [[0i8; 4]; 256];
    let mut b = 0;
    while b < 256 {
        let mut l = 0;
        while l < 4 {
            t[b][l] = ((b >> (2 * l)) & 3) as i8 - 1;
            l += 1;
        }
        b += 1;
    }
    t
};

/// Per byte, the five TQ1_0 weights `t − 1`, `t = ((b·3ⁿ mod 256)·3) >> 8`.
static TQ1_TABLE: [[i8; 5]; 256] = {
    let mut t = [[0i8; 5]; 256];
    let pow = [1u32, 3, 9, 27, 81];
    let mut b = 0;
    while b < 256 {
        let mut n = 0;
        while n < 5 {
            t[b][n] = (((b as u32 * pow[n]) % 256 * 3) >> 8) as i8 - 1;
            n += 1;
        }
        b += 1;
    }
    t
};

/// What the oracle knows about one row: exact block sums, the f64 result, and the tolerance
/// scale `Σ_b |d_b| · Σ_j |w_j·q_j|`.
struct RowTruth {
    sums: Vec<i32>,
    value: f64,
    bound: f64,
    finite: bool,
}

fn oracle(fmt: Fmt, packed: &[u8], rows: usize, cols: usize, q: &[i8]) -> Vec<RowTruth> {
    let (bb, nb) = (fmt.block_bytes(), cols / 256);
    (0..rows)
        .map(|r| {
            let mut t = RowTruth {
                sums: vec![],
                value: 0.0,
                bound: 0.0,
                finite: true,
            };
            for b in 0..nb {
                let (w, d) = fmt.decode(&packed[(r * nb + b) * bb..][..bb]);
                let qb = &q[b * 256..][..256];
                // Dequantize, then sum: the formula as a reader of the format would write it.
                let deq: Vec<f64> = w.iter().map(|&v| f64::from(f32::from(v) * d)).collect();
                t.value += deq
                    .iter()
                    .zip(qb)
                    .map(|(&x, &y)| x * f64::from(y))
                    .sum::<f64>();
                let s: i32 = w
                    .iter()
                    .zip(qb)
                    .map(|(&x, &y)| i32::from(x) * i32::from(y))
                    .sum();
                let abs: i32 = w
                    .iter()
                    .zip(qb)
                    .map(|(&x, &y)| (i32::from(x) * i32::from(y)).abs())
                    .sum();
                t.sums.push(s);
                t.bound += f64::from(d.abs()) * f64::from(abs);
                t.finite &= d.is_finite();
            }
            t
        })
        .collect()
}

fn close(got: f32, want: f64, bound: f64) -> bool {
    (f64::from(got) - want).abs() <= 1e-5 * bound
}

/// Runs every level on one input, checks everything the module promises, returns the
/// reference output.
fn check_all(fmt: Fmt, packed: &[u8], rows: usize, cols: usize, q: &[i8]) -> Vec<f32> {
    let truth = oracle(fmt, packed, rows, cols, q);
    let flat: Vec<i32> = truth.iter().flat_map(|t| t.sums.iter().copied()).collect();
    let mut reference = vec![f32::NAN; rows];
    fmt.scalar(packed, rows, cols, q, &mut reference);
    for (r, t) in truth.iter().enumerate() {
        let got = reference[r];
        if t.finite {
            assert!(
                close(got, t.value, t.bound),
                "{fmt:?} scalar row {r}: {got} vs oracle {} (bound {})",
                t.value,
                t.bound
            );
        } else {
            assert!(
                !got.is_finite(),
                "{fmt:?} scalar row {r}: {got} with a non-finite d"
            );
        }
    }
    for level in Level::available() {
        assert_eq!(
            fmt.sums_at(level, packed, rows, cols, q),
            flat,
            "{fmt:?} block sums at {level}"
        );
        let mut got = vec![f32::NAN; rows];
        fmt.at(level, packed, rows, cols, q, &mut got);
        for (r, t) in truth.iter().enumerate() {
            let (g, want) = (got[r], reference[r]);
            if t.finite {
                assert!(
                    close(g, f64::from(want), t.bound),
                    "{fmt:?} {level} row {r}: {g} vs scalar {want} (bound {})",
                    t.bound
                );
            } else {
                assert!(
                    !g.is_finite(),
                    "{fmt:?} {level} row {r}: {g} with a non-finite d"
                );
            }
        }
    }
    let mut best = vec![f32::NAN; rows];
    fmt.dispatched(packed, rows, cols, q, &mut best);
    let mut at_best = vec![f32::NAN; rows];
    fmt.at(Level::detect(), packed, rows, cols, q, &mut at_best);
    assert_eq!(
        best.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        at_best.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        "{fmt:?} dispatch is the best level"
    );
    reference
}

/// Packs TQ2_0 blocks from codes (0..=3, weight order) and one f16 scale per block.
fn pack_tq2(codes: &[u8], scales: &[f16]) -> Vec<u8> {
    let mut out = vec![];
    for (cb, d) in codes.chunks_exact(256).zip(scales) {
        let mut block = [0u8; TQ2_BLOCK_BYTES];
        for (k, &c) in cb.iter().enumerate() {
            let (chunk, l, m) = (k / 128, (k % 128) / 32, k % 32);
            block[chunk * 32 + m] |= c << (2 * l);
        }
        block[64..].copy_from_slice(&d.to_le_bytes());
        out.extend_from_slice(&block);
    }
    out
}

/// Packs TQ1_0 blocks from trits (0..=2, weight order) the way the quantizer does:
/// `⌈v·256/243⌉` of the base-3 number, most significant trit first.
fn pack_tq1(trits: &[u8], scales: &[f16]) -> Vec<u8> {
    let frac = |v: u32| (v * 256).div_ceil(243) as u8;
    let mut out = vec![];
    for (t, d) in trits.chunks_exact(256).zip(scales) {
        let mut block = [0u8; TQ1_BLOCK_BYTES];
        for m in 0..32 {
            block[m] = frac((0..5).fold(0, |v, n| v * 3 + u32::from(t[m + 32 * n])));
        }
        for m in 0..16 {
            block[32 + m] = frac((0..5).fold(0, |v, n| v * 3 + u32::from(t[160 + m + 16 * n])));
        }
        for j in 0..4 {
            block[48 + j] = frac((0..4).fold(0, |v, n| v * 3 + u32::from(t[240 + j + 4 * n])) * 3);
        }
        block[52..].copy_from_slice(&d.to_le_bytes());
        out.extend_from_slice(&block);
    }
    out
}

fn pack(fmt: Fmt, codes: &[u8], scales: &[f16]) -> Vec<u8> {
    match fmt {
        Fmt::Tq2 => pack_tq2(codes, scales),
        Fmt::Tq1 => pack_tq1(codes, scales),
    }
}

const BOTH: [Fmt; 2] = [Fmt::Tq2, Fmt::Tq1];

/// The packers agree with the oracle's decoder, so tests built on them test the kernels.
#[test]
fn packers_round_trip() {
    let codes: Vec<u8> = (0..512).map(|k| ((k * 7 + k / 5) % 3) as u8).collect();
    let scales = [f16::from_f32(0.5), f16::from_f32(-2.0)];
    for fmt in BOTH {
        let packed = pack(fmt, &codes, &scales);
        for b in 0..2 {
            let (w, d) = fmt.decode(&packed[b * fmt.block_bytes()..][..fmt.block_bytes()]);
            assert_eq!(d, scales[b].to_f32());
            for k in 0..256 {
                assert_eq!(
                    i32::from(w[k]),
                    i32::from(codes[b * 256 + k]) - 1,
                    "{fmt:?} {k}"
                );
            }
        }
    }
}

/// The engine's hand-computed TQ2_0 block (`formats::tq2_0` tests): d = 1, chunk 0 bytes
/// 0x64 (weights −1, 0, +1, 0 by l), chunk 1 bytes 0x92 (+1, −1, 0, +1).
#[test]
fn known_answer_tq2() {
    let mut block = [0u8; 66];
    block[..32].fill(0x64);
    block[32..64].fill(0x92);
    block[65] = 0x3C;
    let q: Vec<i8> = (0..256).map(|k| (k % 11) as i8 - 5).collect();
    let w = |k: usize| match (k / 128, (k % 128) / 32) {
        (0, 0) | (1, 1) => -1,
        (0, 2) | (1, 0) | (1, 3) => 1,
        _ => 0,
    };
    let s: i32 = (0..256).map(|k| w(k) * i32::from(q[k])).sum();
    let out = check_all(Fmt::Tq2, &block, 1, 256, &q);
    assert_eq!(out, [s as f32]);
    assert_eq!(Fmt::Tq2.sums_at(Level::detect(), &block, 1, 256, &q), [s]);
}

/// The engine's hand-computed TQ1_0 block (`formats::tq1_0` tests): d = 2, qs[0..32] = 0xCE
/// (+1, 0, −1, +1, −1 by n), qs[32..48] = 0 (all −1), qh = 0xA2 (0, +1, +1, −1).
#[test]
fn known_answer_tq1() {
    let mut block = [0u8; 54];
    block[..32].fill(0xCE);
    block[48..52].fill(0xA2);
    block[53] = 0x40;
    let q: Vec<i8> = (0..256).map(|k| (k % 13) as i8 - 6).collect();
    let w = |k: usize| match k {
        0..160 => [1, 0, -1, 1, -1][k / 32],
        160..240 => -1,
        _ => [0, 1, 1, -1][(k - 240) / 4],
    };
    let s: i32 = (0..256).map(|k| w(k) * i32::from(q[k])).sum();
    let out = check_all(Fmt::Tq1, &block, 1, 256, &q);
    assert_eq!(out, [2.0 * s as f32]);
    assert_eq!(Fmt::Tq1.sums_at(Level::detect(), &block, 1, 256, &q), [s]);
}

/// Every byte value in every code position: block `v` of the row is filled with byte `v`
/// (TQ2_0: code 3 included; TQ1_0: 243..=255 included, which no encoder writes).
#[test]
fn every_byte_value_decodes_like_decode_block() {
    let cols = 256 * 256;
    let q: Vec<i8> = (0..cols)
        .map(|k| ((k * 37 + 11) % 256) as u8 as i8)
        .collect();
    for fmt in BOTH {
        let bb = fmt.block_bytes();
        let mut packed = vec![0u8; 256 * bb];
        for (v, block) in packed.chunks_exact_mut(bb).enumerate() {
            block[..bb - 2].fill(v as u8);
            block[bb - 2..].copy_from_slice(&f16::from_f32(0.25).to_le_bytes());
        }
        check_all(fmt, &packed, 1, cols, &q);
    }
}

/// All weights equal (codes 0, 1, 2 and TQ2_0's 3) against q = −128, 127, 0 everywhere:
/// with d = 1 every block sum and the output are exact and known.
#[test]
fn extreme_inputs() {
    let (rows, cols) = (3, 6 * 256);
    let nb = rows * cols / 256;
    for fmt in BOTH {
        for code in 0u8..=3 {
            let packed = match (fmt, code) {
                (Fmt::Tq1, 3) => continue,
                _ => pack(fmt, &vec![code; rows * cols], &vec![f16::ONE; nb]),
            };
            for qv in [-128i8, 127, 0] {
                let q = vec![qv; cols];
                let s = (i32::from(code) - 1) * 256 * i32::from(qv);
                for level in Level::available() {
                    assert_eq!(fmt.sums_at(level, &packed, rows, cols, &q), vec![s; nb]);
                }
                let out = check_all(fmt, &packed, rows, cols, &q);
                assert_eq!(
                    out,
                    vec![6.0 * s as f32; rows],
                    "{fmt:?} code {code} q {qv}"
                );
            }
        }
    }
}

/// With every d = 1 and sums far below 2²⁴, every level's float result is the exact
/// integer row sum.
#[test]
fn unit_scales_give_exact_integer_rows() {
    let (rows, cols) = (7, 5 * 256);
    let mut rng = Rng(99);
    for fmt in BOTH {
        let codes: Vec<u8> = (0..rows * cols).map(|_| (rng.next() % 3) as u8).collect();
        let packed = pack(fmt, &codes, &vec![f16::ONE; rows * cols / 256]);
        let q: Vec<i8> = (0..cols).map(|_| rng.next() as i8).collect();
        let truth = oracle(fmt, &packed, rows, cols, &q);
        for level in Level::available() {
            let mut out = vec![f32::NAN; rows];
            fmt.at(level, &packed, rows, cols, &q, &mut out);
            for (o, t) in out.iter().zip(&truth) {
                assert_eq!(*o, t.sums.iter().sum::<i32>() as f32, "{fmt:?} {level}");
            }
        }
    }
}

/// Scales that stress the float side: zero (the output must be exactly zero), negative,
/// subnormal f16, the f16 extremes ±65504.
#[test]
fn special_scales() {
    let (rows, cols) = (4, 3 * 256);
    let nb = cols / 256;
    let mut rng = Rng(5);
    let scale_sets: [f16; 8] = [
        f16::ZERO,
        f16::NEG_ZERO,
        f16::from_f32(-0.75),
        f16::from_bits(0x0001), // smallest subnormal
        f16::from_bits(0x03FF), // largest subnormal
        f16::MAX,
        f16::MIN,
        f16::from_f32(1e-3),
    ];
    for fmt in BOTH {
        let codes: Vec<u8> = (0..rows * cols).map(|_| (rng.next() % 3) as u8).collect();
        let q: Vec<i8> = (0..cols).map(|_| rng.next() as i8).collect();
        for &d in &scale_sets {
            let packed = pack(fmt, &codes, &vec![d; rows * nb]);
            let out = check_all(fmt, &packed, rows, cols, &q);
            if d.to_f32() == 0.0 {
                assert!(out.iter().all(|&v| v == 0.0), "{fmt:?}: {out:?}");
            }
        }
        // Mixed signs and magnitudes within a row.
        let scales: Vec<f16> = (0..rows * nb)
            .map(|i| scale_sets[i % scale_sets.len()])
            .collect();
        check_all(fmt, &pack(fmt, &codes, &scales), rows, cols, &q);
    }
}

/// A non-finite scale (only a hostile file has one) makes the row non-finite everywhere.
#[test]
fn non_finite_scales() {
    let (rows, cols) = (3, 2 * 256);
    for fmt in BOTH {
        let codes: Vec<u8> = (0..rows * cols).map(|k| (k % 3) as u8).collect();
        let q: Vec<i8> = (0..cols).map(|k| (k % 200) as i8).collect();
        let scales = [
            f16::ONE,
            f16::INFINITY,
            f16::NEG_INFINITY,
            f16::NAN,
            f16::ONE,
            f16::ONE,
        ];
        check_all(fmt, &pack(fmt, &codes, &scales), rows, cols, &q);
    }
}

#[test]
fn empty_shapes() {
    for fmt in BOTH {
        for level in Level::available() {
            let mut out = [7f32; 3];
            fmt.at(level, &[], 3, 0, &[], &mut out);
            assert_eq!(out, [0.0; 3]);
            fmt.at(level, &[], 0, 512, &[0; 512], &mut []);
            assert!(fmt.sums_at(level, &[], 3, 0, &[]).is_empty());
        }
    }
}

#[test]
#[should_panic(expected = "tq2_gemv: cols = 300 is not a multiple of 256")]
fn ragged_cols_panic() {
    tq2_gemv(&[0; 66], 1, 300, &[0; 300], &mut [0.0]);
}

#[test]
#[should_panic(expected = "tq1_gemv: packed has 54 bytes")]
fn short_packed_panics() {
    tq1_gemv(&[0; 54], 2, 256, &[0; 256], &mut [0.0; 2]);
}

#[test]
#[should_panic(expected = "tq2_gemv: q has 255 values")]
fn short_q_panics() {
    tq2_gemv(&[0; 66], 1, 256, &[0; 255], &mut [0.0]);
}

#[test]
fn unavailable_levels_panic() {
    for level in Level::ALL.into_iter().filter(|l| !l.is_available()) {
        let r = std::panic::catch_unwind(|| tq1_gemv_at(level, &[], 0, 0, &[], &mut []));
        assert!(r.is_err(), "{level} ran on a CPU without it");
    }
}

/// xorshift64, for fast bulk random bytes inside proptest cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = (self.0 | 1) ^ (self.0 << 13);
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn q_for(cols: usize) -> impl Strategy<Value = Vec<i8>> {
    prop_oneof![
        3 => prop::collection::vec(any::<i8>(), cols),
        1 => Just(vec![-128i8; cols]),
        1 => Just(vec![127i8; cols]),
        1 => Just(vec![0i8; cols]),
    ]
}

fn scale_strategy() -> impl Strategy<Value = f16> {
    prop_oneof![
        4 => (-4.0f32..4.0).prop_map(f16::from_f32),
        1 => Just(f16::ZERO),
        1 => Just(f16::MAX),
        1 => Just(f16::MIN),
        1 => (1u16..0x400).prop_map(f16::from_bits),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Well-formed matrices (TQ2_0 codes 0..=2 or all four, TQ1_0 trits as the encoder
    /// writes them), random shapes and scales.
    #[test]
    fn levels_agree_on_encoded_matrices(
        (rows, blocks, q) in (0usize..9, 1usize..7)
            .prop_flat_map(|(r, b)| (Just(r), Just(b), q_for(b * 256))),
        tq1 in any::<bool>(),
        code3 in any::<bool>(),
        seed in any::<u64>(),
        scales in prop::collection::vec(scale_strategy(), 64),
    ) {
        let fmt = if tq1 { Fmt::Tq1 } else { Fmt::Tq2 };
        let cols = blocks * 256;
        let mut rng = Rng(seed);
        let top = if code3 && !tq1 { 4 } else { 3 };
        let codes: Vec<u8> = (0..rows * cols).map(|_| (rng.next() % top) as u8).collect();
        let d: Vec<f16> = (0..rows * blocks).map(|i| scales[i % scales.len()]).collect();
        check_all(fmt, &pack(fmt, &codes, &d), rows, cols, &q);
    }

    /// Arbitrary bytes, scales included (so NaN and ±inf scales too): nothing panics and
    /// every level matches the reference and the oracle.
    #[test]
    fn levels_agree_on_raw_bytes(
        (rows, blocks) in (0usize..9, 1usize..7),
        tq1 in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let fmt = if tq1 { Fmt::Tq1 } else { Fmt::Tq2 };
        let cols = blocks * 256;
        let mut rng = Rng(seed);
        let packed: Vec<u8> = (0..rows * blocks * fmt.block_bytes()).map(|_| rng.next() as u8).collect();
        let q: Vec<i8> = (0..cols).map(|_| rng.next() as i8).collect();
        check_all(fmt, &packed, rows, cols, &q);
    }
}
