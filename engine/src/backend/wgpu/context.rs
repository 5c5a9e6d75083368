//! One wgpu device and everything the ops share: the pipelines (built once from the shader
//! crate's descriptions), the command encoder the ops record into, and the single point where
//! that work is submitted and waited for.
//!
//! Why one pending encoder: every op of a step records a dispatch (or a copy) and returns at
//! once; nothing is submitted until logits are read, so a step is one submission and one
//! readback. wgpu tracks the buffers each dispatch uses and orders dependent dispatches.

use super::adapters::{self, AdapterFacts};
use crate::backend::BackendError;
use bitnet_shaders::{BindingKind, ShaderId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wgpu::util::DeviceExt;

/// A compute pipeline with the bind-group layout its dispatches use.
struct Pipeline {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

/// The device, its queue and pipelines, and the work recorded since the last read.
pub(crate) struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipelines: HashMap<ShaderId, Pipeline>,
    pending: Mutex<Option<wgpu::CommandEncoder>>,
    /// The first validation or out-of-memory error since the last read: wgpu reports them
    /// asynchronously, and without a handler it would panic.
    error: Arc<Mutex<Option<String>>>,
    /// What the adapter is and its limits.
    pub facts: AdapterFacts,
    /// Bound where a shader declares an input the op does not use.
    unused: wgpu::Buffer,
}

/// A buffer's usage for everything the ops do with it.
const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

fn device_err(what: &str, e: impl std::fmt::Display) -> BackendError {
    BackendError::Device(format!("{what}: {e}"))
}

impl Gpu {
    /// Opens adapter `index` with its own limits (the largest buffers it allows) and builds
    /// every pipeline.
    pub(crate) fn open(index: usize) -> Result<Self, BackendError> {
        let instance = adapters::instance();
        let (adapter, facts) = adapters::open(&instance, index)?;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("bitnet"),
            required_features: wgpu::Features::empty(),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| device_err(&format!("cannot open {}", facts.name), e))?;
        let error = Arc::new(Mutex::new(None::<String>));
        let sink = Arc::clone(&error);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut slot) = sink.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        }));
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pipelines = ShaderId::ALL
            .into_iter()
            .map(|id| (id, build_pipeline(&device, id)))
            .collect();
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(device_err(
                &format!("{} rejected the shaders", facts.name),
                e,
            ));
        }
        let unused = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("unused input"),
            size: 16,
            usage: STORAGE,
            mapped_at_creation: false,
        });
        Ok(Gpu {
            device,
            queue,
            pipelines,
            pending: Mutex::new(None),
            error,
            facts,
            unused,
        })
    }

    /// A zeroed storage buffer of `bytes` (at least 16, so nothing binds an empty range).
    pub(crate) fn storage(&self, bytes: u64, label: &str) -> Result<wgpu::Buffer, BackendError> {
        let size = bytes.max(16).next_multiple_of(4);
        if size > self.facts.max_buffer {
            return Err(BackendError::Device(format!(
                "{label}: {size} bytes exceed {}'s largest buffer ({} bytes)",
                self.facts.name, self.facts.max_buffer
            )));
        }
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: STORAGE,
            mapped_at_creation: false,
        }))
    }

    /// A storage buffer holding `data` (padded with zeros to a multiple of 4 bytes, 16 at least).
    pub(crate) fn storage_with(&self, data: &[u8], label: &str) -> wgpu::Buffer {
        let mut padded;
        let mut contents = data;
        if data.len() < 16 || !data.len().is_multiple_of(4) {
            padded = data.to_vec();
            padded.resize(data.len().max(16).next_multiple_of(4), 0);
            contents = &padded;
        }
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage: STORAGE,
            })
    }

    /// A stand-in for a shader input the op does not read.
    pub(crate) fn unused(&self) -> &wgpu::Buffer {
        &self.unused
    }

    fn record<R>(&self, f: impl FnOnce(&mut wgpu::CommandEncoder) -> R) -> Result<R, BackendError> {
        let mut pending = self
            .pending
            .lock()
            .map_err(|_| BackendError::Device("a previous op panicked mid-recording".into()))?;
        let encoder = pending.get_or_insert_with(|| {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("step"),
                })
        });
        Ok(f(encoder))
    }

    /// Records one dispatch of `id` with `buffers` bound in the shader's binding order and
    /// `params` (the uniform, bound last).
    pub(crate) fn dispatch(
        &self,
        id: ShaderId,
        buffers: &[&wgpu::Buffer],
        params: &[u8],
        groups: [u32; 3],
    ) -> Result<(), BackendError> {
        if groups.contains(&0) {
            return Ok(());
        }
        let p = self
            .pipelines
            .get(&id)
            .ok_or_else(|| BackendError::Device(format!("no pipeline for {id:?}")))?;
        let src = id.source();
        if src.bindings.len() != buffers.len() + 1 {
            return Err(BackendError::Device(format!(
                "{}: {} buffers given for {} bindings",
                src.name,
                buffers.len(),
                src.bindings.len()
            )));
        }
        let max = self.facts.max_workgroups_per_dim;
        if groups.iter().any(|&g| g > max) {
            return Err(BackendError::Device(format!(
                "{}: {groups:?} workgroups exceed {}'s {max} per dimension",
                src.name, self.facts.name
            )));
        }
        let uniform = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(src.name),
                contents: params,
                usage: wgpu::BufferUsages::UNIFORM,
            });
        let entries: Vec<wgpu::BindGroupEntry<'_>> = buffers
            .iter()
            .copied()
            .chain(std::iter::once(&uniform))
            .zip(src.bindings)
            .map(|(b, binding)| wgpu::BindGroupEntry {
                binding: binding.binding,
                resource: b.as_entire_binding(),
            })
            .collect();
        let group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(src.name),
            layout: &p.layout,
            entries: &entries,
        });
        self.record(|enc| {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(src.name),
                timestamp_writes: None,
            });
            pass.set_pipeline(&p.pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        })
    }

    /// Records a copy of `bytes` between buffers.
    pub(crate) fn copy(
        &self,
        src: &wgpu::Buffer,
        src_offset: u64,
        dst: &wgpu::Buffer,
        dst_offset: u64,
        bytes: u64,
    ) -> Result<(), BackendError> {
        if bytes == 0 {
            return Ok(());
        }
        self.record(|enc| enc.copy_buffer_to_buffer(src, src_offset, dst, dst_offset, bytes))
    }

    /// Submits everything recorded, waits, and copies the first `out.len()` floats of `buf`
    /// to the host: the one synchronisation of a step.
    pub(crate) fn read(&self, buf: &wgpu::Buffer, out: &mut [f32]) -> Result<(), BackendError> {
        let bytes = self.read_bytes(buf, out.len() * 4)?;
        for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        Ok(())
    }

    /// [`Self::read`] of `len` raw bytes.
    pub(crate) fn read_bytes(
        &self,
        buf: &wgpu::Buffer,
        len: usize,
    ) -> Result<Vec<u8>, BackendError> {
        let bytes = len as u64;
        if bytes > buf.size() {
            return Err(BackendError::Shape {
                op: "read",
                why: format!("{len} bytes asked of a buffer of {}", buf.size()),
            });
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes.next_multiple_of(4).max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.copy(buf, 0, &staging, 0, bytes)?;
        self.submit()?;
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let slice = staging.slice(..bytes);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: None,
            })
            .map_err(|e| device_err("waiting for the GPU", e))?;
        self.take_error()?;
        rx.recv()
            .map_err(|e| device_err("readback", e))?
            .map_err(|e| device_err("readback", e))?;
        let out = slice
            .get_mapped_range()
            .map_err(|e| device_err("readback", e))?
            .to_vec();
        staging.unmap();
        Ok(out)
    }

    /// Submits the recorded work without waiting (weights uploaded at load, for one).
    pub(crate) fn submit(&self) -> Result<(), BackendError> {
        let encoder = self
            .pending
            .lock()
            .map_err(|_| BackendError::Device("a previous op panicked mid-recording".into()))?
            .take();
        if let Some(enc) = encoder {
            self.queue.submit([enc.finish()]);
        }
        self.take_error()
    }

    /// The error wgpu reported since the last call, if any.
    fn take_error(&self) -> Result<(), BackendError> {
        let e = self.error.lock().ok().and_then(|mut e| e.take());
        match e {
            Some(e) => Err(BackendError::Device(format!("{}: {e}", self.facts.name))),
            None => Ok(()),
        }
    }
}

fn build_pipeline(device: &wgpu::Device, id: ShaderId) -> Pipeline {
    let src = id.source();
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(src.name),
        source: wgpu::ShaderSource::Wgsl(src.wgsl.into()),
    });
    let entries: Vec<wgpu::BindGroupLayoutEntry> = src
        .bindings
        .iter()
        .map(|b| wgpu::BindGroupLayoutEntry {
            binding: b.binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match b.kind {
                    BindingKind::Storage { read_only } => {
                        wgpu::BufferBindingType::Storage { read_only }
                    }
                    BindingKind::Uniform => wgpu::BufferBindingType::Uniform,
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(src.name),
        entries: &entries,
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(src.name),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(src.name),
        layout: Some(&pipeline_layout),
        module: &module,
        entry_point: Some(src.entry_point),
        compilation_options: Default::default(),
        cache: None,
    });
    Pipeline { pipeline, layout }
}
