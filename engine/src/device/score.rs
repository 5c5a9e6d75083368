//! Scoring: how much faster than the others a device should run a model, and whether it can
//! run it at all.
//!
//! The scores are classes, not measurements: an NVIDIA GPU through CUDA beats any wgpu adapter
//! (the same GPU through Vulkan included: the CUDA kernels use its integer dot products and the
//! driver's own compiler); a real GPU (discrete > integrated > virtual) beats the CPU backend; a GPU that wgpu emulates on the CPU (lavapipe, SwiftShader, WARP) or one of
//! unknown type scores below it, because it runs on the same cores as the CPU backend through
//! a slower path, so `auto` never picks it. A device that cannot hold the model scores 0, with
//! the reasons. Ties keep discovery order (the CPU first, then adapter index).

use super::needs::human_bytes;
use super::{CpuFacts, Device, DeviceId, Discovery, ModelNeeds};

/// The CPU backend's score: `auto` takes nothing that scores less.
pub const SCORE_CPU: u32 = 100;

/// One device's score against a model, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The device.
    pub id: DeviceId,
    /// Higher is better; 0 when the device cannot run the model.
    pub score: u32,
    /// What kind of device earned the score (before the model is considered).
    pub class: String,
    /// Why the device cannot run the model (empty when it can).
    pub problems: Vec<String>,
    /// How the model fits: memory it needs, how weights are split.
    pub notes: Vec<String>,
}

impl Assessment {
    /// True when the device can run the model.
    pub fn usable(&self) -> bool {
        self.score > 0
    }

    fn new(id: DeviceId, score: u32, class: impl Into<String>) -> Self {
        Assessment {
            id,
            score,
            class: class.into(),
            problems: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Scores 0 when any problem was found.
    fn settle(mut self) -> Self {
        if !self.problems.is_empty() {
            self.score = 0;
        }
        self
    }
}

/// Scores `device`, checking it against `needs` when a model is given.
pub fn assess(device: &Device, needs: Option<&ModelNeeds>) -> Assessment {
    match device {
        Device::Cpu(c) => assess_cpu(c, needs),
        #[cfg(feature = "wgpu")]
        Device::Wgpu(a) => wgpu::assess(a, needs),
        #[cfg(feature = "cuda")]
        Device::Cuda(c) => cuda::assess(c, needs),
    }
}

/// Every device of `discovery`, scored, in discovery order.
pub fn scores(discovery: &Discovery, needs: Option<&ModelNeeds>) -> Vec<Assessment> {
    discovery.devices.iter().map(|d| assess(d, needs)).collect()
}

fn assess_cpu(c: &CpuFacts, needs: Option<&ModelNeeds>) -> Assessment {
    let mut a = Assessment::new(
        DeviceId::Cpu,
        SCORE_CPU,
        format!("CPU backend ({} kernels, {} threads)", c.simd, c.threads),
    );
    let Some(n) = needs else {
        return a;
    };
    let need = n.weight_bytes().saturating_add(n.kv_bytes);
    let what = format!(
        "{} (weights {} + KV cache {} for {} × {} tokens)",
        human_bytes(need),
        human_bytes(n.weight_bytes()),
        human_bytes(n.kv_bytes),
        n.sequences,
        n.context
    );
    match c.memory {
        None => a
            .notes
            .push(format!("needs {what}; this OS does not report its memory")),
        Some(m) if need > m.total => a.problems.push(format!(
            "needs {what} of host memory, more than the {} this process may use",
            human_bytes(m.total)
        )),
        Some(m) if need > m.available => a.notes.push(format!(
            "needs {what}, more than the {} available now (of {}): expect paging",
            human_bytes(m.available),
            human_bytes(m.total)
        )),
        Some(m) => a.notes.push(format!(
            "needs {what} of host memory ({} available of {})",
            human_bytes(m.available),
            human_bytes(m.total)
        )),
    }
    a.settle()
}

#[cfg(feature = "wgpu")]
mod wgpu {
    use super::*;
    use crate::device::AdapterFacts;

    /// A discrete GPU.
    const SCORE_DISCRETE_GPU: u32 = 1000;
    /// An integrated GPU (it shares the host's memory bandwidth).
    const SCORE_INTEGRATED_GPU: u32 = 600;
    /// A virtualised GPU.
    const SCORE_VIRTUAL_GPU: u32 = 300;
    /// An adapter of unknown type: not known to beat the CPU backend.
    const SCORE_UNKNOWN_GPU: u32 = 50;
    /// A GPU emulated on the CPU: the same cores as the CPU backend, through a slower path.
    const SCORE_EMULATED_GPU: u32 = 10;

    /// The score of an adapter's kind, with the words that explain it.
    fn class(a: &AdapterFacts) -> (u32, String) {
        if a.is_cpu {
            return (
                SCORE_EMULATED_GPU,
                format!(
                    "{} GPU emulated on the CPU: the same cores as the CPU backend, slower; \
                     auto never picks it",
                    a.backend
                ),
            );
        }
        match a.device_type.as_str() {
            "DiscreteGpu" => (SCORE_DISCRETE_GPU, format!("discrete GPU ({})", a.backend)),
            "IntegratedGpu" => (
                SCORE_INTEGRATED_GPU,
                format!("integrated GPU ({})", a.backend),
            ),
            "VirtualGpu" => (SCORE_VIRTUAL_GPU, format!("virtual GPU ({})", a.backend)),
            other => (
                SCORE_UNKNOWN_GPU,
                format!(
                    "{} device of type '{other}': not known to beat the CPU backend",
                    a.backend
                ),
            ),
        }
    }

    pub(super) fn assess(a: &AdapterFacts, needs: Option<&ModelNeeds>) -> Assessment {
        let (score, class) = class(a);
        let mut out = Assessment::new(DeviceId::Wgpu(a.index), score, class);
        let Some(n) = needs else {
            return out;
        };
        // Weights are cut into whole rows that fit one binding (and one buffer); everything
        // else (the KV cache above all) is one buffer bound whole.
        let limit = a.max_storage_binding.min(a.max_buffer);
        let too_wide: Vec<String> = n
            .tensors
            .iter()
            .filter(|t| t.on_gpu && t.gpu_row_bytes() > limit)
            .map(|t| format!("{} ({} per row)", t.name, human_bytes(t.gpu_row_bytes())))
            .collect();
        if !too_wide.is_empty() {
            out.problems.push(format!(
                "a row of {} exceeds the largest binding of {}",
                too_wide.join(", "),
                human_bytes(limit)
            ));
        } else if let Some(t) = n.largest_gpu_tensor() {
            let rows_per_piece = (limit / t.gpu_row_bytes().max(1)).max(1);
            let pieces = t.rows.div_ceil(rows_per_piece);
            out.notes.push(format!(
                "largest tensor {}: {} on the device, {} of at most {} (max_storage_binding {}, \
                 max_buffer {})",
                t.name,
                human_bytes(t.gpu_bytes()),
                if pieces == 1 {
                    "one piece".to_string()
                } else {
                    format!("split into {pieces} pieces")
                },
                human_bytes(limit),
                human_bytes(a.max_storage_binding),
                human_bytes(a.max_buffer)
            ));
        }
        if n.kv_buffer_bytes > limit {
            out.problems.push(format!(
                "one layer's K cache for {} tokens is {}, more than the largest binding of {} \
                 (lower the context size)",
                n.context,
                human_bytes(n.kv_buffer_bytes),
                human_bytes(limit)
            ));
        }
        let weights = n.gpu_weight_bytes();
        out.notes.push(format!(
            "needs about {} on the device (weights {} + KV cache {} for {} × {} tokens); wgpu \
             does not report the device's memory, so a shortage shows at load",
            human_bytes(weights.saturating_add(n.kv_bytes)),
            human_bytes(weights),
            human_bytes(n.kv_bytes),
            n.sequences,
            n.context
        ));
        out.settle()
    }
}

#[cfg(feature = "cuda")]
mod cuda {
    use super::*;
    use crate::device::CudaFacts;

    /// An NVIDIA GPU through CUDA: above a discrete GPU through wgpu (1000).
    pub(super) const SCORE_CUDA_GPU: u32 = 1200;
    /// Device memory the CUDA context, the loaded kernels and the allocator take before any
    /// buffer of the model's.
    pub(super) const CONTEXT_RESERVE: u64 = 256 << 20;

    pub(super) fn assess(c: &CudaFacts, needs: Option<&ModelNeeds>) -> Assessment {
        let mut out = Assessment::new(
            DeviceId::Cuda(c.index),
            SCORE_CUDA_GPU,
            format!(
                "NVIDIA GPU via CUDA (compute {}.{}, {} SMs)",
                c.compute.0, c.compute.1, c.sm_count
            ),
        );
        if !c.runs_kernels() {
            let (major, minor) = crate::backend::cuda::MIN_COMPUTE;
            out.problems.push(format!(
                "compute capability {}.{} is below the {major}.{minor} the CUDA kernels need                  (dp4a)",
                c.compute.0, c.compute.1
            ));
        }
        if let Err(why) = &c.nvrtc {
            out.problems.push(why.clone());
        }
        let Some(n) = needs else {
            return out.settle();
        };
        let weights = n.gpu_weight_bytes();
        let need = weights
            .saturating_add(n.kv_bytes)
            .saturating_add(n.workspace_bytes)
            .saturating_add(CONTEXT_RESERVE);
        let what = format!(
            "{} (weights {} + KV cache {} for {} × {} tokens + workspace {} + CUDA context {})",
            human_bytes(need),
            human_bytes(weights),
            human_bytes(n.kv_bytes),
            n.sequences,
            n.context,
            human_bytes(n.workspace_bytes),
            human_bytes(CONTEXT_RESERVE)
        );
        let total = human_bytes(c.total_memory);
        match c.free_memory {
            _ if need > c.total_memory => out.problems.push(format!(
                "needs {what} of device memory, more than its {total}"
            )),
            Some(free) if need > free => out.problems.push(format!(
                "needs {what} of device memory, more than the {} free now (of {total})",
                human_bytes(free)
            )),
            Some(free) => out.notes.push(format!(
                "needs {what} of device memory ({} free of {total})",
                human_bytes(free)
            )),
            None => out.notes.push(format!(
                "needs {what} of device memory (of {total}; the free amount could not be read)"
            )),
        }
        out.settle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::MemInfo;
    use crate::device::fixtures::{GIB, cpu, needs};

    #[test]
    fn cpu_scores_its_class_and_notes_the_memory_it_needs() {
        let mem = MemInfo {
            total: 16 * GIB,
            available: 8 * GIB,
        };
        let a = assess(&cpu(Some(mem)), None);
        assert_eq!((a.id, a.score), (DeviceId::Cpu, SCORE_CPU));
        assert!(
            a.class.contains("avx2") && a.class.contains("8 threads"),
            "{a:?}"
        );
        let a = assess(&cpu(Some(mem)), Some(&needs(GIB, 4096)));
        assert!(a.usable() && a.problems.is_empty(), "{a:?}");
        assert!(
            a.notes[0].contains("8.00 GiB available of 16.00 GiB"),
            "{a:?}"
        );
    }

    #[test]
    fn cpu_without_room_scores_zero_with_the_reason() {
        let mem = MemInfo {
            total: 2 * GIB,
            available: GIB,
        };
        let a = assess(&cpu(Some(mem)), Some(&needs(3 * GIB, 16)));
        assert_eq!(a.score, 0);
        assert!(a.problems[0].contains("more than the 2.00 GiB"), "{a:?}");
        // Above what is free now but within the total: usable, with a warning.
        let a = assess(&cpu(Some(mem)), Some(&needs(GIB + GIB / 2, 16)));
        assert!(a.usable() && a.notes[0].contains("expect paging"), "{a:?}");
        // Unknown memory is not a reason to refuse.
        assert!(assess(&cpu(None), Some(&needs(100 * GIB, 16))).usable());
    }

    #[cfg(feature = "cuda")]
    mod cuda {
        use super::*;
        use crate::device::fixtures::cuda;

        #[test]
        fn a_cuda_gpu_beats_every_other_class() {
            let a = assess(&cuda(0, (8, 6), 24 * GIB, Some(20 * GIB)), None);
            assert_eq!(
                (a.id, a.score),
                (DeviceId::Cuda(0), super::super::cuda::SCORE_CUDA_GPU)
            );
            assert!(
                a.class.contains("compute 8.6") && a.class.contains("82 SMs"),
                "{a:?}"
            );
            assert!(a.score > SCORE_CPU);
            #[cfg(feature = "wgpu")]
            {
                let discrete = assess(&crate::device::fixtures::adapter(0, "DiscreteGpu"), None);
                assert!(a.score > discrete.score);
            }
        }

        #[test]
        fn an_old_gpu_or_a_missing_nvrtc_cannot_run_the_kernels() {
            let a = assess(&cuda(0, (6, 0), 8 * GIB, Some(8 * GIB)), None);
            assert_eq!(a.score, 0);
            assert!(a.problems[0].contains("6.0 is below the 6.1"), "{a:?}");
            let mut d = cuda(1, (7, 5), 8 * GIB, Some(8 * GIB));
            if let Device::Cuda(c) = &mut d {
                c.nvrtc = Err("NVRTC not found (libnvrtc.so)".into());
            }
            let a = assess(&d, None);
            assert_eq!(a.score, 0);
            assert!(a.problems[0].contains("NVRTC not found"), "{a:?}");
        }

        #[test]
        fn weights_kv_and_workspace_are_checked_against_free_memory() {
            let mut n = needs(GIB, 4096);
            n.workspace_bytes = GIB;
            let a = assess(&cuda(0, (8, 0), 40 * GIB, Some(30 * GIB)), Some(&n));
            assert!(a.usable(), "{a:?}");
            assert!(
                a.notes[0].contains("workspace 1.00 GiB") && a.notes[0].contains("30.00 GiB free"),
                "{a:?}"
            );
            // Fits the device, not what is free now: the GPU cannot page, so it is refused.
            let a = assess(&cuda(0, (8, 0), 40 * GIB, Some(GIB)), Some(&n));
            assert_eq!(a.score, 0);
            assert!(
                a.problems[0].contains("more than the 1.00 GiB free now"),
                "{a:?}"
            );
            let a = assess(&cuda(0, (8, 0), GIB + GIB / 2, None), Some(&n));
            assert_eq!(a.score, 0);
            assert!(a.problems[0].contains("more than its 1.50 GiB"), "{a:?}");
            let a = assess(&cuda(0, (8, 0), 40 * GIB, None), Some(&n));
            assert!(
                a.usable() && a.notes[0].contains("could not be read"),
                "{a:?}"
            );
        }
    }

    #[cfg(feature = "wgpu")]
    mod wgpu {
        use super::*;
        use crate::device::TensorNeed;
        use crate::device::fixtures::adapter;

        #[test]
        fn real_gpus_beat_the_cpu_and_emulated_ones_lose_to_it() {
            let score = |d: &Device| assess(d, None).score;
            let discrete = score(&adapter(0, "DiscreteGpu"));
            let integrated = score(&adapter(1, "IntegratedGpu"));
            let virtual_ = score(&adapter(2, "VirtualGpu"));
            let cpu_backend = score(&cpu(None));
            let lavapipe = score(&adapter(3, "Cpu"));
            let other = score(&adapter(4, "Other"));
            assert!(discrete > integrated && integrated > virtual_ && virtual_ > cpu_backend);
            assert!(cpu_backend > other && other > lavapipe && lavapipe > 0);
            let a = assess(&adapter(3, "Cpu"), None);
            assert_eq!(a.id, DeviceId::Wgpu(3));
            assert!(a.class.contains("emulated on the CPU"), "{a:?}");
        }

        #[test]
        fn a_big_tensor_is_split_to_fit_a_binding() {
            let mut n = needs(GIB, 4096);
            n.tensors.push(TensorNeed {
                name: "token_embd.weight".into(),
                rows: 128_256,
                cols: 2560,
                ternary: false,
                file_bytes: 656_670_720,
                on_gpu: true,
            });
            let a = assess(&adapter(0, "DiscreteGpu"), Some(&n));
            assert!(a.usable(), "{a:?}");
            // 128 MiB / 5120-byte f16 rows = 26214 rows a piece → 5 pieces.
            assert!(
                a.notes[0].contains("token_embd.weight") && a.notes[0].contains("5 pieces"),
                "{a:?}"
            );
            assert!(a.notes[1].contains("does not report"), "{a:?}");
        }

        #[test]
        fn rows_or_kv_buffers_beyond_a_binding_make_the_adapter_unusable() {
            let mut d = adapter(0, "DiscreteGpu");
            if let Device::Wgpu(f) = &mut d {
                f.max_storage_binding = 1024;
            }
            let a = assess(&d, Some(&needs(GIB, 4096)));
            assert_eq!(a.score, 0);
            assert!(a.problems[0].contains("blk.0.ffn_down.weight"), "{a:?}");
            assert!(a.problems[1].contains("K cache for 4096 tokens"), "{a:?}");
            // The limit is the smaller of binding and buffer.
            let mut d = adapter(0, "DiscreteGpu");
            if let Device::Wgpu(f) = &mut d {
                f.max_buffer = 1 << 20;
            }
            let a = assess(&d, Some(&needs(GIB, 4096)));
            assert_eq!(a.score, 0, "{a:?}");
            assert!(a.problems[0].contains("K cache"), "{a:?}");
        }
    }
}
