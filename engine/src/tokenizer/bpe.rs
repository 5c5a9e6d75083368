//! Byte-level BPE (`tokenizer.ggml.model = "gpt2"`) assembled on HF `tokenizers`.

use super::byte_level::BYTE_TO_CHAR;
use super::error::TokenizerError;
use super::metadata::{KEY_MERGES, VocabMetadata, wrong_type};
use super::pretokenizer::PreTokenizerKind;
use crate::gguf::GgufValue;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{PreTokenizerWrapper, SplitDelimiterBehavior};

/// A byte-level BPE tokenizer, plus the bytes it has no single-byte token for (HF's BPE
/// silently drops such bytes, so encoding checks for them when there are any).
pub(crate) fn build(
    meta: &VocabMetadata<'_>,
    pre: PreTokenizerKind,
) -> Result<(tokenizers::Tokenizer, Vec<u8>), TokenizerError> {
    // Ids are positions (the vocabulary size fits in u32). On duplicate texts the last id
    // wins, as in llama.cpp's token_to_id map.
    let vocab: Vocab = meta
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), i as u32))
        .collect();
    let merges = parse_merges(
        meta.merges
            .ok_or(TokenizerError::MissingKey { key: KEY_MERGES })?,
        &vocab,
    )?;
    let missing_bytes: Vec<u8> = (0..=255u8)
        .filter(|&b| !vocab.contains_key(BYTE_TO_CHAR[b as usize].encode_utf8(&mut [0; 4]) as &str))
        .collect();
    if !missing_bytes.is_empty() {
        tracing::warn!(
            missing = missing_bytes.len(),
            "vocabulary lacks single-byte tokens for some bytes; text containing them cannot be encoded"
        );
    }
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(pre.ignore_merges())
        .build()
        .map_err(|e| TokenizerError::Build(format!("{KEY_MERGES}: {e}")))?;

    let mut steps = Vec::new();
    for regex in pre.regexes() {
        let split = Split::new(
            SplitPattern::Regex((*regex).into()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| TokenizerError::Build(format!("pre-tokenizer regex {regex:?}: {e}")))?;
        steps.push(PreTokenizerWrapper::Split(split));
    }
    // The splits above did GPT-2's job, so ByteLevel only maps bytes to symbols.
    steps.push(PreTokenizerWrapper::ByteLevel(ByteLevel::new(
        false, true, false,
    )));
    let mut hf = tokenizers::Tokenizer::new(bpe);
    hf.with_pre_tokenizer(Some(Sequence::new(steps)));
    // Decoding goes through our byte table; HF's decoder is set so both agree (tested).
    hf.with_decoder(Some(ByteLevel::new(false, true, false)));
    Ok((hf, missing_bytes))
}

/// Parses `"left right"` merge rules, checking that both halves are tokens so that a bad file
/// is reported with the rule's position (HF checks the merged token).
fn parse_merges(
    merges: &[GgufValue],
    vocab: &Vocab,
) -> Result<Vec<(String, String)>, TokenizerError> {
    merges
        .iter()
        .enumerate()
        .map(|(index, v)| {
            let merge = v
                .as_str()
                .ok_or_else(|| wrong_type(KEY_MERGES, Some(index), "string", v))?;
            let bad = |reason: String| TokenizerError::MalformedMerge {
                index,
                merge: merge.to_string(),
                reason,
            };
            // Search from the second byte, as llama.cpp does, so a left half that is itself a
            // space still parses.
            let space = merge
                .bytes()
                .skip(1)
                .position(|b| b == b' ')
                .map(|p| p + 1)
                .ok_or_else(|| bad("no space between the two tokens".into()))?;
            let (left, right) = (&merge[..space], &merge[space + 1..]);
            if right.is_empty() {
                return Err(bad("empty right-hand token".into()));
            }
            for part in [left, right] {
                if !vocab.contains_key(part) {
                    return Err(bad(format!("token {part:?} is not in the vocabulary")));
                }
            }
            Ok((left.to_string(), right.to_string()))
        })
        .collect()
}
