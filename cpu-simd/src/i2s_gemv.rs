//! Ternary matrix × int8 vector straight from I2_S bytes (spec §1.2, §2).
//!
//! # Layout read here
//! The matrix `W[rows][cols]` is stored row after row, `cols / 4` bytes per
//! row, cut into blocks of 128 weights / 32 bytes (`cols % 128 == 0`, so a
//! block never straddles rows). In a block, byte `j` (0..32) holds
//! weight `j` in bits 7:6, weight `32 + j` in bits 5:4, weight `64 + j` in
//! bits 3:2 and weight `96 + j` in bits 1:0. Codes are `0 = −1, 1 = 0, 2 = +1`.
//!
//! # What is computed
//! `out[r] = raw_r = Σ_k code_{r,k} · q_k` with the codes used as they are
//! (unsigned 0..=2, exactly what `maddubs` / `sdot` want); the caller turns it
//! into `y_r = ((raw_r as f32) − (A as f32)) / s · w_scale` with `A = Σq` from
//! [`crate::quantize_row_i8`]. Keeping the kernel in integers makes every
//! implementation bit-identical, which is what the tests check.
//!
//! # Code 3
//! Code 3 is never written by any quantizer, but a corrupt or hostile file can
//! hold it. The dequantizer maps it to weight 0, i.e. to code 1, and every
//! implementation here does the same, so raw sums always agree with
//! `Σ dequant(w)·q + A`.
//!
//! # Threads
//! The kernels are single-threaded and allocation-free. A caller splits the
//! work by rows: pass `packed[r0 * cols/4 .. r1 * cols/4]` and `out[r0..r1]`.

/// Weights per I2_S block.
pub const I2S_BLOCK_WEIGHTS: usize = 128;
/// Bytes per I2_S block (2 bits per weight).
pub const I2S_BLOCK_BYTES: usize = 32;
/// Largest `cols` for which `raw` cannot overflow i32: each term is at most
/// `2 · 128` in magnitude, so `cols · 256 ≤ i32::MAX`.
pub const MAX_COLS: usize = (i32::MAX as usize) / 256;

/// Maps a 2-bit code to the code the dequantizer implies: 3 → 1 (weight 0),
/// others unchanged. Branch-free so the portable loop vectorises:
/// only 3 has both bits set, and flipping its high bit gives 1.
#[inline(always)]
fn fix_code(c: u8) -> u8 {
    c ^ ((c & (c >> 1)) << 1)
}

/// Validates the shapes every implementation relies on. Violations are caller
/// bugs (the engine validates tensors against the config at load time), so
/// they panic with a message naming the mismatch instead of reading garbage.
pub(crate) fn check_shapes(packed: &[u8], rows: usize, cols: usize, q: &[i8], out: &[i32]) {
    assert!(
        cols.is_multiple_of(I2S_BLOCK_WEIGHTS),
        "i2s_gemv: cols = {cols} is not a multiple of {I2S_BLOCK_WEIGHTS}"
    );
    assert!(
        cols <= MAX_COLS,
        "i2s_gemv: cols = {cols} > {MAX_COLS} could overflow i32"
    );
    assert_eq!(
        Some(packed.len()),
        rows.checked_mul(cols / 4),
        "i2s_gemv: packed has {} bytes, a {rows}x{cols} I2_S matrix needs rows*cols/4 (slice off the scale trailer)",
        packed.len()
    );
    assert_eq!(
        q.len(),
        cols,
        "i2s_gemv: q has {} values, cols = {cols}",
        q.len()
    );
    assert_eq!(
        out.len(),
        rows,
        "i2s_gemv: out has {} slots, rows = {rows}",
        out.len()
    );
}

/// Scalar reference: the layout description above, written as plainly as
/// possible. It is the oracle for the SIMD versions (and compiled for the
/// baseline target, so it says nothing about which CPU runs it).
///
/// # Panics
/// If `cols % 128 != 0`, `cols > MAX_COLS`, `packed.len() != rows·cols/4`,
/// `q.len() != cols` or `out.len() != rows`.
pub fn i2s_gemv_scalar(packed: &[u8], rows: usize, cols: usize, q: &[i8], out: &mut [i32]) {
    check_shapes(packed, rows, cols, q, out);
    if cols == 0 {
        out.fill(0);
        return;
    }
    for (row, o) in packed.chunks_exact(cols / 4).zip(out.iter_mut()) {
        let mut acc = 0i32;
        for (block, qb) in row
            .chunks_exact(I2S_BLOCK_BYTES)
            .zip(q.chunks_exact(I2S_BLOCK_WEIGHTS))
        {
            for (j, &byte) in block.iter().enumerate() {
                for g in 0..4 {
                    let code = fix_code((byte >> (6 - 2 * g)) & 3);
                    acc += i32::from(code) * i32::from(qb[32 * g + j]);
                }
            }
        }
        *o = acc;
    }
}

/// The same loop as the reference, restructured so the compiler can vectorise
/// it, run under the best target features `pulp` detects. This is the SIMD
/// path on NEON and any non-x86 CPU; on x86 it is kept (and tested) as the
/// fallback shape of the code, but [`i2s_gemv`] uses explicit intrinsics.
///
/// # Panics
/// As [`i2s_gemv_scalar`].
pub fn i2s_gemv_portable(packed: &[u8], rows: usize, cols: usize, q: &[i8], out: &mut [i32]) {
    check_shapes(packed, rows, cols, q, out);
    pulp::Arch::new().dispatch(Portable {
        packed,
        cols,
        q,
        out,
    });
}

struct Portable<'a> {
    packed: &'a [u8],
    cols: usize,
    q: &'a [i8],
    out: &'a mut [i32],
}

impl pulp::WithSimd for Portable<'_> {
    type Output = ();

    // inline(always) so the body is compiled inside pulp's
    // #[target_feature] wrapper and gets its instruction set.
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Self {
            packed,
            cols,
            q,
            out,
        } = self;
        if cols == 0 {
            out.fill(0);
            return;
        }
        let (qblocks, _) = q.as_chunks::<I2S_BLOCK_WEIGHTS>();
        for (row, o) in packed.chunks_exact(cols / 4).zip(out.iter_mut()) {
            let (blocks, _) = row.as_chunks::<I2S_BLOCK_BYTES>();
            // Lane-wise i32 partial sums over j; fixed-size arrays let LLVM
            // keep them in vector registers across blocks.
            let mut acc = [0i32; I2S_BLOCK_BYTES];
            for (block, qb) in blocks.iter().zip(qblocks) {
                for j in 0..I2S_BLOCK_BYTES {
                    let b = block[j];
                    acc[j] += i32::from(fix_code(b >> 6)) * i32::from(qb[j])
                        + i32::from(fix_code((b >> 4) & 3)) * i32::from(qb[32 + j])
                        + i32::from(fix_code((b >> 2) & 3)) * i32::from(qb[64 + j])
                        + i32::from(fix_code(b & 3)) * i32::from(qb[96 + j]);
                }
            }
            *o = acc.iter().sum();
        }
    }
}

/// `out[r] = Σ_k code_{r,k} · q_k` over I2_S bytes, with the fastest kernel
/// this CPU supports, chosen at run time: AVX-512BW or AVX2 intrinsics on
/// x86-64, the vectorised portable loop elsewhere (NEON on aarch64), scalar
/// when nothing better exists. All of them return exactly what
/// [`i2s_gemv_scalar`] returns. [`simd_level`] names the choice.
///
/// # Panics
/// As [`i2s_gemv_scalar`].
pub fn i2s_gemv(packed: &[u8], rows: usize, cols: usize, q: &[i8], out: &mut [i32]) {
    check_shapes(packed, rows, cols, q, out);
    #[cfg(target_arch = "x86_64")]
    if x86::has_vnni() {
        x86::avx512_vnni(packed, cols, q, out);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    match pulp::Arch::new() {
        pulp::Arch::V4(simd) => pulp::Simd::vectorize(
            simd,
            x86::Avx512 {
                simd,
                packed,
                cols,
                q,
                out,
            },
        ),
        pulp::Arch::V3(simd) => pulp::Simd::vectorize(
            simd,
            x86::Avx2 {
                simd,
                packed,
                cols,
                q,
                out,
            },
        ),
        _ => i2s_gemv_scalar(packed, rows, cols, q, out),
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = rows; // implied by out.len(), checked above
        pulp::Arch::new().dispatch(Portable {
            packed,
            cols,
            q,
            out,
        });
    }
}

/// [`i2s_gemv`] at a forced level (tests and benches run each level the CPU has): scalar,
/// the portable loop, AVX2, AVX-512BW or AVX-512 VNNI. On other architectures every level
/// above scalar runs the portable loop.
///
/// # Panics
/// As [`i2s_gemv_scalar`], or if the CPU cannot run `level`.
pub fn i2s_gemv_at(
    level: crate::Level,
    packed: &[u8],
    rows: usize,
    cols: usize,
    q: &[i8],
    out: &mut [i32],
) {
    use crate::Level;
    assert!(level.is_available(), "this CPU cannot run {level}");
    match level {
        Level::Scalar => i2s_gemv_scalar(packed, rows, cols, q, out),
        #[cfg(target_arch = "x86_64")]
        Level::Avx512Vnni => {
            check_shapes(packed, rows, cols, q, out);
            x86::avx512_vnni(packed, cols, q, out);
        }
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => {
            check_shapes(packed, rows, cols, q, out);
            if let Some(simd) = pulp::x86::V4::try_new() {
                pulp::Simd::vectorize(
                    simd,
                    x86::Avx512 {
                        simd,
                        packed,
                        cols,
                        q,
                        out,
                    },
                );
            }
        }
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => {
            check_shapes(packed, rows, cols, q, out);
            if let Some(simd) = pulp::x86::V3::try_new() {
                pulp::Simd::vectorize(
                    simd,
                    x86::Avx2 {
                        simd,
                        packed,
                        cols,
                        q,
                        out,
                    },
                );
            }
        }
        _ => i2s_gemv_portable(packed, rows, cols, q, out),
    }
}

/// Whether this CPU has AVX-512 VNNI (with the F and BW subsets the VNNI kernels also use).
#[cfg(target_arch = "x86_64")]
pub fn has_avx512_vnni() -> bool {
    x86::has_vnni()
}

/// Names the instruction set [`i2s_gemv`] uses on this CPU (for logs, the
/// `devices` table and bench reports).
pub fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    let level = match pulp::Arch::new() {
        pulp::Arch::V4(_) if x86::has_vnni() => "avx512-vnni (x86-64-v4)",
        pulp::Arch::V4(_) => "avx512 (x86-64-v4)",
        pulp::Arch::V3(_) => "avx2 (x86-64-v3)",
        _ => "scalar",
    };
    #[cfg(target_arch = "aarch64")]
    let level = match pulp::Arch::new() {
        pulp::Arch::Neon(_) => "neon",
        _ => "scalar",
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let level = "portable";
    level
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! Explicit x86 kernels. Both do, per block, what the reference does per
    //! byte: extract the 2-bit codes with a shift and mask, map 3 → 1 with a
    //! 16-entry byte table (`pshufb`), multiply unsigned codes by signed q and
    //! add pairs into i16 (`maddubs`; |2·128·2| = 512 cannot saturate), then
    //! widen pairs into i32 (`madd` with ones). Vectors are built from arrays
    //! with `bytemuck::cast`, which compiles to unaligned loads, so there is
    //! no `unsafe` here.
    use super::{I2S_BLOCK_BYTES, I2S_BLOCK_WEIGHTS};
    use core::arch::x86_64::{__m256i, __m512i};
    use pulp::bytemuck::cast;
    use pulp::x86::{V3, V4};

    /// Byte table for `pshufb`, repeated in each 128-bit lane: code → fixed code.
    const FIX_LUT: [u8; 16] = [0, 1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    /// AVX-512BW kernel.
    pub(super) struct Avx512<'a> {
        pub simd: V4,
        pub packed: &'a [u8],
        pub cols: usize,
        pub q: &'a [i8],
        pub out: &'a mut [i32],
    }

    impl pulp::WithSimd for Avx512<'_> {
        type Output = ();

        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) {
            let Self {
                simd,
                packed,
                cols,
                q,
                out,
            } = self;
            if cols == 0 {
                out.fill(0);
                return;
            }
            let (f, bw) = (simd.avx512f, simd.avx512bw);
            let lut: __m512i = cast([FIX_LUT; 4]);
            let mask = f._mm512_set1_epi8(3);
            let ones = f._mm512_set1_epi16(1);
            // One 32-byte block is broadcast into both 256-bit halves of a
            // register; shifting the halves by different amounts yields the
            // codes of 64 consecutive weights, which pair with 64 consecutive
            // q bytes. So no shuffling of q is needed.
            let mut sh = [0u16; 32];
            sh[..16].fill(6);
            sh[16..].fill(4);
            let shift_lo: __m512i = cast(sh); // weights 0..64
            sh[..16].fill(2);
            sh[16..].fill(0);
            let shift_hi: __m512i = cast(sh); // weights 64..128
            let (qblocks, _) = q.as_chunks::<I2S_BLOCK_WEIGHTS>();
            for (row, o) in packed.chunks_exact(cols / 4).zip(out.iter_mut()) {
                let (blocks, _) = row.as_chunks::<I2S_BLOCK_BYTES>();
                let mut acc = f._mm512_setzero_si512();
                for (block, qb) in blocks.iter().zip(qblocks) {
                    let b = f._mm512_broadcast_i64x4(cast::<_, __m256i>(*block));
                    let [q_lo, q_hi]: [__m512i; 2] = cast(*qb);
                    let c_lo = bw._mm512_shuffle_epi8(
                        lut,
                        f._mm512_and_si512(bw._mm512_srlv_epi16(b, shift_lo), mask),
                    );
                    let c_hi = bw._mm512_shuffle_epi8(
                        lut,
                        f._mm512_and_si512(bw._mm512_srlv_epi16(b, shift_hi), mask),
                    );
                    let s16 = bw._mm512_add_epi16(
                        bw._mm512_maddubs_epi16(c_lo, q_lo),
                        bw._mm512_maddubs_epi16(c_hi, q_hi),
                    );
                    acc = f._mm512_add_epi32(acc, bw._mm512_madd_epi16(s16, ones));
                }
                *o = f._mm512_reduce_add_epi32(acc);
            }
        }
    }

    /// AVX2 kernel: one 32-byte block per register, four shifts per block.
    pub(super) struct Avx2<'a> {
        pub simd: V3,
        pub packed: &'a [u8],
        pub cols: usize,
        pub q: &'a [i8],
        pub out: &'a mut [i32],
    }

    impl pulp::WithSimd for Avx2<'_> {
        type Output = ();

        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) {
            let Self {
                simd,
                packed,
                cols,
                q,
                out,
            } = self;
            if cols == 0 {
                out.fill(0);
                return;
            }
            let (a, a2) = (simd.avx, simd.avx2);
            let lut: __m256i = cast([FIX_LUT; 2]);
            let mask = a._mm256_set1_epi8(3);
            let ones = a._mm256_set1_epi16(1);
            let (qblocks, _) = q.as_chunks::<I2S_BLOCK_WEIGHTS>();
            for (row, o) in packed.chunks_exact(cols / 4).zip(out.iter_mut()) {
                let (blocks, _) = row.as_chunks::<I2S_BLOCK_BYTES>();
                let mut acc = a._mm256_setzero_si256();
                for (block, qb) in blocks.iter().zip(qblocks) {
                    let b: __m256i = cast(*block);
                    let [q0, q1, q2, q3]: [__m256i; 4] = cast(*qb);
                    let code =
                        |v: __m256i| a2._mm256_shuffle_epi8(lut, a2._mm256_and_si256(v, mask));
                    let p0 = a2._mm256_maddubs_epi16(code(a2._mm256_srli_epi16::<6>(b)), q0);
                    let p1 = a2._mm256_maddubs_epi16(code(a2._mm256_srli_epi16::<4>(b)), q1);
                    let p2 = a2._mm256_maddubs_epi16(code(a2._mm256_srli_epi16::<2>(b)), q2);
                    let p3 = a2._mm256_maddubs_epi16(code(b), q3);
                    // Four i16 lanes of at most |2·2·128| each: |sum| ≤ 2048.
                    let s16 = a2
                        ._mm256_add_epi16(a2._mm256_add_epi16(p0, p1), a2._mm256_add_epi16(p2, p3));
                    acc = a2._mm256_add_epi32(acc, a2._mm256_madd_epi16(s16, ones));
                }
                let lanes: [i32; 8] = cast(acc);
                *o = lanes.iter().sum();
            }
        }
    }

    /// Whether the CPU has AVX-512 VNNI (with the F and BW subsets the kernel also uses).
    /// std caches the CPUID answers, so this is an atomic load after the first call.
    pub(super) fn has_vnni() -> bool {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni")
    }

    /// The AVX-512 kernel with VNNI: `vpdpbusd` multiplies the unsigned codes by the signed
    /// activations and adds groups of four straight into i32 lanes, replacing
    /// `maddubs` + `madd`. Call only when [`has_vnni`] is true.
    pub(super) fn avx512_vnni(packed: &[u8], cols: usize, q: &[i8], out: &mut [i32]) {
        assert!(has_vnni(), "avx512_vnni needs AVX-512 F, BW and VNNI");
        // SAFETY: the features the function is compiled for were detected just above.
        unsafe { vnni_kernel(packed, cols, q, out) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn vnni_kernel(packed: &[u8], cols: usize, q: &[i8], out: &mut [i32]) {
        use core::arch::x86_64::*;
        if cols == 0 {
            out.fill(0);
            return;
        }
        let lut: __m512i = cast([FIX_LUT; 4]);
        let mask = _mm512_set1_epi8(3);
        let mut sh = [0u16; 32];
        sh[..16].fill(6);
        sh[16..].fill(4);
        let shift_lo: __m512i = cast(sh);
        sh[..16].fill(2);
        sh[16..].fill(0);
        let shift_hi: __m512i = cast(sh);
        let (qblocks, _) = q.as_chunks::<I2S_BLOCK_WEIGHTS>();
        // Four independent accumulators (two blocks × low/high halves): `vpdpbusd` has a
        // latency of several cycles, and one chain would stall on it.
        let codes = |block: &[u8; I2S_BLOCK_BYTES]| {
            let b = _mm512_broadcast_i64x4(cast::<_, __m256i>(*block));
            (
                _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srlv_epi16(b, shift_lo), mask)),
                _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srlv_epi16(b, shift_hi), mask)),
            )
        };
        for (row, o) in packed.chunks_exact(cols / 4).zip(out.iter_mut()) {
            let (blocks, _) = row.as_chunks::<I2S_BLOCK_BYTES>();
            let mut acc = [_mm512_setzero_si512(); 4];
            let (pairs, rest) = blocks.as_chunks::<2>();
            let (qpairs, qrest) = qblocks.as_chunks::<2>();
            for (bp, qp) in pairs.iter().zip(qpairs) {
                for i in 0..2 {
                    let (c_lo, c_hi) = codes(&bp[i]);
                    let [q_lo, q_hi]: [__m512i; 2] = cast(qp[i]);
                    acc[2 * i] = _mm512_dpbusd_epi32(acc[2 * i], c_lo, q_lo);
                    acc[2 * i + 1] = _mm512_dpbusd_epi32(acc[2 * i + 1], c_hi, q_hi);
                }
            }
            for (block, qb) in rest.iter().zip(qrest) {
                let (c_lo, c_hi) = codes(block);
                let [q_lo, q_hi]: [__m512i; 2] = cast(*qb);
                acc[0] = _mm512_dpbusd_epi32(acc[0], c_lo, q_lo);
                acc[1] = _mm512_dpbusd_epi32(acc[1], c_hi, q_hi);
            }
            let sum = _mm512_add_epi32(
                _mm512_add_epi32(acc[0], acc[1]),
                _mm512_add_epi32(acc[2], acc[3]),
            );
            *o = _mm512_reduce_add_epi32(sum);
        }
    }

    /// Runs the AVX-512BW kernel (without VNNI) even where VNNI exists, so the tests cover
    /// it. `None` when the CPU lacks AVX-512.
    #[cfg(test)]
    pub(super) fn avx512_for_tests(
        packed: &[u8],
        cols: usize,
        q: &[i8],
        out: &mut [i32],
    ) -> Option<()> {
        let simd = V4::try_new()?;
        pulp::Simd::vectorize(
            simd,
            Avx512 {
                simd,
                packed,
                cols,
                q,
                out,
            },
        );
        Some(())
    }

    /// Runs the AVX2 kernel even on an AVX-512 machine, so the tests cover
    /// both x86 paths wherever they run. `None` when the CPU lacks AVX2.
    #[cfg(test)]
    pub(super) fn avx2_for_tests(
        packed: &[u8],
        cols: usize,
        q: &[i8],
        out: &mut [i32],
    ) -> Option<()> {
        let simd = V3::try_new()?;
        pulp::Simd::vectorize(
            simd,
            Avx2 {
                simd,
                packed,
                cols,
                q,
                out,
            },
        );
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Packs codes (row-major, `rows × cols`, values 0..=3) into I2_S bytes;
    /// written independently of the kernels, from the spec's bit table.
    fn pack(codes: &[u8], rows: usize, cols: usize) -> Vec<u8> {
        let mut out = vec![0u8; rows * cols / 4];
        for r in 0..rows {
            for k in 0..cols {
                let (blk, i) = (k / 128, k % 128);
                let byte = r * cols / 4 + blk * 32 + i % 32;
                out[byte] |= codes[r * cols + k] << (6 - 2 * (i / 32));
            }
        }
        out
    }

    /// Dot product over dequantised weights (w = code − 1, code 3 → weight 0),
    /// plus Σq: the identity `raw = Σ w·q + A` ties the kernel to the spec's
    /// formula rather than to itself.
    fn via_dequant(codes: &[u8], rows: usize, cols: usize, q: &[i8]) -> Vec<i32> {
        let a: i32 = q.iter().map(|&v| i32::from(v)).sum();
        (0..rows)
            .map(|r| {
                let dot: i32 = (0..cols)
                    .map(|k| {
                        let w = match codes[r * cols + k] {
                            0 => -1,
                            2 => 1,
                            _ => 0,
                        };
                        w * i32::from(q[k])
                    })
                    .sum();
                dot + a
            })
            .collect()
    }

    /// Runs every implementation and checks they agree exactly.
    fn all_agree(packed: &[u8], rows: usize, cols: usize, q: &[i8]) -> Vec<i32> {
        let mut reference = vec![0i32; rows];
        i2s_gemv_scalar(packed, rows, cols, q, &mut reference);
        let mut got = vec![i32::MIN; rows];
        i2s_gemv(packed, rows, cols, q, &mut got);
        assert_eq!(got, reference, "dispatched ({}) vs scalar", simd_level());
        got.fill(i32::MIN);
        i2s_gemv_portable(packed, rows, cols, q, &mut got);
        assert_eq!(got, reference, "portable vs scalar");
        #[cfg(target_arch = "x86_64")]
        {
            got.fill(i32::MIN);
            if x86::avx2_for_tests(packed, cols, q, &mut got).is_some() {
                assert_eq!(got, reference, "avx2 vs scalar");
            }
            got.fill(i32::MIN);
            if x86::avx512_for_tests(packed, cols, q, &mut got).is_some() {
                assert_eq!(got, reference, "avx512bw vs scalar");
            }
            if x86::has_vnni() {
                got.fill(i32::MIN);
                x86::avx512_vnni(packed, cols, q, &mut got);
                assert_eq!(got, reference, "avx512-vnni vs scalar");
            }
        }
        reference
    }

    #[test]
    fn known_answer_one_block() {
        // Byte 0 = 0b10_01_00_11: weight 0 code 2 (+1), weight 32 code 1 (0),
        // weight 64 code 0 (−1), weight 96 code 3 (→ 0).
        // Byte 5 = 0b00_10_10_00: weight 5 −1, weight 37 +1, weight 69 +1,
        // weight 101 −1. All other bytes 0x55 (every weight 0).
        let mut block = [0x55u8; 32];
        block[0] = 0b10_01_00_11;
        block[5] = 0b00_10_10_00;
        let mut q = [0i8; 128];
        for (k, v) in q.iter_mut().enumerate() {
            *v = (k as i8).wrapping_mul(3);
        }
        // Σ code·q = Σ_{all k} 1·q_k (code 1 everywhere) adjusted at the
        // seven positions that differ from code 1.
        let base: i32 = q.iter().map(|&v| i32::from(v)).sum();
        let q_at = |k: usize| i32::from(q[k]);
        let expect = base + q_at(0) - q_at(64) - q_at(5) + q_at(37) + q_at(69) - q_at(101);
        let got = all_agree(&block, 1, 128, &q);
        assert_eq!(got, [expect]);
        // Spelled out: q = 3k mod 256 as i8 → q0 = 0, q64 = −64, q5 = 15,
        // q37 = 111, q69 = −49, q101 = 47; base = Σ q = 2624.
        assert_eq!(base, 2624);
        assert_eq!(expect, 2624 + 64 - 15 + 111 - 49 - 47);
        assert_eq!(got, [2688]);
    }

    #[test]
    fn known_answer_rows_and_blocks() {
        // Row 0: all +1 (code 2, raw = 2A); row 1: all −1 (code 0, raw = 0);
        // row 2: all 0 (code 1, raw = A); over two blocks.
        let cols = 256;
        let mut codes = vec![2u8; cols];
        codes.extend(std::iter::repeat_n(0u8, cols));
        codes.extend(std::iter::repeat_n(1u8, cols));
        let q: Vec<i8> = (0..cols).map(|k| (k % 7) as i8 - 3).collect();
        let a: i32 = q.iter().map(|&v| i32::from(v)).sum();
        let got = all_agree(&pack(&codes, 3, cols), 3, cols, &q);
        assert_eq!(got, [2 * a, 0, a]);
    }

    #[test]
    fn extreme_inputs() {
        for cols in [128, 2560, 6912] {
            let rows = 5;
            let plus = vec![2u8; rows * cols];
            let minus = vec![0u8; rows * cols];
            for qv in [-128i8, 127, 0] {
                let q = vec![qv; cols];
                let c = cols as i32;
                let qi = i32::from(qv);
                assert_eq!(
                    all_agree(&pack(&plus, rows, cols), rows, cols, &q),
                    vec![2 * c * qi; rows]
                );
                assert_eq!(
                    all_agree(&pack(&minus, rows, cols), rows, cols, &q),
                    vec![0; rows]
                );
            }
        }
    }

    #[test]
    fn all_code_3_reads_as_zero_weight() {
        let (rows, cols) = (2, 384);
        let packed = vec![0xffu8; rows * cols / 4];
        let q: Vec<i8> = (0..cols)
            .map(|k| (k as i32 - 200).clamp(-128, 127) as i8)
            .collect();
        let a: i32 = q.iter().map(|&v| i32::from(v)).sum();
        assert_eq!(all_agree(&packed, rows, cols, &q), vec![a; rows]);
    }

    #[test]
    fn empty_shapes() {
        let mut out = [7i32; 3];
        i2s_gemv(&[], 3, 0, &[], &mut out);
        assert_eq!(out, [0; 3]);
        i2s_gemv(&[], 0, 256, &[0; 256], &mut []);
    }

    #[test]
    #[should_panic(expected = "not a multiple of 128")]
    fn ragged_cols_panic() {
        i2s_gemv(&[0; 16], 1, 64, &[0; 64], &mut [0]);
    }

    #[test]
    #[should_panic(expected = "scale trailer")]
    fn packed_with_trailer_panics() {
        i2s_gemv(&[0; 64], 1, 128, &[0; 128], &mut [0]);
    }

    fn shape_and_codes() -> impl Strategy<Value = (usize, usize, Vec<u8>)> {
        (1usize..=19, 1usize..=10).prop_flat_map(|(rows, blocks)| {
            let cols = blocks * 128;
            (
                Just(rows),
                Just(cols),
                prop::collection::vec(0u8..=3, rows * cols),
            )
        })
    }

    fn q_for(cols: usize) -> impl Strategy<Value = Vec<i8>> {
        prop_oneof![
            prop::collection::vec(any::<i8>(), cols),
            Just(vec![-128i8; cols]),
            Just(vec![127i8; cols]),
            Just(vec![0i8; cols]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn simd_equals_scalar_and_dequant(
            (rows, cols, codes, q) in shape_and_codes()
                .prop_flat_map(|(r, c, codes)| (Just(r), Just(c), Just(codes), q_for(c)))
        ) {
            let packed = pack(&codes, rows, cols);
            let got = all_agree(&packed, rows, cols, &q);
            prop_assert_eq!(got, via_dequant(&codes, rows, cols, &q));
        }

        #[test]
        fn raw_bytes_any_pattern(
            (rows, blocks) in (1usize..=9, 1usize..=12),
            seed in any::<u64>(),
        ) {
            // Arbitrary bytes (code 3 included at ~25%), quick xorshift fill.
            let cols = blocks * 128;
            let mut s = seed | 1;
            let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
            let packed: Vec<u8> = (0..rows * cols / 4).map(|_| next() as u8).collect();
            let q: Vec<i8> = (0..cols).map(|_| next() as i8).collect();
            all_agree(&packed, rows, cols, &q);
        }
    }
}
