//! The shape checks the GPU backends (wgpu and CUDA) make before recording an op: a device
//! cannot bounds-check for us, so every size is checked on the host and a bad one is one clear
//! `BackendError::Shape` naming the op and the buffer.

use super::{AttnShape, BackendError, SeqChunk};

/// A shape error of `op`.
pub(crate) fn shape(op: &'static str, why: String) -> BackendError {
    BackendError::Shape { op, why }
}

/// `have ≥ want` values in the buffer `what` of `op`.
pub(crate) fn need(
    op: &'static str,
    what: &str,
    have: usize,
    want: usize,
) -> Result<(), BackendError> {
    if have < want {
        return Err(shape(
            op,
            format!("{what} holds {have} values, {want} needed"),
        ));
    }
    Ok(())
}

/// `v` as the kernels' 32-bit size.
pub(crate) fn u32_of(op: &'static str, v: usize) -> Result<u32, BackendError> {
    u32::try_from(v).map_err(|_| shape(op, format!("{v} does not fit the kernels' 32-bit sizes")))
}

/// Checks attention's buffers (lengths in values: queries, K cache, V cache, output) against
/// the chunk and the head layout; returns the positions the chunk's last query sees.
pub(crate) fn attention(
    lens: [usize; 4],
    chunk: SeqChunk,
    s: AttnShape,
) -> Result<usize, BackendError> {
    let op = "attention";
    let [q, k, v, out] = lens;
    if s.n_kv_head == 0 || !s.n_head.is_multiple_of(s.n_kv_head) {
        return Err(shape(
            op,
            format!(
                "{} query heads do not group over {} KV heads",
                s.n_head, s.n_kv_head
            ),
        ));
    }
    let (q_dim, kv_dim) = (s.n_head * s.head_dim, s.n_kv_head * s.head_dim);
    let seen = chunk.pos + chunk.len;
    need(op, "queries", q, (chunk.row + chunk.len) * q_dim)?;
    need(op, "output", out, (chunk.row + chunk.len) * q_dim)?;
    need(op, "K cache", k, seen * kv_dim)?;
    need(op, "V cache", v, seen * kv_dim)?;
    Ok(seen)
}

/// Checks a KV store of `chunk.len` rows of `row_len` from `src` into `cache`.
pub(crate) fn kv_store(
    cache: usize,
    src: usize,
    chunk: SeqChunk,
    row_len: usize,
) -> Result<(), BackendError> {
    need("kv_store", "source", src, (chunk.row + chunk.len) * row_len)?;
    need(
        "kv_store",
        "KV cache",
        cache,
        (chunk.pos + chunk.len) * row_len,
    )
}
