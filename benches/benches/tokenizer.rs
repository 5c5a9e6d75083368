//! Tokenizer speed on real data: encoding botchan.txt (public-domain prose, from the
//! sentencepiece sdist) with the LLaMA 3 (128k BPE) and LLaMA 2 (32k SentencePiece) vocabularies
//! rebuilt from llama.cpp's vocab-only GGUFs, and building the 128k tokenizer from its GGUF.
//! Throughput is in tokens, so criterion's elements/s is tokens/s; compare with
//! `scripts/tokenizer/bench_hf_encode.py` (HF tokenizers from Python, same text and vocabulary).
//!
//! Needs `scripts/test-data/fetch.py`; without the data it says so and measures nothing.
use bitnet_engine::gguf::GgufFile;
use bitnet_engine::tokenizer::Tokenizer;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::PathBuf;

/// The allocator the `bitnet` binary uses, so these numbers are what a user gets.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn test_data(rel: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("BITNET_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-data"));
    let path = dir.join(rel);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "skipped: {} is absent (run scripts/test-data/fetch.py)",
            path.display()
        );
        None
    }
}

fn bench_tokenizer(c: &mut Criterion) {
    let Some(text_path) = test_data("text/botchan.txt") else {
        return;
    };
    let text = std::fs::read_to_string(&text_path).expect("botchan.txt is UTF-8");
    for (label, vocab) in [("llama3_bpe", "llama-bpe"), ("llama2_spm", "llama-spm")] {
        let Some(path) = test_data(&format!("vocab/ggml-vocab-{vocab}.gguf")) else {
            continue;
        };
        let file = GgufFile::open(&path).expect("vocab GGUF opens");
        let tok = Tokenizer::from_gguf(&file).expect("tokenizer builds");
        let n = tok.encode(&text, false, false).expect("encodes").len();
        eprintln!("{label}: botchan.txt is {} bytes, {n} tokens", text.len());
        let mut group = c.benchmark_group(format!("tokenizer/{label}"));
        group.sample_size(10);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function("encode_botchan", |b| {
            b.iter(|| black_box(tok.encode(black_box(&text), false, false).expect("encodes")))
        });
        group.finish();

        let mut group = c.benchmark_group(format!("tokenizer/{label}"));
        group.sample_size(10);
        // Dropping the tokenizer (freeing ~1M strings) is not part of building it.
        group.bench_function("build_from_gguf", |b| {
            b.iter_with_large_drop(|| {
                let file = GgufFile::open(&path).expect("vocab GGUF opens");
                black_box(Tokenizer::from_gguf(&file).expect("tokenizer builds"))
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench_tokenizer);
criterion_main!(benches);
