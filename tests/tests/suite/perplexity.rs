//! `bitnet_engine::perplexity` against a direct computation: each window fed alone through
//! the reference backend, its logits turned into NLLs here, must give the batched evaluation's
//! perplexity (the CPU backend's, windows four at a time).

use bitnet_engine::model::LogitsWanted;
use bitnet_engine::perplexity::evaluate;
use bitnet_engine::session::Session;
use bitnet_tests::logits::{load, load_cpu};
use bitnet_tests::repo_path;

fn tokens(n: usize) -> Vec<u32> {
    (0..n as u32).map(|i| (i * 37 + i / 3) % 500).collect()
}

#[test]
fn batched_windows_equal_each_window_scored_alone() {
    let path = repo_path("models/bitnet-tiny-synthetic.gguf");
    let (reference, cpu) = (load(&path), load_cpu(&path, 2));
    let (toks, window) = (tokens(16 * 7 + 5), 16);
    let got = evaluate(&cpu, &toks, window, |_, _| {}).expect("evaluate");
    assert_eq!((got.windows, got.predictions), (7, 7 * 15));
    let vocab = reference.config.n_vocab;
    let mut nll = 0f64;
    for w in toks.chunks_exact(window) {
        let mut s = Session::new(&reference, window).expect("session");
        let logits = s.feed(&reference, w, LogitsWanted::All).expect("feed");
        for (i, &t) in w[1..].iter().enumerate() {
            let row = &logits[i * vocab..(i + 1) * vocab];
            let max = row.iter().fold(f64::MIN, |m, &v| m.max(f64::from(v)));
            let lse = max
                + row
                    .iter()
                    .map(|&v| (f64::from(v) - max).exp())
                    .sum::<f64>()
                    .ln();
            nll += lse - f64::from(row[t as usize]);
        }
    }
    let want = (nll / got.predictions as f64).exp();
    let rel = (got.value() - want).abs() / want;
    assert!(rel < 1e-4, "{} vs {want}", got.value());
    // A random model is nowhere near certain.
    assert!(got.value() > 50.0, "{}", got.value());
    assert!(got.std_error().is_finite() && got.std_error() > 0.0);
}

#[test]
fn windows_that_cannot_be_scored_are_errors() {
    let cpu = load_cpu(&repo_path("models/bitnet-tiny-synthetic.gguf"), 1);
    let too_short = evaluate(&cpu, &tokens(10), 16, |_, _| {}).expect_err("short");
    assert!(
        too_short
            .to_string()
            .contains("fewer than one window of 16"),
        "{too_short}"
    );
    let tiny = evaluate(&cpu, &tokens(10), 1, |_, _| {}).expect_err("window 1");
    assert!(tiny.to_string().contains("at least 2"), "{tiny}");
    let huge = evaluate(&cpu, &tokens(10), 100_000, |_, _| {}).expect_err("window > ctx");
    assert!(
        huge.to_string().contains("exceeds the model's context"),
        "{huge}"
    );
}
