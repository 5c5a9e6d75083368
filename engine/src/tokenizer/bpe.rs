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
    let merge_values = meta
        .merges
        .ok_or(TokenizerError::MissingKey { key: KEY_MERGES })?;
    // Two independent passes over ~10⁵ strings each: one per core.
    let (vocab, merges) = std::thread::scope(|scope| {
        let merges = scope.spawn(|| split_merges(merge_values));
        (vocab_of(&meta.tokens), merges.join())
    });
    let merges = merges
        .map_err(|_| TokenizerError::Build("the tokenizer's worker thread panicked".into()))??;
    let missing_bytes: Vec<u8> = (0..=255u8)
        .filter(|&b| !vocab.contains_key(BYTE_TO_CHAR[b as usize].encode_utf8(&mut [0; 4]) as &str))
        .collect();
    if !missing_bytes.is_empty() {
        tracing::warn!(
            missing = missing_bytes.len(),
            "vocabulary lacks single-byte tokens for some bytes; text containing them cannot be encoded"
        );
    }
    // HF's builder looks up both halves and the merged token of every rule; checking them here
    // as well cost a fifth of building a 128k vocabulary, so a bad rule is only located (to
    // name its position) once the builder has refused the set.
    let bpe = match BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(pre.ignore_merges())
        .build()
    {
        Ok(bpe) => bpe,
        Err(e) => {
            return Err(first_bad_merge(merge_values, &vocab_of(&meta.tokens))
                .unwrap_or_else(|| TokenizerError::Build(format!("{KEY_MERGES}: {e}"))));
        }
    };

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

/// Token text → id. Ids are positions (the vocabulary size fits in u32); on duplicate texts
/// the last id wins, as in llama.cpp's token_to_id map.
fn vocab_of(tokens: &[&str]) -> Vocab {
    tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), i as u32))
        .collect()
}

/// Splits `"left right"` merge rules at their space (searched from the second byte, as
/// llama.cpp does, so a left half that is itself a space still parses).
fn split_merges(merges: &[GgufValue]) -> Result<Vec<(String, String)>, TokenizerError> {
    merges
        .iter()
        .enumerate()
        .map(|(index, v)| {
            let merge = v
                .as_str()
                .ok_or_else(|| wrong_type(KEY_MERGES, Some(index), "string", v))?;
            let (left, right) =
                split_merge(merge).map_err(|reason| TokenizerError::MalformedMerge {
                    index,
                    merge: merge.to_string(),
                    reason: reason.into(),
                })?;
            Ok((left.to_string(), right.to_string()))
        })
        .collect()
}

fn split_merge(merge: &str) -> Result<(&str, &str), &'static str> {
    let space = merge
        .bytes()
        .skip(1)
        .position(|b| b == b' ')
        .map(|p| p + 1)
        .ok_or("no space between the two tokens")?;
    let (left, right) = (&merge[..space], &merge[space + 1..]);
    if right.is_empty() {
        return Err("empty right-hand token");
    }
    Ok((left, right))
}

/// The first rule (already split successfully) that names a token, or merges into a token,
/// that the vocabulary lacks.
fn first_bad_merge(merges: &[GgufValue], vocab: &Vocab) -> Option<TokenizerError> {
    merges.iter().enumerate().find_map(|(index, v)| {
        let merge = v.as_str()?;
        let (left, right) = split_merge(merge).ok()?;
        let merged = format!("{left}{right}");
        let reason = [(left, "token"), (right, "token"), (&merged, "merged token")]
            .into_iter()
            .find(|(t, _)| !vocab.contains_key(*t))
            .map(|(t, what)| format!("{what} {t:?} is not in the vocabulary"))?;
        Some(TokenizerError::MalformedMerge {
            index,
            merge: merge.to_string(),
            reason,
        })
    })
}
