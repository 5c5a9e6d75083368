//! The wgpu backend: the whole BitNet graph in WGSL (`bitnet-shaders`) on any Vulkan, Metal or
//! DX12 device, lavapipe included.
//!
//! Weights are uploaded once (ternary as I2_S words with one scale, everything else as f16,
//! both cut into row pieces that fit a storage binding); activations, int8 codes and the KV
//! cache live on the device. Every op records a dispatch into one command encoder; the only
//! submission and wait of a step is [`Backend::read`] of the logits. The arithmetic is the
//! reference's: ternary products are exact integer sums rescaled as `(raw − Σq)/s · scale`,
//! activations are quantized per token with the same absmax rule, and the float ops follow the
//! reference's formulas (within float rounding). The embedding lookup runs on the host from the
//! memory-mapped table and uploads its rows, so an untied vocabulary table never has to fit
//! the device.

mod adapters;
mod context;
mod weights;

pub use adapters::{AdapterFacts, adapters};
pub use weights::WgpuWeight;

use super::gpu_checks::{self, need, shape, u32_of};
use super::{
    AttnShape, Backend, BackendError, DeviceInfo, DeviceKind, LmHeadFormat, MatmulInput,
    ReferenceBackend, SeqChunk, WeightSource,
};
use bitnet_shaders as sh;
use context::Gpu;
use sh::ShaderId;

/// An f32 buffer on the device.
pub struct WgpuBuf {
    buf: wgpu::Buffer,
    len: usize,
}

/// Per-token int8 activations on the device: codes (4 per word), scales and code sums.
pub struct WgpuQBuf {
    q: wgpu::Buffer,
    scale: wgpu::Buffer,
    sum: wgpu::Buffer,
    rows: usize,
    cols: usize,
}

/// The wgpu backend on one adapter.
pub struct WgpuBackend {
    gpu: Gpu,
    info: DeviceInfo,
    /// How float matrices (the LM head) run: f16, or int8 Q8_0 blocks.
    lm_head: LmHeadFormat,
    /// Host-side embedding lookups and weight checks.
    reference: ReferenceBackend,
}

impl WgpuBackend {
    /// Opens adapter `index` of [`adapters`] (`--device wgpu:N`).
    pub fn new(index: usize) -> Result<Self, BackendError> {
        let gpu = Gpu::open(index)?;
        let f = &gpu.facts;
        let info = DeviceInfo {
            name: format!("{} ({}, {})", f.name, f.backend, f.device_type),
            kind: DeviceKind::Wgpu,
            threads: 1,
        };
        Ok(WgpuBackend {
            gpu,
            info,
            lm_head: LmHeadFormat::Stored,
            reference: ReferenceBackend::new(1),
        })
    }

    /// Runs float matrices (the LM head) as stored (Q8_0 as int8, anything else as f16), as
    /// f16, or as int8 Q8_0 blocks quantized at load (`--lm-head`); Q6_K is refused at load.
    pub fn with_lm_head(mut self, format: LmHeadFormat) -> Self {
        self.lm_head = format;
        self
    }

    /// The adapter's facts.
    pub fn facts(&self) -> &AdapterFacts {
        &self.gpu.facts
    }

    fn elementwise(
        &self,
        x: &WgpuBuf,
        y: Option<&WgpuBuf>,
        len: usize,
        op: u32,
        s: f32,
    ) -> Result<(), BackendError> {
        let name = "elementwise";
        need(name, "x", x.len, len)?;
        if let Some(y) = y {
            need(name, "y", y.len, len)?;
        }
        let len32 = u32_of(name, len)?;
        let params = sh::ElementwiseParams { len: len32, op, s }.to_bytes();
        let y = y.map_or(self.gpu.unused(), |y| &y.buf);
        self.gpu.dispatch(
            ShaderId::Elementwise,
            &[&x.buf, y],
            &params,
            sh::workgroups_for_threads(len32, 256),
        )
    }
}

impl Backend for WgpuBackend {
    type Buf = WgpuBuf;
    type QBuf = WgpuQBuf;
    type Weight = WgpuWeight;

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn upload_weight(&self, w: &WeightSource<'_>) -> Result<WgpuWeight, BackendError> {
        // The reference checks sizes and decodability; its copy shares the memory map.
        let host = self.reference.upload_weight(w)?;
        let weight = if w.ty.is_ternary() {
            weights::upload_ternary(&self.gpu, w, host)?
        } else {
            weights::upload_float(&self.gpu, w, host, self.lm_head)?
        };
        // Uploads are queued writes; submitting here keeps host memory from piling up.
        self.gpu.submit()?;
        Ok(weight)
    }

    fn weight_is_ternary(&self, w: &WgpuWeight) -> bool {
        matches!(w, WgpuWeight::Ternary { .. })
    }

    fn upload(&self, data: &[f32]) -> Result<WgpuBuf, BackendError> {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(WgpuBuf {
            buf: self.gpu.storage_with(&bytes, "norm weight"),
            len: data.len(),
        })
    }

    fn alloc(&self, len: usize) -> Result<WgpuBuf, BackendError> {
        Ok(WgpuBuf {
            buf: self.gpu.storage((len * 4) as u64, "activations")?,
            len,
        })
    }

    fn alloc_q(&self, rows: usize, cols: usize) -> Result<WgpuQBuf, BackendError> {
        if !cols.is_multiple_of(4) {
            return Err(shape(
                "alloc_q",
                format!("{cols} columns; int8 rows are packed 4 per word"),
            ));
        }
        Ok(WgpuQBuf {
            q: self.gpu.storage((rows * cols) as u64, "int8 activations")?,
            scale: self.gpu.storage((rows * 4) as u64, "activation scales")?,
            sum: self.gpu.storage((rows * 4) as u64, "activation sums")?,
            rows,
            cols,
        })
    }

    fn embed(
        &self,
        table: &WgpuWeight,
        ids: &[u32],
        out: &mut WgpuBuf,
    ) -> Result<(), BackendError> {
        let host = table.host();
        need("embed", "output", out.len, ids.len() * host.cols)?;
        let mut rows = vec![0f32; ids.len() * host.cols];
        self.reference.embed(host, ids, &mut rows)?;
        let bytes: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
        // A copy recorded in order, where a queue write would land before earlier ops.
        let staged = self.gpu.storage_with(&bytes, "embedding rows");
        self.gpu.copy(&staged, 0, &out.buf, 0, bytes.len() as u64)
    }

    fn rms_norm(
        &self,
        x: &WgpuBuf,
        w: &WgpuBuf,
        rows: usize,
        dim: usize,
        eps: f32,
        out: &mut WgpuBuf,
    ) -> Result<(), BackendError> {
        need("rms_norm", "input", x.len, rows * dim)?;
        need("rms_norm", "output", out.len, rows * dim)?;
        need("rms_norm", "weight", w.len, dim)?;
        let params = sh::RmsNormParams {
            n: u32_of("rms_norm", dim)?,
            rows: u32_of("rms_norm", rows)?,
            eps,
        }
        .to_bytes();
        self.gpu.dispatch(
            ShaderId::RmsNorm,
            &[&x.buf, &w.buf, &out.buf],
            &params,
            sh::workgroups_for_rows(u32_of("rms_norm", rows)?),
        )
    }

    fn quantize_act(
        &self,
        x: &WgpuBuf,
        rows: usize,
        cols: usize,
        out: &mut WgpuQBuf,
    ) -> Result<(), BackendError> {
        need("quantize_act", "input", x.len, rows * cols)?;
        if out.cols != cols || out.rows < rows {
            return Err(shape(
                "quantize_act",
                format!(
                    "buffer is for {}×{}, asked {rows}×{cols}",
                    out.rows, out.cols
                ),
            ));
        }
        let params = sh::QuantizeActParams {
            rows: u32_of("quantize_act", rows)?,
            cols: u32_of("quantize_act", cols)?,
        }
        .to_bytes();
        self.gpu.dispatch(
            ShaderId::QuantizeAct,
            &[&x.buf, &out.q, &out.scale, &out.sum],
            &params,
            sh::workgroups_for_rows(u32_of("quantize_act", rows)?),
        )
    }

    fn matmul(
        &self,
        w: &WgpuWeight,
        input: &MatmulInput<'_, Self>,
        out: &mut WgpuBuf,
    ) -> Result<(), BackendError> {
        let n = input.rows;
        let op = "matmul";
        match w {
            WgpuWeight::Ternary {
                name,
                rows,
                cols,
                scale,
                pieces,
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
                need(op, "output", out.len, n * rows)?;
                for p in pieces {
                    let params = sh::I2sMatmulParams {
                        rows: u32_of(op, p.rows)?,
                        cols: u32_of(op, *cols)?,
                        n_tokens: u32_of(op, n)?,
                        out_stride: u32_of(op, *rows)?,
                        row_offset: u32_of(op, p.row0)?,
                        w_scale: *scale,
                    }
                    .to_bytes();
                    let [x, y, _] = sh::workgroups_for_rows(u32_of(op, p.rows)?);
                    self.gpu.dispatch(
                        ShaderId::I2sMatmul,
                        &[&p.buf, &q.q, &q.scale, &q.sum, &out.buf],
                        &params,
                        [x, y, u32_of(op, n)?],
                    )?;
                }
                Ok(())
            }
            WgpuWeight::Float {
                rows, cols, int8, ..
            } => {
                need(op, "input", input.x.len, n * cols)?;
                need(op, "output", out.len, n * rows)?;
                let pieces = weights::float_pieces(&self.gpu, w)?;
                // An int8 head meets int8 activations, quantized here as for a ternary matrix.
                let q = if *int8 {
                    let mut q = self.alloc_q(n, *cols)?;
                    self.quantize_act(input.x, n, *cols, &mut q)?;
                    Some(q)
                } else {
                    None
                };
                for p in pieces {
                    let params = sh::F16MatmulParams {
                        rows: u32_of(op, p.rows)?,
                        cols: u32_of(op, *cols)?,
                        n_tokens: u32_of(op, n)?,
                        out_stride: u32_of(op, *rows)?,
                        row_offset: u32_of(op, p.row0)?,
                    }
                    .to_bytes();
                    let [x, y, _] = sh::workgroups_for_rows(u32_of(op, p.rows)?);
                    let groups = [x, y, u32_of(op, n)?];
                    match (&q, &p.scales) {
                        (Some(q), Some(scales)) => self.gpu.dispatch(
                            ShaderId::Q8Matmul,
                            &[&p.buf, scales, &q.q, &q.scale, &out.buf],
                            &params,
                            groups,
                        )?,
                        _ => self.gpu.dispatch(
                            ShaderId::F16Matmul,
                            &[&p.buf, &input.x.buf, &out.buf],
                            &params,
                            groups,
                        )?,
                    }
                }
                Ok(())
            }
        }
    }

    fn scale(&self, x: &mut WgpuBuf, len: usize, s: f32) -> Result<(), BackendError> {
        self.elementwise(x, None, len, sh::ELEMENTWISE_SCALE, s)
    }

    fn rope_neox(
        &self,
        x: &mut WgpuBuf,
        positions: &[usize],
        n_heads: usize,
        head_dim: usize,
        n_rot: usize,
        theta: f32,
    ) -> Result<(), BackendError> {
        let op = "rope_neox";
        let dim = n_heads * head_dim;
        super::reference::check_rope(x.len, positions.len(), dim, head_dim, n_rot)?;
        let pairs = positions.len() * n_heads * (n_rot / 2);
        if pairs == 0 {
            return Ok(());
        }
        let pos: Vec<u8> = positions
            .iter()
            .map(|&p| u32_of(op, p))
            .collect::<Result<Vec<u32>, _>>()?
            .iter()
            .flat_map(|p| p.to_le_bytes())
            .collect();
        let pos = self.gpu.storage_with(&pos, "positions");
        let params = sh::RopeNeoxParams {
            rows: u32_of(op, positions.len())?,
            n_heads: u32_of(op, n_heads)?,
            head_dim: u32_of(op, head_dim)?,
            n_rot: u32_of(op, n_rot)?,
            // The reference's ratio between consecutive angles, computed the same way.
            theta_scale: theta.powf(-2.0 / n_rot as f32),
        }
        .to_bytes();
        self.gpu.dispatch(
            ShaderId::RopeNeox,
            &[&x.buf, &pos],
            &params,
            sh::workgroups_for_threads(u32_of(op, pairs)?, 64),
        )
    }

    fn kv_store(
        &self,
        cache: &mut WgpuBuf,
        src: &WgpuBuf,
        chunk: SeqChunk,
        row_len: usize,
    ) -> Result<(), BackendError> {
        gpu_checks::kv_store(cache.len, src.len, chunk, row_len)?;
        self.gpu.copy(
            &src.buf,
            (chunk.row * row_len * 4) as u64,
            &cache.buf,
            (chunk.pos * row_len * 4) as u64,
            (chunk.len * row_len * 4) as u64,
        )
    }

    fn attention(
        &self,
        q: &WgpuBuf,
        k_cache: &WgpuBuf,
        v_cache: &WgpuBuf,
        chunk: SeqChunk,
        shape_: AttnShape,
        out: &mut WgpuBuf,
    ) -> Result<(), BackendError> {
        let op = "attention";
        let AttnShape {
            n_head,
            n_kv_head,
            head_dim,
        } = shape_;
        let seen =
            gpu_checks::attention([q.len, k_cache.len, v_cache.len, out.len], chunk, shape_)?;
        if chunk.len == 0 {
            return Ok(());
        }
        let scores = self
            .gpu
            .storage((chunk.len * n_head * seen * 4) as u64, "attention scores")?;
        let params = sh::AttentionParams {
            row0: u32_of(op, chunk.row)?,
            len: u32_of(op, chunk.len)?,
            pos: u32_of(op, chunk.pos)?,
            n_head: u32_of(op, n_head)?,
            n_kv_head: u32_of(op, n_kv_head)?,
            head_dim: u32_of(op, head_dim)?,
            scale: 1.0 / (head_dim as f32).sqrt(),
        }
        .to_bytes();
        self.gpu.dispatch(
            ShaderId::Attention,
            &[&q.buf, &k_cache.buf, &v_cache.buf, &scores, &out.buf],
            &params,
            [u32_of(op, n_head)?, u32_of(op, chunk.len)?, 1],
        )
    }

    fn add(&self, x: &mut WgpuBuf, y: &WgpuBuf, len: usize) -> Result<(), BackendError> {
        self.elementwise(x, Some(y), len, sh::ELEMENTWISE_ADD, 0.0)
    }

    fn relu2_mul(&self, gate: &mut WgpuBuf, up: &WgpuBuf, len: usize) -> Result<(), BackendError> {
        self.elementwise(gate, Some(up), len, sh::ELEMENTWISE_RELU2_MUL, 0.0)
    }

    fn silu_mul(&self, gate: &mut WgpuBuf, up: &WgpuBuf, len: usize) -> Result<(), BackendError> {
        self.elementwise(gate, Some(up), len, sh::ELEMENTWISE_SILU_MUL, 0.0)
    }

    fn gather_rows(
        &self,
        x: &WgpuBuf,
        rows: &[usize],
        dim: usize,
        out: &mut WgpuBuf,
    ) -> Result<(), BackendError> {
        need("gather_rows", "output", out.len, rows.len() * dim)?;
        for (i, &r) in rows.iter().enumerate() {
            need("gather_rows", "input", x.len, (r + 1) * dim)?;
            self.gpu.copy(
                &x.buf,
                (r * dim * 4) as u64,
                &out.buf,
                (i * dim * 4) as u64,
                (dim * 4) as u64,
            )?;
        }
        Ok(())
    }

    fn read(&self, buf: &WgpuBuf, out: &mut [f32]) -> Result<(), BackendError> {
        need("read", "buffer", buf.len, out.len())?;
        self.gpu.read(&buf.buf, out)
    }

    fn argmax_rows(
        &self,
        x: &WgpuBuf,
        rows: usize,
        cols: usize,
    ) -> Result<Vec<Option<u32>>, BackendError> {
        let op = "argmax_rows";
        need(op, "input", x.len, rows * cols)?;
        let out = self.gpu.storage((rows * 4) as u64, "greedy tokens")?;
        let params = sh::ArgmaxParams {
            rows: u32_of(op, rows)?,
            cols: u32_of(op, cols)?,
        }
        .to_bytes();
        self.gpu.dispatch(
            ShaderId::Argmax,
            &[&x.buf, &out],
            &params,
            sh::workgroups_for_rows(u32_of(op, rows)?),
        )?;
        let bytes = self.gpu.read_bytes(&out, rows * 4)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .map(|i| (i != u32::MAX).then_some(i))
            .collect())
    }
}
