//! The Backend trait: the dozen device-resident ops the BitNet graph is written against.
//!
//! Why op-level and device-resident: the graph in [`crate::model`] is written once and never
//! matches on a device; a backend owns its buffers, uploads each weight once in the layout it
//! prefers, may queue work without waiting, and synchronises only in [`Backend::read`]. Adding
//! a backend means implementing this trait and passing the conformance suite in `tests/`.

pub mod cpu;
mod cpu_bandwidth;
mod cpu_float;
mod cpu_kernel_choice;
mod cpu_pool;
mod cpu_ternary;
#[cfg(feature = "cuda")]
pub mod cuda;
mod error;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod gpu_checks;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod gpu_prep;
pub mod reference;
#[cfg(feature = "wgpu")]
pub mod wgpu;

#[cfg(feature = "cuda")]
pub use self::cuda::CudaBackend;
#[cfg(feature = "wgpu")]
pub use self::wgpu::WgpuBackend;
pub use cpu::{CpuBackend, LmHeadFormat};
pub use error::BackendError;
pub use reference::ReferenceBackend;

use crate::formats::{TensorType, TlTiles};
use crate::gguf::TensorData;

/// What kind of device a backend runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// Host CPU.
    Cpu,
    /// A GPU reached through wgpu (Vulkan, Metal, DX12).
    Wgpu,
    /// An NVIDIA GPU reached through the CUDA driver.
    Cuda,
}

/// Facts about the device a backend drives.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// Human-readable device name.
    pub name: String,
    /// Device class.
    pub kind: DeviceKind,
    /// Worker threads (CPU) or a comparable parallelism figure.
    pub threads: usize,
}

/// A weight tensor as stored in the model file, handed to [`Backend::upload_weight`].
///
/// `dims` follow ggml order: `dims[0]` is the input (row) length K, `dims[1]` the number of
/// output rows M.
#[derive(Debug, Clone)]
pub struct WeightSource<'a> {
    /// Tensor name, for error messages.
    pub name: &'a str,
    /// Storage type.
    pub ty: TensorType,
    /// ggml dimensions `[K, M]`.
    pub dims: [usize; 2],
    /// The raw bytes (shared with the memory map).
    pub data: TensorData,
    /// For TL1/TL2: the tile parameters the tensor was packed with (resolved by the loader
    /// from the file, the user's kernel_config.ini or bitnet.cpp's presets).
    pub tiles: Option<TlTiles>,
}

/// Which rows of a batch belong to one sequence, and where that sequence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqChunk {
    /// First row of this sequence's tokens in the batch buffers.
    pub row: usize,
    /// Number of new tokens.
    pub len: usize,
    /// Position of the first new token (tokens already in this sequence's KV cache).
    pub pos: usize,
}

/// Head layout of attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttnShape {
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads (n_head is a multiple of it: grouped-query attention).
    pub n_kv_head: usize,
    /// Dimension of one head.
    pub head_dim: usize,
}

/// Activations for a matmul: the float rows and, when any consumer is ternary, their
/// per-token int8 quantization (computed once, shared by Q/K/V or gate/up).
pub struct MatmulInput<'a, B: Backend + ?Sized> {
    /// Float activations, `rows × K`.
    pub x: &'a B::Buf,
    /// Int8 activations from [`Backend::quantize_act`], required for ternary weights.
    pub q: Option<&'a B::QBuf>,
    /// Number of rows (tokens).
    pub rows: usize,
}

/// The ops of the BitNet graph. Buffers are row-major f32 matrices; `rows` arguments give the
/// used rows, buffers may be larger.
pub trait Backend: Send + Sync {
    /// A device buffer of f32 values.
    type Buf: Send + Sync;
    /// Per-token int8 activations with their scales and sums.
    type QBuf: Send + Sync;
    /// A matmul weight in this backend's execution layout.
    type Weight: Send + Sync;

    /// The device this backend drives.
    fn info(&self) -> &DeviceInfo;

    /// Uploads a `[M, K]` weight once, converting it to the backend's layout. Ternary types
    /// run as int8×ternary; everything else as float.
    fn upload_weight(&self, w: &WeightSource<'_>) -> Result<Self::Weight, BackendError>;
    /// True when this weight consumes int8 activations.
    fn weight_is_ternary(&self, w: &Self::Weight) -> bool;
    /// Uploads small float data (norm weights).
    fn upload(&self, data: &[f32]) -> Result<Self::Buf, BackendError>;
    /// A zeroed buffer of `len` floats.
    fn alloc(&self, len: usize) -> Result<Self::Buf, BackendError>;
    /// A zeroed buffer of `len` floats for one layer's K or V cache. The same as
    /// [`Backend::alloc`] unless the backend accounts its memory by purpose (CUDA).
    fn alloc_kv(&self, len: usize) -> Result<Self::Buf, BackendError> {
        self.alloc(len)
    }
    /// A buffer for `rows × cols` int8 activations.
    fn alloc_q(&self, rows: usize, cols: usize) -> Result<Self::QBuf, BackendError>;

    /// `out[i] = row ids[i] of the [vocab, dim] table` (dequantized).
    fn embed(
        &self,
        table: &Self::Weight,
        ids: &[u32],
        out: &mut Self::Buf,
    ) -> Result<(), BackendError>;
    /// RMSNorm of each `dim`-row of `x`, times `w`.
    fn rms_norm(
        &self,
        x: &Self::Buf,
        w: &Self::Buf,
        rows: usize,
        dim: usize,
        eps: f32,
        out: &mut Self::Buf,
    ) -> Result<(), BackendError>;
    /// Per-token absmax int8 quantization (specs/formats-and-models.md §2).
    fn quantize_act(
        &self,
        x: &Self::Buf,
        rows: usize,
        cols: usize,
        out: &mut Self::QBuf,
    ) -> Result<(), BackendError>;
    /// `out[r] = W · x[r]` for each row; ternary weights use `input.q` and the exact rescale
    /// `y = (raw − Σq)/s · w_scale`.
    fn matmul(
        &self,
        w: &Self::Weight,
        input: &MatmulInput<'_, Self>,
        out: &mut Self::Buf,
    ) -> Result<(), BackendError>;
    /// Multiplies the first `len` values by `s` (the `bitnet` architecture's `*.scale`).
    fn scale(&self, x: &mut Self::Buf, len: usize, s: f32) -> Result<(), BackendError>;
    /// NEOX rotary embedding over the first `n_rot` dims of each head; `positions[r]` is row r's
    /// position.
    fn rope_neox(
        &self,
        x: &mut Self::Buf,
        positions: &[usize],
        n_heads: usize,
        head_dim: usize,
        n_rot: usize,
        theta: f32,
    ) -> Result<(), BackendError>;
    /// Copies `chunk.len` rows of `src` (from `chunk.row`) into a KV cache at `chunk.pos`.
    fn kv_store(
        &self,
        cache: &mut Self::Buf,
        src: &Self::Buf,
        chunk: SeqChunk,
        row_len: usize,
    ) -> Result<(), BackendError>;
    /// Causal attention of the chunk's query rows over cache positions `0..chunk.pos+chunk.len`
    /// (scale 1/√head_dim), writing the chunk's rows of `out`.
    fn attention(
        &self,
        q: &Self::Buf,
        k_cache: &Self::Buf,
        v_cache: &Self::Buf,
        chunk: SeqChunk,
        shape: AttnShape,
        out: &mut Self::Buf,
    ) -> Result<(), BackendError>;
    /// `x += y` over `len` values.
    fn add(&self, x: &mut Self::Buf, y: &Self::Buf, len: usize) -> Result<(), BackendError>;
    /// `gate = relu(gate)² · up` (BitNet b1.58 FFN).
    fn relu2_mul(
        &self,
        gate: &mut Self::Buf,
        up: &Self::Buf,
        len: usize,
    ) -> Result<(), BackendError>;
    /// `gate = silu(gate) · up` (the `bitnet` architecture's FFN).
    fn silu_mul(
        &self,
        gate: &mut Self::Buf,
        up: &Self::Buf,
        len: usize,
    ) -> Result<(), BackendError>;
    /// `out[i] = x[rows[i]]` for `dim`-rows (selects the positions that need logits).
    fn gather_rows(
        &self,
        x: &Self::Buf,
        rows: &[usize],
        dim: usize,
        out: &mut Self::Buf,
    ) -> Result<(), BackendError>;
    /// Copies the first `out.len()` values to the host; the one synchronisation point.
    fn read(&self, buf: &Self::Buf, out: &mut [f32]) -> Result<(), BackendError>;

    /// The greedy token of each of the first `rows` rows of `cols` values
    /// ([`crate::sampling::greedy_pick`]'s rule), read to the host in place of the rows; `None`
    /// for a row where nothing qualifies. A device backend overrides this to read back one
    /// index per row instead of a vocabulary of logits.
    fn argmax_rows(
        &self,
        x: &Self::Buf,
        rows: usize,
        cols: usize,
    ) -> Result<Vec<Option<u32>>, BackendError> {
        let mut host = vec![0f32; rows * cols];
        self.read(x, &mut host)?;
        Ok(host
            .chunks(cols.max(1))
            .take(rows)
            .map(crate::sampling::greedy_pick)
            .collect())
    }
}
