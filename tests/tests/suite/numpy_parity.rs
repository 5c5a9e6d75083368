//! bitnet-b1.58 has no C++ reference reachable here: a NumPy implementation of the graph
//! (scripts/numpy_ref/b158_forward.py, reading the file with PyPI `gguf`) is the oracle.

use bitnet_tests::logits::{ids, load, prompt_then_forced, rows};
use bitnet_tests::{argmax, cosine, repo_path};

#[test]
fn b158_matches_numpy_reference() {
    let dir = repo_path("tests/fixtures/numpy_ref");
    for name in ["b158-tiny-tq2_0", "b158-tiny-tq1_0"] {
        let json: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join(format!("{name}.logits.json"))).expect("fixture"),
        )
        .expect("json");
        let prompt = ids(&json["prompt_ids"]);
        let expected = rows(&json["logits"]);
        let model = load(&dir.join(format!("{name}.gguf")));
        let (ours, _) = prompt_then_forced(&model, &prompt, &[]);
        assert_eq!(ours.len(), expected.len());
        let mut worst = 1f64;
        for (i, (a, b)) in ours.iter().zip(&expected).enumerate() {
            let c = cosine(a, b);
            worst = worst.min(c);
            assert!(c >= 0.9999, "{name} position {i}: cosine {c}");
            assert_eq!(argmax(a), argmax(b), "{name} position {i}: argmax");
        }
        eprintln!(
            "{name} vs NumPy: worst cosine {worst:.8} over {} positions",
            ours.len()
        );
    }
}
