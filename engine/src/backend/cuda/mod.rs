//! The CUDA backend: the whole BitNet graph as CUDA C kernels (`bitnet-kernels-cuda`) on an
//! NVIDIA GPU, compiled by NVRTC at run time for the device's compute capability (6.1 or
//! newer, for `__dp4a`) and cached on disk as PTX.
//!
//! The driver and NVRTC are loaded at run time ([`libs`]), so a binary with this backend runs
//! on machines without CUDA and says why it cannot use it ("no driver (libcuda.so not
//! found)"). Weights are uploaded once (ternary as I2_S words with one scale, float matrices as
//! f16 or int8 Q8_0 rows); activations, int8 codes and the KV cache live on the device. Every
//! op is queued on one stream without waiting; the only synchronisation of a step is
//! [`Backend::read`] of the logits (or [`Backend::argmax_rows`], which reads one id per row).
//! The arithmetic is the wgpu backend's, kernel for kernel: ternary products are exact integer
//! sums rescaled as `(raw − Σq)/s · scale`, activations are quantized per token with the
//! reference's absmax rule, and the float ops follow the reference's formulas. The embedding
//! lookup runs on the host from the memory-mapped table and uploads its rows, so an untied
//! vocabulary table never has to fit the device.
//!
//! Every device allocation goes through the memory ledger ([`memory`]), by purpose; what is
//! still allocated when the backend drops is logged as a leak.

mod buffer;
mod compile;
mod context;
mod devices;
mod error;
pub mod libs;
pub mod memory;
mod weights;

pub use bitnet_kernels_cuda as kernels;
pub use buffer::DeviceBuf;
pub use compile::{compile_kernel, ptx_cache_dir, target_arch};
pub use devices::{CudaFacts, MIN_COMPUTE, devices};
pub use error::CudaError;
pub use libs::CudaVersion;
pub use memory::{MemoryLedger, MemoryUsage, Purpose};
pub use weights::CudaWeight;

use super::gpu_checks::{self, need, shape, u32_of};
use super::{
    AttnShape, Backend, BackendError, DeviceInfo, DeviceKind, LmHeadFormat, MatmulInput,
    ReferenceBackend, SeqChunk, WeightSource,
};
use bitnet_kernels_cuda::{self as kc, KernelId, LaunchError};
use buffer::Scratch;
use context::{Arg, Gpu};
use std::sync::Mutex;

/// An f32 buffer on the device.
pub struct CudaBuf {
    buf: DeviceBuf<f32>,
}

/// Per-token int8 activations on the device: codes (4 per word), scales and code sums.
pub struct CudaQBuf {
    q: DeviceBuf<u32>,
    scale: DeviceBuf<f32>,
    sum: DeviceBuf<i32>,
    rows: usize,
    cols: usize,
}

/// The last positions uploaded for rope, and the device copy: every layer's two rope calls of
/// a step share one upload.
struct Positions {
    buf: Option<DeviceBuf<u32>>,
    host: Vec<u32>,
}

/// The CUDA backend on one device.
pub struct CudaBackend {
    gpu: Gpu,
    info: DeviceInfo,
    /// How float matrices (the LM head) run: f16, or int8 Q8_0 blocks.
    lm_head: LmHeadFormat,
    /// Host-side embedding lookups and weight checks.
    reference: ReferenceBackend,
    /// Attention scores, `len × n_head × (pos + len)` of the largest chunk so far.
    scores: Scratch<f32>,
    /// One greedy token per row.
    picks: Scratch<u32>,
    positions: Mutex<Positions>,
}

fn launch_err(op: &'static str) -> impl Fn(LaunchError) -> BackendError {
    move |e| shape(op, e.to_string())
}

impl CudaBackend {
    /// Opens CUDA device `ordinal` (`--device cuda:N`): loads the driver and NVRTC, checks the
    /// compute capability (6.1 or newer) and makes the kernels ready (compiled, or read from
    /// the PTX cache in [`ptx_cache_dir`]).
    pub fn new(ordinal: usize) -> Result<Self, BackendError> {
        let gpu = Gpu::open(ordinal)?;
        let f = &gpu.facts;
        let info = DeviceInfo {
            name: format!(
                "{} (cuda:{}, compute {}.{})",
                f.name, f.index, f.compute.0, f.compute.1
            ),
            kind: DeviceKind::Cuda,
            threads: f.sm_count as usize,
        };
        Ok(CudaBackend {
            gpu,
            info,
            lm_head: LmHeadFormat::Stored,
            reference: ReferenceBackend::new(1),
            scores: Scratch::new("attention scores"),
            picks: Scratch::new("greedy picks"),
            positions: Mutex::new(Positions {
                buf: None,
                host: Vec::new(),
            }),
        })
    }

    /// Runs float matrices (the LM head) as stored (Q8_0 as int8, anything else as f16), as
    /// f16, or as int8 Q8_0 blocks quantized at load (`--lm-head`); Q6_K is refused at load.
    pub fn with_lm_head(mut self, format: LmHeadFormat) -> Self {
        self.lm_head = format;
        self
    }

    /// The device's facts.
    pub fn facts(&self) -> &CudaFacts {
        &self.gpu.facts
    }

    /// The architecture the kernels were compiled for (`major * 10 + minor`).
    pub fn arch(&self) -> u32 {
        self.gpu.arch
    }

    /// Device memory this backend holds now and at most, by purpose.
    pub fn memory(&self) -> MemoryUsage {
        self.gpu.ledger.usage()
    }

    /// The ledger of every allocation (a handle that outlives the backend, for leak checks).
    pub fn ledger(&self) -> &MemoryLedger {
        &self.gpu.ledger
    }

    fn elementwise(
        &self,
        x: &CudaBuf,
        y: Option<&CudaBuf>,
        len: usize,
        op: u32,
        s: f32,
    ) -> Result<(), BackendError> {
        let name = "elementwise";
        need(name, "x", x.buf.len, len)?;
        if let Some(y) = y {
            need(name, "y", y.buf.len, len)?;
        }
        if len == 0 {
            return Ok(());
        }
        let cfg = kc::elementwise_launch(len).map_err(launch_err(name))?;
        self.gpu.launch(
            KernelId::Elementwise,
            cfg,
            &[
                Arg::buf(&x.buf),
                y.map_or(Arg::Ptr(0), |y| Arg::buf(&y.buf)),
                Arg::U32(u32_of(name, len)?),
                Arg::U32(op),
                Arg::F32(s),
            ],
        )
    }

    /// The device copy of `positions`, uploaded only when they differ from the last call's.
    fn with_positions<R>(
        &self,
        positions: &[usize],
        f: impl FnOnce(&DeviceBuf<u32>) -> Result<R, BackendError>,
    ) -> Result<R, BackendError> {
        let op = "rope_neox";
        let host = positions
            .iter()
            .map(|&p| u32_of(op, p))
            .collect::<Result<Vec<u32>, _>>()?;
        let mut guard = self.positions.lock().unwrap_or_else(|e| e.into_inner());
        let Positions { buf, host: last } = &mut *guard;
        if buf.is_none() || *last != host {
            // Stale until the upload below is queued.
            last.clear();
            let b = buffer::ensure(&self.gpu, buf, host.len(), "rope positions")?;
            self.gpu.write(b, &host)?;
            *last = host;
        }
        match buf {
            Some(b) => f(b),
            None => Err(BackendError::Device("rope positions: no buffer".into())),
        }
    }
}

impl Drop for CudaBackend {
    fn drop(&mut self) {
        self.scores.clear();
        self.picks.clear();
        if let Ok(mut p) = self.positions.lock() {
            p.buf = None;
        }
        if let Err(e) = self.gpu.sync() {
            tracing::warn!("cuda:{}: at shutdown: {e}", self.gpu.facts.index);
        }
        if let Some(report) = self.gpu.ledger.leak_report() {
            tracing::warn!(
                "cuda:{}: the backend is dropped while buffers remain: {report}",
                self.gpu.facts.index
            );
        }
    }
}

impl Backend for CudaBackend {
    type Buf = CudaBuf;
    type QBuf = CudaQBuf;
    type Weight = CudaWeight;

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn upload_weight(&self, w: &WeightSource<'_>) -> Result<CudaWeight, BackendError> {
        // The reference checks sizes and decodability; its copy shares the memory map.
        let host = self.reference.upload_weight(w)?;
        if w.ty.is_ternary() {
            weights::upload_ternary(&self.gpu, w, host)
        } else {
            weights::upload_float(&self.gpu, w, host, self.lm_head)
        }
    }

    fn weight_is_ternary(&self, w: &CudaWeight) -> bool {
        matches!(w, CudaWeight::Ternary { .. })
    }

    fn upload(&self, data: &[f32]) -> Result<CudaBuf, BackendError> {
        Ok(CudaBuf {
            buf: self.gpu.upload(Purpose::Weights, data, "norm weight")?,
        })
    }

    fn alloc(&self, len: usize) -> Result<CudaBuf, BackendError> {
        Ok(CudaBuf {
            buf: self.gpu.alloc(Purpose::Activations, len, "activations")?,
        })
    }

    fn alloc_kv(&self, len: usize) -> Result<CudaBuf, BackendError> {
        Ok(CudaBuf {
            buf: self.gpu.alloc(Purpose::KvCache, len, "KV cache")?,
        })
    }

    fn alloc_q(&self, rows: usize, cols: usize) -> Result<CudaQBuf, BackendError> {
        if !cols.is_multiple_of(4) {
            return Err(shape(
                "alloc_q",
                format!("{cols} columns; int8 rows are packed 4 per word"),
            ));
        }
        let a = Purpose::Activations;
        Ok(CudaQBuf {
            q: self.gpu.alloc(a, rows * cols / 4, "int8 activations")?,
            scale: self.gpu.alloc(a, rows, "activation scales")?,
            sum: self.gpu.alloc(a, rows, "activation sums")?,
            rows,
            cols,
        })
    }

    fn embed(
        &self,
        table: &CudaWeight,
        ids: &[u32],
        out: &mut CudaBuf,
    ) -> Result<(), BackendError> {
        let host = table.host();
        need("embed", "output", out.buf.len, ids.len() * host.cols)?;
        let mut rows = vec![0f32; ids.len() * host.cols];
        self.reference.embed(host, ids, &mut rows)?;
        // A copy queued on the stream, so it lands after the ops already queued.
        self.gpu.write(&mut out.buf, &rows)
    }

    fn rms_norm(
        &self,
        x: &CudaBuf,
        w: &CudaBuf,
        rows: usize,
        dim: usize,
        eps: f32,
        out: &mut CudaBuf,
    ) -> Result<(), BackendError> {
        let op = "rms_norm";
        need(op, "input", x.buf.len, rows * dim)?;
        need(op, "output", out.buf.len, rows * dim)?;
        need(op, "weight", w.buf.len, dim)?;
        if rows == 0 {
            return Ok(());
        }
        let cfg = kc::rms_norm_launch(rows, dim).map_err(launch_err(op))?;
        self.gpu.launch(
            KernelId::RmsNorm,
            cfg,
            &[
                Arg::buf(&x.buf),
                Arg::buf(&w.buf),
                Arg::buf(&out.buf),
                Arg::U32(u32_of(op, dim)?),
                Arg::U32(u32_of(op, rows)?),
                Arg::F32(eps),
            ],
        )
    }

    fn quantize_act(
        &self,
        x: &CudaBuf,
        rows: usize,
        cols: usize,
        out: &mut CudaQBuf,
    ) -> Result<(), BackendError> {
        let op = "quantize_act";
        need(op, "input", x.buf.len, rows * cols)?;
        if out.cols != cols || out.rows < rows {
            return Err(shape(
                op,
                format!(
                    "buffer is for {}×{}, asked {rows}×{cols}",
                    out.rows, out.cols
                ),
            ));
        }
        if rows == 0 {
            return Ok(());
        }
        let cfg = kc::quantize_act_launch(rows, cols).map_err(launch_err(op))?;
        self.gpu.launch(
            KernelId::QuantizeAct,
            cfg,
            &[
                Arg::buf(&x.buf),
                Arg::buf(&out.q),
                Arg::buf(&out.scale),
                Arg::buf(&out.sum),
                Arg::U32(u32_of(op, rows)?),
                Arg::U32(u32_of(op, cols)?),
            ],
        )
    }

    fn matmul(
        &self,
        w: &CudaWeight,
        input: &MatmulInput<'_, Self>,
        out: &mut CudaBuf,
    ) -> Result<(), BackendError> {
        let n = input.rows;
        let op = "matmul";
        match w {
            CudaWeight::Ternary {
                name,
                rows,
                cols,
                scale,
                codes,
                ..
            } => {
                let q = input.q.ok_or_else(|| {
                    shape(
                        op,
                        format!("'{name}' is ternary but no int8 activations were given"),
                    )
                })?;
                if q.cols != *cols || q.rows < n {
                    return Err(shape(
                        op,
                        format!(
                            "'{name}' takes K={cols}, activations are {}×{}",
                            q.rows, q.cols
                        ),
                    ));
                }
                need(op, "output", out.buf.len, n * rows)?;
                if n == 0 || *rows == 0 {
                    return Ok(());
                }
                let cfg = kc::i2s_matmul_launch(*rows, *cols, n).map_err(launch_err(op))?;
                self.gpu.launch(
                    KernelId::I2sMatmul,
                    cfg,
                    &[
                        Arg::buf(codes),
                        Arg::buf(&q.q),
                        Arg::buf(&q.scale),
                        Arg::buf(&q.sum),
                        Arg::buf(&out.buf),
                        Arg::U32(u32_of(op, *rows)?),
                        Arg::U32(u32_of(op, *cols)?),
                        Arg::U32(u32_of(op, n)?),
                        Arg::U32(u32_of(op, *rows)?),
                        Arg::U32(0),
                        Arg::F32(*scale),
                    ],
                )
            }
            CudaWeight::Float {
                rows, cols, int8, ..
            } => {
                need(op, "input", input.x.buf.len, n * cols)?;
                need(op, "output", out.buf.len, n * rows)?;
                if n == 0 || *rows == 0 {
                    return Ok(());
                }
                let dev = weights::float_rows(&self.gpu, w)?;
                let (r32, c32, n32) = (u32_of(op, *rows)?, u32_of(op, *cols)?, u32_of(op, n)?);
                match (&dev.scales, *int8) {
                    (Some(scales), true) => {
                        // An int8 head meets int8 activations, quantized here as for a
                        // ternary matrix.
                        let mut q = self.alloc_q(n, *cols)?;
                        self.quantize_act(input.x, n, *cols, &mut q)?;
                        let cfg = kc::q8_matmul_launch(*rows, *cols, n).map_err(launch_err(op))?;
                        self.gpu.launch(
                            KernelId::Q8Matmul,
                            cfg,
                            &[
                                Arg::buf(&dev.data),
                                Arg::buf(scales),
                                Arg::buf(&q.q),
                                Arg::buf(&q.scale),
                                Arg::buf(&out.buf),
                                Arg::U32(r32),
                                Arg::U32(c32),
                                Arg::U32(n32),
                                Arg::U32(r32),
                                Arg::U32(0),
                            ],
                        )
                    }
                    _ => {
                        let cfg = kc::f16_matmul_launch(*rows, *cols, n).map_err(launch_err(op))?;
                        self.gpu.launch(
                            KernelId::F16Matmul,
                            cfg,
                            &[
                                Arg::buf(&dev.data),
                                Arg::buf(&input.x.buf),
                                Arg::buf(&out.buf),
                                Arg::U32(r32),
                                Arg::U32(c32),
                                Arg::U32(n32),
                                Arg::U32(r32),
                                Arg::U32(0),
                            ],
                        )
                    }
                }
            }
        }
    }

    fn scale(&self, x: &mut CudaBuf, len: usize, s: f32) -> Result<(), BackendError> {
        self.elementwise(x, None, len, kc::ELEMENTWISE_SCALE, s)
    }

    fn rope_neox(
        &self,
        x: &mut CudaBuf,
        positions: &[usize],
        n_heads: usize,
        head_dim: usize,
        n_rot: usize,
        theta: f32,
    ) -> Result<(), BackendError> {
        let op = "rope_neox";
        let dim = n_heads * head_dim;
        super::reference::check_rope(x.buf.len, positions.len(), dim, head_dim, n_rot)?;
        if positions.is_empty() || n_heads == 0 || n_rot == 0 {
            return Ok(());
        }
        let cfg = kc::rope_neox_launch(positions.len(), n_heads, n_rot).map_err(launch_err(op))?;
        let args = [
            u32_of(op, positions.len())?,
            u32_of(op, n_heads)?,
            u32_of(op, head_dim)?,
            u32_of(op, n_rot)?,
        ];
        // The reference's ratio between consecutive angles, computed the same way.
        let theta_scale = theta.powf(-2.0 / n_rot as f32);
        self.with_positions(positions, |pos| {
            self.gpu.launch(
                KernelId::RopeNeox,
                cfg,
                &[
                    Arg::buf(&x.buf),
                    Arg::buf(pos),
                    Arg::U32(args[0]),
                    Arg::U32(args[1]),
                    Arg::U32(args[2]),
                    Arg::U32(args[3]),
                    Arg::F32(theta_scale),
                ],
            )
        })
    }

    fn kv_store(
        &self,
        cache: &mut CudaBuf,
        src: &CudaBuf,
        chunk: SeqChunk,
        row_len: usize,
    ) -> Result<(), BackendError> {
        gpu_checks::kv_store(cache.buf.len, src.buf.len, chunk, row_len)?;
        self.gpu.copy(
            &src.buf,
            chunk.row * row_len,
            &mut cache.buf,
            chunk.pos * row_len,
            chunk.len * row_len,
        )
    }

    fn attention(
        &self,
        q: &CudaBuf,
        k_cache: &CudaBuf,
        v_cache: &CudaBuf,
        chunk: SeqChunk,
        shape_: AttnShape,
        out: &mut CudaBuf,
    ) -> Result<(), BackendError> {
        let op = "attention";
        let AttnShape {
            n_head,
            n_kv_head,
            head_dim,
        } = shape_;
        let seen = gpu_checks::attention(
            [q.buf.len, k_cache.buf.len, v_cache.buf.len, out.buf.len],
            chunk,
            shape_,
        )?;
        if chunk.len == 0 || n_head == 0 {
            return Ok(());
        }
        let cfg = kc::attention_launch(n_head, chunk.len, seen).map_err(launch_err(op))?;
        let mut slot = self.scores.lock();
        let scores = buffer::ensure(
            &self.gpu,
            &mut slot,
            chunk.len * n_head * seen,
            self.scores.label,
        )?;
        self.gpu.launch(
            KernelId::Attention,
            cfg,
            &[
                Arg::buf(&q.buf),
                Arg::buf(&k_cache.buf),
                Arg::buf(&v_cache.buf),
                Arg::buf(scores),
                Arg::buf(&out.buf),
                Arg::U32(u32_of(op, chunk.row)?),
                Arg::U32(u32_of(op, chunk.len)?),
                Arg::U32(u32_of(op, chunk.pos)?),
                Arg::U32(u32_of(op, n_head)?),
                Arg::U32(u32_of(op, n_kv_head)?),
                Arg::U32(u32_of(op, head_dim)?),
                Arg::F32(1.0 / (head_dim as f32).sqrt()),
            ],
        )
    }

    fn add(&self, x: &mut CudaBuf, y: &CudaBuf, len: usize) -> Result<(), BackendError> {
        self.elementwise(x, Some(y), len, kc::ELEMENTWISE_ADD, 0.0)
    }

    fn relu2_mul(&self, gate: &mut CudaBuf, up: &CudaBuf, len: usize) -> Result<(), BackendError> {
        self.elementwise(gate, Some(up), len, kc::ELEMENTWISE_RELU2_MUL, 0.0)
    }

    fn silu_mul(&self, gate: &mut CudaBuf, up: &CudaBuf, len: usize) -> Result<(), BackendError> {
        self.elementwise(gate, Some(up), len, kc::ELEMENTWISE_SILU_MUL, 0.0)
    }

    fn gather_rows(
        &self,
        x: &CudaBuf,
        rows: &[usize],
        dim: usize,
        out: &mut CudaBuf,
    ) -> Result<(), BackendError> {
        need("gather_rows", "output", out.buf.len, rows.len() * dim)?;
        for (i, &r) in rows.iter().enumerate() {
            need("gather_rows", "input", x.buf.len, (r + 1) * dim)?;
            self.gpu.copy(&x.buf, r * dim, &mut out.buf, i * dim, dim)?;
        }
        Ok(())
    }

    fn read(&self, buf: &CudaBuf, out: &mut [f32]) -> Result<(), BackendError> {
        need("read", "buffer", buf.buf.len, out.len())?;
        self.gpu.read(&buf.buf, out)
    }

    fn argmax_rows(
        &self,
        x: &CudaBuf,
        rows: usize,
        cols: usize,
    ) -> Result<Vec<Option<u32>>, BackendError> {
        let op = "argmax_rows";
        need(op, "input", x.buf.len, rows * cols)?;
        if rows == 0 {
            return Ok(Vec::new());
        }
        if cols == 0 {
            return Ok(vec![None; rows]);
        }
        let cfg = kc::argmax_launch(rows, cols).map_err(launch_err(op))?;
        let mut slot = self.picks.lock();
        let picks = buffer::ensure(&self.gpu, &mut slot, rows, self.picks.label)?;
        self.gpu.launch(
            KernelId::Argmax,
            cfg,
            &[
                Arg::buf(&x.buf),
                Arg::buf(picks),
                Arg::U32(u32_of(op, rows)?),
                Arg::U32(u32_of(op, cols)?),
            ],
        )?;
        let mut ids = vec![0u32; rows];
        self.gpu.read(picks, &mut ids)?;
        Ok(ids
            .into_iter()
            .map(|i| (i != u32::MAX).then_some(i))
            .collect())
    }
}
