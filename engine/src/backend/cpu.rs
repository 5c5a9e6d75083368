//! The SIMD CPU backend: ternary matmuls on `bitnet-cpu-simd`'s kernels (I2_S, masked I2_S,
//! lookup tables, TQ1_0/TQ2_0; each matrix shape gets the kernel that timed fastest on this
//! machine, see [`KernelChooser`]), the LM head on its F16, Q8_0 or Q6_K row kernels, and
//! every parallel operation on a persistent spinning pool (`SpinPool`).
//!
//! I2_S weights are used in place from the memory map when their kernel reads I2_S; other
//! layouts are packed at load from the weights' I2_S codes. The arithmetic is the reference's
//! (`Σ w·q / s · scale` with the same per-token int8 activations, the same per-head
//! attention), so ternary outputs are bit-identical to the reference backend whatever the
//! kernel, and float outputs differ by summation order only. A TQ tensor whose blocks have
//! different scales runs in place on its TQ kernel; a ternary weight whose rows are not whole
//! 128-blocks stays on the reference path.
//! RMSNorm, RoPE, the FFN gates, residual add and scale, and attention's scores, softmax and
//! weighted sum run on `bitnet_cpu_simd::float_ops` (the reference's arithmetic, vectorised:
//! bit-identical for the elementwise ops, within float rounding for the sums and the
//! exponential), with the reference's shape checks; prompt batches spread them over the pool.
//! The KV store is still the reference backend's.

use super::cpu_float::{FloatMatrix, is_float_matrix_type, par_bands, scatter_bands};
pub use super::cpu_kernel_choice::{ChoiceSource, KernelChoice, KernelChooser, cpu_model};
use super::cpu_pool::SpinPool;
pub use super::cpu_ternary::TernaryKernel;
use super::cpu_ternary::{Packed, TernaryMatrix};
use super::reference::{AttnPlan, RefQBuf, RefWeight};
use super::{
    AttnShape, Backend, BackendError, DeviceInfo, DeviceKind, MatmulInput, ReferenceBackend,
    SeqChunk, WeightSource,
};
use crate::formats::{FormatError, TensorType, TernaryRowDecoder, i2s, tensor_nbytes};
/// Instruction-set levels of the CPU kernels (detection, and the levels this CPU can run).
pub use bitnet_cpu_simd::Level;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use super::cpu_float::LmHeadFormat;

/// The instruction set the CPU kernels run with on this machine (detected at run time; the
/// answer is cached after the first call).
pub fn simd_level() -> &'static str {
    bitnet_cpu_simd::simd_level()
}

/// Host-memory backend with SIMD kernels and a persistent thread pool.
pub struct CpuBackend {
    info: DeviceInfo,
    reference: ReferenceBackend,
    pool: SpinPool,
    lm_head: LmHeadFormat,
    kernels: KernelChooser,
    /// Bytes of the ternary matrices uploaded, and of the float matrices multiplied so far:
    /// what one token reads.
    token_bytes: AtomicUsize,
    /// Ternary matrices per kernel they actually run on (after any fallback).
    in_use: std::sync::Mutex<std::collections::BTreeMap<TernaryKernel, usize>>,
}

/// A weight in the CPU backend's execution layout.
pub enum CpuWeight {
    /// A ternary matrix in its kernel's layout.
    Ternary(TernaryMatrix),
    /// A float matrix (the embedding and LM head: F16, Q8_0 or Q6_K in the file).
    Float {
        /// The matrix, multiplied as stored or converted at load (`--lm-head`).
        matrix: FloatMatrix,
        /// The same weight on the reference path (embedding lookups).
        reference: RefWeight,
    },
    /// Anything else, computed as the reference backend does.
    Reference(RefWeight),
}

impl CpuBackend {
    /// A backend running on `threads` worker threads (at least 1).
    pub fn new(threads: usize) -> Result<Self, BackendError> {
        let threads = threads.max(1);
        let pool = SpinPool::new(threads, "bitnet-cpu")
            .map_err(|e| BackendError::Device(format!("cannot start the thread pool: {e}")))?;
        Ok(CpuBackend {
            info: DeviceInfo {
                name: format!("CPU {} ({threads} threads)", bitnet_cpu_simd::simd_level()),
                kind: DeviceKind::Cpu,
                threads,
            },
            reference: ReferenceBackend::new(threads),
            pool,
            lm_head: LmHeadFormat::Stored,
            kernels: KernelChooser::new(threads, None, None),
            token_bytes: AtomicUsize::new(0),
            in_use: Default::default(),
        })
    }

    /// Decides the ternary kernel of each matrix shape: `forced` (`--kernel`), else timed at
    /// load and remembered in `cache` (see [`KernelChooser::default_cache_path`]); without a
    /// cache every load times its shapes again.
    pub fn with_kernels(mut self, forced: Option<TernaryKernel>, cache: Option<PathBuf>) -> Self {
        self.kernels = KernelChooser::new(self.info.threads, forced, cache);
        self
    }

    /// Bytes of weights one token reads: every ternary matrix, and the float matrices that
    /// have been multiplied (the LM head, after the first token).
    pub fn bytes_per_token(&self) -> usize {
        self.token_bytes.load(Ordering::Relaxed)
    }

    /// Measures how fast this backend's threads read memory (bytes per second): the roof of a
    /// decode step. Reads a buffer of `bytes` (at least 64 MiB) `passes` times.
    pub fn read_bandwidth(&self, bytes: usize, passes: usize) -> f64 {
        super::cpu_bandwidth::read_bandwidth(&self.pool, bytes, passes)
    }

    /// How many ternary matrices run on each kernel (what was loaded, after fallbacks such as
    /// the masked kernel's for a tensor holding code 3).
    pub fn kernels_in_use(&self) -> Vec<(TernaryKernel, usize)> {
        let m = self.in_use.lock().unwrap_or_else(|e| e.into_inner());
        m.iter().map(|(&k, &n)| (k, n)).collect()
    }

    /// Counts a loaded ternary matrix (bytes per token, kernel in use) and wraps it.
    fn adopt(&self, m: TernaryMatrix) -> CpuWeight {
        self.token_bytes.fetch_add(m.bytes(), Ordering::Relaxed);
        *self
            .in_use
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(m.kernel)
            .or_default() += 1;
        CpuWeight::Ternary(m)
    }

    /// The ternary kernel chosen for each matrix shape loaded so far, with the timings.
    pub fn kernel_report(&self) -> Vec<KernelChoice> {
        self.kernels.report()
    }

    /// Multiplies float matrices (the LM head) in `format`: as stored, or converted at load
    /// (Q8_0 reads about half the bytes per token of F16, Q6_K about 40 %).
    pub fn with_lm_head(mut self, format: LmHeadFormat) -> Self {
        self.lm_head = format;
        self
    }

    /// Splits `m` output rows into chunks for the pool: a few per thread, so threads that
    /// finish early take more.
    fn chunk_rows(&self, m: usize) -> usize {
        m.div_ceil(self.info.threads * 4).max(16)
    }
}

/// Decodes a ternary tensor to I2_S code bytes when it has one scale and whole 128-blocks.
pub(super) fn repack_i2s(w: &WeightSource<'_>) -> Result<Option<(Vec<u8>, f32)>, BackendError> {
    let [cols, rows] = w.dims;
    if !cols.is_multiple_of(i2s::BLOCK_WEIGHTS) {
        return Ok(None);
    }
    let werr = |source| BackendError::Weight {
        name: w.name.to_string(),
        source,
    };
    let dec = TernaryRowDecoder::with_tiles(w.ty, &w.data, rows, cols, w.tiles).map_err(werr)?;
    let (mut codes, mut scales) = (vec![0i8; cols], vec![0f32; dec.blocks_per_row()]);
    let bl = dec.block_len();
    let mut packed = vec![0u8; rows * cols / 4];
    let mut scale: Option<f32> = None;
    for (r, dst) in packed.chunks_exact_mut(cols / 4).enumerate() {
        dec.decode_row(r, &mut codes, &mut scales).map_err(werr)?;
        if codes.iter().any(|&c| !(-1..=1).contains(&c)) {
            return Ok(None);
        }
        for (block, &s) in codes.chunks(bl).zip(&scales) {
            if block.iter().any(|&c| c != 0) {
                match scale {
                    None => scale = Some(s),
                    Some(first) if first == s => {}
                    Some(_) => return Ok(None),
                }
            }
        }
        i2s::pack_codes(&codes, dst).map_err(werr)?;
    }
    let scale = scale.unwrap_or(if dec.blocks_per_row() == 1 {
        scales[0]
    } else {
        0.0
    });
    Ok(Some((packed, scale)))
}

impl Backend for CpuBackend {
    type Buf = Vec<f32>;
    type QBuf = RefQBuf;
    type Weight = CpuWeight;

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn upload_weight(&self, w: &WeightSource<'_>) -> Result<CpuWeight, BackendError> {
        let [cols, rows] = w.dims;
        let werr = |source| BackendError::Weight {
            name: w.name.to_string(),
            source,
        };
        let fits_kernel = cols <= bitnet_cpu_simd::i2s_gemv::MAX_COLS;
        if w.ty.is_ternary() && fits_kernel {
            let codes = if w.ty == TensorType::I2_S {
                // `scale` checks the size and shape of the whole tensor.
                let scale = i2s::scale(&w.data, rows, cols).map_err(werr)?;
                Some((Packed::File(w.data.clone()), scale))
            } else {
                // The decoder behind `repack_i2s` validates the tensor.
                repack_i2s(w)?.map(|(p, s)| (Packed::Owned(p), s))
            };
            if let Some((codes, scale)) = codes {
                let kernel = self.kernels.choose(&self.pool, rows, cols, |k| {
                    TernaryMatrix::from_i2s(w.name, rows, cols, codes.clone(), scale, k).ok()
                });
                let m = TernaryMatrix::from_i2s(w.name, rows, cols, codes, scale, kernel)?;
                return Ok(self.adopt(m));
            }
            // A TQ tensor whose blocks have different scales runs in place on its own kernel.
            let tq = match w.ty {
                TensorType::TQ2_0 => Some(TernaryKernel::Tq2),
                TensorType::TQ1_0 => Some(TernaryKernel::Tq1),
                _ => None,
            };
            if let Some(kernel) = tq.filter(|k| k.usable(cols)) {
                let need = tensor_nbytes(w.ty, &[cols as u64, rows as u64]).map_err(werr)?;
                if w.data.len() as u64 != need {
                    return Err(werr(FormatError::BadLength {
                        ty: w.ty,
                        got: w.data.len(),
                        expected: need as usize,
                    }));
                }
                let m = TernaryMatrix::tq_in_place(w.name, rows, cols, w.data.clone(), kernel);
                return Ok(self.adopt(m));
            }
        }
        let reference = self.reference.upload_weight(w)?;
        Ok(if is_float_matrix_type(w.ty) {
            let matrix = FloatMatrix::new(rows, cols, w.ty, w.data.clone());
            // Converted now rather than at the first token, so load time holds the cost.
            matrix.prepare(&self.pool, self.lm_head)?;
            CpuWeight::Float { matrix, reference }
        } else {
            CpuWeight::Reference(reference)
        })
    }

    fn weight_is_ternary(&self, w: &CpuWeight) -> bool {
        match w {
            CpuWeight::Ternary(_) => true,
            CpuWeight::Float { .. } => false,
            CpuWeight::Reference(r) => self.reference.weight_is_ternary(r),
        }
    }

    fn upload(&self, data: &[f32]) -> Result<Vec<f32>, BackendError> {
        self.reference.upload(data)
    }

    fn alloc(&self, len: usize) -> Result<Vec<f32>, BackendError> {
        self.reference.alloc(len)
    }

    fn alloc_q(&self, rows: usize, cols: usize) -> Result<RefQBuf, BackendError> {
        self.reference.alloc_q(rows, cols)
    }

    fn embed(
        &self,
        table: &CpuWeight,
        ids: &[u32],
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        match table {
            CpuWeight::Float { reference, .. } | CpuWeight::Reference(reference) => {
                self.reference.embed(reference, ids, out)
            }
            CpuWeight::Ternary(t) => Err(BackendError::Shape {
                op: "embed",
                why: format!("'{}' is a ternary matrix, not an embedding table", t.name),
            }),
        }
    }

    fn rms_norm(
        &self,
        x: &Vec<f32>,
        w: &Vec<f32>,
        rows: usize,
        dim: usize,
        eps: f32,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        use super::reference::need;
        need("rms_norm", "input", x.len(), rows * dim)?;
        need("rms_norm", "output", out.len(), rows * dim)?;
        need("rms_norm", "weight", w.len(), dim)?;
        if dim == 0 {
            return Ok(());
        }
        let (x, w, out) = (&x[..rows * dim], &w[..dim], &mut out[..rows * dim]);
        let norm =
            |(o, xr): (&mut [f32], &[f32])| bitnet_cpu_simd::float_ops::rms_norm(xr, w, eps, o);
        if rows * dim < PAR_MIN_VALUES {
            out.chunks_mut(dim).zip(x.chunks(dim)).for_each(norm);
        } else {
            // Prompt batches: one row per task, a few rows together when they are narrow.
            let rows_per_task = PAR_MIN_ROW_VALUES.div_ceil(dim);
            let items = out
                .chunks_mut(dim * rows_per_task)
                .zip(x.chunks(dim * rows_per_task))
                .collect();
            self.pool.each(items, |_, (o, xs): (&mut [f32], &[f32])| {
                o.chunks_mut(dim).zip(xs.chunks(dim)).for_each(norm)
            });
        }
        Ok(())
    }

    fn quantize_act(
        &self,
        x: &Vec<f32>,
        rows: usize,
        cols: usize,
        out: &mut RefQBuf,
    ) -> Result<(), BackendError> {
        if x.len() < rows * cols || out.cols != cols || out.scale.len() < rows {
            return Err(BackendError::Shape {
                op: "quantize_act",
                why: format!(
                    "{rows}×{cols} from {} values into a buffer for {} columns",
                    x.len(),
                    out.cols
                ),
            });
        }
        // The reference's arithmetic (spec §2), one token per task; a decode step's single
        // token is not worth waking the pool for.
        let RefQBuf { q, scale, .. } = out;
        if rows < 4 {
            for ((qr, s), xr) in q[..rows * cols]
                .chunks_mut(cols.max(1))
                .zip(scale.iter_mut())
                .zip(x.chunks(cols.max(1)))
            {
                *s = bitnet_cpu_simd::quantize_row_i8(xr, qr).scale;
            }
            return Ok(());
        }
        let items = q[..rows * cols]
            .chunks_mut(cols.max(1))
            .zip(scale[..rows].iter_mut())
            .zip(x[..rows * cols].chunks(cols.max(1)))
            .collect();
        self.pool.each(items, |_, ((qr, s), xr)| {
            *s = bitnet_cpu_simd::quantize_row_i8(xr, qr).scale
        });
        Ok(())
    }

    fn matmul(
        &self,
        w: &CpuWeight,
        input: &MatmulInput<'_, Self>,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        let n = input.rows;
        let shape = |why: String| BackendError::Shape { op: "matmul", why };
        match w {
            CpuWeight::Reference(r) => {
                let inner = MatmulInput {
                    x: input.x,
                    q: input.q,
                    rows: n,
                };
                self.reference.matmul(r, &inner, out)
            }
            CpuWeight::Ternary(t) => {
                let (m, k, name) = (t.rows, t.cols, &t.name);
                let q = input.q.ok_or_else(|| {
                    shape(format!(
                        "'{name}' is ternary but no int8 activations were given"
                    ))
                })?;
                if q.cols != k || q.scale.len() < n || q.q.len() < n * k || out.len() < n * m {
                    return Err(shape(format!(
                        "'{name}' is {m}×{k}; activations are {n}×{}, output holds {}",
                        q.cols,
                        out.len()
                    )));
                }
                let chunk = self.chunk_rows(m).next_multiple_of(t.row_align());
                let out = &mut out[..n * m];
                // The reference's expression per output: Σ w·q / s · scale.
                let rescale = |y: &mut [f32], rows: usize| {
                    for (yt, s) in y.chunks_exact_mut(rows.max(1)).zip(&q.scale[..n]) {
                        for o in yt {
                            *o = *o / s * t.scale;
                        }
                    }
                };
                let bands = if n > 1 && t.batches() {
                    // A batch: every band reads its bytes once for all tokens.
                    let tokens = bitnet_cpu_simd::I2sTokens::new(&q.q[..n * k], n, k);
                    par_bands(&self.pool, m, chunk, |r0, r1| {
                        let rows = r1 - r0;
                        let mut raw = vec![0i32; rows * n];
                        let mut y = vec![0f32; rows * n];
                        t.band_tokens(r0, r1, &tokens, &mut raw, &mut y);
                        rescale(&mut y, rows);
                        y
                    })
                } else {
                    // Σq per token turns the I2_S kernels' unsigned-code sums into Σ w·q.
                    let sums: Vec<i32> = (0..n)
                        .map(|t| q.q[t * k..(t + 1) * k].iter().map(|&v| i32::from(v)).sum())
                        .collect();
                    // Each task owns a band of output rows for every token.
                    par_bands(&self.pool, m, chunk, |r0, r1| {
                        let rows = r1 - r0;
                        let mut raw = vec![0i32; rows];
                        let mut y = vec![0f32; rows * n];
                        for tok in 0..n {
                            let qt = &q.q[tok * k..(tok + 1) * k];
                            let yt = &mut y[tok * rows..(tok + 1) * rows];
                            t.band(r0, r1, qt, sums[tok], &mut raw, yt);
                        }
                        rescale(&mut y, rows);
                        y
                    })
                };
                scatter_bands(bands, n, m, out);
                Ok(())
            }
            CpuWeight::Float { matrix, .. } => {
                if matrix.first_use() {
                    self.token_bytes
                        .fetch_add(matrix.product_bytes(), Ordering::Relaxed);
                }
                let (m, k) = (matrix.rows, matrix.cols);
                if input.x.len() < n * k || out.len() < n * m {
                    return Err(shape(format!(
                        "float weight {m}×{k}: input holds {}, output {}",
                        input.x.len(),
                        out.len()
                    )));
                }
                matrix.matmul(
                    &self.pool,
                    self.chunk_rows(m),
                    self.lm_head,
                    &input.x[..n * k],
                    n,
                    &mut out[..n * m],
                )
            }
        }
    }

    fn scale(&self, x: &mut Vec<f32>, len: usize, s: f32) -> Result<(), BackendError> {
        super::reference::need("scale", "input", x.len(), len)?;
        let x = &mut x[..len];
        if len < PAR_MIN_VALUES {
            bitnet_cpu_simd::float_ops::scale(x, s);
        } else {
            let piece = self.piece_len(len);
            self.pool
                .chunks_mut(x, piece, |_, p| bitnet_cpu_simd::float_ops::scale(p, s));
        }
        Ok(())
    }

    fn rope_neox(
        &self,
        x: &mut Vec<f32>,
        positions: &[usize],
        n_heads: usize,
        head_dim: usize,
        n_rot: usize,
        theta: f32,
    ) -> Result<(), BackendError> {
        use bitnet_cpu_simd::float_ops::{rope_cos_sin, rope_neox};
        let dim = n_heads * head_dim;
        super::reference::check_rope(x.len(), positions.len(), dim, head_dim, n_rot)?;
        if dim == 0 || n_rot == 0 {
            return Ok(());
        }
        let half = n_rot / 2;
        // One table per row (position), computed as the reference computes it, shared by the
        // row's heads.
        let row = |(cos, sin): &mut (Vec<f32>, Vec<f32>), (xr, &pos): (&mut [f32], &usize)| {
            rope_cos_sin(pos, theta, cos, sin);
            for head in xr.chunks_exact_mut(head_dim) {
                rope_neox(head, cos, sin);
            }
        };
        let table = || (vec![0f32; half], vec![0f32; half]);
        let x = &mut x[..positions.len() * dim];
        if positions.len() < 4 {
            let mut t = table();
            x.chunks_mut(dim)
                .zip(positions)
                .for_each(|r| row(&mut t, r));
        } else {
            // A few rows per task, each task with its own table.
            let per_task = positions.len().div_ceil(self.info.threads * 4);
            let items = x
                .chunks_mut(dim * per_task)
                .zip(positions.chunks(per_task))
                .collect();
            self.pool
                .each(items, |_, (xs, ps): (&mut [f32], &[usize])| {
                    let mut t = table();
                    xs.chunks_mut(dim).zip(ps).for_each(|r| row(&mut t, r));
                });
        }
        Ok(())
    }

    fn kv_store(
        &self,
        cache: &mut Vec<f32>,
        src: &Vec<f32>,
        chunk: SeqChunk,
        row_len: usize,
    ) -> Result<(), BackendError> {
        self.reference.kv_store(cache, src, chunk, row_len)
    }

    fn attention(
        &self,
        q: &Vec<f32>,
        k_cache: &Vec<f32>,
        v_cache: &Vec<f32>,
        chunk: SeqChunk,
        shape: AttnShape,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        // The reference's per-(row, head) computation on the vector kernels (scores, softmax,
        // weighted sum of value rows), pairs spread over the pool.
        let plan = AttnPlan::new(q, k_cache, v_cache, chunk, shape, out)?;
        let q_dim = shape.n_head * shape.head_dim;
        let rows = &mut out[chunk.row * q_dim..(chunk.row + chunk.len) * q_dim];
        let ctx = chunk.pos + chunk.len;
        // (row, head) pairs in a few groups per thread, each group with its own scores.
        let hd = shape.head_dim.max(1);
        let pairs = rows.len() / hd;
        let per_task = pairs.div_ceil(self.info.threads * 4).max(1);
        let items = rows.chunks_mut(hd * per_task).collect();
        self.pool.each(items, |task, group: &mut [f32]| {
            let mut scores = vec![0f32; ctx];
            for (j, o) in group.chunks_mut(hd).enumerate() {
                plan.attend_simd(q, k_cache, v_cache, task * per_task + j, &mut scores, o);
            }
        });
        Ok(())
    }

    fn add(&self, x: &mut Vec<f32>, y: &Vec<f32>, len: usize) -> Result<(), BackendError> {
        let f = bitnet_cpu_simd::float_ops::add;
        self.zip_op("add", ["x", "y"], x, y, len, f)
    }

    fn relu2_mul(
        &self,
        gate: &mut Vec<f32>,
        up: &Vec<f32>,
        len: usize,
    ) -> Result<(), BackendError> {
        let f = bitnet_cpu_simd::float_ops::relu2_mul;
        self.zip_op("relu2_mul", ["gate", "up"], gate, up, len, f)
    }

    fn silu_mul(&self, gate: &mut Vec<f32>, up: &Vec<f32>, len: usize) -> Result<(), BackendError> {
        let f = bitnet_cpu_simd::float_ops::silu_mul;
        self.zip_op("silu_mul", ["gate", "up"], gate, up, len, f)
    }

    fn gather_rows(
        &self,
        x: &Vec<f32>,
        rows: &[usize],
        dim: usize,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        self.reference.gather_rows(x, rows, dim, out)
    }

    fn read(&self, buf: &Vec<f32>, out: &mut [f32]) -> Result<(), BackendError> {
        self.reference.read(buf, out)
    }
}

/// Elementwise work below this many values stays on the calling thread: a decode step's rows
/// (2560 to 6912 values) take less time than waking the pool.
const PAR_MIN_VALUES: usize = 1 << 15;

/// Row ops on the pool take rows in groups of at least this many values, so narrow rows do
/// not cost a task each.
const PAR_MIN_ROW_VALUES: usize = 4096;

/// The float ops' plumbing: shape checks as the reference makes them, then the work on the
/// calling thread or spread over the pool.
impl CpuBackend {
    /// Pieces of a `len`-value elementwise op for the pool: a few per thread, whole 64-value
    /// runs so every piece but the last is made of full vectors.
    fn piece_len(&self, len: usize) -> usize {
        len.div_ceil(self.info.threads * 4)
            .next_multiple_of(64)
            .max(PAR_MIN_VALUES / 4)
    }

    /// `f(x, y)` over the first `len` values of both, in pieces on the pool when there are
    /// many; `names` are the buffers' names for the shape error.
    fn zip_op(
        &self,
        op: &'static str,
        names: [&str; 2],
        x: &mut [f32],
        y: &[f32],
        len: usize,
        f: fn(&mut [f32], &[f32]),
    ) -> Result<(), BackendError> {
        super::reference::need(op, names[0], x.len(), len)?;
        super::reference::need(op, names[1], y.len(), len)?;
        let (x, y) = (&mut x[..len], &y[..len]);
        if len < PAR_MIN_VALUES {
            f(x, y);
        } else {
            let piece = self.piece_len(len);
            let items = x.chunks_mut(piece).zip(y.chunks(piece)).collect();
            self.pool
                .each(items, |_, (a, b): (&mut [f32], &[f32])| f(a, b));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "cpu_float_op_tests.rs"]
mod float_op_tests;
