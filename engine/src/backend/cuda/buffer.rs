//! Device buffers that carry their ledger entry ([`super::memory`]), so every allocation is
//! accounted from creation to free, and the grow-only scratch buffers ops keep between calls.

use super::memory::Allocation;
use cudarc::driver::CudaSlice;
use std::sync::{Mutex, MutexGuard};

/// `len` values of `T` on the device, recorded in the backend's ledger until dropped.
///
/// The allocation may be larger than `len` (never empty, since the driver refuses zero-byte
/// allocations). Freeing is stream-ordered: work already queued that reads the buffer runs
/// first.
pub struct DeviceBuf<T> {
    pub(crate) slice: CudaSlice<T>,
    /// The device address, fixed for the allocation's life (kernel arguments take it).
    pub(crate) ptr: u64,
    pub(crate) len: usize,
    // Dropped after `slice`: the ledger shows the bytes until the free is queued.
    pub(crate) _ticket: Allocation,
}

impl<T> DeviceBuf<T> {
    /// Values this buffer holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A buffer an op reuses from call to call, grown (never shrunk) to the largest size asked.
///
/// Why: the ops that need temporary device memory (attention scores, rope positions, greedy
/// picks) run dozens of times a step; allocating each time would cost an allocation per op and
/// make peak memory depend on timing. All work runs on one stream, so reusing the buffer for
/// the next op needs no synchronisation.
pub(crate) struct Scratch<T> {
    pub(crate) label: &'static str,
    slot: Mutex<Option<DeviceBuf<T>>>,
}

impl<T> Scratch<T> {
    /// An empty scratch slot; `label` names it in the ledger.
    pub(crate) fn new(label: &'static str) -> Self {
        Scratch {
            label,
            slot: Mutex::new(None),
        }
    }

    /// The slot, locked for one op: callers enqueue their work while holding it, so two
    /// threads never interleave uses of the same buffer.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<DeviceBuf<T>>> {
        // A panic mid-op leaves at worst a buffer with stale contents, which every op rewrites.
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Frees the buffer (the backend does this before its leak check).
    pub(crate) fn clear(&self) {
        self.lock().take();
    }
}

/// The buffer in `slot`, (re)allocated when it holds fewer than `len` values. The old buffer's
/// free is stream-ordered, after the work that still reads it.
pub(crate) fn ensure<'s, T>(
    gpu: &super::context::Gpu,
    slot: &'s mut Option<DeviceBuf<T>>,
    len: usize,
    label: &'static str,
) -> Result<&'s mut DeviceBuf<T>, crate::backend::BackendError>
where
    T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits,
{
    if slot.as_ref().is_none_or(|b| b.len < len) {
        // The old buffer goes first, so the two never count against the device at once.
        *slot = None;
        return Ok(slot.insert(gpu.alloc(super::memory::Purpose::Scratch, len, label)?));
    }
    slot.as_mut()
        .ok_or_else(|| crate::backend::BackendError::Device(format!("{label}: no buffer")))
}
