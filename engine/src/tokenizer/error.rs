//! What can go wrong building or using a tokenizer.

use super::metadata::{KEY_MERGES, KEY_MODEL, KEY_PRE, KEY_TOKENS};

/// What went wrong building or using a [`Tokenizer`](super::Tokenizer).
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A required metadata key is absent.
    #[error("GGUF metadata key '{key}' is missing")]
    MissingKey {
        /// The key.
        key: &'static str,
    },
    /// A metadata key (or an element of it) has the wrong type or an impossible value.
    #[error("GGUF metadata key '{key}'{}: expected {expected}, found {found}", .index.map(|i| format!(" element {i}")).unwrap_or_default())]
    WrongType {
        /// The key.
        key: &'static str,
        /// The array element, when the wrong value is inside an array.
        index: Option<usize>,
        /// What was expected.
        expected: &'static str,
        /// What the file holds.
        found: String,
    },
    /// Two per-token arrays disagree in length.
    #[error("GGUF metadata key '{key}' has {len} entries but '{KEY_TOKENS}' has {tokens}")]
    LengthMismatch {
        /// The key whose length is wrong.
        key: &'static str,
        /// Its length.
        len: usize,
        /// The number of tokens.
        tokens: usize,
    },
    /// A merge rule is not two tokens separated by a space, or names a token not in the vocabulary.
    #[error("GGUF metadata key '{KEY_MERGES}' entry {index} ({merge:?}): {reason}")]
    MalformedMerge {
        /// Position in the merges array.
        index: usize,
        /// The rule as written.
        merge: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A special-token id is outside the vocabulary.
    #[error("GGUF metadata key '{key}' = {id} is outside the vocabulary of {vocab_size} tokens")]
    BadSpecialId {
        /// The key.
        key: &'static str,
        /// The id given.
        id: u64,
        /// The number of tokens.
        vocab_size: usize,
    },
    /// The vocabulary is empty or too large for u32 token ids.
    #[error(
        "GGUF metadata key '{KEY_TOKENS}' holds {len} tokens; a vocabulary needs 1 to 2^32 - 1"
    )]
    BadVocabSize {
        /// The number of tokens.
        len: usize,
    },
    /// `tokenizer.ggml.model` names a tokenizer this version cannot build.
    #[error(
        "tokenizer model '{model}' (GGUF metadata key '{KEY_MODEL}') is not supported: 'gpt2' (byte-level BPE) and 'llama' (SentencePiece) are"
    )]
    UnsupportedModel {
        /// The model named by the file.
        model: String,
    },
    /// `tokenizer.ggml.pre` names a pre-tokenizer this version does not know.
    #[error(
        "pre-tokenizer '{pre}' (GGUF metadata key '{KEY_PRE}') is not supported; known: {known}. A tokenizer.json given with --tokenizer overrides it"
    )]
    UnsupportedPreTokenizer {
        /// The name in the file.
        pre: String,
        /// The names this version knows, comma-separated.
        known: String,
    },
    /// A SentencePiece vocabulary lacks the byte tokens `<0x00>`..`<0xFF>` its byte fallback needs.
    #[error(
        "SentencePiece vocabulary has no byte token {token} (type 6), which byte fallback needs"
    )]
    MissingByteToken {
        /// The token text, e.g. `<0x0A>`.
        token: String,
    },
    /// A user-supplied tokenizer.json does not fit the model's vocabulary.
    #[error("tokenizer.json {path}: {reason}")]
    OverrideMismatch {
        /// The file.
        path: String,
        /// How it disagrees with the GGUF vocabulary.
        reason: String,
    },
    /// The HF `tokenizers` crate refused the assembled tokenizer.
    #[error("building the tokenizer failed: {0}")]
    Build(String),
    /// The HF `tokenizers` crate failed to encode.
    #[error("encoding failed: {0}")]
    Encode(String),
    /// The text holds bytes the vocabulary has no token for (its byte alphabet is incomplete).
    #[error("text contains bytes that vocabulary has no token for: {missing}")]
    Unencodable {
        /// The missing bytes, as hex.
        missing: String,
    },
    /// A token id is outside the vocabulary.
    #[error("token id {id} is outside the vocabulary of {vocab_size} tokens")]
    IdOutOfRange {
        /// The id.
        id: u32,
        /// The number of tokens.
        vocab_size: usize,
    },
}
