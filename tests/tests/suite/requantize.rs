//! `bitnet quantize`'s conversions lose nothing: I2_S → TL1 → TL2 → TQ1_0 → TQ2_0 → I2_S
//! gives back the very same file, on the tiny model and on one 2B-4T-shaped block (every
//! 2B-4T weight shape: 2560×2560, 640×2560, 6912×2560, 2560×6912).

use bitnet_engine::convert::{RequantizeOptions, requantize};
use bitnet_engine::formats::TensorType;
use bitnet_engine::gguf::GgufFile;
use bitnet_engine::synth::{SynthOptions, SynthShape, shape, synthesize};
use bitnet_tests::model_files::vocab;
use std::path::Path;

const CHAIN: [TensorType; 5] = [
    TensorType::TL1,
    TensorType::TL2,
    TensorType::TQ1_0,
    TensorType::TQ2_0,
    TensorType::I2_S,
];

fn chain_is_lossless(dir: &Path, sh: SynthShape) {
    let start = dir.join(format!("{}-i2_s.gguf", sh.name));
    let opts = SynthOptions {
        shape: sh.clone(),
        arch: "bitnet-b1.58".into(),
        ternary_type: TensorType::I2_S,
        embd_type: TensorType::F16,
        seed: 11,
    };
    synthesize(&vocab(), &opts, &start, |_, _| {}).expect("synthesize");
    let mut prev = start.clone();
    for ty in CHAIN {
        let next = dir.join(format!("{}-{ty}.gguf", sh.name));
        let src = GgufFile::open(&prev).expect("open");
        let report = requantize(
            &src,
            &RequantizeOptions {
                ternary_type: ty,
                embd_type: None,
                tl_config: None,
            },
            &next,
            |_, _| {},
        )
        .unwrap_or_else(|e| panic!("{} → {ty}: {e}", prev.display()));
        assert_eq!(report.ternary_tensors, 7 * sh.n_layer);
        assert_eq!(report.inexact_scales, 0, "synth scales are f16 values");
        prev = next;
    }
    let a = std::fs::read(&start).expect("read");
    let b = std::fs::read(&prev).expect("read");
    assert_eq!(a.len(), b.len(), "{}: sizes differ", sh.name);
    assert!(a == b, "{}: the round trip changed bytes", sh.name);
}

#[test]
fn tiny_round_trips_through_every_ternary_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    chain_is_lossless(dir.path(), shape("tiny").expect("tiny"));
}

#[test]
fn a_2b4t_block_round_trips_through_every_ternary_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    let full = shape("2b4t").expect("2b4t");
    chain_is_lossless(
        dir.path(),
        SynthShape {
            name: "2b4t-one-block",
            n_layer: 1,
            n_vocab: 0,
            ..full
        },
    );
}
