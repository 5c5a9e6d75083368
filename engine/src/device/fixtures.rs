//! Hand-made devices and needs for the scoring and selection tests (no GPU needed).

use super::{CpuFacts, Device, MemInfo, ModelNeeds, TensorNeed};

pub const GIB: u64 = 1 << 30;

/// An 8-thread AVX2 CPU with `memory`.
pub fn cpu(memory: Option<MemInfo>) -> Device {
    Device::Cpu(CpuFacts {
        name: "Test CPU".into(),
        threads: 8,
        simd: "avx2",
        memory,
    })
}

/// One ternary tensor of `weight_bytes` in the file and 2B-4T's KV shape (30 layers of
/// 640-wide rows), one sequence of `context` tokens.
pub fn needs(weight_bytes: u64, context: usize) -> ModelNeeds {
    let t = TensorNeed {
        name: "blk.0.ffn_down.weight".into(),
        rows: 2560,
        cols: 6912,
        ternary: true,
        file_bytes: weight_bytes,
        on_gpu: true,
    };
    ModelNeeds::new(vec![t], 30, 640, context, 1)
}

/// A Vulkan adapter of `device_type` ("Cpu" is an emulation, like lavapipe) with a 128 MiB
/// binding and 2 GiB buffers.
#[cfg(feature = "wgpu")]
pub fn adapter(index: usize, device_type: &str) -> Device {
    Device::Wgpu(super::AdapterFacts {
        index,
        name: format!("adapter {index}"),
        backend: "Vulkan".into(),
        device_type: device_type.into(),
        driver: "test 1.0".into(),
        max_storage_binding: 128 << 20,
        max_buffer: 2 * GIB,
        max_workgroups_per_dim: 65535,
        max_workgroup_storage: 32768,
        shader_f16: true,
        subgroups: true,
        is_cpu: device_type == "Cpu",
    })
}

/// An NVIDIA GPU of compute capability `compute` with 82 SMs, `total` bytes of memory and
/// `free` of them free, its driver and NVRTC at CUDA 12.8.
#[cfg(feature = "cuda")]
pub fn cuda(index: usize, compute: (u32, u32), total: u64, free: Option<u64>) -> Device {
    use crate::backend::cuda::CudaVersion;
    let v = CudaVersion {
        major: 12,
        minor: 8,
    };
    Device::Cuda(super::CudaFacts {
        index,
        name: format!("gpu {index}"),
        compute,
        sm_count: 82,
        total_memory: total,
        free_memory: free,
        driver: v,
        nvrtc: Ok(v),
    })
}
