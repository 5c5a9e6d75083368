//! SentencePiece BPE (`tokenizer.ggml.model = "llama"`) assembled on HF `tokenizers`.
//!
//! A GGUF stores SentencePiece vocabularies as tokens with scores, not merges. The merges are
//! derived from the scores exactly as HF's `SentencePieceExtractor` derives them when it
//! converts a `tokenizer.model` into the `tokenizer.json` HF then runs: every split of a token
//! into two tokens is a merge, ranked by the merged token's score (higher first), ties in
//! vocabulary order. The text is normalized as LLaMA's `tokenizer.json` does: a leading `▁`
//! (when `add_space_prefix`) and every space written `▁`; characters outside the vocabulary
//! fall back to the `<0xNN>` byte tokens.

use super::error::TokenizerError;
use super::metadata::{KEY_SCORES, VocabMetadata};
use std::collections::HashMap;
use tokenizers::NormalizerWrapper;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::normalizers::{Prepend, Replace, Sequence};

/// SentencePiece's word-boundary marker.
pub(crate) const SPACE_MARK: &str = "\u{2581}";

/// Builds the tokenizer; `add_space_prefix` puts a `▁` before each piece of text.
pub(crate) fn build(
    meta: &VocabMetadata<'_>,
    add_space_prefix: bool,
) -> Result<tokenizers::Tokenizer, TokenizerError> {
    let scores = meta
        .scores
        .as_ref()
        .ok_or(TokenizerError::MissingKey { key: KEY_SCORES })?;
    let ids: HashMap<&str, u32> = meta
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (*t, i as u32))
        .collect();
    for b in 0..=255u8 {
        let token = format!("<0x{b:02X}>");
        if !ids.contains_key(token.as_str()) {
            return Err(TokenizerError::MissingByteToken { token });
        }
    }

    let merges = derive_merges(&meta.tokens, scores, &ids);
    let vocab: Vocab = ids.iter().map(|(t, &i)| (t.to_string(), i)).collect();
    let mut builder = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .byte_fallback(true)
        .fuse_unk(true);
    if let Some(unk) = meta.ids.unk.and_then(|i| meta.tokens.get(i as usize)) {
        builder = builder.unk_token(unk.to_string());
    }
    let bpe = builder
        .build()
        .map_err(|e| TokenizerError::Build(e.to_string()))?;

    let mut steps: Vec<NormalizerWrapper> = Vec::new();
    if add_space_prefix {
        steps.push(Prepend::new(SPACE_MARK.into()).into());
    }
    steps.push(
        Replace::new(" ", SPACE_MARK)
            .map_err(|e| TokenizerError::Build(e.to_string()))?
            .into(),
    );
    let mut hf = tokenizers::Tokenizer::new(bpe);
    hf.with_normalizer(Some(Sequence::new(steps)));
    Ok(hf)
}

/// Every `(left, right)` whose concatenation is a token, ordered as HF orders them.
fn derive_merges(
    tokens: &[&str],
    scores: &[f32],
    ids: &HashMap<&str, u32>,
) -> Vec<(String, String)> {
    // (score of the merged token, merged id, left id, right id)
    let mut found: Vec<(f32, u32, u32, u32)> = Vec::new();
    for (merged, (text, &score)) in tokens.iter().zip(scores).enumerate() {
        for (split, _) in text.char_indices().skip(1) {
            let (l, r) = text.split_at(split);
            if let (Some(&li), Some(&ri)) = (ids.get(l), ids.get(r)) {
                found.push((score, merged as u32, li, ri));
            }
        }
    }
    found.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    found
        .into_iter()
        .map(|(_, _, l, r)| {
            (
                tokens[l as usize].to_string(),
                tokens[r as usize].to_string(),
            )
        })
        .collect()
}
