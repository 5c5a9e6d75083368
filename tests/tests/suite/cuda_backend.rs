//! The CUDA backend: the GPU conformance suite (gpu_conformance.rs) against the reference
//! backend on the first CUDA device, its memory accounting, and what it says on a machine
//! without CUDA; plus every kernel compiled by NVRTC for compute 6.1, 8.0 and 9.0, which needs
//! only libnvrtc, no GPU.
//!
//! Without a driver the device tests say so and pass, unless `BITNET_REQUIRE_CUDA=1` (the GPU
//! host's `scripts/gpu-check.sh`) makes that a failure. Without libnvrtc the compile test
//! skips, unless `BITNET_REQUIRE_NVRTC=1` (CI, which installs NVRTC from PyPI).
#![cfg(feature = "cuda")]

use crate::gpu_conformance::{GpuUnderTest, conformance_tests, gpu};
use bitnet_engine::backend::cuda::kernels::KernelId;
use bitnet_engine::backend::cuda::{self, Purpose, libs};
use bitnet_engine::backend::{CudaBackend, LmHeadFormat};
use bitnet_engine::device::{self, ApiStatus};
use bitnet_engine::gguf::GgufFile;
use bitnet_engine::model::Model;
use bitnet_tests::logits::greedy;
use bitnet_tests::repo_path;
use std::time::Instant;

impl GpuUnderTest for CudaBackend {
    const NAME: &'static str = "CUDA";
    const REQUIRE: &'static str = "BITNET_REQUIRE_CUDA";

    fn open(lm_head: LmHeadFormat) -> Result<Self, String> {
        CudaBackend::new(0)
            .map(|b| b.with_lm_head(lm_head))
            .map_err(|e| e.to_string())
    }
}

conformance_tests!(CudaBackend);

fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

/// Every kernel source compiles for the oldest architecture the kernels support (6.1, the
/// first with dp4a), Ampere (8.0) and Hopper (9.0), and its PTX declares the entry point the
/// backend loads.
#[test]
fn nvrtc_compiles_every_kernel_for_61_80_and_90() {
    let version = match libs::nvrtc() {
        Ok(v) => v,
        Err(e) => {
            assert!(
                !required("BITNET_REQUIRE_NVRTC"),
                "BITNET_REQUIRE_NVRTC=1 but: {e}"
            );
            eprintln!("skipping: {e}");
            return;
        }
    };
    let mut failures = Vec::new();
    for arch in [61u32, 80, 90] {
        for id in KernelId::ALL {
            let src = id.source();
            let t0 = Instant::now();
            match cuda::compile_kernel(id, arch) {
                Ok(ptx) => {
                    assert!(
                        ptx.contains(&format!(".entry {}(", src.entry)),
                        "{} for compute_{arch}: no .entry {} in the PTX",
                        src.name,
                        src.entry
                    );
                    assert!(
                        ptx.contains(&format!(".target sm_{arch}")),
                        "{} for compute_{arch}: PTX targets another architecture",
                        src.name
                    );
                    eprintln!(
                        "NVRTC {version}: {} for compute_{arch} in {:.0} ms, {} bytes of PTX",
                        src.name,
                        t0.elapsed().as_secs_f64() * 1e3,
                        ptx.len()
                    );
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Without a driver, discovery reports why in about a millisecond and the backend refuses
/// with the same words; with one, discovery lists what the backend opens.
#[test]
fn without_a_driver_discovery_and_the_backend_say_so() {
    let d = device::discover();
    match libs::driver() {
        Err(e) => {
            assert!(
                !required("BITNET_REQUIRE_CUDA"),
                "BITNET_REQUIRE_CUDA=1 but: {e}"
            );
            assert_eq!(d.cuda, ApiStatus::Unavailable(e.to_string()));
            assert!(
                d.cuda_time.as_millis() < 200,
                "CUDA discovery took {:?} without a driver",
                d.cuda_time
            );
            assert!(
                !d.devices
                    .iter()
                    .any(|x| x.id().to_string().starts_with("cuda"))
            );
            let err = CudaBackend::new(0).err().expect("no driver, no backend");
            assert!(err.to_string().contains(&e.to_string()), "{err}");
            if matches!(e, cuda::CudaError::NoDriver) {
                assert!(
                    err.to_string().contains("no driver (libcuda.so not found)"),
                    "{err}"
                );
            }
        }
        Ok(_) => {
            let ApiStatus::Found(n) = d.cuda else {
                panic!("a driver, but discovery says {:?}", d.cuda);
            };
            let listed = cuda::devices().expect("devices");
            assert_eq!(listed.len(), n);
            assert!(
                listed
                    .iter()
                    .all(|f| f.total_memory > 0 && !f.name.is_empty())
            );
        }
    }
}

/// Every allocation is accounted by purpose while a model runs, and nothing is left when the
/// model (weights, then backend) and its caches are gone. The kernels are in the PTX cache
/// afterwards.
#[test]
fn memory_is_accounted_by_purpose_and_nothing_leaks() {
    let Some(g) = gpu::<CudaBackend>() else {
        return;
    };
    let ledger = g.ledger().clone();
    assert_eq!(
        ledger.usage().current,
        0,
        "nothing allocated before the model"
    );
    let file = GgufFile::open(repo_path("models/bitnet-tiny-synthetic.gguf")).expect("open");
    let model = Model::load(&file, g, |_, _| {}).expect("loads on CUDA");
    let after_load = model.backend().memory();
    assert!(
        after_load.of(Purpose::Weights).current > 0,
        "{after_load:?}"
    );
    assert_eq!(after_load.of(Purpose::KvCache).current, 0);
    let tokens = greedy(&model, &[504, 72, 101, 108], 8);
    assert_eq!(tokens.len(), 8);
    let u = model.backend().memory();
    assert!(u.of(Purpose::KvCache).peak > 0, "{u:?}");
    assert!(u.of(Purpose::Activations).peak > 0, "{u:?}");
    assert!(u.of(Purpose::Scratch).current > 0, "{u:?}");
    // The session's cache and the step's activations are gone; weights and scratch remain.
    assert_eq!(u.of(Purpose::KvCache).current, 0, "{u:?}");
    assert_eq!(u.of(Purpose::Activations).current, 0, "{u:?}");
    assert!(u.peak >= u.current && u.peak > after_load.current, "{u:?}");
    let arch = model.backend().arch();
    drop(model);
    assert_eq!(ledger.leak_report(), None);
    assert_eq!(ledger.usage().current, 0);
    if let Some(dir) = cuda::ptx_cache_dir() {
        let cached = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(Result::ok).count())
            .unwrap_or(0);
        assert!(
            cached >= KernelId::ALL.len(),
            "{} PTX files in {} after loading compute_{arch} kernels",
            cached,
            dir.display()
        );
    }
}
