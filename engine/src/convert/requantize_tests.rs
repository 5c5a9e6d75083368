//! Requantize failure cases: nothing is left behind, and the error names the tensor.

use super::*;
use crate::formats::TensorType;
use crate::formats::ternary::{TernaryMatrix, pack_ternary};
use crate::gguf::{GgufFile, GgufValue, GgufWriter};
use std::path::Path;

/// A two-tensor model file whose ternary tensor is `ty` with the given block scales.
fn model(dir: &Path, ty: TensorType, data: Vec<u8>) -> GgufFile {
    let path = dir.join("src.gguf");
    let mut w = GgufWriter::new();
    w.add_kv(
        "general.architecture",
        GgufValue::String("bitnet-b1.58".into()),
    );
    w.add_tensor("norm.weight", &[4], TensorType::F32, vec![0; 16])
        .expect("norm");
    w.add_tensor("blk.0.attn_q.weight", &[512, 32], ty, data)
        .expect("weight");
    w.write_file(&path).expect("write");
    GgufFile::open(&path).expect("open")
}

fn opts(ty: TensorType) -> RequantizeOptions {
    RequantizeOptions {
        ternary_type: ty,
        embd_type: None,
        tl_config: None,
    }
}

#[test]
fn tq_blocks_with_different_scales_cannot_become_one_scale() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TernaryMatrix::new(32, 256, vec![1; 32 * 256], 0.5).expect("valid");
    let b = TernaryMatrix::new(32, 256, vec![-1; 32 * 256], 0.25).expect("valid");
    // Rows of 512 = two blocks: block 0 from `a`, block 1 from `b`.
    let (pa, pb) = (
        pack_ternary(TensorType::TQ2_0, &a).expect("packs"),
        pack_ternary(TensorType::TQ2_0, &b).expect("packs"),
    );
    let data: Vec<u8> = pa
        .chunks(66)
        .zip(pb.chunks(66))
        .flat_map(|(x, y)| x.iter().chain(y).copied())
        .collect();
    let src = model(dir.path(), TensorType::TQ2_0, data);
    let out = dir.path().join("out.gguf");
    let err = requantize(&src, &opts(TensorType::I2_S), &out, |_, _| {})
        .expect_err("two scales")
        .to_string();
    assert!(
        err.contains("blk.0.attn_q.weight") && err.contains("different scales"),
        "{err}"
    );
    assert!(!out.exists());
    // No temporary file is left beside it either.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");

    // The same blocks convert fine between TQ types.
    let report = requantize(&src, &opts(TensorType::TQ1_0), &out, |_, _| {}).expect("TQ→TQ");
    assert_eq!(report.ternary_tensors, 1);
    assert_eq!(report.other_tensors, 1);
}

#[test]
fn bad_requests_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = TernaryMatrix::new(32, 512, vec![0; 32 * 512], 1.0).expect("valid");
    let src = model(
        dir.path(),
        TensorType::I2_S,
        pack_ternary(TensorType::I2_S, &m).expect("packs"),
    );
    let out = dir.path().join("out.gguf");
    let e = requantize(&src, &opts(TensorType::F16), &out, |_, _| {}).expect_err("not ternary");
    assert!(e.to_string().contains("ternary type"), "{e}");
    let mut o = opts(TensorType::TQ2_0);
    o.embd_type = Some(TensorType::Q4_K);
    let e = requantize(&src, &o, &out, |_, _| {}).expect_err("no Q4_K writer");
    assert!(e.to_string().contains("--embd-type"), "{e}");
    assert!(!out.exists());
    // A TL1 target whose shape has no tiling: M = 32 works, so use a 16-row tensor.
    let path = dir.path().join("odd.gguf");
    let mut w = GgufWriter::new();
    w.add_kv(
        "general.architecture",
        GgufValue::String("bitnet-b1.58".into()),
    );
    let m16 = TernaryMatrix::new(16, 128, vec![0; 16 * 128], 1.0).expect("valid");
    w.add_tensor(
        "blk.0.attn_k.weight",
        &[128, 16],
        TensorType::I2_S,
        pack_ternary(TensorType::I2_S, &m16).expect("packs"),
    )
    .expect("tensor");
    w.write_file(&path).expect("write");
    let odd = GgufFile::open(&path).expect("open");
    let e = requantize(&odd, &opts(TensorType::TL1), &out, |_, _| {}).expect_err("no tiling");
    assert!(e.to_string().contains("blk.0.attn_k.weight"), "{e}");
    assert!(!out.exists());
}
