//! Our tokenizer, rebuilt from the metadata of llama.cpp's vocab-only GGUFs, against the
//! upstream test vectors shipped beside them (made with HF `tokenizers`; llama.cpp's
//! test-tokenizer-0 checks itself against the same files).

use bitnet_engine::gguf::GgufFile;
use bitnet_engine::tokenizer::{PreTokenizerKind, Tokenizer, VocabKind};
use bitnet_tests::test_data;

/// Checks every upstream vector of `vocab`; returns how many matched.
fn upstream_vectors(vocab: &str, kind: VocabKind) -> Option<usize> {
    let inp = std::fs::read_to_string(test_data::file(&format!(
        "vocab/ggml-vocab-{vocab}.gguf.inp"
    ))?)
    .expect("reads .inp");
    let out = std::fs::read_to_string(test_data::file(&format!(
        "vocab/ggml-vocab-{vocab}.gguf.out"
    ))?)
    .expect("reads .out");
    let t = test_data::vocab_tokenizer(vocab)?;
    assert_eq!(t.kind(), kind);
    // The input file ends with a separator, which leaves one empty piece at the end.
    let inputs: Vec<&str> = inp.split("\n__ggml_vocab_test__\n").collect();
    let outputs: Vec<&str> = out.lines().collect();
    assert_eq!(inputs.len(), outputs.len() + 1);
    let mut failures = Vec::new();
    for (text, line) in inputs.iter().zip(&outputs) {
        let want: Vec<u32> = line
            .split_whitespace()
            .map(|s| s.parse().expect("numeric id"))
            .collect();
        let got = t.encode(text, false, false).expect("encodes");
        if got != want {
            failures.push(format!("{text:?}: got {got:?}, want {want:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{vocab}: {} of {} vectors differ:\n{}",
        failures.len(),
        outputs.len(),
        failures.join("\n")
    );
    println!(
        "{vocab}: {}/{} upstream vectors match",
        outputs.len(),
        outputs.len()
    );
    Some(outputs.len())
}

#[test]
fn llama_bpe_all_upstream_vectors() {
    if let Some(n) = upstream_vectors(
        "llama-bpe",
        VocabKind::BytePairBpe(PreTokenizerKind::Llama3),
    ) {
        assert_eq!(n, 46);
    }
}

#[test]
fn llama_spm_all_upstream_vectors() {
    if let Some(n) = upstream_vectors("llama-spm", VocabKind::SentencePiece) {
        assert_eq!(n, 46);
    }
}

#[test]
fn gpt2_all_upstream_vectors() {
    upstream_vectors("gpt-2", VocabKind::BytePairBpe(PreTokenizerKind::Gpt2));
}

#[test]
fn qwen2_all_upstream_vectors() {
    upstream_vectors("qwen2", VocabKind::BytePairBpe(PreTokenizerKind::Qwen2));
}

#[test]
fn llama_bpe_known_answers_and_specials() {
    let Some(t) = test_data::vocab_tokenizer("llama-bpe") else {
        return;
    };
    assert_eq!(t.vocab_size(), 128_256);
    assert_eq!(
        t.encode("Hello, world!", false, false).expect("encodes"),
        vec![9906, 11, 1917, 0]
    );
    assert_eq!(
        t.encode(" 世界 🙂 don't", false, false).expect("encodes"),
        vec![127365, 28584, 1541, 956]
    );
    assert_eq!(
        t.encode("Hello", true, false).expect("encodes"),
        vec![128000, 9906]
    );
    assert_eq!(t.eot_id(), t.token_to_id("<|eot_id|>"));
    let header = "<|start_header_id|>user<|end_header_id|>";
    assert_eq!(
        t.encode(header, false, true).expect("encodes"),
        vec![128006, 882, 128007]
    );
    // Untrusted text cannot inject a control token.
    let plain = t.encode(header, false, false).expect("encodes");
    assert!(!plain.contains(&128006), "{plain:?}");
    assert_eq!(t.decode(&plain, false).expect("decodes"), header);
}

#[test]
fn missing_pre_uses_llama_cpp_default() {
    // The published 2B-4T GGUF has the LLaMA 3 vocabulary but no tokenizer.ggml.pre; llama.cpp
    // then splits with its 'default' rules, and so do we.
    let Some(gguf) = test_data::file("vocab/ggml-vocab-llama-bpe.gguf") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let stripped = dir.path().join("no-pre.gguf");
    bitnet_tests::model_files::rewrite(&gguf, &stripped, |kvs, _| {
        kvs.retain(|(k, _)| k != "tokenizer.ggml.pre");
    });
    let t = Tokenizer::from_gguf(&GgufFile::open(&stripped).expect("opens")).expect("builds");
    assert_eq!(t.kind(), VocabKind::BytePairBpe(PreTokenizerKind::Default));
    assert!(!t.add_bos_default());
    // 'default' isolates punctuation first, so the apostrophe no longer joins "'t" as in
    // LLaMA 3's [1541, 956] for " don't".
    let ids = t.encode(" don't", false, false).expect("encodes");
    assert_ne!(ids, vec![1541, 956]);
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(t.decode(&ids, false).expect("decodes"), " don't");
}

#[test]
fn tokenizer_json_override_encodes_and_must_fit_the_vocabulary() {
    let gguf = bitnet_tests::repo_path("models/vocab-tiny.gguf");
    let json = bitnet_tests::repo_path("tests/fixtures/numpy_ref/vocab-tiny.tokenizer.json");
    let file = GgufFile::open(&gguf).expect("opens");
    let rebuilt = Tokenizer::from_gguf(&file).expect("builds");
    let overridden = Tokenizer::from_gguf(&file)
        .expect("builds")
        .with_tokenizer_json(&json)
        .expect("the vocab's own tokenizer.json fits");
    for text in ["Hello, world!", "  spaced\tout\n", "it's 2024 already"] {
        let ids = overridden.encode(text, true, false).expect("encodes");
        assert_eq!(ids, rebuilt.encode(text, true, false).expect("encodes"));
        assert_eq!(overridden.decode(&ids, false).expect("decodes"), text);
    }
    // Special tokens still follow the GGUF types: not matched in plain text.
    let eot = overridden.eot_id().expect("vocab-tiny has an EOT");
    let plain = overridden
        .encode("<|eot_id|>", false, false)
        .expect("encodes");
    assert!(!plain.contains(&eot), "{plain:?}");
    assert_eq!(
        overridden
            .encode("<|eot_id|>", false, true)
            .expect("encodes"),
        vec![eot]
    );

    // A tokenizer.json of another vocabulary size is refused, naming both sizes.
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("reads")).expect("JSON");
    // Without its 8 added (special) tokens the file has 504.
    doc["added_tokens"] = serde_json::json!([]);
    let dir = tempfile::tempdir().expect("tempdir");
    let small = dir.path().join("small.json");
    std::fs::write(&small, doc.to_string()).expect("writes");
    let err = Tokenizer::from_gguf(&file)
        .expect("builds")
        .with_tokenizer_json(&small)
        .expect_err("smaller vocabulary");
    let msg = err.to_string();
    assert!(
        msg.contains("small.json") && msg.contains("504 tokens") && msg.contains("512"),
        "{msg}"
    );
}
