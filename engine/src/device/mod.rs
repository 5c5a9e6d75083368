//! Device discovery, validation against a model, and scoring: what `--device auto` picks and
//! what `bitnet devices` prints.
//!
//! Why apart from [`crate::backend`]: a backend drives the one device it is given, while
//! choosing that device needs facts about every device at once, and about the model. Discovery
//! opens no device (it reads CPUID, `/proc` and the drivers' adapter lists), so it is cheap
//! enough to run before every load. Nothing is simulated: no environment variable invents a
//! device or changes a fact.
//!
//! The flow: [`discover`] lists the devices ([`Discovery`]); [`ModelNeeds`] says what a model
//! asks of a device (weights, KV cache, its largest buffers); [`assess`] scores one device
//! against those needs (0 with the reasons when it cannot run the model); [`choose`] turns a
//! [`DeviceRequest`] (`--device`) into the devices to try, best first.
//!
//! CUDA devices come from driver queries (`backend::cuda::devices`); the driver is loaded at
//! run time, so without one [`Discovery::cuda`] says why ([`ApiStatus::Unavailable`]: "no
//! driver (libcuda.so not found)") and the other devices are listed as usual. Reading a CUDA
//! device's free memory retains its primary context for a moment: the one place discovery
//! touches a device.

mod cpu;
mod error;
#[cfg(test)]
mod fixtures;
mod needs;
mod request;
mod score;
mod select;

pub use cpu::{CpuFacts, MemInfo, parse_cgroup_limit, parse_meminfo};
pub use error::DeviceError;
pub use needs::{ModelNeeds, TensorNeed, human_bytes};
pub use request::DeviceRequest;
pub use score::{Assessment, assess, scores};
pub use select::{Choice, choose};

#[cfg(feature = "cuda")]
pub use crate::backend::cuda::CudaFacts;
#[cfg(feature = "wgpu")]
pub use crate::backend::wgpu::AdapterFacts;
use std::fmt;
use std::time::{Duration, Instant};

/// A device by the name `--device` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceId {
    /// The host CPU.
    Cpu,
    /// wgpu adapter `N`, in the order of `backend::wgpu::adapters()`.
    Wgpu(usize),
    /// CUDA device `N`, in the driver's ordinal order.
    Cuda(usize),
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceId::Cpu => f.write_str("cpu"),
            DeviceId::Wgpu(i) => write!(f, "wgpu:{i}"),
            DeviceId::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// A device that exists on this machine, with its facts.
///
/// Non-exhaustive: which variants exist depends on the engine's features (and CUDA adds one),
/// so code outside the engine keeps a catch-all arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Device {
    /// The host CPU (the CPU backend's SIMD kernels).
    Cpu(CpuFacts),
    /// A wgpu adapter (Vulkan, Metal or DX12).
    #[cfg(feature = "wgpu")]
    Wgpu(AdapterFacts),
    /// An NVIDIA GPU reached through the CUDA driver.
    #[cfg(feature = "cuda")]
    Cuda(CudaFacts),
}

impl Device {
    /// Its `--device` name.
    pub fn id(&self) -> DeviceId {
        match self {
            Device::Cpu(_) => DeviceId::Cpu,
            #[cfg(feature = "wgpu")]
            Device::Wgpu(a) => DeviceId::Wgpu(a.index),
            #[cfg(feature = "cuda")]
            Device::Cuda(c) => DeviceId::Cuda(c.index),
        }
    }

    /// The name the hardware or driver reports.
    pub fn name(&self) -> &str {
        match self {
            Device::Cpu(c) => &c.name,
            #[cfg(feature = "wgpu")]
            Device::Wgpu(a) => &a.name,
            #[cfg(feature = "cuda")]
            Device::Cuda(c) => &c.name,
        }
    }
}

/// Whether a GPU API is built into this binary and what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiStatus {
    /// This build does not contain the backend (a cargo feature is off, or it does not exist
    /// yet).
    NotBuilt,
    /// Discovery did not look (the user asked for another device).
    Skipped,
    /// Built, and this many devices found (possibly 0: no driver installed, for wgpu).
    Found(usize),
    /// Built, but it cannot be used here, and why (CUDA without a driver: "no driver
    /// (libcuda.so not found)").
    Unavailable(String),
}

/// Everything discovery found, and how long it took.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// The CPU first, then the wgpu adapters, then the CUDA devices, each in index order.
    pub devices: Vec<Device>,
    /// The wgpu backend.
    pub wgpu: ApiStatus,
    /// The CUDA backend.
    pub cuda: ApiStatus,
    /// Time spent on the CPU's facts.
    pub cpu_time: Duration,
    /// Time spent enumerating wgpu adapters (zero when not looked for).
    pub wgpu_time: Duration,
    /// Time spent querying the CUDA driver (zero when not looked for).
    pub cuda_time: Duration,
}

impl Discovery {
    /// The device `id`, when it exists.
    pub fn get(&self, id: DeviceId) -> Option<&Device> {
        self.devices.iter().find(|d| d.id() == id)
    }

    /// Total discovery time.
    pub fn elapsed(&self) -> Duration {
        self.cpu_time + self.wgpu_time + self.cuda_time
    }
}

/// Lists the CPU, every wgpu adapter and every CUDA device.
pub fn discover() -> Discovery {
    let d = discover_cpu();
    #[cfg(feature = "wgpu")]
    let d = add_wgpu(d);
    #[cfg(feature = "cuda")]
    let d = add_cuda(d);
    d
}

/// Adds the CUDA devices to `d`, or the reason there are none.
#[cfg(feature = "cuda")]
fn add_cuda(mut d: Discovery) -> Discovery {
    let t0 = Instant::now();
    // The library checks keep cudarc from panicking on a missing driver; catching a panic
    // anyway keeps a driver that misbehaves in an unforeseen way from taking discovery down.
    let found = std::panic::catch_unwind(crate::backend::cuda::devices);
    d.cuda_time = t0.elapsed();
    match found {
        Ok(Ok(devices)) => {
            d.cuda = ApiStatus::Found(devices.len());
            d.devices.extend(devices.into_iter().map(Device::Cuda));
        }
        Ok(Err(e)) => d.cuda = ApiStatus::Unavailable(e.to_string()),
        Err(_) => {
            d.cuda = ApiStatus::Unavailable("the CUDA driver library failed while queried".into())
        }
    }
    d
}

/// Adds the wgpu adapters to `d`.
#[cfg(feature = "wgpu")]
fn add_wgpu(mut d: Discovery) -> Discovery {
    let t0 = Instant::now();
    let adapters = crate::backend::wgpu::adapters();
    d.wgpu_time = t0.elapsed();
    d.wgpu = ApiStatus::Found(adapters.len());
    d.devices.extend(adapters.into_iter().map(Device::Wgpu));
    d
}

/// Lists the CPU only, leaving the GPU drivers untouched (for `--device cpu`).
pub fn discover_cpu() -> Discovery {
    let t0 = Instant::now();
    let cpu = CpuFacts::detect();
    Discovery {
        devices: vec![Device::Cpu(cpu)],
        wgpu: if cfg!(feature = "wgpu") {
            ApiStatus::Skipped
        } else {
            ApiStatus::NotBuilt
        },
        cuda: if cfg!(feature = "cuda") {
            ApiStatus::Skipped
        } else {
            ApiStatus::NotBuilt
        },
        cpu_time: t0.elapsed(),
        wgpu_time: Duration::ZERO,
        cuda_time: Duration::ZERO,
    }
}
