//! Untrusted GGUF bytes: parse, then load the model graph and run one token if it parses.
#![no_main]

use bitnet_engine::backend::ReferenceBackend;
use bitnet_engine::gguf::GgufFile;
use bitnet_engine::model::Model;
use bitnet_engine::session::Session;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(file) = GgufFile::from_bytes(data.to_vec()) else { return };
    for t in file.tensors() {
        let _ = file.tensor_data(t).len();
    }
    let Ok(model) = Model::load(&file, ReferenceBackend::new(1), |_, _| {}) else { return };
    if model.config.n_embd * model.config.n_ff > 1 << 22 {
        return; // keep each input fast
    }
    if let Ok(mut s) = Session::new(&model, 4) {
        let _ = s.feed(&model, &[0], bitnet_engine::model::LogitsWanted::Last);
    }
});
