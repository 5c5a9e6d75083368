//! Running a model file and comparing its logits with a reference dump.

use bitnet_engine::backend::{Backend, CpuBackend, ReferenceBackend};
use bitnet_engine::gguf::GgufFile;
use bitnet_engine::model::{LogitsWanted, Model};
use bitnet_engine::sampling::{Sampler, SamplerConfig};
use bitnet_engine::session::{GenerateConfig, Session};
use std::path::Path;

/// Loads a model on the reference backend.
pub fn load(path: &Path) -> Model<ReferenceBackend> {
    let file = GgufFile::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Model::load(&file, ReferenceBackend::new(2), |_, _| {})
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Loads a model on the SIMD CPU backend.
pub fn load_cpu(path: &Path, threads: usize) -> Model<CpuBackend> {
    let file = GgufFile::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let backend = CpuBackend::new(threads).expect("thread pool");
    Model::load(&file, backend, |_, _| {}).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Logits of every prompt position (one batch), then of each teacher-forced token fed one at
/// a time after it.
pub fn prompt_then_forced<B: Backend>(
    model: &Model<B>,
    prompt: &[u32],
    forced: &[u32],
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let vocab = model.config.n_vocab;
    let mut s = Session::new(model, prompt.len() + forced.len() + 1).expect("session");
    let all = s.feed(model, prompt, LogitsWanted::All).expect("prompt");
    let rows = all.chunks(vocab).map(<[f32]>::to_vec).collect();
    let steps = forced
        .iter()
        .map(|&t| s.feed(model, &[t], LogitsWanted::Last).expect("step"))
        .collect();
    (rows, steps)
}

/// The first `n` greedy tokens after `prompt`.
pub fn greedy<B: Backend>(model: &Model<B>, prompt: &[u32], n: usize) -> Vec<u32> {
    let mut s = Session::new(model, prompt.len() + n + 1).expect("session");
    let mut out = Vec::new();
    let cfg = GenerateConfig {
        max_new_tokens: n,
        stop_tokens: Vec::new(),
    };
    let mut sampler = Sampler::new(SamplerConfig::greedy());
    s.generate(model, prompt, &cfg, &mut sampler, false, |t, _| {
        out.push(t);
        true
    })
    .expect("generates");
    out
}

/// Reads a JSON array of float arrays.
pub fn rows(v: &serde_json::Value) -> Vec<Vec<f32>> {
    v.as_array()
        .expect("array of rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_f64().expect("float") as f32)
                .collect()
        })
        .collect()
}

/// Reads a JSON array of ids.
pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .expect("array of ids")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}
