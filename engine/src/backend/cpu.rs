//! The SIMD CPU backend: ternary matmuls on `bitnet-cpu-simd`'s I2_S kernel (AVX-512 VNNI /
//! AVX-512BW / AVX2 / NEON, chosen at run time), the LM head on its F16 or Q8_0 row kernels,
//! int8 activation quantization and attention spread over a persistent rayon pool.
//!
//! I2_S weights are used in place from the memory map; the other ternary types are repacked to
//! I2_S codes at load, so one kernel serves them all. The arithmetic is the reference's
//! (`Σ code·q / s · scale` with the same per-token int8 activations, the same per-head
//! attention), so ternary outputs are bit-identical to the reference backend and float outputs
//! differ by summation order only. A ternary weight whose blocks have different scales
//! (possible in TQ files) or whose rows are not whole 128-blocks stays on the reference path.
//! RMSNorm, RoPE, the KV store and the gating ops are still the reference backend's.

use super::cpu_float::{FloatMatrix, par_bands, scatter_bands};
use super::reference::{AttnPlan, RefQBuf, RefWeight};
use super::{
    AttnShape, Backend, BackendError, DeviceInfo, DeviceKind, MatmulInput, ReferenceBackend,
    SeqChunk, WeightSource,
};
use crate::formats::{TensorType, TernaryRowDecoder, i2s};
use crate::gguf::TensorData;
use rayon::prelude::*;

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
    pool: rayon::ThreadPool,
    lm_head: LmHeadFormat,
}

/// I2_S code bytes: the file's own (an I2_S tensor is used in place, without its scale
/// tail) or repacked from another ternary type.
pub enum Codes {
    /// The file's bytes (shared with the memory map).
    File(TensorData),
    /// Repacked at load.
    Owned(Vec<u8>),
}

impl Codes {
    /// The first `len` bytes: the codes of a rows×cols matrix are rows·cols/4 bytes (an I2_S
    /// tensor's scale tail follows them in the file).
    pub fn bytes(&self, len: usize) -> &[u8] {
        match self {
            Codes::File(d) => &d[..len],
            Codes::Owned(v) => &v[..len],
        }
    }
}

/// A weight in the CPU backend's execution layout.
pub enum CpuWeight {
    /// Ternary codes as I2_S bytes (no tail) and the tensor's one scale.
    I2s {
        /// Tensor name, for errors.
        name: String,
        /// Output rows.
        rows: usize,
        /// Input columns (a multiple of 128).
        cols: usize,
        /// rows·cols/4 code bytes.
        packed: Codes,
        /// The scale every code multiplies.
        scale: f32,
    },
    /// An F16 matrix (the embedding and LM head), read in place from the file.
    F16 {
        /// The matrix, multiplied as F16 or Q8_0 (`--lm-head`).
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
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("bitnet-cpu-{i}"))
            .build()
            .map_err(|e| BackendError::Device(format!("cannot start the thread pool: {e}")))?;
        Ok(CpuBackend {
            info: DeviceInfo {
                name: format!("CPU {} ({threads} threads)", bitnet_cpu_simd::simd_level()),
                kind: DeviceKind::Cpu,
                threads,
            },
            reference: ReferenceBackend::new(threads),
            pool,
            lm_head: LmHeadFormat::F16,
        })
    }

    /// Multiplies F16 float matrices (the LM head) in `format` (Q8_0: quantized at load, half
    /// the bytes read per token).
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
fn repack_i2s(w: &WeightSource<'_>) -> Result<Option<(Vec<u8>, f32)>, BackendError> {
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
        if w.ty == TensorType::I2_S && fits_kernel {
            // `scale` checks the size and shape of the whole tensor.
            let scale = i2s::scale(&w.data, rows, cols).map_err(werr)?;
            return Ok(CpuWeight::I2s {
                name: w.name.to_string(),
                rows,
                cols,
                packed: Codes::File(w.data.clone()),
                scale,
            });
        }
        if w.ty.is_ternary() && fits_kernel {
            // The decoder behind `repack_i2s` validates the tensor.
            if let Some((packed, scale)) = repack_i2s(w)? {
                return Ok(CpuWeight::I2s {
                    name: w.name.to_string(),
                    rows,
                    cols,
                    packed: Codes::Owned(packed),
                    scale,
                });
            }
        }
        let reference = self.reference.upload_weight(w)?;
        Ok(if w.ty == TensorType::F16 {
            let matrix = FloatMatrix::new(rows, cols, w.data.clone());
            // Quantized now rather than at the first token, so load time holds the cost.
            matrix.prepare(self.lm_head)?;
            CpuWeight::F16 { matrix, reference }
        } else {
            CpuWeight::Reference(reference)
        })
    }

    fn weight_is_ternary(&self, w: &CpuWeight) -> bool {
        match w {
            CpuWeight::I2s { .. } => true,
            CpuWeight::F16 { .. } => false,
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
            CpuWeight::F16 { reference, .. } | CpuWeight::Reference(reference) => {
                self.reference.embed(reference, ids, out)
            }
            CpuWeight::I2s { name, .. } => Err(BackendError::Shape {
                op: "embed",
                why: format!("'{name}' is a ternary matrix, not an embedding table"),
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
        self.reference.rms_norm(x, w, rows, dim, eps, out)
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
        self.pool.install(|| {
            q[..rows * cols]
                .par_chunks_mut(cols.max(1))
                .zip(scale[..rows].par_iter_mut())
                .zip(x[..rows * cols].par_chunks(cols.max(1)))
                .for_each(|((qr, s), xr)| *s = bitnet_cpu_simd::quantize_row_i8(xr, qr).scale);
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
            CpuWeight::I2s {
                name,
                rows: m,
                cols: k,
                packed,
                scale,
            } => {
                let (m, k) = (*m, *k);
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
                // Σq per token turns the kernel's unsigned-code sums into Σ w·q.
                let sums: Vec<i32> = (0..n)
                    .map(|t| q.q[t * k..(t + 1) * k].iter().map(|&v| i32::from(v)).sum())
                    .collect();
                let packed = packed.bytes(m * k / 4);
                let chunk = self.chunk_rows(m);
                let out = &mut out[..n * m];
                // Each task owns a band of output rows for every token.
                let bands = par_bands(&self.pool, m, chunk, |r0, r1| {
                    let rows = r1 - r0;
                    let band = &packed[r0 * k / 4..r1 * k / 4];
                    let mut raw = vec![0i32; rows];
                    let mut y = vec![0f32; rows * n];
                    for t in 0..n {
                        let qt = &q.q[t * k..(t + 1) * k];
                        bitnet_cpu_simd::i2s_gemv(band, rows, k, qt, &mut raw);
                        let s = q.scale[t];
                        for (o, &v) in y[t * rows..(t + 1) * rows].iter_mut().zip(&raw) {
                            // The reference's expression: Σ w·q / s · scale.
                            *o = (v - sums[t]) as f32 / s * scale;
                        }
                    }
                    y
                });
                scatter_bands(bands, n, m, out);
                Ok(())
            }
            CpuWeight::F16 { matrix, .. } => {
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
        self.reference.scale(x, len, s)
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
        self.reference
            .rope_neox(x, positions, n_heads, head_dim, n_rot, theta)
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
        // The reference's per-(row, head) computation, pairs spread over the pool.
        let plan = AttnPlan::new(q, k_cache, v_cache, chunk, shape, out)?;
        let q_dim = shape.n_head * shape.head_dim;
        let rows = &mut out[chunk.row * q_dim..(chunk.row + chunk.len) * q_dim];
        let ctx = chunk.pos + chunk.len;
        self.pool.install(|| {
            rows.par_chunks_mut(shape.head_dim.max(1))
                .enumerate()
                .for_each_init(
                    || vec![0f32; ctx],
                    |scores, (idx, o)| plan.attend(q, k_cache, v_cache, idx, scores, o),
                );
        });
        Ok(())
    }

    fn add(&self, x: &mut Vec<f32>, y: &Vec<f32>, len: usize) -> Result<(), BackendError> {
        self.reference.add(x, y, len)
    }

    fn relu2_mul(
        &self,
        gate: &mut Vec<f32>,
        up: &Vec<f32>,
        len: usize,
    ) -> Result<(), BackendError> {
        self.reference.relu2_mul(gate, up, len)
    }

    fn silu_mul(&self, gate: &mut Vec<f32>, up: &Vec<f32>, len: usize) -> Result<(), BackendError> {
        self.reference.silu_mul(gate, up, len)
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
