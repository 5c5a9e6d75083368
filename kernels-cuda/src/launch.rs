//! Launch shapes: the grid, block and shared memory of each kernel, computed
//! after the problem shape is validated against the kernel's limits.

use crate::sources::*;

/// Grid, block and dynamic shared memory of one launch; the same three
/// numbers as `cudarc::driver::LaunchConfig`, so the glue maps it field by
/// field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchConfig {
    /// Blocks per grid (x, y, z).
    pub grid_dim: (u32, u32, u32),
    /// Threads per block (x, y, z).
    pub block_dim: (u32, u32, u32),
    /// Dynamic shared memory per block, in bytes (every kernel here uses
    /// static shared memory only, so this is 0).
    pub shared_mem_bytes: u32,
}

/// Why a shape cannot be launched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    /// A size is 0: there is nothing to compute, and a zero-sized grid is a
    /// CUDA error, so the caller skips the launch.
    #[error("{kernel}: {what} = 0, nothing to launch (skip the op)")]
    Empty {
        /// Kernel name.
        kernel: &'static str,
        /// Which size.
        what: &'static str,
    },
    /// A size breaks the kernel's packing (I2_S blocks of 128 weights, Q8_0
    /// blocks of 32, 4 int8 codes or 2 f16 values per word, rotation pairs).
    #[error("{kernel}: {what} = {value} is not a multiple of {multiple}")]
    NotMultiple {
        /// Kernel name.
        kernel: &'static str,
        /// Which size.
        what: &'static str,
        /// The rejected value.
        value: usize,
        /// What it must be a multiple of.
        multiple: usize,
    },
    /// A size is past the grid limits, the kernel's 32-bit indices or its
    /// i32 accumulator range.
    #[error("{kernel}: {what} = {value} exceeds the kernel's limit of {max}")]
    TooLarge {
        /// Kernel name.
        kernel: &'static str,
        /// Which size.
        what: &'static str,
        /// The rejected value.
        value: usize,
        /// Largest value accepted.
        max: usize,
    },
    /// A size is below another it must cover (attention's context must hold
    /// the chunk itself).
    #[error("{kernel}: {what} = {value} is less than {bound_what} = {bound}")]
    TooSmall {
        /// Kernel name.
        kernel: &'static str,
        /// Which size.
        what: &'static str,
        /// The rejected value.
        value: usize,
        /// The size it must reach.
        bound_what: &'static str,
        /// That size's value.
        bound: usize,
    },
}

/// Largest size argument of any kernel (rows, columns, heads, lengths) and
/// largest grid x: 2³¹ − 1, CUDA's grid-x limit. Below it a kernel's 32-bit
/// strided loop `i += block` cannot wrap past 2³², and every size fits the
/// `unsigned int` parameters.
pub const MAX_DIM: usize = i32::MAX as usize;

/// Largest grid y (tokens of a matmul, queries of an attention chunk):
/// CUDA's grid-y limit.
pub const MAX_GRID_Y: usize = 65_535;

/// Largest `cols` of [`I2S_MATMUL`]: `raw` adds at most 2·128 per column
/// into an i32.
pub const I2S_MATMUL_MAX_COLS: usize = (i32::MAX as usize) / 256;

/// Largest `cols` of [`QUANTIZE_ACT`]: the code sum adds at most 128 per
/// column into an i32.
pub const QUANTIZE_ACT_MAX_COLS: usize = (i32::MAX as usize) / 128;

// Threads per block. The reduction kernels size their shared arrays and
// strides by the same number (`BLOCK` in the `.cu`, checked by the tests),
// and keep the WGSL workgroup size so that the f32 sums group their terms as
// the wgpu backend does. The one-thread-per-item kernels take any size.
pub(crate) const RMS_NORM_BLOCK: u32 = 256;
pub(crate) const QUANTIZE_ACT_BLOCK: u32 = 256;
pub(crate) const MATMUL_BLOCK: u32 = 64;
pub(crate) const ROPE_NEOX_BLOCK: u32 = 64;
pub(crate) const ATTENTION_BLOCK: u32 = 64;
pub(crate) const ELEMENTWISE_BLOCK: u32 = 256;
pub(crate) const ARGMAX_BLOCK: u32 = 256;

/// The shape checks of one kernel, each naming the kernel in its error.
struct Check(&'static str);

impl Check {
    fn nonzero(&self, what: &'static str, value: usize) -> Result<(), LaunchError> {
        if value == 0 {
            return Err(LaunchError::Empty {
                kernel: self.0,
                what,
            });
        }
        Ok(())
    }

    fn multiple_of(
        &self,
        what: &'static str,
        value: usize,
        multiple: usize,
    ) -> Result<(), LaunchError> {
        if !value.is_multiple_of(multiple) {
            return Err(LaunchError::NotMultiple {
                kernel: self.0,
                what,
                value,
                multiple,
            });
        }
        Ok(())
    }

    fn at_most(&self, what: &'static str, value: usize, max: usize) -> Result<(), LaunchError> {
        if value > max {
            return Err(LaunchError::TooLarge {
                kernel: self.0,
                what,
                value,
                max,
            });
        }
        Ok(())
    }
}

/// A launch of `grid` blocks (x, y) of `block` threads. Callers have
/// checked `x ≤ MAX_DIM` and `y ≤ MAX_GRID_Y`, so the casts are exact.
fn config(x: usize, y: usize, block: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (x as u32, y as u32, 1),
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Launch shape of [`RMS_NORM`] for `rows` rows of `n` values: one block of
/// 256 threads per row.
///
/// # Errors
/// [`LaunchError::Empty`] when `rows` or `n` is 0, [`LaunchError::TooLarge`]
/// when either exceeds [`MAX_DIM`].
pub fn rms_norm_launch(rows: usize, n: usize) -> Result<LaunchConfig, LaunchError> {
    let c = Check(RMS_NORM.name);
    c.nonzero("rows", rows)?;
    c.nonzero("n", n)?;
    c.at_most("rows", rows, MAX_DIM)?;
    c.at_most("n", n, MAX_DIM)?;
    Ok(config(rows, 1, RMS_NORM_BLOCK))
}

/// Launch shape of [`QUANTIZE_ACT`] for `rows` rows of `cols` values: one
/// block of 256 threads per row.
///
/// # Errors
/// [`LaunchError::Empty`] when `rows` or `cols` is 0,
/// [`LaunchError::NotMultiple`] unless `cols % 4 == 0`,
/// [`LaunchError::TooLarge`] for `rows > MAX_DIM` or
/// `cols > QUANTIZE_ACT_MAX_COLS`.
pub fn quantize_act_launch(rows: usize, cols: usize) -> Result<LaunchConfig, LaunchError> {
    let c = Check(QUANTIZE_ACT.name);
    c.nonzero("rows", rows)?;
    c.nonzero("cols", cols)?;
    c.multiple_of("cols", cols, 4)?;
    c.at_most("rows", rows, MAX_DIM)?;
    c.at_most("cols", cols, QUANTIZE_ACT_MAX_COLS)?;
    Ok(config(rows, 1, QUANTIZE_ACT_BLOCK))
}

/// The shared shape of the three matmuls: grid (rows, n_tokens), 64 threads.
fn matmul_launch(
    kernel: &'static str,
    rows: usize,
    cols: usize,
    n_tokens: usize,
    cols_multiple: usize,
    max_cols: usize,
) -> Result<LaunchConfig, LaunchError> {
    let c = Check(kernel);
    c.nonzero("rows", rows)?;
    c.nonzero("cols", cols)?;
    c.nonzero("n_tokens", n_tokens)?;
    c.multiple_of("cols", cols, cols_multiple)?;
    c.at_most("rows", rows, MAX_DIM)?;
    c.at_most("cols", cols, max_cols)?;
    c.at_most("n_tokens", n_tokens, MAX_GRID_Y)?;
    Ok(config(rows, n_tokens, MATMUL_BLOCK))
}

/// Launch shape of [`I2S_MATMUL`] for a `rows × cols` piece and `n_tokens`
/// activation rows: grid (rows, n_tokens), one block of 64 threads per
/// (row, token).
///
/// # Errors
/// [`LaunchError::Empty`] when a size is 0, [`LaunchError::NotMultiple`]
/// unless `cols % 128 == 0`, [`LaunchError::TooLarge`] for
/// `rows > MAX_DIM`, `cols > I2S_MATMUL_MAX_COLS` or
/// `n_tokens > MAX_GRID_Y`.
pub fn i2s_matmul_launch(
    rows: usize,
    cols: usize,
    n_tokens: usize,
) -> Result<LaunchConfig, LaunchError> {
    matmul_launch(
        I2S_MATMUL.name,
        rows,
        cols,
        n_tokens,
        128,
        I2S_MATMUL_MAX_COLS,
    )
}

/// Launch shape of [`F16_MATMUL`] for a `rows × cols` piece and `n_tokens`
/// activation rows: grid (rows, n_tokens), one block of 64 threads per
/// (row, token).
///
/// # Errors
/// [`LaunchError::Empty`] when a size is 0, [`LaunchError::NotMultiple`]
/// unless `cols` is even, [`LaunchError::TooLarge`] for `rows` or `cols`
/// above [`MAX_DIM`] or `n_tokens > MAX_GRID_Y`.
pub fn f16_matmul_launch(
    rows: usize,
    cols: usize,
    n_tokens: usize,
) -> Result<LaunchConfig, LaunchError> {
    matmul_launch(F16_MATMUL.name, rows, cols, n_tokens, 2, MAX_DIM)
}

/// Launch shape of [`Q8_MATMUL`] for a `rows × cols` piece and `n_tokens`
/// activation rows: grid (rows, n_tokens), one block of 64 threads per
/// (row, token).
///
/// # Errors
/// [`LaunchError::Empty`] when a size is 0, [`LaunchError::NotMultiple`]
/// unless `cols % 32 == 0`, [`LaunchError::TooLarge`] for `rows` or `cols`
/// above [`MAX_DIM`] or `n_tokens > MAX_GRID_Y`.
pub fn q8_matmul_launch(
    rows: usize,
    cols: usize,
    n_tokens: usize,
) -> Result<LaunchConfig, LaunchError> {
    matmul_launch(Q8_MATMUL.name, rows, cols, n_tokens, 32, MAX_DIM)
}

/// Launch shape of [`ROPE_NEOX`] for `rows` rows of `n_heads` heads with
/// `n_rot` rotated dimensions each: one thread per rotated pair, 64 per
/// block, `ceil(rows · n_heads · n_rot/2 / 64)` blocks.
///
/// # Errors
/// [`LaunchError::Empty`] when a size is 0 (nothing rotates),
/// [`LaunchError::NotMultiple`] unless `n_rot` is even,
/// [`LaunchError::TooLarge`] when a size, or the pair count the kernel
/// indexes in 32 bits, exceeds [`MAX_DIM`].
pub fn rope_neox_launch(
    rows: usize,
    n_heads: usize,
    n_rot: usize,
) -> Result<LaunchConfig, LaunchError> {
    let c = Check(ROPE_NEOX.name);
    c.nonzero("rows", rows)?;
    c.nonzero("n_heads", n_heads)?;
    c.nonzero("n_rot", n_rot)?;
    c.multiple_of("n_rot", n_rot, 2)?;
    c.at_most("rows", rows, MAX_DIM)?;
    c.at_most("n_heads", n_heads, MAX_DIM)?;
    c.at_most("n_rot", n_rot, MAX_DIM)?;
    let pairs = rows.saturating_mul(n_heads).saturating_mul(n_rot / 2);
    c.at_most("rows · n_heads · n_rot/2", pairs, MAX_DIM)?;
    let blocks = pairs.div_ceil(ROPE_NEOX_BLOCK as usize);
    Ok(config(blocks, 1, ROPE_NEOX_BLOCK))
}

/// Launch shape of [`ATTENTION`] for a chunk of `len` queries with `n_head`
/// heads, whose last query sees `seen = pos + len` cache positions: grid
/// (n_head, len), one block of 64 threads per (head, query). The `scores`
/// scratch must hold `len · n_head · seen` floats.
///
/// # Errors
/// [`LaunchError::Empty`] when `n_head` or `len` is 0,
/// [`LaunchError::TooLarge`] for `n_head > MAX_DIM`, `len > MAX_GRID_Y` or
/// `seen > MAX_DIM`, [`LaunchError::TooSmall`] for `seen < len`.
pub fn attention_launch(
    n_head: usize,
    len: usize,
    seen: usize,
) -> Result<LaunchConfig, LaunchError> {
    let c = Check(ATTENTION.name);
    c.nonzero("n_head", n_head)?;
    c.nonzero("len", len)?;
    c.at_most("n_head", n_head, MAX_DIM)?;
    c.at_most("len", len, MAX_GRID_Y)?;
    c.at_most("seen", seen, MAX_DIM)?;
    if seen < len {
        return Err(LaunchError::TooSmall {
            kernel: c.0,
            what: "seen",
            value: seen,
            bound_what: "len",
            bound: len,
        });
    }
    Ok(config(n_head, len, ATTENTION_BLOCK))
}

/// Launch shape of [`ELEMENTWISE`] over `len` values: one thread per value,
/// 256 per block.
///
/// # Errors
/// [`LaunchError::Empty`] for `len == 0`, [`LaunchError::TooLarge`] for
/// `len > MAX_DIM`.
pub fn elementwise_launch(len: usize) -> Result<LaunchConfig, LaunchError> {
    let c = Check(ELEMENTWISE.name);
    c.nonzero("len", len)?;
    c.at_most("len", len, MAX_DIM)?;
    let blocks = len.div_ceil(ELEMENTWISE_BLOCK as usize);
    Ok(config(blocks, 1, ELEMENTWISE_BLOCK))
}

/// Launch shape of [`ARGMAX`] for `rows` rows of `cols` values: one block of
/// 256 threads per row.
///
/// # Errors
/// [`LaunchError::Empty`] when `rows` or `cols` is 0 (a row of no values
/// has no candidate: its answer is `None` without a launch),
/// [`LaunchError::TooLarge`] when either exceeds [`MAX_DIM`] (which also
/// keeps every index below the `u32::MAX` "no candidate" mark).
pub fn argmax_launch(rows: usize, cols: usize) -> Result<LaunchConfig, LaunchError> {
    let c = Check(ARGMAX.name);
    c.nonzero("rows", rows)?;
    c.nonzero("cols", cols)?;
    c.at_most("rows", rows, MAX_DIM)?;
    c.at_most("cols", cols, MAX_DIM)?;
    Ok(config(rows, 1, ARGMAX_BLOCK))
}
