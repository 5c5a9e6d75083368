//! Ternary matrix × int8 vector straight from llama.cpp's TQ2_0 and TQ1_0 bytes
//! (spec §1.5), read in place: no repacking at load time.
//!
//! # Layouts read here
//! Both formats cut each row into blocks of 256 weights, each ending in its little-endian f16
//! scale `d`. `cols % 256 == 0`, so a block never straddles rows, and a `rows × cols` matrix
//! is `rows · cols/256` blocks back to back, row-major: exactly the tensor's bytes in the file.
//! (The engine's `formats::tq2_0` / `formats::tq1_0` own the formats; this leaf crate restates
//! them because it must not depend on the engine.)
//!
//! **TQ2_0**, [`TQ2_BLOCK_BYTES`] = 66 bytes: `qs[64]`, then `d`. Byte `c·32 + m`
//! (c ∈ 0..2, m ∈ 0..32) holds weight `c·128 + l·32 + m` in bits `2l..2l+1` (l ∈ 0..4, low
//! bits first: the opposite of I2_S), as the code `w + 1`. Code 3 is never written by a
//! quantizer but a hostile file can hold it: upstream's dequantizer, and the engine's
//! `decode_block`, read it as `w = +2`, and so does every level here (`w = code − 1` with no
//! exception).
//!
//! **TQ1_0**, [`TQ1_BLOCK_BYTES`] = 54 bytes: `qs[48]`, `qh[4]`, then `d`. A byte holds up to
//! five trits `t = w + 1` as a base-3 fixed-point fraction; trit `n` reads back as
//! `((byte · 3ⁿ mod 256) · 3) >> 8`. That is in 0..=2 for *every* byte value, 243..=255
//! included (never written, since the encoder stores `⌈v·256/243⌉` with v < 243), so any byte
//! decodes, exactly as the engine's `decode_block` decodes it.
//! - `qs[m]`, m < 32: weights `m + 32n`, n ∈ 0..5 (weights 0..160);
//! - `qs[32 + m]`, m < 16: weights `160 + m + 16n`, n ∈ 0..5 (weights 160..240);
//! - `qh[j]`, j < 4: weights `240 + j + 4n`, n ∈ 0..4 (weights 240..256); the fifth trit is
//!   padding and never read.
//!
//! # What is computed
//! `out[r] = Σ_b d_{r,b} · S_{r,b}` with `S_{r,b} = Σ_{j ∈ b} w_j · q_j` computed exactly in
//! integers (|S| ≤ 256 · 2 · 128) and `d` the block's f16 converted to f32; the blocks are
//! combined in f32. The `*_block_sums_at` functions return the `S` themselves, bit-identical at
//! every level. The float results differ between levels only in summation order: the levels
//! above Scalar keep a block's `S` split over lanes (64, 16 or 8), each lane exact (it holds
//! `Σ w·q` of its own weights), scale every lane by `d` and reduce once per row. So every level
//! is within a few f32 roundings of `Σ_b |d_b| · Σ_j |w_j·q_j|` of the scalar reference (the
//! tests hold them to 1e-5 of that), and equal to it when every partial sum is exact, as with
//! unit scales. A non-finite `d` (possible in a hostile file) makes the row non-finite at
//! every level, though not always the same non-finite value.
//!
//! # Levels
//! - [`Level::Scalar`]: the reference, decoding one weight at a time from the layout above,
//!   `S` per block, blocks added in order.
//! - [`Level::Portable`]: plain loops over the 64 byte positions of a block, written so LLVM
//!   vectorises them under pulp's best target features (the NEON path on aarch64).
//! - [`Level::Avx2`] (pulp V3) and [`Level::Avx512`] (pulp V4): `maddubs` + `madd`.
//! - [`Level::Avx512Vnni`]: `vpdpbusd` straight into i32 lanes.
//!
//! Every level has dedicated code on x86-64, so none runs a lower one; off x86-64 only Scalar
//! and Portable are available. Asking a `*_at` function for a level the CPU cannot run panics
//! rather than silently running another, so a test or bench naming a level measures it.
//!
//! # How the SIMD levels work
//! A block's first 64 bytes are one load (TQ1_0: its 52 code bytes, then its scale and the
//! next block's first bytes, which meet zeros; the matrix's last block is copied out padded).
//! Decoding is per byte position, into *planes* of 64 codes: TQ2_0 shifts and masks the load
//! four times. TQ1_0 takes `y_n = byte·3ⁿ mod 256` as `y_{n+1} = y_n + y_n + y_n` in wrapping
//! byte adds (x86 has no 8-bit multiply), and the trit `(y·3) >> 8` as `[y ≥ 86] + [y ≥ 171]`
//! (3y crosses 256 at y = 85⅓ and 512 at 170⅔), two saturating subtracts clamped to 1. On
//! Zen 4 that ran 1.7x faster than widening each byte to a 16-bit lane for `mullo` by 3ⁿ and
//! `mulhi` by 3. The VNNI kernel does not extract TQ1_0's trits at all: `256·t_n =
//! 3·y_n − y_{n+1}` is linear in the `y`'s, so it dots the `y`'s themselves with `q` and
//! divides each lane by 256 (exactly) at the end: ten `vpdpbusd` and no comparisons per block,
//! 1.1-1.4x faster than the comparison planes with five.
//!
//! Plane `n` holds runs of consecutive weights (`Format::runs`), so instead of shuffling codes
//! into weight order, `q` is permuted once per call into the same planes. The codes stay unsigned (0..=3),
//! which is what `maddubs` / `vpdpbusd` multiply by signed bytes; `w·q = code·q − q`, so each
//! i32 lane starts at minus the sum of its own q's (computed once per call, not per row).
//!
//! # Threads
//! The kernels are single-threaded; a caller splits the work by rows, passing
//! `packed[r0·rb .. r1·rb]` (`rb` = bytes per row) and `out[r0..r1]`. Each call permutes `q`
//! again, which costs `O(cols)`, negligible next to a row chunk's `O(rows·cols)`.

mod kernels;
mod tq1;
mod tq2;

#[cfg(test)]
mod tests;

use crate::Level;
use half::f16;

/// Weights per TQ2_0 or TQ1_0 block.
pub const TQ_BLOCK_WEIGHTS: usize = 256;
/// Bytes per TQ2_0 block: 64 bytes of 2-bit codes, then the f16 scale.
pub const TQ2_BLOCK_BYTES: usize = 66;
/// Bytes per TQ1_0 block: 48 + 4 bytes of base-3 trits, then the f16 scale.
pub const TQ1_BLOCK_BYTES: usize = 54;

/// Bytes in one SIMD load of a block, and codes per plane.
const PLANE: usize = 64;
/// i32 lanes per block in the 512-bit kernels (`PLANE / 4`).
const LANES: usize = PLANE / 4;

/// What one format contributes; everything else is shared by both.
pub(crate) trait Format {
    /// Prefix for panic messages.
    const NAME: &'static str;
    /// Bytes per block, the scale included.
    const BLOCK_BYTES: usize;
    /// Code planes per block (64 codes each).
    const PLANES: usize;
    /// Whether the code bytes are TQ1_0's base-3 fractions, whose trits the VNNI kernel takes
    /// out of the dot products instead of the bytes (see `kernels::x86::vnni_kernel`).
    #[cfg(target_arch = "x86_64")]
    const BASE3: bool;

    /// Where plane `n`'s codes come from: runs of consecutive bytes holding consecutive
    /// weights. Bytes in no run are padding.
    fn runs(n: usize) -> &'static [Run];

    /// Plane `n`'s code (0..=3) in a code byte, as the portable level computes it.
    fn code(byte: u8, n: usize) -> u8;

    /// The reference: `Σ w·q` over one block, decoded weight by weight.
    fn block_sum_scalar(block: &[u8], q: &[i8]) -> i32;

    /// The planes of a 64-byte load, in the 512-bit registers of x86-64-v4 (unused planes
    /// are returned as anything).
    #[cfg(target_arch = "x86_64")]
    fn planes_v4(
        simd: pulp::x86::V4,
        x: core::arch::x86_64::__m512i,
    ) -> [core::arch::x86_64::__m512i; 5];

    /// The planes of 32 bytes of a block, in the 256-bit registers of x86-64-v3.
    #[cfg(target_arch = "x86_64")]
    fn planes_v3(
        simd: pulp::x86::V3,
        x: core::arch::x86_64::__m256i,
    ) -> [core::arch::x86_64::__m256i; 5];
}

/// `len` bytes of a plane from byte `at` on decode to the weights `from..from + len` of the
/// block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    at: usize,
    from: usize,
    len: usize,
}

/// The block's scale, f16 → f32 (exact: every f16 is an f32).
#[inline(always)]
fn scale<F: Format>(block: &[u8]) -> f32 {
    f16::from_le_bytes([block[F::BLOCK_BYTES - 2], block[F::BLOCK_BYTES - 1]]).to_f32()
}

/// Where a kernel writes: the matrix-vector product, or the per-block integer sums.
enum Out<'a> {
    /// `out[r]`, one per row.
    Gemv(&'a mut [f32]),
    /// `S_{r,b}` at `r · blocks + b`.
    Sums(&'a mut [i32]),
}

impl Out<'_> {
    fn len(&self) -> usize {
        match self {
            Out::Gemv(o) => o.len(),
            Out::Sums(s) => s.len(),
        }
    }
}

/// Validates the shapes every implementation relies on. Violations are caller bugs (shapes are
/// validated against the model config at load time), so they panic naming the mismatch.
fn check_shapes<F: Format>(packed: &[u8], rows: usize, cols: usize, q: &[i8], out: &Out<'_>) {
    let name = F::NAME;
    assert!(
        cols.is_multiple_of(TQ_BLOCK_WEIGHTS),
        "{name}: cols = {cols} is not a multiple of {TQ_BLOCK_WEIGHTS}"
    );
    let blocks = rows.checked_mul(cols / TQ_BLOCK_WEIGHTS);
    assert_eq!(
        Some(packed.len()),
        blocks.and_then(|b| b.checked_mul(F::BLOCK_BYTES)),
        "{name}: packed has {} bytes, a {rows}x{cols} matrix needs rows*cols/256 blocks of {} bytes",
        packed.len(),
        F::BLOCK_BYTES
    );
    assert_eq!(
        q.len(),
        cols,
        "{name}: q has {} values, cols = {cols}",
        q.len()
    );
    let (what, want) = match out {
        Out::Gemv(_) => ("out has", rows),
        Out::Sums(_) => ("sums has", rows * (cols / TQ_BLOCK_WEIGHTS)),
    };
    assert_eq!(
        out.len(),
        want,
        "{name}: {what} {} slots, needs {want} for a {rows}x{cols} matrix",
        out.len()
    );
}

/// Checks, then runs the implementation of `level`.
fn run<F: Format>(level: Level, packed: &[u8], rows: usize, cols: usize, q: &[i8], out: Out<'_>) {
    check_shapes::<F>(packed, rows, cols, q, &out);
    assert!(
        level.is_available(),
        "{}: level {level} is not available on this CPU",
        F::NAME
    );
    let blocks = cols / TQ_BLOCK_WEIGHTS;
    if level == Level::Scalar {
        return scalar::<F>(packed, rows, blocks, q, out);
    }
    let prep = kernels::Prepared::new::<F>(q);
    let shape = kernels::Shape { rows, blocks };
    match level {
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => kernels::avx2::<F>(packed, shape, &prep, out),
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => kernels::avx512::<F>(packed, shape, &prep, out),
        #[cfg(target_arch = "x86_64")]
        Level::Avx512Vnni => kernels::avx512_vnni::<F>(packed, shape, &prep, out),
        // Scalar returned above; off x86-64 nothing above Portable is available.
        _ => kernels::portable::<F>(packed, shape, &prep, out),
    }
}

/// The scalar reference driver: one block at a time, combined in row order.
fn scalar<F: Format>(packed: &[u8], rows: usize, blocks: usize, q: &[i8], mut out: Out<'_>) {
    for r in 0..rows {
        let mut acc = 0f32;
        for b in 0..blocks {
            let block = &packed[(r * blocks + b) * F::BLOCK_BYTES..][..F::BLOCK_BYTES];
            let s = F::block_sum_scalar(block, &q[b * TQ_BLOCK_WEIGHTS..][..TQ_BLOCK_WEIGHTS]);
            match &mut out {
                Out::Gemv(_) => acc += scale::<F>(block) * s as f32,
                Out::Sums(sums) => sums[r * blocks + b] = s,
            }
        }
        if let Out::Gemv(o) = &mut out {
            o[r] = acc;
        }
    }
}

use tq1::Tq1;
use tq2::Tq2;

/// Scalar reference for TQ2_0: `out[r] = Σ_b d_{r,b} · Σ_{j∈b} (code_j − 1)·q_j`, one weight at
/// a time (see the [module docs](self) for the layout).
///
/// # Panics
/// If `cols % 256 != 0`, `packed.len() != rows·cols/256·66`, `q.len() != cols` or
/// `out.len() != rows`.
pub fn tq2_gemv_scalar(packed: &[u8], rows: usize, cols: usize, q: &[i8], out: &mut [f32]) {
    run::<Tq2>(Level::Scalar, packed, rows, cols, q, Out::Gemv(out));
}

/// [`tq2_gemv_scalar`] computed by the implementation of `level` (every level agrees with the
/// reference to f32 rounding; see the module docs).
///
/// # Panics
/// As [`tq2_gemv_scalar`], and if this CPU cannot run `level` ([`Level::is_available`]).
pub fn tq2_gemv_at(
    level: Level,
    packed: &[u8],
    rows: usize,
    cols: usize,
    q: &[i8],
    out: &mut [f32],
) {
    run::<Tq2>(level, packed, rows, cols, q, Out::Gemv(out));
}

/// [`tq2_gemv_scalar`] at the best level this CPU runs ([`Level::detect`]).
///
/// # Panics
/// As [`tq2_gemv_scalar`].
pub fn tq2_gemv(packed: &[u8], rows: usize, cols: usize, q: &[i8], out: &mut [f32]) {
    tq2_gemv_at(Level::detect(), packed, rows, cols, q, out);
}

/// The exact integer block sums `sums[r·(cols/256) + b] = S_{r,b} = Σ_{j∈b} (code_j − 1)·q_j`
/// of TQ2_0, computed by the integer core of `level`'s [`tq2_gemv_at`]: bit-identical at
/// every level. For tests and for callers that combine blocks themselves.
///
/// # Panics
/// As [`tq2_gemv_at`], with `sums.len() != rows·cols/256` in place of the `out` check.
pub fn tq2_block_sums_at(
    level: Level,
    packed: &[u8],
    rows: usize,
    cols: usize,
    q: &[i8],
    sums: &mut [i32],
) {
    run::<Tq2>(level, packed, rows, cols, q, Out::Sums(sums));
}

/// Scalar reference for TQ1_0: `out[r] = Σ_b d_{r,b} · Σ_{j∈b} (t_j − 1)·q_j`, one trit at a
/// time (see the [module docs](self) for the layout).
///
/// # Panics
/// If `cols % 256 != 0`, `packed.len() != rows·cols/256·54`, `q.len() != cols` or
/// `out.len() != rows`.
pub fn tq1_gemv_scalar(packed: &[u8], rows: usize, cols: usize, q: &[i8], out: &mut [f32]) {
    run::<Tq1>(Level::Scalar, packed, rows, cols, q, Out::Gemv(out));
}

/// [`tq1_gemv_scalar`] computed by the implementation of `level` (every level agrees with the
/// reference to f32 rounding; see the module docs).
///
/// # Panics
/// As [`tq1_gemv_scalar`], and if this CPU cannot run `level` ([`Level::is_available`]).
pub fn tq1_gemv_at(
    level: Level,
    packed: &[u8],
    rows: usize,
    cols: usize,
    q: &[i8],
    out: &mut [f32],
) {
    run::<Tq1>(level, packed, rows, cols, q, Out::Gemv(out));
}

/// [`tq1_gemv_scalar`] at the best level this CPU runs ([`Level::detect`]).
///
/// # Panics
/// As [`tq1_gemv_scalar`].
pub fn tq1_gemv(packed: &[u8], rows: usize, cols: usize, q: &[i8], out: &mut [f32]) {
    tq1_gemv_at(Level::detect(), packed, rows, cols, q, out);
}

/// The exact integer block sums `sums[r·(cols/256) + b] = S_{r,b} = Σ_{j∈b} (t_j − 1)·q_j` of
/// TQ1_0, computed by the integer core of `level`'s [`tq1_gemv_at`]: bit-identical at every
/// level. For tests and for callers that combine blocks themselves.
///
/// # Panics
/// As [`tq1_gemv_at`], with `sums.len() != rows·cols/256` in place of the `out` check.
pub fn tq1_block_sums_at(
    level: Level,
    packed: &[u8],
    rows: usize,
    cols: usize,
    q: &[i8],
    sums: &mut [i32],
) {
    run::<Tq1>(level, packed, rows, cols, q, Out::Sums(sums));
}
