//! Shared fixtures for the kernel benches: the matrix shapes of
//! microsoft/bitnet-b1.58-2B-4T and deterministic I2_S / int8 inputs.
//!
//! Inputs are generated, not loaded, so the benches need no model file and
//! every run measures the same bytes. They are still well-formed I2_S (codes
//! 0..=2 only, as real quantizers write), so no kernel takes a special path.
#![warn(missing_docs)]

/// A ternary matrix shape to benchmark: `rows × cols` (output × input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemvShape {
    /// What the shape is in the model.
    pub label: &'static str,
    /// Output rows (ggml `ne1`).
    pub rows: usize,
    /// Input columns (ggml `ne0`), a multiple of 128.
    pub cols: usize,
}

/// The distinct ternary matmul shapes of bitnet-b1.58-2B-4T (hidden 2560,
/// FFN 6912): attention q/o (2560×2560, k/v are 640×2560), FFN gate/up
/// (6912×2560) and FFN down (2560×6912).
pub const SHAPES_2B4T: [GemvShape; 3] = [
    GemvShape {
        label: "attn_2560x2560",
        rows: 2560,
        cols: 2560,
    },
    GemvShape {
        label: "ffn_up_6912x2560",
        rows: 6912,
        cols: 2560,
    },
    GemvShape {
        label: "ffn_down_2560x6912",
        rows: 2560,
        cols: 6912,
    },
];

/// A tiny deterministic generator (xorshift64), so fixtures need no `rand`.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// Starts a stream; any seed works (0 is remapped, xorshift's fixed point).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `rows × cols` I2_S bytes (no scale trailer) with uniformly random codes
/// in {0, 1, 2}; `cols` must be a multiple of 128.
pub fn random_i2s(rows: usize, cols: usize, seed: u64) -> Vec<u8> {
    assert!(
        cols.is_multiple_of(128),
        "cols = {cols} is not a multiple of 128"
    );
    let mut rng = XorShift::new(seed);
    (0..rows * cols / 4)
        .map(|_| {
            // Four independent codes per byte; the byte's position decides
            // which weights they are, which does not matter for random data.
            (0..4).fold(0u8, |b, _| (b << 2) | (rng.next_u64() % 3) as u8)
        })
        .collect()
}

/// `n` random int8 activation codes in the range `quantize_row_i8` produces
/// (−127..=127).
pub fn random_q(n: usize, seed: u64) -> Vec<i8> {
    let mut rng = XorShift::new(seed);
    (0..n)
        .map(|_| ((rng.next_u64() % 255) as i32 - 127) as i8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_are_deterministic_and_well_formed() {
        let a = random_i2s(4, 256, 7);
        assert_eq!(a, random_i2s(4, 256, 7));
        assert_ne!(a, random_i2s(4, 256, 8));
        assert_eq!(a.len(), 4 * 256 / 4);
        for byte in &a {
            for g in 0..4 {
                assert_ne!((byte >> (2 * g)) & 3, 3, "code 3 is never written");
            }
        }
        let q = random_q(1000, 1);
        assert_eq!(q, random_q(1000, 1));
        assert!(q.iter().all(|&v| v >= -127));
        assert!(q.iter().any(|&v| v < -100) && q.iter().any(|&v| v > 100));
    }

    #[test]
    fn shapes_fit_the_kernel() {
        for s in SHAPES_2B4T {
            assert_eq!(s.cols % 128, 0, "{}", s.label);
            let packed = random_i2s(s.rows, s.cols, 1);
            let q = random_q(s.cols, 2);
            let (mut a, mut b) = (vec![0; s.rows], vec![0; s.rows]);
            bitnet_cpu_simd::i2s_gemv_scalar(&packed, s.rows, s.cols, &q, &mut a);
            bitnet_cpu_simd::i2s_gemv(&packed, s.rows, s.cols, &q, &mut b);
            assert_eq!(a, b, "{}", s.label);
        }
    }
}
