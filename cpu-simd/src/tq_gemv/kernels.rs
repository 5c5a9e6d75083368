//! The levels above Scalar, shared by both formats through [`Format`].

use super::{Format, LANES, Out, PLANE, TQ_BLOCK_WEIGHTS, scale};
use core::marker::PhantomData;

/// Rows of the matrix and blocks per row.
#[derive(Clone, Copy)]
pub(super) struct Shape {
    pub rows: usize,
    pub blocks: usize,
}

/// `q` rearranged once per call into the order the codes come out of a block's planes.
pub(super) struct Prepared {
    /// Per block, `F::PLANES` planes: plane `n` holds `q` at the weights of `F::runs(n)`, and
    /// 0 where it holds padding (so padding codes, whatever they are, add nothing).
    planes: Vec<[i8; PLANE]>,
    /// Per block, minus the q-sum of each i32 lane of the 512-bit kernels: lane `i` covers
    /// bytes `4i..4i+4` of every plane, which is exactly what `madd(maddubs)` and `vpdpbusd`
    /// add into it. Starting a lane there turns `Σ code·q` into `Σ (code − 1)·q`.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    neg: Vec<[i32; LANES]>,
}

impl Prepared {
    pub(super) fn new<F: Format>(q: &[i8]) -> Self {
        let blocks = q.len() / TQ_BLOCK_WEIGHTS;
        let mut planes = Vec::with_capacity(blocks * F::PLANES);
        let mut neg = Vec::with_capacity(blocks);
        for qb in q.chunks_exact(TQ_BLOCK_WEIGHTS) {
            let mut lanes = [0i32; LANES];
            for n in 0..F::PLANES {
                let mut plane = [0i8; PLANE];
                for r in F::runs(n) {
                    plane[r.at..][..r.len].copy_from_slice(&qb[r.from..][..r.len]);
                }
                for (lane, quad) in lanes.iter_mut().zip(plane.as_chunks::<4>().0) {
                    *lane -= quad.iter().map(|&v| i32::from(v)).sum::<i32>();
                }
                planes.push(plane);
            }
            debug_assert_eq!(
                -lanes.iter().sum::<i32>(),
                qb.iter().map(|&v| i32::from(v)).sum::<i32>(),
                "a weight missing from the planes"
            );
            neg.push(lanes);
        }
        Self { planes, neg }
    }

    /// Block `b`'s planes (a constant count, so the loops over them unroll).
    #[inline(always)]
    fn planes<F: Format>(&self, b: usize) -> &[[i8; PLANE]] {
        &self.planes[b * F::PLANES..][..F::PLANES]
    }
}

/// The 64 bytes from `off`: a block's code bytes (then, for TQ1_0, its scale and the next
/// block's first bytes, which meet zeros in the planes). Past the end of the matrix, padded.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn window(packed: &[u8], off: usize) -> [u8; PLANE] {
    match packed.get(off..).and_then(<[u8]>::first_chunk::<PLANE>) {
        Some(w) => *w,
        None => padded(&packed[off..]),
    }
}

#[cfg(target_arch = "x86_64")]
#[cold]
fn padded(tail: &[u8]) -> [u8; PLANE] {
    let mut w = [0u8; PLANE];
    w[..tail.len()].copy_from_slice(tail);
    w
}

/// The raw f16 bits of the scale of the block at `off`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn scale_bits<F: Format>(packed: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([
        packed[off + F::BLOCK_BYTES - 2],
        packed[off + F::BLOCK_BYTES - 1],
    ])
}

/// Runs the portable level under pulp's best target features.
pub(super) fn portable<F: Format>(packed: &[u8], shape: Shape, prep: &Prepared, out: Out<'_>) {
    pulp::Arch::new().dispatch(Portable::<F> {
        packed,
        shape,
        prep,
        out,
        format: PhantomData,
    });
}

struct Portable<'a, F> {
    packed: &'a [u8],
    shape: Shape,
    prep: &'a Prepared,
    out: Out<'a>,
    format: PhantomData<F>,
}

impl<F: Format> pulp::WithSimd for Portable<'_, F> {
    type Output = ();

    // inline(always) so the body is compiled inside pulp's #[target_feature] wrapper.
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Self {
            packed,
            shape: Shape { rows, blocks },
            prep,
            mut out,
            ..
        } = self;
        for r in 0..rows {
            // One f32 accumulator per byte position, reduced once per row: LLVM keeps a
            // per-block horizontal sum scalar, which cost more than all the decoding.
            let mut acc = [0f32; PLANE];
            for b in 0..blocks {
                let block = &packed[(r * blocks + b) * F::BLOCK_BYTES..][..F::BLOCK_BYTES];
                // A fixed 64-byte window, as the SIMD levels see it (bytes past the codes meet
                // zeros in the planes), so every loop below has one constant length.
                let mut window = [0u8; PLANE];
                let used = F::BLOCK_BYTES.min(PLANE);
                window[..used].copy_from_slice(&block[..used]);
                // Lane p: Σ over planes of w·q at byte position p, exact in i16 (at most
                // 5 planes · 2 · 128 in magnitude). Planes innermost, so the lanes stay in
                // registers. No unsigned-code trick needed here: w = code − 1 directly.
                let planes = prep.planes::<F>(b);
                let mut lanes = [0i16; PLANE];
                for (p, l) in lanes.iter_mut().enumerate() {
                    for (n, plane) in planes.iter().enumerate() {
                        let w = i16::from(F::code(window[p], n)) - 1;
                        *l += w * i16::from(plane[p]);
                    }
                }
                match &mut out {
                    Out::Gemv(_) => {
                        let d = scale::<F>(block);
                        for (a, &l) in acc.iter_mut().zip(&lanes) {
                            *a += d * f32::from(l);
                        }
                    }
                    Out::Sums(sums) => {
                        sums[r * blocks + b] = lanes.iter().map(|&l| i32::from(l)).sum();
                    }
                }
            }
            if let Out::Gemv(o) = &mut out {
                o[r] = acc.iter().sum();
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use x86::{avx2, avx512, avx512_vnni};

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! Explicit x86 kernels. The AVX2 and AVX-512 levels use pulp's V3 / V4 tokens, so the
    //! only `unsafe` is the call into the VNNI kernel, a `#[target_feature]` fn entered after
    //! detection. No closures in the pulp levels: a closure is compiled without the target
    //! features of the pulp wrapper it is called from, and LLVM may then leave every
    //! intrinsic in it as a call. The VNNI kernel's closure is defined inside the
    //! `#[target_feature]` fn and inherits its features.
    use super::{Format, LANES, Out, PLANE, Prepared, Shape, scale_bits, window};
    use core::arch::x86_64::{__m256i, __m512, __m512i};
    use core::marker::PhantomData;
    use half::f16;
    use half::slice::HalfFloatSliceExt;
    use pulp::bytemuck::cast;
    use pulp::x86::{V3, V4};

    /// AVX2 level. Panics if the CPU lacks x86-64-v3 (the caller checked).
    pub(in super::super) fn avx2<F: Format>(
        packed: &[u8],
        shape: Shape,
        prep: &Prepared,
        out: Out<'_>,
    ) {
        let simd = V3::try_new().expect("avx2 level on a CPU without x86-64-v3");
        pulp::Simd::vectorize(
            simd,
            Avx2::<F> {
                simd,
                packed,
                blocks: shape.blocks,
                prep,
                out,
                format: PhantomData,
            },
        );
    }

    struct Avx2<'a, F> {
        simd: V3,
        packed: &'a [u8],
        blocks: usize,
        prep: &'a Prepared,
        out: Out<'a>,
        format: PhantomData<F>,
    }

    /// The 8 exact i32 lanes of block `b` (64-byte window `x`): the window's two 32-byte
    /// halves meet the two halves of each plane, so lane i holds what lanes i and 8 + i of
    /// the 512-bit kernels hold, and starts at the sum of their `neg`.
    #[inline(always)]
    fn lanes_v3<F: Format>(simd: V3, prep: &Prepared, b: usize, x: [u8; PLANE]) -> __m256i {
        let (a, a2) = (simd.avx, simd.avx2);
        let [x0, x1]: [__m256i; 2] = cast(x);
        let (c0, c1) = (F::planes_v3(simd, x0), F::planes_v3(simd, x1));
        // i16 sums: ≤ 2 halves · 5 planes · 2 · 3 · 128 = 7680 in magnitude.
        let mut s16 = a._mm256_setzero_si256();
        for (n, plane) in prep.planes::<F>(b).iter().enumerate() {
            let [q0, q1]: [__m256i; 2] = cast(*plane);
            s16 = a2._mm256_add_epi16(
                s16,
                a2._mm256_add_epi16(
                    a2._mm256_maddubs_epi16(c0[n], q0),
                    a2._mm256_maddubs_epi16(c1[n], q1),
                ),
            );
        }
        let [n0, n1]: [__m256i; 2] = cast(prep.neg[b]);
        a2._mm256_add_epi32(
            a2._mm256_madd_epi16(s16, a._mm256_set1_epi16(1)),
            a2._mm256_add_epi32(n0, n1),
        )
    }

    impl<F: Format> pulp::WithSimd for Avx2<'_, F> {
        type Output = ();

        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) {
            let Self {
                simd,
                packed,
                blocks,
                prep,
                out,
                ..
            } = self;
            let bb = F::BLOCK_BYTES;
            match out {
                Out::Gemv(o) => {
                    // x86-64-v3 has F16C, but pulp's V3 does not expose it: convert each
                    // row's scales in one slice call (which uses F16C), not one per block.
                    let mut dh = vec![f16::ZERO; blocks];
                    let mut df = vec![0f32; blocks];
                    let a = simd.avx;
                    for (r, o) in o.iter_mut().enumerate() {
                        let row = r * blocks * bb;
                        for (b, d) in dh.iter_mut().enumerate() {
                            *d = f16::from_bits(scale_bits::<F>(packed, row + b * bb));
                        }
                        dh.convert_to_f32_slice(&mut df);
                        let mut acc = a._mm256_setzero_ps();
                        for (b, &d) in df.iter().enumerate() {
                            let l = lanes_v3::<F>(simd, prep, b, window(packed, row + b * bb));
                            acc = simd.fma._mm256_fmadd_ps(
                                a._mm256_cvtepi32_ps(l),
                                a._mm256_set1_ps(d),
                                acc,
                            );
                        }
                        let v: [f32; 8] = cast(acc);
                        *o = v.iter().sum();
                    }
                }
                Out::Sums(sums) => {
                    for (i, s) in sums.iter_mut().enumerate() {
                        let l = lanes_v3::<F>(simd, prep, i % blocks, window(packed, i * bb));
                        let v: [i32; 8] = cast(l);
                        *s = v.iter().sum();
                    }
                }
            }
        }
    }

    /// How a 512-bit level turns block `b`'s 64-byte window into its 16 exact i32 lanes.
    trait Lanes512 {
        fn lanes(&self, b: usize, x: __m512i) -> __m512i;
    }

    /// The AVX-512 (no VNNI) lanes: `maddubs` into i16, `madd` into i32.
    struct Madd<'a, F> {
        simd: V4,
        prep: &'a Prepared,
        format: PhantomData<F>,
    }

    impl<F: Format> Lanes512 for Madd<'_, F> {
        #[inline(always)]
        fn lanes(&self, b: usize, x: __m512i) -> __m512i {
            let (f, bw) = (self.simd.avx512f, self.simd.avx512bw);
            let c = F::planes_v4(self.simd, x);
            // i16 sums: ≤ 5 planes · 2 · 3 · 128 = 3840 in magnitude.
            let mut s16 = f._mm512_setzero_si512();
            for (n, plane) in self.prep.planes::<F>(b).iter().enumerate() {
                s16 = bw._mm512_add_epi16(s16, bw._mm512_maddubs_epi16(c[n], cast(*plane)));
            }
            let neg: __m512i = cast(self.prep.neg[b]);
            f._mm512_add_epi32(bw._mm512_madd_epi16(s16, f._mm512_set1_epi16(1)), neg)
        }
    }

    /// Lanes computed by a closure (the VNNI kernel's).
    struct FnLanes<C>(C);

    impl<C: Fn(usize, __m512i) -> __m512i> Lanes512 for FnLanes<C> {
        #[inline(always)]
        fn lanes(&self, b: usize, x: __m512i) -> __m512i {
            (self.0)(b, x)
        }
    }

    /// The row loop of the 512-bit levels: scales each block's lanes by its `d` and sums
    /// them per row, or reduces them to the block sums.
    #[inline(always)]
    fn rows_v4<F: Format, L: Lanes512>(
        simd: V4,
        packed: &[u8],
        blocks: usize,
        out: Out<'_>,
        l: &L,
    ) {
        let f = simd.avx512f;
        let bb = F::BLOCK_BYTES;
        match out {
            Out::Gemv(o) => {
                for (r, o) in o.iter_mut().enumerate() {
                    let row = r * blocks * bb;
                    // Two accumulators, swapped every block, so consecutive blocks' FMAs do
                    // not wait on each other (and the lanes are computed at one call site).
                    let (mut acc, mut other) = (f._mm512_setzero_ps(), f._mm512_setzero_ps());
                    for b in 0..blocks {
                        let off = row + b * bb;
                        let lanes = l.lanes(b, cast(window(packed, off)));
                        let bits = scale_bits::<F>(packed, off);
                        let d = f._mm512_cvtph_ps(simd.avx._mm256_set1_epi16(bits as i16));
                        let next = f._mm512_fmadd_ps(f._mm512_cvtepi32_ps(lanes), d, acc);
                        acc = other;
                        other = next;
                    }
                    let sum: __m512 = f._mm512_add_ps(acc, other);
                    *o = f._mm512_reduce_add_ps(sum);
                }
            }
            Out::Sums(sums) => {
                for (i, s) in sums.iter_mut().enumerate() {
                    let lanes = l.lanes(i % blocks, cast(window(packed, i * bb)));
                    *s = f._mm512_reduce_add_epi32(lanes);
                }
            }
        }
    }

    /// AVX-512 level (no VNNI). Panics if the CPU lacks x86-64-v4 (the caller checked).
    pub(in super::super) fn avx512<F: Format>(
        packed: &[u8],
        shape: Shape,
        prep: &Prepared,
        out: Out<'_>,
    ) {
        let simd = V4::try_new().expect("avx512 level on a CPU without x86-64-v4");
        pulp::Simd::vectorize(
            simd,
            Avx512::<F> {
                simd,
                packed,
                blocks: shape.blocks,
                prep,
                out,
                format: PhantomData,
            },
        );
    }

    struct Avx512<'a, F> {
        simd: V4,
        packed: &'a [u8],
        blocks: usize,
        prep: &'a Prepared,
        out: Out<'a>,
        format: PhantomData<F>,
    }

    impl<F: Format> pulp::WithSimd for Avx512<'_, F> {
        type Output = ();

        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) {
            let Self {
                simd,
                packed,
                blocks,
                prep,
                out,
                ..
            } = self;
            let lanes = Madd::<F> {
                simd,
                prep,
                format: PhantomData,
            };
            rows_v4::<F, _>(simd, packed, blocks, out, &lanes);
        }
    }

    /// AVX-512 VNNI level. Panics if the CPU lacks it (the caller checked).
    pub(in super::super) fn avx512_vnni<F: Format>(
        packed: &[u8],
        shape: Shape,
        prep: &Prepared,
        out: Out<'_>,
    ) {
        let simd = V4::try_new().expect("avx512-vnni level on a CPU without x86-64-v4");
        assert!(
            crate::i2s_gemv::has_avx512_vnni(),
            "avx512-vnni level on a CPU without AVX-512 VNNI"
        );
        // SAFETY: the features the kernel is compiled for (AVX-512 F, BW and VNNI) were
        // detected just above.
        unsafe { vnni_kernel::<F>(simd, packed, shape.blocks, prep, out) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn vnni_kernel<F: Format>(
        simd: V4,
        packed: &[u8],
        blocks: usize,
        prep: &Prepared,
        out: Out<'_>,
    ) {
        use core::arch::x86_64::{
            _mm512_add_epi8, _mm512_add_epi32, _mm512_dpbusd_epi32, _mm512_setzero_si512,
            _mm512_srai_epi32, _mm512_sub_epi32,
        };
        let lanes = FnLanes(|b: usize, x: __m512i| {
            let neg: __m512i = cast(prep.neg[b]);
            let zero = _mm512_setzero_si512();
            if F::BASE3 {
                // TQ1_0. With y_n = byte·3ⁿ mod 256, y_{n+1} = 3·y_n − 256·t_n, so
                // t_n = (3·y_n − y_{n+1}) / 256 exactly, weight by weight. That is linear in
                // the y's, so the trits never need extracting: dot the y's (unsigned bytes,
                // made with wrapping byte adds) with the q planes, and divide once per lane.
                // Lanes stay below 5 planes · 4 bytes · 255 · 128 · 3 < 2²¹.
                let (mut now, mut next) = (zero, zero);
                let mut y = x;
                for plane in prep.planes::<F>(b) {
                    let qv: __m512i = cast(*plane);
                    now = _mm512_dpbusd_epi32(now, y, qv);
                    y = _mm512_add_epi8(y, _mm512_add_epi8(y, y));
                    next = _mm512_dpbusd_epi32(next, y, qv);
                }
                let t256 =
                    _mm512_sub_epi32(_mm512_add_epi32(now, _mm512_add_epi32(now, now)), next);
                return _mm512_add_epi32(_mm512_srai_epi32::<8>(t256), neg);
            }
            let c = F::planes_v4(simd, x);
            // Two chains, so the planes' `vpdpbusd`s do not all wait on one another.
            let mut acc = [neg, zero];
            for (n, plane) in prep.planes::<F>(b).iter().enumerate() {
                acc[n % 2] = _mm512_dpbusd_epi32(acc[n % 2], c[n], cast(*plane));
            }
            _mm512_add_epi32(acc[0], acc[1])
        });
        rows_v4::<F, _>(simd, packed, blocks, out, &lanes);
    }

    const _: () = assert!(LANES * 4 == PLANE);
}
