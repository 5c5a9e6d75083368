//! The wgpu backend against the reference backend, on whatever adapter wgpu finds (lavapipe in
//! CI): the GPU conformance suite (gpu_conformance.rs).
//!
//! With no adapter the tests say so and pass, unless `BITNET_REQUIRE_WGPU=1` (set by
//! `.ci/run`, which installs lavapipe) makes that a failure.
#![cfg(feature = "wgpu")]

use crate::gpu_conformance::{GpuUnderTest, conformance_tests};
use bitnet_engine::backend::{LmHeadFormat, WgpuBackend};

impl GpuUnderTest for WgpuBackend {
    const NAME: &'static str = "wgpu";
    const REQUIRE: &'static str = "BITNET_REQUIRE_WGPU";

    fn open(lm_head: LmHeadFormat) -> Result<Self, String> {
        WgpuBackend::new(0)
            .map(|b| b.with_lm_head(lm_head))
            .map_err(|e| e.to_string())
    }
}

conformance_tests!(WgpuBackend);
