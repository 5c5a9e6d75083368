//! The wgpu adapters this machine offers, in one fixed order, so `--device wgpu:N`, `bitnet
//! devices` and [`super::WgpuBackend::new`] all mean the same adapter by `N`.

use crate::backend::BackendError;

/// What an adapter is and can do: the facts device scoring and `bitnet devices` use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterFacts {
    /// Index in [`adapters`] order (`--device wgpu:N`).
    pub index: usize,
    /// The driver's device name (lavapipe reports "llvmpipe (...)").
    pub name: String,
    /// Graphics API: Vulkan, Metal or Dx12.
    pub backend: String,
    /// DiscreteGpu, IntegratedGpu, VirtualGpu, Cpu or Other.
    pub device_type: String,
    /// Driver name and version, as reported.
    pub driver: String,
    /// Largest storage buffer one binding may cover (weights are split to fit it).
    pub max_storage_binding: u64,
    /// Largest buffer.
    pub max_buffer: u64,
    /// Most workgroups per dispatch dimension.
    pub max_workgroups_per_dim: u32,
    /// Workgroup shared memory, bytes.
    pub max_workgroup_storage: u32,
    /// Whether the adapter does f16 arithmetic in shaders (`SHADER_F16`).
    pub shader_f16: bool,
    /// Whether the adapter has subgroup operations (`SUBGROUP`).
    pub subgroups: bool,
    /// Whether the device is a CPU emulation (lavapipe, SwiftShader, WARP).
    pub is_cpu: bool,
}

/// A wgpu instance honouring the `WGPU_*` environment variables (`WGPU_BACKEND` and so on).
pub(crate) fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

/// Every adapter of every compiled-in native backend, in the instance's order.
pub(crate) fn enumerate(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
}

/// The facts of one adapter.
pub(crate) fn facts(index: usize, adapter: &wgpu::Adapter) -> AdapterFacts {
    let info = adapter.get_info();
    let limits = adapter.limits();
    let features = adapter.features();
    AdapterFacts {
        index,
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
        max_storage_binding: limits.max_storage_buffer_binding_size,
        max_buffer: limits.max_buffer_size,
        max_workgroups_per_dim: limits.max_compute_workgroups_per_dimension,
        max_workgroup_storage: limits.max_compute_workgroup_storage_size,
        shader_f16: features.contains(wgpu::Features::SHADER_F16),
        subgroups: features.contains(wgpu::Features::SUBGROUP),
        is_cpu: info.device_type == wgpu::DeviceType::Cpu,
    }
}

/// Facts of every adapter wgpu finds; empty when there is no Vulkan/Metal/DX12 driver.
pub fn adapters() -> Vec<AdapterFacts> {
    let instance = instance();
    enumerate(&instance)
        .iter()
        .enumerate()
        .map(|(i, a)| facts(i, a))
        .collect()
}

/// Adapter `index`, or an error that says what exists.
pub(crate) fn open(
    instance: &wgpu::Instance,
    index: usize,
) -> Result<(wgpu::Adapter, AdapterFacts), BackendError> {
    let mut all = enumerate(instance);
    if all.is_empty() {
        return Err(BackendError::Device(
            "no wgpu adapter found: no Vulkan, Metal or DX12 driver is installed (on Debian: \
             apt-get install mesa-vulkan-drivers libvulkan1 gives the CPU driver lavapipe)"
                .into(),
        ));
    }
    if index >= all.len() {
        let names: Vec<String> = all
            .iter()
            .enumerate()
            .map(|(i, a)| format!("wgpu:{i} {}", a.get_info().name))
            .collect();
        return Err(BackendError::Device(format!(
            "wgpu:{index} does not exist; adapters: {}",
            names.join(", ")
        )));
    }
    let adapter = all.swap_remove(index);
    let f = facts(index, &adapter);
    Ok((adapter, f))
}
