//! One CUDA device and everything the ops share: the context, the one stream every op is
//! queued on, the kernels (compiled for this device, or read from the PTX cache), the memory
//! ledger, and the single point where the host waits for the device.
//!
//! Why one stream: the graph's ops depend on each other in order, so one stream orders them
//! for free; nothing waits until [`Gpu::read`]. With one stream cudarc's per-buffer event
//! tracking (meant for several streams) would only add two events per buffer and a wait per
//! launch argument, so it is turned off before anything is allocated.

use super::buffer::DeviceBuf;
use super::compile::{self, PtxOrigin};
use super::devices::{self, CudaFacts, MIN_COMPUTE};
use super::memory::{MemoryLedger, Purpose};
use super::{CudaError, libs};
use crate::backend::BackendError;
use crate::device::human_bytes;
use bitnet_kernels_cuda::{self as kc, KernelId};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaStream, DevicePtr, DeviceRepr, LaunchConfig, PushKernelArg,
    ValidAsZeroBits,
};
use cudarc::nvrtc::Ptx;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// A kernel argument, checked against the kernel's declared parameter before the launch.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg {
    /// A device address (`const float*`, `unsigned int*`, …); 0 for an input the op does not
    /// read.
    Ptr(u64),
    /// `unsigned int`.
    U32(u32),
    /// `float`.
    F32(f32),
}

impl Arg {
    /// The address of a buffer.
    pub(crate) fn buf<T>(b: &DeviceBuf<T>) -> Arg {
        Arg::Ptr(b.ptr)
    }

    fn kind(&self) -> &'static str {
        match self {
            Arg::Ptr(_) => "pointer",
            Arg::U32(_) => "unsigned int",
            Arg::F32(_) => "float",
        }
    }

    /// Whether this argument fits a parameter declared with `c_type`.
    fn fits(&self, c_type: &str) -> bool {
        let t = c_type.trim();
        let t = t.strip_prefix("const ").unwrap_or(t).trim();
        match self {
            Arg::Ptr(_) => t.contains('*'),
            Arg::U32(_) => t == "unsigned int",
            Arg::F32(_) => t == "float",
        }
    }
}

/// The device, its stream and kernels, and the ledger of its memory.
pub(crate) struct Gpu {
    /// What the device is.
    pub(crate) facts: CudaFacts,
    /// The architecture the kernels were compiled for (`major * 10 + minor`).
    pub(crate) arch: u32,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    functions: HashMap<KernelId, CudaFunction>,
    /// Every allocation made through this device.
    pub(crate) ledger: MemoryLedger,
}

fn driver_err(what: &str, e: cudarc::driver::DriverError) -> BackendError {
    CudaError::driver(what, e).into()
}

impl Gpu {
    /// Opens device `index`: checks the driver, the device's compute capability and NVRTC,
    /// makes the stream and loads every kernel.
    pub(crate) fn open(index: usize) -> Result<Self, CudaError> {
        let facts = devices::open(index)?;
        if !facts.runs_kernels() {
            return Err(CudaError::Capability {
                name: facts.name.clone(),
                major: facts.compute.0,
                minor: facts.compute.1,
            });
        }
        debug_assert!(facts.compute >= MIN_COMPUTE);
        let nvrtc = libs::nvrtc()?;
        let arch = compile::target_arch(facts.compute)?;
        let ctx = CudaContext::new(index)
            .map_err(|e| CudaError::driver(format!("creating a context on cuda:{index}"), e))?;
        // SAFETY: one stream only (module docs), and no buffer exists yet.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx
            .new_stream()
            .map_err(|e| CudaError::driver("creating a stream", e))?;
        let t0 = Instant::now();
        let dir = compile::ptx_cache_dir();
        let mut functions = HashMap::new();
        let mut compiled = 0;
        for id in KernelId::ALL {
            let (f, origin) = load(&ctx, id, arch, dir.as_deref())?;
            compiled += usize::from(origin == PtxOrigin::Compiled);
            functions.insert(id, f);
        }
        tracing::info!(
            "cuda:{index} {}: compute {}.{}, kernels for compute_{arch} ({compiled} compiled \
             by NVRTC {nvrtc}, {} cached) in {:.0} ms",
            facts.name,
            facts.compute.0,
            facts.compute.1,
            KernelId::ALL.len() - compiled,
            t0.elapsed().as_secs_f64() * 1e3
        );
        Ok(Gpu {
            facts,
            arch,
            ctx,
            stream,
            functions,
            ledger: MemoryLedger::new(),
        })
    }

    /// A zeroed buffer of `len` values, recorded under `purpose`.
    pub(crate) fn alloc<T: DeviceRepr + ValidAsZeroBits>(
        &self,
        purpose: Purpose,
        len: usize,
        label: &str,
    ) -> Result<DeviceBuf<T>, BackendError> {
        let bytes = (len.max(1) * size_of::<T>()) as u64;
        let slice = self
            .stream
            .alloc_zeros::<T>(len.max(1))
            .map_err(|e| self.alloc_failed(purpose, bytes, label, e))?;
        let (ptr, _) = slice.device_ptr(&self.stream);
        Ok(DeviceBuf {
            ptr,
            len,
            _ticket: self.ledger.record(purpose, bytes, label),
            slice,
        })
    }

    /// A buffer holding `data`, recorded under `purpose`.
    pub(crate) fn upload<T: DeviceRepr + ValidAsZeroBits>(
        &self,
        purpose: Purpose,
        data: &[T],
        label: &str,
    ) -> Result<DeviceBuf<T>, BackendError> {
        let mut b = self.alloc(purpose, data.len(), label)?;
        self.write(&mut b, data)?;
        Ok(b)
    }

    fn alloc_failed(
        &self,
        purpose: Purpose,
        bytes: u64,
        label: &str,
        e: cudarc::driver::DriverError,
    ) -> BackendError {
        let u = self.ledger.usage();
        let held: Vec<String> = Purpose::ALL
            .iter()
            .filter(|&&p| u.of(p).current > 0)
            .map(|&p| format!("{p} {}", human_bytes(u.of(p).current)))
            .collect();
        let free = self
            .ctx
            .mem_get_info()
            .map_or_else(|_| "unknown".into(), |(f, _)| human_bytes(f as u64));
        BackendError::Device(format!(
            "cannot allocate {} for {purpose} '{label}' on cuda:{} ({}): {e:?}; this backend \
             holds {} ({}), {free} free",
            human_bytes(bytes),
            self.facts.index,
            self.facts.name,
            human_bytes(u.current),
            if held.is_empty() {
                "nothing".into()
            } else {
                held.join(", ")
            }
        ))
    }

    /// Queues a copy of `data` into the start of `dst` (ordered after the work already
    /// queued; the host memory may be reused when this returns).
    pub(crate) fn write<T: DeviceRepr>(
        &self,
        dst: &mut DeviceBuf<T>,
        data: &[T],
    ) -> Result<(), BackendError> {
        if data.is_empty() {
            return Ok(());
        }
        let mut view = dst
            .slice
            .try_slice_mut(0..data.len())
            .ok_or_else(|| out_of_bounds("write", data.len(), dst.len))?;
        self.stream
            .memcpy_htod(data, &mut view)
            .map_err(|e| driver_err("host-to-device copy", e))
    }

    /// Queues a copy of `len` values from `src[src_at..]` to `dst[dst_at..]`.
    pub(crate) fn copy<T>(
        &self,
        src: &DeviceBuf<T>,
        src_at: usize,
        dst: &mut DeviceBuf<T>,
        dst_at: usize,
        len: usize,
    ) -> Result<(), BackendError> {
        if len == 0 {
            return Ok(());
        }
        if src_at + len > src.len || dst_at + len > dst.len {
            return Err(out_of_bounds(
                "copy",
                src_at.max(dst_at) + len,
                src.len.min(dst.len),
            ));
        }
        let from = src
            .slice
            .try_slice(src_at..src_at + len)
            .ok_or_else(|| out_of_bounds("copy", src_at + len, src.len))?;
        let mut to = dst
            .slice
            .try_slice_mut(dst_at..dst_at + len)
            .ok_or_else(|| out_of_bounds("copy", dst_at + len, dst.len))?;
        self.stream
            .memcpy_dtod(&from, &mut to)
            .map_err(|e| driver_err("device-to-device copy", e))
    }

    /// Queues one launch of `id` with `args` in the kernel's parameter order, after checking
    /// them against its declaration (count and kind of each).
    pub(crate) fn launch(
        &self,
        id: KernelId,
        cfg: kc::LaunchConfig,
        args: &[Arg],
    ) -> Result<(), BackendError> {
        let src = id.source();
        check_args(src, args)?;
        let f = self
            .functions
            .get(&id)
            .ok_or_else(|| BackendError::Device(format!("{}: kernel not loaded", src.name)))?;
        let mut b = self.stream.launch_builder(f);
        for a in args {
            match a {
                Arg::Ptr(p) => b.arg(p),
                Arg::U32(v) => b.arg(v),
                Arg::F32(v) => b.arg(v),
            };
        }
        let cfg = LaunchConfig {
            grid_dim: cfg.grid_dim,
            block_dim: cfg.block_dim,
            shared_mem_bytes: cfg.shared_mem_bytes,
        };
        // SAFETY: the arguments match the kernel's declared parameters in number and kind
        // (checked above), every pointer is a live allocation of this context sized by the
        // op's shape checks, and the launch shape comes from the kernel crate's validated
        // launch function.
        unsafe { b.launch(cfg) }
            .map(|_| ())
            .map_err(|e| driver_err(&format!("launching {}", src.name), e))
    }

    /// Waits for everything queued, then copies the first `out.len()` values of `src` to the
    /// host: the one synchronisation of a step.
    pub(crate) fn read<T: DeviceRepr>(
        &self,
        src: &DeviceBuf<T>,
        out: &mut [T],
    ) -> Result<(), BackendError> {
        if out.len() > src.len {
            return Err(out_of_bounds("read", out.len(), src.len));
        }
        if !out.is_empty() {
            let view = src
                .slice
                .try_slice(0..out.len())
                .ok_or_else(|| out_of_bounds("read", out.len(), src.len))?;
            self.stream
                .memcpy_dtoh(&view, out)
                .map_err(|e| driver_err("device-to-host copy", e))?;
        }
        self.sync()
    }

    /// Waits for the stream, and reports an error the driver recorded where none could be
    /// returned (a free at drop, for one).
    pub(crate) fn sync(&self) -> Result<(), BackendError> {
        self.stream
            .synchronize()
            .map_err(|e| driver_err(&format!("running on cuda:{}", self.facts.index), e))?;
        self.ctx
            .check_err()
            .map_err(|e| driver_err(&format!("cuda:{}", self.facts.index), e))
    }
}

fn out_of_bounds(op: &'static str, want: usize, have: usize) -> BackendError {
    BackendError::Shape {
        op,
        why: format!("{want} values asked of a buffer of {have}"),
    }
}

/// `Ok` when `args` match `src.params` one for one.
fn check_args(src: &kc::KernelSource, args: &[Arg]) -> Result<(), CudaError> {
    let bad = |why: String| CudaError::Arguments {
        kernel: src.name,
        why,
    };
    if args.len() != src.params.len() {
        return Err(bad(format!(
            "{} arguments for {} parameters",
            args.len(),
            src.params.len()
        )));
    }
    for (i, (a, p)) in args.iter().zip(src.params).enumerate() {
        if !a.fits(p.c_type) {
            return Err(bad(format!(
                "argument {i} ('{}', {}) given a {}",
                p.name,
                p.c_type,
                a.kind()
            )));
        }
    }
    Ok(())
}

/// Loads kernel `id` into `ctx`, from the PTX cache when it has this kernel, else compiled;
/// a cached file the driver refuses is dropped and the kernel compiled afresh.
fn load(
    ctx: &Arc<CudaContext>,
    id: KernelId,
    arch: u32,
    dir: Option<&std::path::Path>,
) -> Result<(CudaFunction, PtxOrigin), CudaError> {
    let src = id.source();
    let try_load = |ptx: String| -> Result<CudaFunction, CudaError> {
        let module = ctx
            .load_module(Ptx::from_src(ptx))
            .map_err(|e| CudaError::driver(format!("loading {}'s PTX", src.name), e))?;
        module
            .load_function(src.entry)
            .map_err(|e| CudaError::driver(format!("finding {} in its module", src.entry), e))
    };
    let (ptx, origin) = compile::ptx_for(id, arch, dir)?;
    match try_load(ptx) {
        Ok(f) => Ok((f, origin)),
        Err(e) if origin == PtxOrigin::Cached => {
            tracing::debug!(
                "cached PTX of {} refused ({e}); compiling it again",
                src.name
            );
            compile::forget(id, arch, dir);
            let (ptx, _) = compile::ptx_for(id, arch, None)?;
            Ok((try_load(ptx)?, PtxOrigin::Compiled))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked_against_the_declared_parameters() {
        let src = KernelId::ALL[0].source();
        let good: Vec<Arg> = src
            .params
            .iter()
            .map(|p| {
                if p.c_type.contains('*') {
                    Arg::Ptr(0)
                } else if p.c_type.trim() == "float" {
                    Arg::F32(0.0)
                } else {
                    Arg::U32(0)
                }
            })
            .collect();
        assert_eq!(check_args(src, &good), Ok(()));
        let e = check_args(src, &good[1..]).expect_err("one short");
        assert!(e.to_string().contains("arguments for"), "{e}");
        let mut wrong = good.clone();
        wrong[0] = Arg::F32(1.0);
        let e = check_args(src, &wrong).expect_err("a float for a pointer");
        assert!(e.to_string().contains("argument 0"), "{e}");
    }

    #[test]
    fn argument_kinds_match_c_types() {
        assert!(Arg::Ptr(0).fits("const unsigned int* __restrict__"));
        assert!(Arg::Ptr(0).fits("float*"));
        assert!(!Arg::Ptr(0).fits("unsigned int"));
        assert!(Arg::U32(1).fits("unsigned int"));
        assert!(Arg::U32(1).fits("const unsigned int"));
        assert!(!Arg::U32(1).fits("int"));
        assert!(!Arg::U32(1).fits("float"));
        assert!(Arg::F32(1.0).fits("float"));
        assert!(!Arg::F32(1.0).fits("const float*"));
    }
}
