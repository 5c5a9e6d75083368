//! The CUDA devices this machine has, in the driver's ordinal order, so `--device cuda:N`,
//! `bitnet devices` and [`super::CudaBackend::new`] all mean the same device by `N`.
//!
//! Every fact comes from a driver query. Free memory is the one that needs a context: the
//! device's primary context is retained for the query and released after it (a fraction of a
//! second per device, paid only when CUDA devices are looked for).

use super::CudaError;
use super::libs::{self, CudaVersion};
use cudarc::driver::CudaContext;
use cudarc::driver::result as cu;
use cudarc::driver::sys::{CUdevice_attribute as Attr, cudaError_enum};

/// The lowest compute capability the kernels run on (`__dp4a` arrived with 6.1).
pub const MIN_COMPUTE: (u32, u32) = (6, 1);

/// What a CUDA device is and can do: the facts scoring, validation and `bitnet devices` use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CudaFacts {
    /// The driver's ordinal (`--device cuda:N`).
    pub index: usize,
    /// The driver's device name.
    pub name: String,
    /// Compute capability (major, minor).
    pub compute: (u32, u32),
    /// Streaming multiprocessors.
    pub sm_count: u32,
    /// Device memory, bytes.
    pub total_memory: u64,
    /// Memory free now, bytes; `None` when not read (the backend's own lookup skips it) or when
    /// the query failed (the device is busy in exclusive mode, for one).
    pub free_memory: Option<u64>,
    /// The driver's CUDA version.
    pub driver: CudaVersion,
    /// NVRTC's version, or why it cannot be loaded (the kernels are compiled with it, so a
    /// device without it cannot run them).
    pub nvrtc: Result<CudaVersion, String>,
}

impl CudaFacts {
    /// Tensor cores (compute capability 7.0 and newer).
    pub fn tensor_cores(&self) -> bool {
        self.compute >= (7, 0)
    }

    /// Native FP16 arithmetic (5.3 and newer).
    pub fn fp16(&self) -> bool {
        self.compute >= (5, 3)
    }

    /// Native BF16 arithmetic (8.0 and newer).
    pub fn bf16(&self) -> bool {
        self.compute >= (8, 0)
    }

    /// Whether the kernels run on it (compute capability 6.1 and newer).
    pub fn runs_kernels(&self) -> bool {
        self.compute >= MIN_COMPUTE
    }
}

/// Every CUDA device, or why there are none to list: no driver, an old one, or a driver that
/// fails to start. A driver without devices is an empty list.
pub fn devices() -> Result<Vec<CudaFacts>, CudaError> {
    list(true)
}

/// [`devices`], reading free memory only when `free` (it costs a context per device).
fn list(free: bool) -> Result<Vec<CudaFacts>, CudaError> {
    let driver = libs::driver()?;
    match cu::init() {
        Ok(()) => {}
        // The driver is installed but sees no GPU (a container without the device nodes).
        Err(e) if e.0 == cudaError_enum::CUDA_ERROR_NO_DEVICE => return Ok(Vec::new()),
        Err(e) => return Err(CudaError::driver("cuInit", e)),
    }
    let n = cu::device::get_count().map_err(|e| CudaError::driver("cuDeviceGetCount", e))?;
    let nvrtc = libs::nvrtc().map_err(|e| e.to_string());
    (0..n.max(0) as usize)
        .map(|i| facts(i, driver, nvrtc.clone(), free))
        .collect()
}

/// The facts of device `index`, which exists; its free memory only when `free`.
fn facts(
    index: usize,
    driver: CudaVersion,
    nvrtc: Result<CudaVersion, String>,
    free: bool,
) -> Result<CudaFacts, CudaError> {
    let what = |call: &str| format!("{call} on cuda:{index}");
    let dev =
        cu::device::get(index as i32).map_err(|e| CudaError::driver(what("cuDeviceGet"), e))?;
    let attr = |a: Attr| -> Result<u32, CudaError> {
        // SAFETY: `dev` is a valid device handle from cuDeviceGet.
        unsafe { cu::device::get_attribute(dev, a) }
            .map(|v| v.max(0) as u32)
            .map_err(|e| CudaError::driver(what("cuDeviceGetAttribute"), e))
    };
    let name =
        cu::device::get_name(dev).map_err(|e| CudaError::driver(what("cuDeviceGetName"), e))?;
    let compute = (
        attr(Attr::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
        attr(Attr::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
    );
    let sm_count = attr(Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?;
    // SAFETY: as above.
    let total_memory = unsafe { cu::device::total_mem(dev) }
        .map_err(|e| CudaError::driver(what("cuDeviceTotalMem"), e))? as u64;
    let free_memory = if free {
        // The context is current on this thread while it lives; released (and destroyed when
        // nothing else holds it), it must not stay current, or a later context could be taken
        // for bound when it is not.
        let info = CudaContext::new(index).and_then(|ctx| ctx.mem_get_info());
        // SAFETY: unbinding (a null context) is always valid.
        let _ = unsafe { cu::ctx::set_current(std::ptr::null_mut()) };
        info.ok().map(|(free, _)| free as u64)
    } else {
        None
    };
    Ok(CudaFacts {
        index,
        name: name.trim().to_string(),
        compute,
        sm_count,
        total_memory,
        free_memory,
        driver,
        nvrtc,
    })
}

/// Device `index` (without its free memory: the backend is about to make its own context), or
/// an error that says what exists.
pub(crate) fn open(index: usize) -> Result<CudaFacts, CudaError> {
    let all = list(false)?;
    let listing = || {
        if all.is_empty() {
            "the driver reports no CUDA device".to_string()
        } else {
            let names: Vec<String> = all
                .iter()
                .map(|f| format!("cuda:{} {}", f.index, f.name))
                .collect();
            format!("devices: {}", names.join(", "))
        }
    };
    match all.get(index) {
        Some(f) => Ok(f.clone()),
        None => Err(CudaError::NoDevice {
            index,
            why: listing(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts_with(compute: (u32, u32)) -> CudaFacts {
        CudaFacts {
            index: 0,
            name: "test".into(),
            compute,
            sm_count: 1,
            total_memory: 1,
            free_memory: None,
            driver: CudaVersion {
                major: 12,
                minor: 8,
            },
            nvrtc: Err("none".into()),
        }
    }

    #[test]
    fn features_follow_the_compute_capability() {
        let pascal = facts_with((6, 1));
        assert!(pascal.runs_kernels() && pascal.fp16());
        assert!(!pascal.tensor_cores() && !pascal.bf16());
        let volta = facts_with((7, 0));
        assert!(volta.tensor_cores() && !volta.bf16());
        let ampere = facts_with((8, 6));
        assert!(ampere.tensor_cores() && ampere.bf16());
        let maxwell = facts_with((5, 3));
        assert!(maxwell.fp16() && !maxwell.runs_kernels());
        assert!(!facts_with((6, 0)).runs_kernels());
        assert!(facts_with((12, 0)).runs_kernels());
    }

    #[test]
    fn listing_without_a_driver_is_an_error_not_a_panic() {
        match devices() {
            Ok(list) => assert!(list.iter().enumerate().all(|(i, f)| f.index == i)),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
        if libs::driver().is_err() {
            assert_eq!(open(0).err(), libs::driver().err());
        }
    }
}
