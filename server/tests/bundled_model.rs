//! The bundled trained model (`models/bitnet-b1.58-tiny-austen.gguf`, built into the binary):
//! used when no `-m` is given, and it runs the ternary model as the training script trained it.

mod common;

use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

/// `bitnet` with its own cache and runtime directory (see `cli.rs`).
fn bitnet(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bitnet"))
        .env("XDG_CACHE_HOME", cache)
        .env("XDG_RUNTIME_DIR", cache)
        .args(args)
        .current_dir(repo(""))
        .output()
        .expect("run bitnet")
}

/// The one file `<cache>/bitnet-rs/bundled/<hash>/bitnet-b1.58-tiny-austen.gguf`.
fn cached_copy(cache: &Path) -> PathBuf {
    let dirs: Vec<_> = std::fs::read_dir(cache.join("bitnet-rs/bundled"))
        .expect("the bundled folder exists")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].join("bitnet-b1.58-tiny-austen.gguf")
}

/// The words of a text, lowercased (letters and apostrophes).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphabetic() || c == '\''))
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

#[test]
fn run_without_a_model_writes_english_like_text_from_the_bundled_one() {
    let cache = tempfile::tempdir().expect("tempdir");
    let out = bitnet(
        &[
            "run",
            "-p",
            "It is a truth universally acknowledged",
            "-n",
            "48",
            "--temp",
            "0",
            "--device",
            "cpu",
            "-t",
            "2",
        ],
        cache.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("using the bundled model bitnet-b1.58-tiny-austen"),
        "{err}"
    );
    // The copy the loader mapped is the committed file, byte for byte.
    let committed = std::fs::read(repo("models/bitnet-b1.58-tiny-austen.gguf")).expect("model");
    let copy = cached_copy(cache.path());
    assert_eq!(std::fs::read(&copy).expect("cached copy"), committed);

    // English-like: nearly every word the model writes is a word of the held-out English text
    // (the synthetic random model, by contrast, writes fragments of sub-word pieces).
    let text = String::from_utf8_lossy(&out.stdout);
    let heldout = std::fs::read_to_string(repo("tests/fixtures/bundled-model/heldout.txt"))
        .expect("held-out text");
    let known: HashSet<String> = words(&heldout).into_iter().collect();
    let generated = words(&text);
    assert!(generated.len() >= 20, "too few words: {text}");
    let in_english = generated.iter().filter(|w| known.contains(*w)).count();
    assert!(
        in_english * 10 >= generated.len() * 9,
        "{in_english} of {} words are English: {text}",
        generated.len()
    );

    // A second run uses the cached copy as it is.
    let modified = std::fs::metadata(&copy)
        .and_then(|m| m.modified())
        .expect("mtime");
    let again = bitnet(
        &["run", "-p", "Emma", "-n", "4", "--device", "cpu"],
        cache.path(),
    );
    assert!(again.status.success());
    let after = std::fs::metadata(&copy)
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(after, modified);
}

/// The acceptance check of the trained model: `bitnet perplexity` on the held-out text is the
/// training script's number (within 1 %), and far below an untrained model's.
#[test]
fn perplexity_of_the_bundled_model_is_the_training_scripts() {
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("tests/fixtures/bundled-model/script-eval.json"))
            .expect("fixture"),
    )
    .expect("json");
    let script = fixture["heldout"]["ppl"].as_f64().expect("script ppl");
    let untrained = fixture["untrained"]["ppl"].as_f64().expect("untrained ppl");
    let window = fixture["heldout"]["window"].as_u64().expect("window");
    let cache = tempfile::tempdir().expect("tempdir");
    let out = bitnet(
        &[
            "perplexity",
            "-f",
            "tests/fixtures/bundled-model/heldout.txt",
            "-c",
            &window.to_string(),
            "--device",
            "cpu",
            "-t",
            "2",
        ],
        cache.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let engine: f64 = stdout
        .strip_prefix("perplexity: ")
        .and_then(|s| s.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no perplexity in {stdout}"));
    let windows = fixture["heldout"]["windows"].as_u64().expect("windows");
    assert!(
        stdout.contains(&format!("{windows} windows of {window} tokens")),
        "{stdout}"
    );
    assert!(
        (engine / script - 1.0).abs() < 0.01,
        "engine {engine} against the script's {script}"
    );
    assert!(
        engine * 5.0 < untrained,
        "engine {engine} is not far below the untrained {untrained}"
    );
}

#[test]
fn serve_without_a_model_serves_the_bundled_one() {
    let s = common::Server::start_without_model(&[]);
    let (code, models) = s.get("/v1/models");
    assert_eq!(code, 200);
    assert!(models.contains("bitnet-b1.58-tiny-austen"), "{models}");
    let prompt = "Mr. Darcy";
    let (code, body) = s.post(
        "/v1/completions",
        &json!({"model": "bitnet-b1.58-tiny-austen", "prompt": prompt, "max_tokens": 16, "temperature": 0}),
    );
    assert_eq!(code, 200, "{body}");
    let served = body["choices"][0]["text"]
        .as_str()
        .expect("text")
        .to_owned();

    // The same greedy continuation as `bitnet run` on the bundled model.
    let cache = tempfile::tempdir().expect("tempdir");
    let out = bitnet(
        &[
            "run", "-p", prompt, "-n", "16", "--temp", "0", "--device", "cpu", "-t", "2",
        ],
        cache.path(),
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        served.trim_end()
    );
}
