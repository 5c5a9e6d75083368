//! A session truncated to a shared prefix and fed a new suffix (how `bitnet chat` continues a
//! conversation) computes what a fresh session fed the whole sequence computes.

use bitnet_engine::model::LogitsWanted;
use bitnet_engine::session::Session;
use bitnet_tests::{cosine, logits, max_abs_diff, repo_path};

#[test]
fn truncated_prefix_then_new_suffix_equals_fresh_evaluation() {
    let model = logits::load(&repo_path("models/bitnet-tiny-synthetic.gguf"));
    let first: Vec<u32> = vec![504, 10, 20, 30, 40, 50, 60, 70];
    let second: Vec<u32> = vec![504, 10, 20, 30, 41, 51, 61, 71, 81];
    let shared = 4;

    let mut reused = Session::new(&model, 32).expect("session");
    reused
        .feed(&model, &first, LogitsWanted::Last)
        .expect("first turn");
    reused.truncate(shared);
    assert_eq!(reused.tokens(), &first[..shared]);
    let got = reused
        .feed(&model, &second[shared..], LogitsWanted::All)
        .expect("suffix");

    let mut fresh = Session::new(&model, 32).expect("session");
    let all = fresh
        .feed(&model, &second, LogitsWanted::All)
        .expect("fresh");
    let want = &all[shared * model.config.n_vocab..];

    assert_eq!(got.len(), want.len());
    let cos = cosine(&got, want);
    let diff = max_abs_diff(&got, want);
    println!("reuse vs fresh: cosine {cos:.9}, max |diff| {diff:e}");
    assert!(cos >= 0.999_999, "cosine {cos}");
    assert!(diff <= 1e-3, "max |diff| {diff}");
}
