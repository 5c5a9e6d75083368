//! CUDA C kernels for BitNet b1.58 inference, with typed launch descriptions.
//!
//! The kernels live in `src/*.cu` as plain CUDA C and are compiled in with
//! `include_str!`; the engine's CUDA glue compiles them with NVRTC at run time
//! (so one binary runs with or without a CUDA toolkit) and launches them by
//! [`KernelId`]. For each kernel this crate states the entry point, its
//! parameter list (the order the launch must push arguments in) and a pure-Rust
//! launch-shape function that validates the problem shape first, so a bad
//! shape is one clear error on the host, never an out-of-bounds read on the
//! device. The tests check that the `.cu` source declares exactly the entry
//! point and parameters described here.
//!
//! No CUDA dependency: this crate is text and arithmetic only.
#![warn(missing_docs)]

/// Typed id of every kernel in this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelId {
    /// [`I2S_GEMV`].
    I2sGemv,
}

impl KernelId {
    /// Every kernel, for module compilation and the source tests.
    pub const ALL: [KernelId; 1] = [KernelId::I2sGemv];

    /// The source and signature of this kernel.
    pub fn source(self) -> &'static KernelSource {
        match self {
            KernelId::I2sGemv => &I2S_GEMV,
        }
    }
}

/// One kernel parameter as declared in CUDA C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelParam {
    /// Parameter name in the source.
    pub name: &'static str,
    /// Its C type, spelled as in the source (qualifiers included).
    pub c_type: &'static str,
}

/// A kernel's CUDA C source and entry point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelSource {
    /// Typed id.
    pub id: KernelId,
    /// Module name (the `.cu` file stem); the NVRTC program name.
    pub name: &'static str,
    /// The CUDA C source.
    pub cuda: &'static str,
    /// The `extern "C" __global__` function to load from the module.
    pub entry: &'static str,
    /// Parameters in launch-argument order.
    pub params: &'static [KernelParam],
}

const fn p(c_type: &'static str, name: &'static str) -> KernelParam {
    KernelParam { name, c_type }
}

/// Ternary I2_S matrix × int8 vector → f32: one warp per output row, `dp4a`
/// products, warp-shuffle reduction.
///
/// Arguments, in order: `weights` (the row-major I2_S bytes of the matrix
/// without the scale trailer, 4-byte aligned, viewed as u32 words), `act`
/// (int8 codes from `quantize_row_i8`, 4 per word, little-endian), `out`
/// (`rows` f32), `rows`, `cols` (multiple of 128), `act_scale`, `act_sum`
/// (from `quantize_row_i8`) and `w_scale` (the tensor's I2_S scale). Result:
/// `out[r] = ((float)raw_r − (float)act_sum) / act_scale · w_scale`, where
/// `raw_r = Σ code·q` with code 3 read as weight 0, exactly as the CPU kernel.
/// Launch with [`i2s_gemv_launch`].
pub const I2S_GEMV: KernelSource = KernelSource {
    id: KernelId::I2sGemv,
    name: "i2s_gemv",
    cuda: include_str!("i2s_gemv.cu"),
    entry: "bitnet_i2s_gemv",
    params: &[
        p("const unsigned int* __restrict__", "weights"),
        p("const int* __restrict__", "act"),
        p("float* __restrict__", "out"),
        p("int", "rows"),
        p("int", "cols"),
        p("float", "act_scale"),
        p("int", "act_sum"),
        p("float", "w_scale"),
    ],
};

/// Grid, block and dynamic shared memory of one launch; the same three
/// numbers as `cudarc::driver::LaunchConfig`, so the glue maps it field by
/// field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchConfig {
    /// Blocks per grid (x, y, z).
    pub grid_dim: (u32, u32, u32),
    /// Threads per block (x, y, z).
    pub block_dim: (u32, u32, u32),
    /// Dynamic shared memory per block, in bytes.
    pub shared_mem_bytes: u32,
}

/// Why a shape cannot be launched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    /// `rows == 0`: nothing to compute, and a zero-sized grid is a CUDA error.
    #[error("{kernel}: rows must be > 0")]
    NoRows {
        /// Kernel name.
        kernel: &'static str,
    },
    /// I2_S blocks are 128 weights and never straddle rows.
    #[error("{kernel}: cols = {cols} is not a positive multiple of 128")]
    BadCols {
        /// Kernel name.
        kernel: &'static str,
        /// The rejected column count.
        cols: usize,
    },
    /// Past the kernel's `int` indices or its i32 accumulator range.
    #[error(
        "{kernel}: {rows}x{cols} exceeds the kernel's limits (rows <= {max_rows}, cols <= {max_cols})"
    )]
    TooLarge {
        /// Kernel name.
        kernel: &'static str,
        /// Requested rows.
        rows: usize,
        /// Requested cols.
        cols: usize,
        /// Largest rows accepted.
        max_rows: usize,
        /// Largest cols accepted.
        max_cols: usize,
    },
}

/// Rows (warps) per block of [`I2S_GEMV`]: 8 warps = 256 threads is enough
/// to hide load latency and small enough that 2560-row matrices still give
/// 320 blocks, plenty for every SM of a large GPU.
pub const I2S_GEMV_ROWS_PER_BLOCK: u32 = 8;

/// Largest `cols` for [`I2S_GEMV`]: `raw` adds at most `2·128` per column
/// into an `int` accumulator.
pub const I2S_GEMV_MAX_COLS: usize = (i32::MAX as usize) / 256;

/// Launch shape of [`I2S_GEMV`] for a `rows × cols` matrix: one warp per row,
/// [`I2S_GEMV_ROWS_PER_BLOCK`] rows per block, no shared memory.
///
/// # Errors
/// [`LaunchError::NoRows`] for `rows == 0`, [`LaunchError::BadCols`] unless
/// `cols` is a positive multiple of 128, [`LaunchError::TooLarge`] for
/// `rows > i32::MAX` or `cols > I2S_GEMV_MAX_COLS`.
pub fn i2s_gemv_launch(rows: usize, cols: usize) -> Result<LaunchConfig, LaunchError> {
    let kernel = I2S_GEMV.name;
    if rows == 0 {
        return Err(LaunchError::NoRows { kernel });
    }
    if cols == 0 || !cols.is_multiple_of(128) {
        return Err(LaunchError::BadCols { kernel, cols });
    }
    let max_rows = i32::MAX as usize;
    if rows > max_rows || cols > I2S_GEMV_MAX_COLS {
        return Err(LaunchError::TooLarge {
            kernel,
            rows,
            cols,
            max_rows,
            max_cols: I2S_GEMV_MAX_COLS,
        });
    }
    // rows ≤ i32::MAX, so the block count fits grid.x (limit 2^31 − 1).
    let blocks = rows.div_ceil(I2S_GEMV_ROWS_PER_BLOCK as usize) as u32;
    Ok(LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (32 * I2S_GEMV_ROWS_PER_BLOCK, 1, 1),
        shared_mem_bytes: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Removes `//` and `/* */` comments so declarations can be matched.
    fn strip_comments(src: &str) -> String {
        let mut out = String::with_capacity(src.len());
        let mut rest = src;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("//") {
                rest = r.find('\n').map_or("", |i| &r[i..]);
            } else if let Some(r) = rest.strip_prefix("/*") {
                rest = r.find("*/").map_or("", |i| &r[i + 2..]);
            } else {
                let c = rest.chars().next().unwrap_or(' ');
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        out
    }

    /// The parameter list of `extern "C" __global__ void <entry>(...)`,
    /// whitespace-normalised, or `None` when the source does not declare it.
    fn declared_params(src: &str, entry: &str) -> Option<Vec<String>> {
        let code = strip_comments(src)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let decl = format!("extern \"C\" __global__ void {entry}(");
        let start = code.find(&decl)? + decl.len();
        let end = start + code[start..].find(')')?;
        Some(
            code[start..end]
                .split(',')
                .map(|s| s.trim().to_owned())
                .collect(),
        )
    }

    #[test]
    fn sources_declare_the_described_entry_points() {
        for id in KernelId::ALL {
            let k = id.source();
            assert_eq!(k.id, id);
            let found = declared_params(k.cuda, k.entry).unwrap_or_else(|| {
                panic!("{}: no extern \"C\" __global__ void {}", k.name, k.entry)
            });
            let described: Vec<String> = k
                .params
                .iter()
                .map(|p| format!("{} {}", p.c_type, p.name))
                .collect();
            assert_eq!(found, described, "{}", k.name);
            // Exactly one definition, so NVRTC's lookup by name is unambiguous.
            assert_eq!(k.cuda.matches(&format!("void {}(", k.entry)).count(), 1);
        }
    }

    #[test]
    fn the_signature_check_can_fail() {
        let src = I2S_GEMV.cuda.replace("int act_sum", "float act_sum");
        assert_ne!(
            declared_params(&src, I2S_GEMV.entry),
            declared_params(I2S_GEMV.cuda, I2S_GEMV.entry)
        );
        assert_eq!(
            declared_params("/* extern \"C\" __global__ void f(int a) */", "f"),
            None
        );
    }

    #[test]
    fn launch_shapes_of_the_2b_model() {
        for (rows, blocks) in [
            (2560usize, 320u32),
            (6912, 864),
            (3840, 480),
            (13_824, 1728),
        ] {
            let cfg = i2s_gemv_launch(rows, 2560).expect("valid shape");
            assert_eq!(cfg.grid_dim, (blocks, 1, 1));
            assert_eq!(cfg.block_dim, (256, 1, 1));
            assert_eq!(cfg.shared_mem_bytes, 0);
        }
        assert_eq!(i2s_gemv_launch(2560, 6912).map(|c| c.grid_dim.0), Ok(320));
    }

    #[test]
    fn launch_rounds_partial_blocks_up() {
        for rows in [1usize, 7, 8, 9, 15, 17, 1000, 1001] {
            let cfg = i2s_gemv_launch(rows, 128).expect("valid shape");
            let warps = cfg.grid_dim.0 as usize * (cfg.block_dim.0 as usize / 32);
            assert!(
                warps >= rows && warps - rows < I2S_GEMV_ROWS_PER_BLOCK as usize,
                "{rows}"
            );
        }
    }

    #[test]
    fn launch_rejects_bad_shapes() {
        let k = "i2s_gemv";
        assert_eq!(
            i2s_gemv_launch(0, 2560),
            Err(LaunchError::NoRows { kernel: k })
        );
        for cols in [0, 64, 2561, 2560 + 64] {
            assert_eq!(
                i2s_gemv_launch(4, cols),
                Err(LaunchError::BadCols { kernel: k, cols })
            );
        }
        let big_cols = (I2S_GEMV_MAX_COLS / 128 + 1) * 128;
        assert!(matches!(
            i2s_gemv_launch(1, big_cols),
            Err(LaunchError::TooLarge { .. })
        ));
        assert!(matches!(
            i2s_gemv_launch(i32::MAX as usize + 1, 128),
            Err(LaunchError::TooLarge { .. })
        ));
        let msg = i2s_gemv_launch(4, 100).expect_err("cols = 100").to_string();
        assert_eq!(
            msg,
            "i2s_gemv: cols = 100 is not a positive multiple of 128"
        );
    }

    /// The word/activation index mapping the kernel uses (and the WGSL shader
    /// shares), replayed in Rust lane by lane and compared with the per-weight
    /// definition of I2_S. This checks the arithmetic of the `.cu` loop; the
    /// kernel itself only runs on a GPU.
    #[test]
    fn word_mapping_matches_the_layout() {
        let (rows, cols) = (3usize, 384usize);
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let bytes: Vec<u8> = (0..rows * cols / 4).map(|_| next() as u8).collect();
        let q: Vec<i8> = (0..cols).map(|_| next() as i8).collect();
        let words: Vec<u32> = bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let act: Vec<u32> = q
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0] as u8, c[1] as u8, c[2] as u8, c[3] as u8]))
            .collect();
        let fix = |c: u32| c ^ ((c & (c >> 1) & 0x0101_0101) << 1);
        let dot4 = |c: u32, a: u32, acc: i32| {
            (0..4).fold(acc, |acc, i| {
                acc + ((c >> (8 * i)) & 0xff) as i32 * i32::from((a >> (8 * i)) as u8 as i8)
            })
        };
        for r in 0..rows {
            let n = cols / 16;
            let mut lanes = [0i32; 32];
            for (lane, acc) in lanes.iter_mut().enumerate() {
                for i in (lane..n).step_by(32) {
                    let w = words[r * n + i];
                    let a = (i >> 3) * 32 + (i & 7);
                    *acc = dot4(fix((w >> 6) & 0x0303_0303), act[a], *acc);
                    *acc = dot4(fix((w >> 4) & 0x0303_0303), act[a + 8], *acc);
                    *acc = dot4(fix((w >> 2) & 0x0303_0303), act[a + 16], *acc);
                    *acc = dot4(fix(w & 0x0303_0303), act[a + 24], *acc);
                }
            }
            let expect: i32 = (0..cols)
                .map(|k| {
                    let byte = bytes[r * cols / 4 + (k / 128) * 32 + k % 32];
                    let code = match (byte >> (6 - 2 * ((k % 128) / 32))) & 3 {
                        3 => 1,
                        c => i32::from(c),
                    };
                    code * i32::from(q[k])
                })
                .sum();
            assert_eq!(lanes.iter().sum::<i32>(), expect, "row {r}");
        }
    }
}
