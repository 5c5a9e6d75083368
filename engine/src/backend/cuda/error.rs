//! Why the CUDA backend cannot start or run: what is missing on this machine, which device
//! cannot run the kernels, which driver call or kernel compilation failed.

use crate::backend::BackendError;

/// A CUDA failure, with what to do about it where there is something to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CudaError {
    /// The driver library cannot be loaded: no NVIDIA driver on this machine.
    #[error("no driver (libcuda.so not found)")]
    NoDriver,
    /// The driver is older than the API the backend calls.
    #[error(
        "the NVIDIA driver supports CUDA {found}, older than the {needed} this build needs; \
         update the driver"
    )]
    OldDriver {
        /// The driver's CUDA version.
        found: String,
        /// The oldest version accepted.
        needed: String,
    },
    /// NVRTC, which compiles the kernels at run time, cannot be loaded.
    #[error(
        "NVRTC not found (libnvrtc.so): the CUDA kernels are compiled at run time; install \
         the CUDA toolkit, or `pip install nvidia-cuda-nvrtc-cu12` and add its \
         nvidia/cuda_nvrtc/lib directory to LD_LIBRARY_PATH"
    )]
    NoNvrtc,
    /// A driver call failed.
    #[error("{what}: {error}")]
    Driver {
        /// What was being done.
        what: String,
        /// The driver's error.
        error: String,
    },
    /// No device with that ordinal.
    #[error("cuda:{index} does not exist: {why}")]
    NoDevice {
        /// The ordinal asked for.
        index: usize,
        /// What exists.
        why: String,
    },
    /// The device is too old for the kernels.
    #[error(
        "{name} has compute capability {major}.{minor}; the CUDA kernels need 6.1 or newer \
         (dp4a)"
    )]
    Capability {
        /// Device name.
        name: String,
        /// Compute capability, major.
        major: u32,
        /// Compute capability, minor.
        minor: u32,
    },
    /// NVRTC cannot target the device's architecture.
    #[error("NVRTC {nvrtc} cannot compile for compute_{arch} (it supports {supported})")]
    Arch {
        /// The architecture wanted, as `major * 10 + minor`.
        arch: u32,
        /// NVRTC's version.
        nvrtc: String,
        /// The architectures it supports.
        supported: String,
    },
    /// A kernel failed to compile.
    #[error("NVRTC {nvrtc} failed to compile {kernel} for compute_{arch}: {log}")]
    Compile {
        /// The kernel's module name.
        kernel: &'static str,
        /// The target architecture.
        arch: u32,
        /// NVRTC's version.
        nvrtc: String,
        /// NVRTC's log (or its error when there is none).
        log: String,
    },
    /// A launch's arguments do not match the kernel's parameter list.
    #[error("{kernel}: {why}")]
    Arguments {
        /// The kernel's module name.
        kernel: &'static str,
        /// What does not match.
        why: String,
    },
}

impl CudaError {
    /// A failed driver call, with the driver's description of the error.
    pub(crate) fn driver(what: impl Into<String>, e: cudarc::driver::DriverError) -> Self {
        CudaError::Driver {
            what: what.into(),
            error: format!("{e:?}"),
        }
    }
}

impl From<CudaError> for BackendError {
    fn from(e: CudaError) -> Self {
        BackendError::Device(e.to_string())
    }
}
