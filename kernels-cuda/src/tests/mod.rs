//! Tests: the `.cu` sources against their descriptions, the launch shapes,
//! and Rust replays of the kernels' index and reduction arithmetic.

mod launch;
mod replay;
mod sources;

use crate::*;

/// A valid launch of each kernel at the 2B model's sizes (hidden 2560, FFN
/// 6912, 20 heads of 128, vocabulary 128256), for the checks that need one.
fn sample_launch(id: KernelId) -> LaunchConfig {
    let cfg = match id {
        KernelId::RmsNorm => rms_norm_launch(3, 2560),
        KernelId::QuantizeAct => quantize_act_launch(3, 6912),
        KernelId::I2sMatmul => i2s_matmul_launch(2560, 6912, 3),
        KernelId::F16Matmul => f16_matmul_launch(128_256, 2560, 3),
        KernelId::Q8Matmul => q8_matmul_launch(128_256, 2560, 3),
        KernelId::RopeNeox => rope_neox_launch(3, 20, 128),
        KernelId::Attention => attention_launch(20, 3, 10),
        KernelId::Elementwise => elementwise_launch(3 * 6912),
        KernelId::Argmax => argmax_launch(3, 128_256),
    };
    cfg.unwrap_or_else(|e| panic!("{id:?}: {e}"))
}
