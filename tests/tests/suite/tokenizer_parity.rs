//! Parity with HF `tokenizers` on a varied corpus (tests/fixtures/tokenizer/parity.jsonl,
//! made by scripts/tokenizer/make_parity_fixtures.py): our tokenizers, rebuilt from the GGUF
//! metadata of llama.cpp's LLaMA 3 (BPE) and LLaMA 2 (SentencePiece) vocab files, must give
//! HF's ids for at least 99.9 % of the strings, and round-trip every string HF round-trips.

use bitnet_tests::{repo_path, test_data};
use serde::Deserialize;

#[derive(Deserialize)]
struct Row {
    text: String,
    llama_bpe: Vec<u32>,
    llama_spm: Vec<u32>,
    bpe_roundtrip: bool,
    spm_roundtrip: bool,
}

fn rows() -> Vec<Row> {
    let path = repo_path("tests/fixtures/tokenizer/parity.jsonl");
    std::fs::read_to_string(&path)
        .expect("parity fixture")
        .lines()
        .map(|l| serde_json::from_str(l).expect("fixture row"))
        .collect()
}

fn parity(vocab: &str, want: impl Fn(&Row) -> (&[u32], bool)) {
    let Some(t) = test_data::vocab_tokenizer(vocab) else {
        return;
    };
    let rows = rows();
    assert!(rows.len() >= 2000, "corpus too small: {}", rows.len());
    let mut differ = Vec::new();
    let mut roundtrips = 0;
    for row in &rows {
        let (ids, hf_roundtrips) = want(row);
        // HF matches its special tokens in any text; so must we for the comparison.
        let got = t.encode(&row.text, false, true).expect("encodes");
        if got != ids {
            differ.push(format!("{:?}\n  ours {got:?}\n  HF   {ids:?}", row.text));
        }
        if hf_roundtrips {
            let back = t.decode(&got, true).expect("decodes");
            assert_eq!(back, row.text, "{vocab}: decode(encode(x)) != x");
            roundtrips += 1;
        }
    }
    let agree = rows.len() - differ.len();
    let rate = agree as f64 / rows.len() as f64;
    println!(
        "{vocab}: {agree}/{} strings identical to HF ({:.3} %), {roundtrips} round trips",
        rows.len(),
        rate * 100.0
    );
    for d in differ.iter().take(10) {
        println!("differs: {d}");
    }
    assert!(
        rate >= 0.999,
        "{vocab}: only {:.3} % identical",
        rate * 100.0
    );
}

#[test]
fn llama_bpe_matches_hf_on_corpus() {
    parity("llama-bpe", |r| (&r.llama_bpe, r.bpe_roundtrip));
}

#[test]
fn llama_spm_matches_hf_on_corpus() {
    parity("llama-spm", |r| (&r.llama_spm, r.spm_roundtrip));
}
