//! Launch shapes: the 2B model's sizes, and zero, ragged and too-large
//! shapes rejected with clear errors.

use super::*;

fn empty(kernel: &'static str, what: &'static str) -> Result<LaunchConfig, LaunchError> {
    Err(LaunchError::Empty { kernel, what })
}

fn not_multiple(
    kernel: &'static str,
    what: &'static str,
    value: usize,
    multiple: usize,
) -> Result<LaunchConfig, LaunchError> {
    Err(LaunchError::NotMultiple {
        kernel,
        what,
        value,
        multiple,
    })
}

fn too_large(
    kernel: &'static str,
    what: &'static str,
    value: usize,
    max: usize,
) -> Result<LaunchConfig, LaunchError> {
    Err(LaunchError::TooLarge {
        kernel,
        what,
        value,
        max,
    })
}

fn shape(grid: (u32, u32, u32), block: u32) -> Result<LaunchConfig, LaunchError> {
    Ok(LaunchConfig {
        grid_dim: grid,
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    })
}

#[test]
fn shapes_of_the_2b_model() {
    assert_eq!(rms_norm_launch(7, 2560), shape((7, 1, 1), 256));
    assert_eq!(quantize_act_launch(7, 6912), shape((7, 1, 1), 256));
    for (rows, cols) in [(2560, 2560), (6912, 2560), (3840, 2560), (2560, 6912)] {
        assert_eq!(
            i2s_matmul_launch(rows, cols, 5),
            shape((rows as u32, 5, 1), 64)
        );
    }
    assert_eq!(
        f16_matmul_launch(128_256, 2560, 1),
        shape((128_256, 1, 1), 64)
    );
    assert_eq!(
        q8_matmul_launch(128_256, 2560, 65_535),
        shape((128_256, 65_535, 1), 64)
    );
    // 7 tokens × 20 heads × 64 pairs = 8960 threads = 140 blocks of 64.
    assert_eq!(rope_neox_launch(7, 20, 128), shape((140, 1, 1), 64));
    assert_eq!(attention_launch(20, 7, 107), shape((20, 7, 1), 64));
    assert_eq!(attention_launch(20, 1, 1), shape((20, 1, 1), 64));
    assert_eq!(elementwise_launch(7 * 6912), shape((189, 1, 1), 256));
    assert_eq!(argmax_launch(4, 128_256), shape((4, 1, 1), 256));
}

#[test]
fn one_thread_per_item_launches_round_up() {
    for len in [1usize, 255, 256, 257, 1000, MAX_DIM] {
        let cfg = elementwise_launch(len).expect("valid length");
        let threads = cfg.grid_dim.0 as usize * cfg.block_dim.0 as usize;
        assert!(threads >= len && threads - len < 256, "{len}");
    }
    for (rows, heads, n_rot) in [(1usize, 1usize, 2usize), (1, 1, 128), (3, 5, 6), (1, 33, 4)] {
        let cfg = rope_neox_launch(rows, heads, n_rot).expect("valid shape");
        let pairs = rows * heads * n_rot / 2;
        let threads = cfg.grid_dim.0 as usize * cfg.block_dim.0 as usize;
        assert!(
            threads >= pairs && threads - pairs < 64,
            "{rows} {heads} {n_rot}"
        );
    }
}

#[test]
fn zero_sizes_are_empty() {
    assert_eq!(rms_norm_launch(0, 2560), empty("rms_norm", "rows"));
    assert_eq!(rms_norm_launch(1, 0), empty("rms_norm", "n"));
    assert_eq!(quantize_act_launch(0, 128), empty("quantize_act", "rows"));
    assert_eq!(quantize_act_launch(1, 0), empty("quantize_act", "cols"));
    for (name, f) in [
        (
            "i2s_matmul",
            i2s_matmul_launch as fn(usize, usize, usize) -> _,
        ),
        ("f16_matmul", f16_matmul_launch),
        ("q8_matmul", q8_matmul_launch),
    ] {
        assert_eq!(f(0, 128, 1), empty(name, "rows"));
        assert_eq!(f(1, 0, 1), empty(name, "cols"));
        assert_eq!(f(1, 128, 0), empty(name, "n_tokens"));
    }
    assert_eq!(rope_neox_launch(0, 20, 128), empty("rope_neox", "rows"));
    assert_eq!(rope_neox_launch(1, 0, 128), empty("rope_neox", "n_heads"));
    assert_eq!(rope_neox_launch(1, 20, 0), empty("rope_neox", "n_rot"));
    assert_eq!(attention_launch(0, 1, 1), empty("attention", "n_head"));
    assert_eq!(attention_launch(20, 0, 5), empty("attention", "len"));
    assert_eq!(elementwise_launch(0), empty("elementwise", "len"));
    assert_eq!(argmax_launch(0, 10), empty("argmax", "rows"));
    assert_eq!(argmax_launch(1, 0), empty("argmax", "cols"));
}

#[test]
fn ragged_sizes_are_rejected() {
    for cols in [64, 100, 2561, 2560 + 64] {
        assert_eq!(
            i2s_matmul_launch(4, cols, 1),
            not_multiple("i2s_matmul", "cols", cols, 128)
        );
    }
    for cols in [1, 16, 2559] {
        assert_eq!(
            q8_matmul_launch(4, cols, 1),
            not_multiple("q8_matmul", "cols", cols, 32)
        );
    }
    assert_eq!(
        f16_matmul_launch(4, 2559, 1),
        not_multiple("f16_matmul", "cols", 2559, 2)
    );
    for cols in [1, 2, 6914] {
        assert_eq!(
            quantize_act_launch(1, cols),
            not_multiple("quantize_act", "cols", cols, 4)
        );
    }
    assert_eq!(
        rope_neox_launch(1, 20, 127),
        not_multiple("rope_neox", "n_rot", 127, 2)
    );
}

#[test]
fn too_large_sizes_are_rejected() {
    let big = MAX_DIM + 1;
    assert_eq!(
        rms_norm_launch(big, 1),
        too_large("rms_norm", "rows", big, MAX_DIM)
    );
    assert_eq!(
        rms_norm_launch(1, big),
        too_large("rms_norm", "n", big, MAX_DIM)
    );
    let q_cols = (QUANTIZE_ACT_MAX_COLS / 4 + 1) * 4;
    assert_eq!(
        quantize_act_launch(1, q_cols),
        too_large("quantize_act", "cols", q_cols, QUANTIZE_ACT_MAX_COLS)
    );
    assert!(quantize_act_launch(1, QUANTIZE_ACT_MAX_COLS / 4 * 4).is_ok());
    let i2s_cols = (I2S_MATMUL_MAX_COLS / 128 + 1) * 128;
    assert_eq!(
        i2s_matmul_launch(1, i2s_cols, 1),
        too_large("i2s_matmul", "cols", i2s_cols, I2S_MATMUL_MAX_COLS)
    );
    assert!(i2s_matmul_launch(1, I2S_MATMUL_MAX_COLS / 128 * 128, 1).is_ok());
    for (name, f) in [
        (
            "i2s_matmul",
            i2s_matmul_launch as fn(usize, usize, usize) -> _,
        ),
        ("f16_matmul", f16_matmul_launch),
        ("q8_matmul", q8_matmul_launch),
    ] {
        assert_eq!(f(big, 128, 1), too_large(name, "rows", big, MAX_DIM));
        assert_eq!(
            f(1, 128, MAX_GRID_Y + 1),
            too_large(name, "n_tokens", MAX_GRID_Y + 1, MAX_GRID_Y)
        );
        assert!(f(MAX_DIM, 128, MAX_GRID_Y).is_ok(), "{name}");
    }
    assert_eq!(
        f16_matmul_launch(1, MAX_DIM + 1, 1),
        too_large("f16_matmul", "cols", MAX_DIM + 1, MAX_DIM)
    );
    // Each size fits alone, their pair count does not.
    let pairs = 65_536 * 64 * 512;
    assert_eq!(
        rope_neox_launch(65_536, 64, 1024),
        too_large("rope_neox", "rows · n_heads · n_rot/2", pairs, MAX_DIM)
    );
    assert!(matches!(
        rope_neox_launch(usize::MAX - 1, usize::MAX - 1, 2),
        Err(LaunchError::TooLarge { what: "rows", .. })
    ));
    assert!(rope_neox_launch(1, 1, MAX_DIM - 1).is_ok());
    assert_eq!(
        attention_launch(20, MAX_GRID_Y + 1, MAX_GRID_Y + 1),
        too_large("attention", "len", MAX_GRID_Y + 1, MAX_GRID_Y)
    );
    assert_eq!(
        attention_launch(20, 1, big),
        too_large("attention", "seen", big, MAX_DIM)
    );
    assert_eq!(
        attention_launch(big, 1, 1),
        too_large("attention", "n_head", big, MAX_DIM)
    );
    assert_eq!(
        elementwise_launch(big),
        too_large("elementwise", "len", big, MAX_DIM)
    );
    assert_eq!(
        argmax_launch(1, big),
        too_large("argmax", "cols", big, MAX_DIM)
    );
    assert_eq!(
        argmax_launch(big, 1),
        too_large("argmax", "rows", big, MAX_DIM)
    );
}

#[test]
fn attention_context_must_cover_the_chunk() {
    assert_eq!(
        attention_launch(20, 5, 4),
        Err(LaunchError::TooSmall {
            kernel: "attention",
            what: "seen",
            value: 4,
            bound_what: "len",
            bound: 5,
        })
    );
}

#[test]
fn error_messages_name_the_kernel_and_the_size() {
    let msg = |r: Result<LaunchConfig, LaunchError>| r.expect_err("invalid shape").to_string();
    assert_eq!(
        msg(i2s_matmul_launch(4, 100, 1)),
        "i2s_matmul: cols = 100 is not a multiple of 128"
    );
    assert_eq!(
        msg(elementwise_launch(0)),
        "elementwise: len = 0, nothing to launch (skip the op)"
    );
    assert_eq!(
        msg(f16_matmul_launch(1, 2, 70_000)),
        "f16_matmul: n_tokens = 70000 exceeds the kernel's limit of 65535"
    );
    assert_eq!(
        msg(attention_launch(20, 5, 4)),
        "attention: seen = 4 is less than len = 5"
    );
}

/// Zero is checked before anything else, so an empty op is always `Empty`
/// whatever its other sizes are; the glue can match on that to skip it.
#[test]
fn emptiness_is_reported_first() {
    assert!(matches!(
        i2s_matmul_launch(0, 100, MAX_GRID_Y + 1),
        Err(LaunchError::Empty { what: "rows", .. })
    ));
    assert!(matches!(
        rope_neox_launch(MAX_DIM + 1, 0, 3),
        Err(LaunchError::Empty {
            what: "n_heads",
            ..
        })
    ));
    assert!(matches!(
        attention_launch(20, 0, 0),
        Err(LaunchError::Empty { what: "len", .. })
    ));
}
