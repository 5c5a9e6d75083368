//! From `--device` to the devices to try: `auto` takes the best-scoring usable device that is
//! at least as good as the CPU backend; a named device is used only if it can run the model.

use super::score::SCORE_CPU;
use super::{ApiStatus, Assessment, DeviceError, DeviceId, DeviceRequest, Discovery};

/// The devices to try for a request, and why the first one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Best first. A named device (`cpu`, `wgpu:N`) gives one; `auto` and `wgpu` give every
    /// candidate, so a device that fails to open or to load the model hands over to the next.
    pub candidates: Vec<DeviceId>,
    /// Why the first candidate, in words.
    pub why: String,
}

/// Resolves `request` against `discovery` and its `scored` devices ([`super::scores`], same
/// order). Requests other than `cpu` need a full [`super::discover`].
pub fn choose(
    request: DeviceRequest,
    discovery: &Discovery,
    scored: &[Assessment],
) -> Result<Choice, DeviceError> {
    match request {
        DeviceRequest::Auto => auto(discovery, scored),
        DeviceRequest::Cpu => named(DeviceId::Cpu, discovery, scored),
        DeviceRequest::Wgpu(index) => gpu_api(&Api::WGPU, index, discovery, scored),
        DeviceRequest::Cuda(index) => gpu_api(&Api::CUDA, index, discovery, scored),
    }
}

fn name_of(discovery: &Discovery, id: DeviceId) -> String {
    discovery
        .get(id)
        .map_or_else(|| id.to_string(), |d| d.name().to_string())
}

/// `device: reason; reason` for each device that cannot run the model.
fn problems<'a>(
    discovery: &Discovery,
    scored: impl Iterator<Item = &'a Assessment>,
) -> Vec<String> {
    scored
        .filter(|a| !a.usable())
        .map(|a| {
            format!(
                "{} ({}): {}",
                a.id,
                name_of(discovery, a.id),
                a.problems.join("; ")
            )
        })
        .collect()
}

/// Usable assessments, best first; ties keep discovery order.
fn ranked<'a>(scored: impl Iterator<Item = &'a Assessment>) -> Vec<&'a Assessment> {
    let mut v: Vec<&Assessment> = scored.filter(|a| a.usable()).collect();
    v.sort_by_key(|a| std::cmp::Reverse(a.score));
    v
}

fn auto(discovery: &Discovery, scored: &[Assessment]) -> Result<Choice, DeviceError> {
    // A device scoring below the CPU backend (an emulated GPU) is never worth choosing.
    let best = ranked(scored.iter().filter(|a| a.score >= SCORE_CPU));
    let Some(first) = best.first() else {
        return Err(DeviceError::NoneUsable(
            problems(discovery, scored.iter()).join(" | "),
        ));
    };
    let others: Vec<String> = scored
        .iter()
        .filter(|a| a.id != first.id)
        .map(|a| {
            if a.usable() {
                format!("{} scores {}", a.id, a.score)
            } else {
                format!("{} cannot run it", a.id)
            }
        })
        .collect();
    let mut why = format!(
        "{} ({}): the highest score, {} as {}",
        first.id,
        name_of(discovery, first.id),
        first.score,
        first.class
    );
    if !others.is_empty() {
        why.push_str(&format!("; {}", others.join(", ")));
    }
    Ok(Choice {
        candidates: best.iter().map(|a| a.id).collect(),
        why,
    })
}

fn named(
    id: DeviceId,
    discovery: &Discovery,
    scored: &[Assessment],
) -> Result<Choice, DeviceError> {
    let Some(a) = scored.iter().find(|a| a.id == id) else {
        return Err(DeviceError::NotFound {
            device: id.to_string(),
            why: format!("devices here: {}", listing(discovery)),
        });
    };
    if !a.usable() {
        return Err(DeviceError::Unusable {
            device: id,
            name: name_of(discovery, id),
            why: a.problems.join("; "),
        });
    }
    Ok(Choice {
        candidates: vec![id],
        why: format!("{id} ({}): as asked; {}", name_of(discovery, id), a.class),
    })
}

fn listing(discovery: &Discovery) -> String {
    discovery
        .devices
        .iter()
        .map(|d| format!("{} {}", d.id(), d.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What differs between the GPU APIs when a request names one (`wgpu[:N]`, `cuda[:N]`).
struct Api {
    /// Its name in messages.
    name: &'static str,
    /// The request for device `N` (or the best).
    request: fn(Option<usize>) -> DeviceRequest,
    /// Its status in a discovery.
    status: fn(&Discovery) -> &ApiStatus,
    /// Whether a device id is one of its devices.
    owns: fn(DeviceId) -> bool,
    /// Its device `N`.
    id: fn(usize) -> DeviceId,
    /// Why a build lacks it, and what to use instead.
    not_built: &'static str,
    /// What "no devices" means for it.
    none_found: &'static str,
}

impl Api {
    const WGPU: Api = Api {
        name: "wgpu adapters",
        request: DeviceRequest::Wgpu,
        status: |d| &d.wgpu,
        owns: |id| matches!(id, DeviceId::Wgpu(_)),
        id: DeviceId::Wgpu,
        not_built: "this binary was built without the wgpu feature; use --device cpu",
        none_found: "no wgpu adapter found: no Vulkan, Metal or DX12 driver is installed (on \
                     Debian, apt-get install mesa-vulkan-drivers gives the CPU driver lavapipe)",
    };
    const CUDA: Api = Api {
        name: "CUDA devices",
        request: DeviceRequest::Cuda,
        status: |d| &d.cuda,
        owns: |id| matches!(id, DeviceId::Cuda(_)),
        id: DeviceId::Cuda,
        not_built: "this binary was built without the cuda feature; use --device wgpu or cpu",
        none_found: "the CUDA driver reports no device",
    };
}

fn gpu_api(
    api: &Api,
    index: Option<usize>,
    discovery: &Discovery,
    scored: &[Assessment],
) -> Result<Choice, DeviceError> {
    let device = (api.request)(index).to_string();
    match (api.status)(discovery) {
        ApiStatus::NotBuilt => {
            return Err(DeviceError::NotBuilt {
                device,
                why: api.not_built.into(),
            });
        }
        ApiStatus::Skipped => {
            return Err(DeviceError::NotFound {
                device,
                why: format!("{} were not looked for", api.name),
            });
        }
        ApiStatus::Unavailable(why) => {
            return Err(DeviceError::Unavailable {
                device,
                why: why.clone(),
            });
        }
        ApiStatus::Found(0) => {
            return Err(DeviceError::NotFound {
                device,
                why: api.none_found.into(),
            });
        }
        ApiStatus::Found(_) => {}
    }
    if let Some(i) = index {
        return named((api.id)(i), discovery, scored);
    }
    let mine = |a: &&Assessment| (api.owns)(a.id);
    let best = ranked(scored.iter().filter(mine));
    let Some(first) = best.first() else {
        return Err(DeviceError::NoneUsable(
            problems(discovery, scored.iter().filter(mine)).join(" | "),
        ));
    };
    Ok(Choice {
        why: format!(
            "{} ({}): the highest score of the {}, {} as {}",
            first.id,
            name_of(discovery, first.id),
            api.name,
            first.score,
            first.class
        ),
        candidates: best.iter().map(|a| a.id).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::fixtures::{GIB, cpu, needs};
    use crate::device::{Device, MemInfo, scores};
    use std::time::Duration;

    fn discovery(devices: Vec<Device>, wgpu: ApiStatus) -> Discovery {
        Discovery {
            devices,
            wgpu,
            cuda: ApiStatus::NotBuilt,
            cpu_time: Duration::ZERO,
            wgpu_time: Duration::ZERO,
            cuda_time: Duration::ZERO,
        }
    }

    fn pick(
        req: &str,
        d: &Discovery,
        n: Option<&crate::device::ModelNeeds>,
    ) -> Result<Choice, String> {
        let req: DeviceRequest = req.parse().map_err(|e: DeviceError| e.to_string())?;
        choose(req, d, &scores(d, n)).map_err(|e| e.to_string())
    }

    #[test]
    fn cpu_alone_is_auto_and_cpu_and_cuda_is_not_built() {
        let d = discovery(vec![cpu(None)], ApiStatus::Found(0));
        let c = pick("auto", &d, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.candidates, vec![DeviceId::Cpu]);
        assert!(
            c.why.starts_with("cpu (Test CPU): the highest score"),
            "{}",
            c.why
        );
        assert_eq!(
            pick("cpu", &d, None).map(|c| c.candidates),
            Ok(vec![DeviceId::Cpu])
        );
        let e = pick("cuda:0", &d, None).expect_err("refused");
        assert!(
            e.contains("cuda:0") && e.contains("built without the cuda feature"),
            "{e}"
        );
        let mut no_driver = discovery(vec![cpu(None)], ApiStatus::Found(0));
        no_driver.cuda = ApiStatus::Unavailable("no driver (libcuda.so not found)".into());
        let e = pick("cuda", &no_driver, None).expect_err("refused");
        assert_eq!(e, "cuda: no driver (libcuda.so not found)");
        no_driver.cuda = ApiStatus::Found(0);
        let e = pick("cuda:1", &no_driver, None).expect_err("refused");
        assert!(e.contains("the CUDA driver reports no device"), "{e}");
        let e = pick("wgpu", &d, None).expect_err("refused");
        assert!(e.contains("no wgpu adapter found"), "{e}");
        let d = discovery(vec![cpu(None)], ApiStatus::NotBuilt);
        let e = pick("wgpu:0", &d, None).expect_err("refused");
        assert!(e.contains("built without the wgpu feature"), "{e}");
    }

    #[test]
    fn a_cpu_without_room_is_refused_when_named_and_by_auto() {
        let mem = MemInfo {
            total: GIB,
            available: GIB,
        };
        let d = discovery(vec![cpu(Some(mem))], ApiStatus::Found(0));
        let n = needs(4 * GIB, 16);
        let e = pick("cpu", &d, Some(&n)).expect_err("refused");
        assert!(e.contains("cpu (Test CPU) cannot run this model"), "{e}");
        let e = pick("auto", &d, Some(&n)).expect_err("refused");
        assert!(
            e.starts_with("no device can run this model: cpu (Test CPU)"),
            "{e}"
        );
    }

    #[cfg(feature = "cuda")]
    mod cuda {
        use super::*;
        use crate::device::fixtures::cuda;

        #[test]
        fn auto_and_cuda_take_the_best_cuda_device_and_name_unusable_ones() {
            let mut d = discovery(
                vec![
                    cpu(None),
                    cuda(0, (6, 0), 8 * GIB, Some(8 * GIB)),
                    cuda(1, (8, 9), 24 * GIB, Some(20 * GIB)),
                ],
                ApiStatus::Found(0),
            );
            d.cuda = ApiStatus::Found(2);
            let c = pick("auto", &d, None).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.candidates, vec![DeviceId::Cuda(1), DeviceId::Cpu]);
            assert!(c.why.contains("cuda:0 cannot run it"), "{}", c.why);
            let c = pick("cuda", &d, None).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.candidates, vec![DeviceId::Cuda(1)]);
            assert!(
                c.why.contains("the highest score of the CUDA devices"),
                "{}",
                c.why
            );
            let e = pick("cuda:0", &d, None).expect_err("too old");
            assert!(e.contains("cuda:0 (gpu 0) cannot run this model"), "{e}");
            let e = pick("cuda:5", &d, None).expect_err("absent");
            assert!(
                e.contains("cuda:5 does not exist") && e.contains("cuda:1 gpu 1"),
                "{e}"
            );
            // A model that does not fit the free memory hands auto to the CPU.
            let c =
                pick("auto", &d, Some(&needs(GIB, 4096 * 64))).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.candidates, vec![DeviceId::Cpu]);
        }
    }

    #[cfg(feature = "wgpu")]
    mod wgpu {
        use super::*;
        use crate::device::fixtures::adapter;

        #[test]
        fn auto_takes_a_real_gpu_over_the_cpu_with_the_rest_as_fallbacks() {
            let d = discovery(
                vec![
                    cpu(None),
                    adapter(0, "Cpu"),
                    adapter(1, "IntegratedGpu"),
                    adapter(2, "DiscreteGpu"),
                ],
                ApiStatus::Found(3),
            );
            let c = pick("auto", &d, None).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                c.candidates,
                vec![DeviceId::Wgpu(2), DeviceId::Wgpu(1), DeviceId::Cpu]
            );
            assert!(
                c.why.starts_with("wgpu:2 (adapter 2): the highest"),
                "{}",
                c.why
            );
            assert!(c.why.contains("wgpu:0 scores 10"), "{}", c.why);
            // Bare `wgpu` takes the best adapter, named ones are taken as asked.
            let c = pick("wgpu", &d, None).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.candidates[0], DeviceId::Wgpu(2));
            let c = pick("wgpu:0", &d, None).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.candidates, vec![DeviceId::Wgpu(0)]);
        }

        #[test]
        fn auto_never_picks_an_emulated_gpu_but_wgpu_may() {
            let d = discovery(vec![cpu(None), adapter(0, "Cpu")], ApiStatus::Found(1));
            let c = pick("auto", &d, Some(&needs(GIB, 64))).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.candidates, vec![DeviceId::Cpu]);
            let c = pick("wgpu", &d, Some(&needs(GIB, 64))).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.candidates, vec![DeviceId::Wgpu(0)]);
        }

        #[test]
        fn a_missing_or_unusable_adapter_is_an_error_naming_it() {
            let mut small = adapter(1, "DiscreteGpu");
            if let Device::Wgpu(f) = &mut small {
                f.max_buffer = 1 << 20;
            }
            let d = discovery(
                vec![cpu(None), adapter(0, "Cpu"), small],
                ApiStatus::Found(2),
            );
            let n = needs(GIB, 4096);
            let e = pick("wgpu:7", &d, Some(&n)).expect_err("refused");
            assert!(
                e.contains("wgpu:7 does not exist") && e.contains("wgpu:1 adapter 1"),
                "{e}"
            );
            let e = pick("wgpu:1", &d, Some(&n)).expect_err("refused");
            assert!(
                e.contains("wgpu:1 (adapter 1) cannot run this model: one layer's K"),
                "{e}"
            );
            // Auto passes over the discrete GPU that cannot hold the model.
            let c = pick("auto", &d, Some(&n)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.candidates, vec![DeviceId::Cpu]);
            assert!(c.why.contains("wgpu:1 cannot run it"), "{}", c.why);
        }
    }
}
