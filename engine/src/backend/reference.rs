//! The scalar reference backend: plain, obviously-correct Rust on the host.
//!
//! It is the oracle every other backend is tested against, so it favours clarity over speed:
//! weights stay in their file layout (zero-copy from the memory map) and each output row is
//! decoded when it is needed. Rows are split across `threads` OS threads only because a
//! 2B model would otherwise be unusably slow even for tests.

use super::{
    AttnShape, Backend, BackendError, DeviceInfo, DeviceKind, MatmulInput, SeqChunk, WeightSource,
};
use crate::formats::{TensorType, TernaryRowDecoder, TlTiles, dequantize_row, tensor_nbytes};
use crate::gguf::TensorData;

/// Host-memory backend computing exactly the reference arithmetic of specs §2.
pub struct ReferenceBackend {
    info: DeviceInfo,
}

/// Per-token int8 activations: values, scale `s = 127/max|x|` and `Σq` per row.
pub struct RefQBuf {
    pub(crate) q: Vec<i8>,
    pub(crate) scale: Vec<f32>,
    pub(crate) cols: usize,
}

/// A weight kept in its file layout.
pub struct RefWeight {
    pub(crate) name: String,
    pub(crate) ty: TensorType,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) data: TensorData,
    /// Bytes per row for float types (every row is an independent run of blocks).
    pub(crate) row_bytes: usize,
    /// TL1/TL2 tile parameters.
    tiles: Option<TlTiles>,
}

impl RefWeight {
    fn decoder(&self) -> Result<TernaryRowDecoder<'_>, BackendError> {
        TernaryRowDecoder::with_tiles(self.ty, &self.data, self.rows, self.cols, self.tiles)
            .map_err(|source| BackendError::Weight {
                name: self.name.clone(),
                source,
            })
    }
}

impl ReferenceBackend {
    /// A backend using `threads` worker threads for matmuls (at least 1).
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        ReferenceBackend {
            info: DeviceInfo {
                name: format!("reference CPU ({threads} threads)"),
                kind: DeviceKind::Cpu,
                threads,
            },
        }
    }

    /// Runs `f(first_row, out_rows)` over disjoint row ranges on the worker threads and stitches
    /// the per-range `n_tok × range` results into `out` (`n_tok × rows`, row-major by token).
    fn par_rows<F>(
        &self,
        rows: usize,
        n_tok: usize,
        out: &mut [f32],
        f: F,
    ) -> Result<(), BackendError>
    where
        F: Fn(std::ops::Range<usize>, &mut [f32]) -> Result<(), BackendError> + Sync,
    {
        // Small matrices are not worth a thread spawn.
        let threads = if rows * n_tok < 4096 {
            1
        } else {
            self.info.threads.min(rows)
        };
        let per = rows.div_ceil(threads);
        let ranges: Vec<_> = (0..threads)
            .map(|t| (t * per).min(rows)..((t + 1) * per).min(rows))
            .collect();
        let results: Vec<Result<Vec<f32>, BackendError>> = std::thread::scope(|s| {
            let handles: Vec<_> = ranges
                .iter()
                .map(|r| {
                    let f = &f;
                    let r = r.clone();
                    s.spawn(move || {
                        let mut local = vec![0f32; r.len() * n_tok];
                        f(r, &mut local).map(|_| local)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(BackendError::Device("worker thread panicked".into()))
                    })
                })
                .collect()
        });
        for (r, local) in ranges.iter().zip(results) {
            let local = local?;
            let w = r.len();
            for t in 0..n_tok {
                out[t * rows + r.start..t * rows + r.end]
                    .copy_from_slice(&local[t * w..(t + 1) * w]);
            }
        }
        Ok(())
    }
}

/// The checked shape of one attention call; [`AttnPlan::attend`] computes one (query row,
/// head) pair, so backends can split the pairs across threads and compute exactly what the
/// reference computes.
pub(crate) struct AttnPlan {
    chunk: SeqChunk,
    n_head: usize,
    head_dim: usize,
    q_dim: usize,
    kv_dim: usize,
    group: usize,
    scale: f32,
}

impl AttnPlan {
    /// Checks the buffers against the shape.
    pub(crate) fn new(
        q: &[f32],
        k_cache: &[f32],
        v_cache: &[f32],
        chunk: SeqChunk,
        shape: AttnShape,
        out: &[f32],
    ) -> Result<Self, BackendError> {
        let AttnShape {
            n_head,
            n_kv_head,
            head_dim,
        } = shape;
        if n_kv_head == 0 || !n_head.is_multiple_of(n_kv_head) {
            return Err(shape_err(
                "attention",
                format!("{n_head} heads cannot share {n_kv_head} KV heads"),
            ));
        }
        let (q_dim, kv_dim) = (n_head * head_dim, n_kv_head * head_dim);
        let end = chunk.row + chunk.len;
        need("attention", "queries", q.len(), end * q_dim)?;
        need("attention", "output", out.len(), end * q_dim)?;
        need(
            "attention",
            "KV cache",
            k_cache.len().min(v_cache.len()),
            (chunk.pos + chunk.len) * kv_dim,
        )?;
        Ok(AttnPlan {
            chunk,
            n_head,
            head_dim,
            q_dim,
            kv_dim,
            group: n_head / n_kv_head,
            scale: 1.0 / (head_dim as f32).sqrt(),
        })
    }

    /// Pair `idx` = row·n_head + head of the chunk: causal softmax attention of that query
    /// over cache positions up to and including its own, written to `o` (head_dim values).
    /// `scores` holds at least pos + len values.
    pub(crate) fn attend(
        &self,
        q: &[f32],
        k_cache: &[f32],
        v_cache: &[f32],
        idx: usize,
        scores: &mut [f32],
        o: &mut [f32],
    ) {
        let (i, h) = (idx / self.n_head, idx % self.n_head);
        let (hd, kv_dim) = (self.head_dim, self.kv_dim);
        let n_ctx = self.chunk.pos + i + 1;
        let g = h / self.group;
        let qh = &q[(self.chunk.row + i) * self.q_dim + h * hd..][..hd];
        let mut max = f32::NEG_INFINITY;
        for (j, s) in scores[..n_ctx].iter_mut().enumerate() {
            let kj = &k_cache[j * kv_dim + g * hd..][..hd];
            *s = qh.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() * self.scale;
            max = max.max(*s);
        }
        let mut total = 0f32;
        for s in scores[..n_ctx].iter_mut() {
            *s = (*s - max).exp();
            total += *s;
        }
        o.fill(0.0);
        for (j, &p) in scores[..n_ctx].iter().enumerate() {
            let vj = &v_cache[j * kv_dim + g * hd..][..hd];
            let p = p / total;
            o.iter_mut().zip(vj).for_each(|(a, &b)| *a += p * b);
        }
    }

    /// [`AttnPlan::attend`] on `bitnet-cpu-simd`'s vector kernels: the same scores, softmax
    /// and weighted sum of value rows, equal to it within float rounding (lane-wise sums,
    /// fused multiply-adds, a vector exponential within 2e-7 relative).
    pub(crate) fn attend_simd(
        &self,
        q: &[f32],
        k_cache: &[f32],
        v_cache: &[f32],
        idx: usize,
        scores: &mut [f32],
        o: &mut [f32],
    ) {
        use bitnet_cpu_simd::float_ops::{attn_scores, softmax, weighted_sum};
        let (i, h) = (idx / self.n_head, idx % self.n_head);
        let hd = self.head_dim;
        let n_ctx = self.chunk.pos + i + 1;
        // This query's KV head: its rows start at g·hd and repeat every kv_dim values.
        let head_start = (h / self.group) * hd;
        let qh = &q[(self.chunk.row + i) * self.q_dim + h * hd..][..hd];
        let scores = &mut scores[..n_ctx];
        attn_scores(qh, &k_cache[head_start..], self.kv_dim, self.scale, scores);
        softmax(scores);
        weighted_sum(scores, &v_cache[head_start..], self.kv_dim, &mut o[..hd]);
    }
}

fn shape_err(op: &'static str, why: String) -> BackendError {
    BackendError::Shape { op, why }
}

/// The shape checks of `rope_neox` (shared with the CPU backend): `rows` rows of `dim` values
/// in `x_len`, and an even `n_rot` within the head.
pub(super) fn check_rope(
    x_len: usize,
    rows: usize,
    dim: usize,
    head_dim: usize,
    n_rot: usize,
) -> Result<(), BackendError> {
    need("rope", "input", x_len, rows * dim)?;
    if n_rot > head_dim || !n_rot.is_multiple_of(2) {
        return Err(shape_err(
            "rope",
            format!("n_rot {n_rot} must be even and ≤ head_dim {head_dim}"),
        ));
    }
    Ok(())
}

/// `Err(Shape)` unless a buffer of `have` values holds the `want` an op needs (shared with the
/// CPU backend, so both reject a bad shape with the same error).
pub(super) fn need(
    op: &'static str,
    what: &str,
    have: usize,
    want: usize,
) -> Result<(), BackendError> {
    if have < want {
        return Err(shape_err(
            op,
            format!("{what} holds {have} values, needs {want}"),
        ));
    }
    Ok(())
}

impl Backend for ReferenceBackend {
    type Buf = Vec<f32>;
    type QBuf = RefQBuf;
    type Weight = RefWeight;

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn upload_weight(&self, w: &WeightSource<'_>) -> Result<RefWeight, BackendError> {
        let [cols, rows] = w.dims;
        let werr = |source| BackendError::Weight {
            name: w.name.to_string(),
            source,
        };
        let row_bytes = if w.ty.is_ternary() {
            // Checks the size, and for TL types that the tiling fits the shape.
            TernaryRowDecoder::with_tiles(w.ty, &w.data, rows, cols, w.tiles).map_err(werr)?;
            0
        } else {
            let rb = tensor_nbytes(w.ty, &[cols as u64]).map_err(werr)? as usize;
            if rb * rows != w.data.len() {
                return Err(shape_err(
                    "upload_weight",
                    format!(
                        "'{}' has {} bytes, expected {}",
                        w.name,
                        w.data.len(),
                        rb * rows
                    ),
                ));
            }
            // Fail at load, not mid-generation, when the type has no decoder.
            let mut probe = vec![0f32; cols];
            if rows > 0 {
                dequantize_row(w.ty, &w.data[..rb], &mut probe).map_err(werr)?;
            }
            rb
        };
        Ok(RefWeight {
            name: w.name.to_string(),
            ty: w.ty,
            rows,
            cols,
            data: w.data.clone(),
            row_bytes,
            tiles: w.tiles,
        })
    }

    fn weight_is_ternary(&self, w: &RefWeight) -> bool {
        w.ty.is_ternary()
    }

    fn upload(&self, data: &[f32]) -> Result<Vec<f32>, BackendError> {
        Ok(data.to_vec())
    }

    fn alloc(&self, len: usize) -> Result<Vec<f32>, BackendError> {
        Ok(vec![0.0; len])
    }

    fn alloc_q(&self, rows: usize, cols: usize) -> Result<RefQBuf, BackendError> {
        Ok(RefQBuf {
            q: vec![0; rows * cols],
            scale: vec![0.0; rows],
            cols,
        })
    }

    fn embed(
        &self,
        table: &RefWeight,
        ids: &[u32],
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        let dim = table.cols;
        need("embed", "output", out.len(), ids.len() * dim)?;
        let mut codes = vec![0i8; dim];
        let mut scales = vec![0f32; dim.div_ceil(256).max(1)];
        for (i, &id) in ids.iter().enumerate() {
            let id = id as usize;
            if id >= table.rows {
                return Err(shape_err(
                    "embed",
                    format!("token id {id} is outside the vocabulary of {}", table.rows),
                ));
            }
            let dst = &mut out[i * dim..(i + 1) * dim];
            if table.ty.is_ternary() {
                let werr = |source| BackendError::Weight {
                    name: table.name.clone(),
                    source,
                };
                let dec = table.decoder()?;
                let bl = dec.decode_row(id, &mut codes, &mut scales).map_err(werr)?;
                for (k, v) in dst.iter_mut().enumerate() {
                    *v = f32::from(codes[k]) * scales[k / bl];
                }
            } else {
                let src = &table.data[id * table.row_bytes..(id + 1) * table.row_bytes];
                dequantize_row(table.ty, src, dst).map_err(|source| BackendError::Weight {
                    name: table.name.clone(),
                    source,
                })?;
            }
        }
        Ok(())
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
        need("rms_norm", "input", x.len(), rows * dim)?;
        need("rms_norm", "output", out.len(), rows * dim)?;
        need("rms_norm", "weight", w.len(), dim)?;
        for r in 0..rows {
            let xs = &x[r * dim..(r + 1) * dim];
            // Sum in f64 as ggml does, so long rows lose nothing.
            let sum: f64 = xs.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            let mean = (sum / dim as f64) as f32;
            let inv = 1.0 / (mean + eps).sqrt();
            for ((o, &v), &g) in out[r * dim..(r + 1) * dim].iter_mut().zip(xs).zip(w.iter()) {
                *o = v * inv * g;
            }
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
        need("quantize_act", "input", x.len(), rows * cols)?;
        if out.cols != cols || out.scale.len() < rows {
            return Err(shape_err(
                "quantize_act",
                format!("buffer is for {} cols, asked {cols}", out.cols),
            ));
        }
        for r in 0..rows {
            let xs = &x[r * cols..(r + 1) * cols];
            let max = xs
                .iter()
                .fold(0f64, |m, &v| m.max(f64::from(v.abs())))
                .max(1e-5);
            let s = (127.0 / max) as f32;
            for (q, &v) in out.q[r * cols..(r + 1) * cols].iter_mut().zip(xs) {
                *q = (v * s).round_ties_even().clamp(-128.0, 127.0) as i8;
            }
            out.scale[r] = s;
        }
        Ok(())
    }

    fn matmul(
        &self,
        w: &RefWeight,
        input: &MatmulInput<'_, Self>,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        let (n, k, m) = (input.rows, w.cols, w.rows);
        need("matmul", "output", out.len(), n * m)?;
        let werr = |source| BackendError::Weight {
            name: w.name.clone(),
            source,
        };
        if w.ty.is_ternary() {
            let q = input.q.ok_or_else(|| {
                shape_err(
                    "matmul",
                    format!("'{}' is ternary but no int8 activations were given", w.name),
                )
            })?;
            if q.cols != k || q.scale.len() < n {
                return Err(shape_err(
                    "matmul",
                    format!("'{}' takes K={k}, activations have {}", w.name, q.cols),
                ));
            }
            let dec = w.decoder()?;
            self.par_rows(m, n, &mut out[..n * m], |range, local| {
                let width = range.len();
                let mut codes = vec![0i8; k];
                let mut scales = vec![0f32; k.div_ceil(256).max(1)];
                for (ri, r) in range.enumerate() {
                    let bl = dec.decode_row(r, &mut codes, &mut scales).map_err(werr)?;
                    for t in 0..n {
                        let qt = &q.q[t * k..(t + 1) * k];
                        let s = q.scale[t];
                        let mut y = 0f32;
                        for (b, (cb, qb)) in codes.chunks(bl).zip(qt.chunks(bl)).enumerate() {
                            // Σ code·q equals (raw − Σq) of the unsigned-code kernels exactly.
                            let dot: i32 = cb
                                .iter()
                                .zip(qb)
                                .map(|(&c, &x)| i32::from(c) * i32::from(x))
                                .sum();
                            y += dot as f32 / s * scales[b];
                        }
                        local[t * width + ri] = y;
                    }
                }
                Ok(())
            })
        } else {
            need("matmul", "input", input.x.len(), n * k)?;
            // Float weights meet f32 activations: against llama.cpp's CPU logits for the
            // F16 fixture this gives max |Δ logit| 0.0036, rounding the activations to f16
            // first (ggml's F16 vec_dot type) gave 0.011.
            let x = input.x;
            self.par_rows(m, n, &mut out[..n * m], |range, local| {
                let width = range.len();
                let mut row = vec![0f32; k];
                for (ri, r) in range.enumerate() {
                    dequantize_row(
                        w.ty,
                        &w.data[r * w.row_bytes..(r + 1) * w.row_bytes],
                        &mut row,
                    )
                    .map_err(werr)?;
                    for t in 0..n {
                        let xt = &x[t * k..(t + 1) * k];
                        local[t * width + ri] = row.iter().zip(xt).map(|(a, b)| a * b).sum();
                    }
                }
                Ok(())
            })
        }
    }

    fn scale(&self, x: &mut Vec<f32>, len: usize, s: f32) -> Result<(), BackendError> {
        need("scale", "input", x.len(), len)?;
        x[..len].iter_mut().for_each(|v| *v *= s);
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
        let dim = n_heads * head_dim;
        check_rope(x.len(), positions.len(), dim, head_dim, n_rot)?;
        let half = n_rot / 2;
        // Angles by repeated multiplication, as ggml computes them, to stay within an ulp of it.
        let theta_scale = theta.powf(-2.0 / n_rot as f32);
        let mut cos_sin = vec![(0f32, 0f32); half];
        for (r, &pos) in positions.iter().enumerate() {
            let mut angle = pos as f32;
            for cs in cos_sin.iter_mut() {
                *cs = (angle.cos(), angle.sin());
                angle *= theta_scale;
            }
            for h in 0..n_heads {
                let head = &mut x[r * dim + h * head_dim..r * dim + (h + 1) * head_dim];
                for (i, &(c, s)) in cos_sin.iter().enumerate() {
                    let (a, b) = (head[i], head[i + half]);
                    head[i] = a * c - b * s;
                    head[i + half] = a * s + b * c;
                }
            }
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
        need(
            "kv_store",
            "source",
            src.len(),
            (chunk.row + chunk.len) * row_len,
        )?;
        need(
            "kv_store",
            "KV cache",
            cache.len(),
            (chunk.pos + chunk.len) * row_len,
        )?;
        cache[chunk.pos * row_len..(chunk.pos + chunk.len) * row_len]
            .copy_from_slice(&src[chunk.row * row_len..(chunk.row + chunk.len) * row_len]);
        Ok(())
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
        let plan = AttnPlan::new(q, k_cache, v_cache, chunk, shape, out)?;
        let mut scores = vec![0f32; chunk.pos + chunk.len];
        let q_dim = shape.n_head * shape.head_dim;
        let rows = &mut out[chunk.row * q_dim..(chunk.row + chunk.len) * q_dim];
        for (idx, o) in rows.chunks_exact_mut(shape.head_dim).enumerate() {
            plan.attend(q, k_cache, v_cache, idx, &mut scores, o);
        }
        Ok(())
    }

    fn add(&self, x: &mut Vec<f32>, y: &Vec<f32>, len: usize) -> Result<(), BackendError> {
        need("add", "x", x.len(), len)?;
        need("add", "y", y.len(), len)?;
        x[..len]
            .iter_mut()
            .zip(&y[..len])
            .for_each(|(a, b)| *a += b);
        Ok(())
    }

    fn relu2_mul(
        &self,
        gate: &mut Vec<f32>,
        up: &Vec<f32>,
        len: usize,
    ) -> Result<(), BackendError> {
        need("relu2_mul", "gate", gate.len(), len)?;
        need("relu2_mul", "up", up.len(), len)?;
        gate[..len].iter_mut().zip(&up[..len]).for_each(|(g, u)| {
            let r = g.max(0.0);
            *g = r * r * u;
        });
        Ok(())
    }

    fn silu_mul(&self, gate: &mut Vec<f32>, up: &Vec<f32>, len: usize) -> Result<(), BackendError> {
        need("silu_mul", "gate", gate.len(), len)?;
        need("silu_mul", "up", up.len(), len)?;
        gate[..len]
            .iter_mut()
            .zip(&up[..len])
            .for_each(|(g, u)| *g = *g / (1.0 + (-*g).exp()) * u);
        Ok(())
    }

    fn gather_rows(
        &self,
        x: &Vec<f32>,
        rows: &[usize],
        dim: usize,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        need("gather_rows", "output", out.len(), rows.len() * dim)?;
        for (i, &r) in rows.iter().enumerate() {
            need("gather_rows", "input", x.len(), (r + 1) * dim)?;
            out[i * dim..(i + 1) * dim].copy_from_slice(&x[r * dim..(r + 1) * dim]);
        }
        Ok(())
    }

    fn read(&self, buf: &Vec<f32>, out: &mut [f32]) -> Result<(), BackendError> {
        need("read", "buffer", buf.len(), out.len())?;
        out.copy_from_slice(&buf[..out.len()]);
        Ok(())
    }
}
