//! Building and rewriting model files for tests.

use bitnet_engine::formats::TensorType;
use bitnet_engine::gguf::{GgufFile, GgufValue, GgufWriter};
use bitnet_engine::synth::{SynthOptions, shape, synthesize};
use std::path::{Path, PathBuf};

/// The bundled 512-token vocab (tokenizer metadata for synthetic models).
pub fn vocab() -> GgufFile {
    GgufFile::open(crate::repo_path("models/vocab-tiny.gguf")).expect("models/vocab-tiny.gguf")
}

/// Writes a synthetic `tiny` model into `dir` and returns its path.
pub fn synth_tiny(dir: &Path, arch: &str, ty: TensorType, seed: u64) -> PathBuf {
    let path = dir.join(format!("tiny-{arch}-{ty}-{seed}.gguf"));
    let opts = SynthOptions {
        shape: shape("tiny").expect("tiny shape"),
        arch: arch.to_string(),
        ternary_type: ty,
        embd_type: TensorType::F16,
        seed,
    };
    synthesize(&vocab(), &opts, &path, |_, _| {}).expect("synthesize");
    path
}

/// Copies `src` to `dst` after letting `edit` change its metadata and tensor list.
pub fn rewrite(
    src: &Path,
    dst: &Path,
    edit: impl FnOnce(&mut Vec<(String, GgufValue)>, &mut Vec<(String, Vec<u64>, TensorType, Vec<u8>)>),
) {
    let f = GgufFile::open(src).expect("open source");
    let mut kvs = f.metadata().to_vec();
    let mut tensors: Vec<_> = f
        .tensors()
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.dims.clone(),
                t.ty,
                f.tensor_data(t).to_vec(),
            )
        })
        .collect();
    edit(&mut kvs, &mut tensors);
    let mut w = GgufWriter::new();
    for (k, v) in kvs {
        w.add_kv(k, v);
    }
    for (name, dims, ty, data) in tensors {
        w.add_tensor(name, &dims, ty, data).expect("add tensor");
    }
    w.write_file(dst).expect("write");
}
