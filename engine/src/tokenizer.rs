//! Text ⇄ token ids, built from a GGUF file's `tokenizer.ggml.*` metadata.
//!
//! This first version covers byte-level BPE vocabularies (`tokenizer.ggml.model = "gpt2"`,
//! as in LLaMA 3 and the BitNet b1.58 models derived from it): the HF `tokenizers` crate does
//! the encoding from a tokenizer assembled in memory, so no `tokenizer.json` has to ship next
//! to the model. Decoding does not go through HF: every token's raw bytes are computed once at
//! load, which makes decoding and streaming a table lookup and lets a stream hold back
//! incomplete UTF-8 characters.

use crate::gguf::{GgufFile, GgufValue};
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior};

const KEY_MODEL: &str = "tokenizer.ggml.model";
const KEY_PRE: &str = "tokenizer.ggml.pre";
const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
const KEY_TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
const KEY_MERGES: &str = "tokenizer.ggml.merges";
const KEY_BOS: &str = "tokenizer.ggml.bos_token_id";
const KEY_EOS: &str = "tokenizer.ggml.eos_token_id";
const KEY_EOT: &str = "tokenizer.ggml.eot_token_id";
const KEY_ADD_BOS: &str = "tokenizer.ggml.add_bos_token";

/// The LLaMA 3 pre-tokenizer split (the regex of its `tokenizer.json`).
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// `tokenizer.ggml.pre` values that llama.cpp treats as the LLaMA 3 pre-tokenizer.
const LLAMA3_PRE_NAMES: &[&str] = &[
    "llama3",
    "llama-v3",
    "llama-bpe",
    "falcon3",
    "falcon-h1",
    "pixtral",
    "midm-2.0",
    "lfm2",
    "jina-v5-nano",
];

/// Token texts that end a chat turn when the file names no `tokenizer.ggml.eot_token_id`.
const EOT_FALLBACK_TEXTS: &[&str] = &["<|eot_id|>", "<|im_end|>"];

/// `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`).
const TOKEN_TYPE_CONTROL: u64 = 3;
const TOKEN_TYPE_USER_DEFINED: u64 = 4;

/// What went wrong building or using a [`Tokenizer`].
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A required metadata key is absent.
    #[error("GGUF metadata key '{key}' is missing")]
    MissingKey {
        /// The key.
        key: &'static str,
    },
    /// A metadata key (or an element of it) has the wrong type.
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
    /// The vocabulary is too large for u32 token ids.
    #[error("GGUF metadata key '{KEY_TOKENS}' holds {len} tokens, more than u32 ids can name")]
    VocabTooLarge {
        /// The number of tokens.
        len: usize,
    },
    /// `tokenizer.ggml.model` names a tokenizer this version cannot build.
    #[error(
        "tokenizer model '{model}' is not supported yet (GGUF metadata key '{KEY_MODEL}'; only 'gpt2' byte-level BPE is)"
    )]
    UnsupportedModel {
        /// The model named by the file.
        model: String,
    },
    /// The HF `tokenizers` crate refused the assembled tokenizer.
    #[error("building the BPE tokenizer failed: {0}")]
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

/// A tokenizer for one model: encodes text to ids and decodes ids to text.
pub struct Tokenizer {
    hf: tokenizers::Tokenizer,
    // Raw bytes of every token, concatenated; token `i` is `bytes[offsets[i]..offsets[i + 1]]`.
    // One buffer instead of 128k small allocations.
    bytes: Vec<u8>,
    offsets: Vec<usize>,
    // Bytes with no single-byte token; HF's BPE silently drops such bytes, so encoding checks
    // for them when this is not empty.
    missing_bytes: Vec<u8>,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    add_bos: bool,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("eot", &self.eot)
            .field("add_bos", &self.add_bos)
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Builds the tokenizer described by `file`'s `tokenizer.ggml.*` metadata.
    ///
    /// Only `tokenizer.ggml.model = "gpt2"` (byte-level BPE) is supported. The pre-tokenizer is
    /// always LLaMA 3's regex split; a `tokenizer.ggml.pre` naming another one is logged as a
    /// warning, since tokens may then differ from the model's training. Tokens typed control
    /// (3) or user-defined (4) in `tokenizer.ggml.token_type` are matched in text as whole
    /// units before any splitting.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, TokenizerError> {
        let model = get_str(file, KEY_MODEL)?;
        if model != "gpt2" {
            return Err(TokenizerError::UnsupportedModel {
                model: model.to_string(),
            });
        }
        let pre = match file.get(KEY_PRE) {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .ok_or_else(|| wrong_type(KEY_PRE, None, "string", v))?,
            ),
        };

        let tokens = get_array(file, KEY_TOKENS)?;
        let n = tokens.len();
        if u32::try_from(n).is_err() {
            return Err(TokenizerError::VocabTooLarge { len: n });
        }
        let texts: Vec<&str> = tokens
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .ok_or_else(|| wrong_type(KEY_TOKENS, Some(i), "string", v))
            })
            .collect::<Result<_, _>>()?;

        let types: Vec<u64> = match file.get(KEY_TOKEN_TYPE) {
            // llama.cpp treats an absent type array as all-normal tokens.
            None => vec![1; n],
            Some(v) => {
                let arr = v
                    .as_array()
                    .ok_or_else(|| wrong_type(KEY_TOKEN_TYPE, None, "array", v))?;
                if arr.len() != n {
                    return Err(TokenizerError::LengthMismatch {
                        key: KEY_TOKEN_TYPE,
                        len: arr.len(),
                        tokens: n,
                    });
                }
                arr.iter()
                    .enumerate()
                    .map(|(i, v)| {
                        v.as_u64().ok_or_else(|| {
                            wrong_type(KEY_TOKEN_TYPE, Some(i), "non-negative integer", v)
                        })
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        let is_special =
            |i: usize| matches!(types[i], TOKEN_TYPE_CONTROL | TOKEN_TYPE_USER_DEFINED);

        // Ids are positions; `n` fits in u32 (checked above). On duplicate texts the last id
        // wins, as in llama.cpp's token_to_id map.
        let vocab: Vocab = texts
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u32))
            .collect();
        let merges = parse_merges(get_array(file, KEY_MERGES)?, &vocab)?;
        let n_merges = merges.len();

        let (bytes, offsets) = token_byte_table(&texts, is_special);
        let missing_bytes: Vec<u8> = (0..=255u8)
            .filter(|&b| !vocab.contains_key(&BYTE_TO_CHAR[b as usize].to_string()))
            .collect();
        if !missing_bytes.is_empty() {
            tracing::warn!(
                missing = missing_bytes.len(),
                "vocabulary lacks single-byte tokens for some bytes; text containing them cannot be encoded"
            );
        }

        let llama3_family = pre.is_some_and(|p| LLAMA3_PRE_NAMES.contains(&p));
        match pre {
            None => tracing::info!("{KEY_PRE} absent; using the LLaMA 3 regex pre-tokenizer"),
            Some(p) if llama3_family => {
                tracing::info!("pre-tokenizer '{p}': using the LLaMA 3 regex")
            }
            Some(p) => tracing::warn!(
                "pre-tokenizer '{p}' is not implemented; using the LLaMA 3 regex, so tokens may differ from the model's training"
            ),
        }

        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            // llama.cpp takes a whole pre-token from the vocabulary before merging for the
            // LLaMA 3 family, as LLaMA 3's own tokenizer.json does.
            .ignore_merges(llama3_family)
            .build()
            .map_err(|e| TokenizerError::Build(e.to_string()))?;
        let split = Split::new(
            SplitPattern::Regex(LLAMA3_REGEX.into()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| TokenizerError::Build(e.to_string()))?;
        let pre_tokenizer = Sequence::new(vec![
            PreTokenizerWrapper::Split(split),
            // The split above already did GPT-2's job, so ByteLevel only maps bytes to symbols.
            PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, false)),
        ]);
        let mut hf = tokenizers::Tokenizer::new(bpe);
        hf.with_pre_tokenizer(Some(pre_tokenizer));
        hf.with_decoder(Some(ByteLevel::new(false, true, false)));
        let specials: Vec<AddedToken> = (0..n)
            .filter(|&i| is_special(i))
            .map(|i| AddedToken::from(texts[i], true))
            .collect();
        hf.add_special_tokens(&specials);

        let special_id = |key: &'static str| -> Result<Option<u32>, TokenizerError> {
            let Some(v) = file.get(key) else {
                return Ok(None);
            };
            let id = v
                .as_u64()
                .ok_or_else(|| wrong_type(key, None, "non-negative integer", v))?;
            match u32::try_from(id) {
                Ok(id) if (id as usize) < n => Ok(Some(id)),
                _ => Err(TokenizerError::BadSpecialId {
                    key,
                    id,
                    vocab_size: n,
                }),
            }
        };
        let bos = special_id(KEY_BOS)?;
        let eos = special_id(KEY_EOS)?;
        let eot = match special_id(KEY_EOT)? {
            Some(id) => Some(id),
            None => EOT_FALLBACK_TEXTS.iter().find_map(|t| hf.token_to_id(t)),
        };
        // llama.cpp's default for byte-level BPE: BOS only for the LLaMA 3 family.
        let add_bos = match file.get(KEY_ADD_BOS) {
            None => llama3_family,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| wrong_type(KEY_ADD_BOS, None, "bool", v))?,
        };

        tracing::info!(
            tokens = n,
            merges = n_merges,
            specials = specials.len(),
            ?bos,
            ?eos,
            ?eot,
            add_bos,
            "byte-level BPE tokenizer built from GGUF"
        );
        Ok(Self {
            hf,
            bytes,
            offsets,
            missing_bytes,
            bos,
            eos,
            eot,
            add_bos,
        })
    }

    /// Encodes `text`. Control and user-defined tokens written in the text (e.g.
    /// `<|eot_id|>`) become their ids, so untrusted text that must not inject them has to be
    /// escaped by the caller.
    ///
    /// `add_bos` asks for the model's usual BOS: it is prepended only when the caller asks
    /// *and* the file wants one (`tokenizer.ggml.add_bos_token`, see
    /// [`Tokenizer::add_bos_default`]) *and* a BOS id exists. Pass `false` for text that
    /// continues a sequence.
    pub fn encode(&self, text: &str, add_bos: bool) -> Result<Vec<u32>, TokenizerError> {
        let enc = self
            .hf
            .encode(text, false)
            .map_err(|e| TokenizerError::Encode(e.to_string()))?;
        if !self.missing_bytes.is_empty() {
            let missing: Vec<String> = text
                .bytes()
                .filter(|b| self.missing_bytes.contains(b))
                .map(|b| format!("{b:#04x}"))
                .collect();
            // Such a byte may still sit inside a special token; only a lossy encoding is an error.
            if !missing.is_empty() && self.decode(enc.get_ids())? != text {
                return Err(TokenizerError::Unencodable {
                    missing: missing.join(" "),
                });
            }
        }
        let mut ids = Vec::with_capacity(enc.get_ids().len() + 1);
        if let (true, true, Some(bos)) = (add_bos, self.add_bos, self.bos) {
            ids.push(bos);
        }
        ids.extend_from_slice(enc.get_ids());
        Ok(ids)
    }

    /// Decodes ids to text. Special tokens appear as their text; byte sequences that are not
    /// valid UTF-8 become U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        let mut bytes = Vec::new();
        for &id in ids {
            bytes.extend_from_slice(self.token_bytes(id)?);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The raw bytes a token stands for: byte-level symbols mapped back to bytes, special
    /// tokens' text as is. One token may hold part of a UTF-8 character.
    pub fn token_bytes(&self, id: u32) -> Result<&[u8], TokenizerError> {
        let i = id as usize;
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&start), Some(&end)) => Ok(&self.bytes[start..end]),
            _ => Err(TokenizerError::IdOutOfRange {
                id,
                vocab_size: self.vocab_size(),
            }),
        }
    }

    /// The id of a token with exactly this text, if the vocabulary has one.
    pub fn token_to_id(&self, text: &str) -> Option<u32> {
        self.hf.token_to_id(text)
    }

    /// Beginning-of-sequence token (`tokenizer.ggml.bos_token_id`).
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    /// End-of-sequence token (`tokenizer.ggml.eos_token_id`).
    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// End-of-turn token: `tokenizer.ggml.eot_token_id`, else the id of `<|eot_id|>` or
    /// `<|im_end|>` when the vocabulary has one.
    pub fn eot_id(&self) -> Option<u32> {
        self.eot
    }

    /// Whether the model expects a BOS at the start of a prompt: `tokenizer.ggml.add_bos_token`
    /// when present, otherwise (as llama.cpp does) true only for LLaMA 3 family
    /// pre-tokenizers.
    pub fn add_bos_default(&self) -> bool {
        self.add_bos
    }

    /// Number of tokens in the vocabulary; valid ids are `0..vocab_size()`.
    pub fn vocab_size(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether generation should stop at this token (EOS or EOT).
    pub fn is_end_of_generation(&self, id: u32) -> bool {
        Some(id) == self.eos || Some(id) == self.eot
    }
}

/// Turns ids into text as they are generated, one at a time, emitting only complete UTF-8
/// characters: a character split over several byte tokens (emoji, CJK) is held back until its
/// last byte arrives, so a stream never shows a broken character.
///
/// The tokenizer is passed to each call rather than borrowed for the decoder's lifetime, so a
/// decoder can live in a session next to a shared tokenizer.
#[derive(Debug, Clone, Default)]
pub struct StreamDecoder {
    pending: Vec<u8>,
}

impl StreamDecoder {
    /// A decoder with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one token and returns the text it completes (possibly empty). Invalid byte
    /// sequences come out as U+FFFD, exactly as [`Tokenizer::decode`] would render them.
    pub fn push(&mut self, tokenizer: &Tokenizer, id: u32) -> Result<String, TokenizerError> {
        self.pending.extend_from_slice(tokenizer.token_bytes(id)?);
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    out.push_str(&String::from_utf8_lossy(valid));
                    match e.error_len() {
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[bad..];
                        }
                        // An unfinished character at the end: wait for the next token.
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        let consumed = self.pending.len() - rest.len();
        self.pending.drain(..consumed);
        Ok(out)
    }

    /// Ends the stream: whatever is still pending, with an unfinished character as U+FFFD.
    pub fn flush(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}

fn wrong_type(
    key: &'static str,
    index: Option<usize>,
    expected: &'static str,
    found: &GgufValue,
) -> TokenizerError {
    TokenizerError::WrongType {
        key,
        index,
        expected,
        found: found.type_name(),
    }
}

fn get_str<'a>(file: &'a GgufFile, key: &'static str) -> Result<&'a str, TokenizerError> {
    let v = file.get(key).ok_or(TokenizerError::MissingKey { key })?;
    v.as_str().ok_or_else(|| wrong_type(key, None, "string", v))
}

fn get_array<'a>(file: &'a GgufFile, key: &'static str) -> Result<&'a [GgufValue], TokenizerError> {
    let v = file.get(key).ok_or(TokenizerError::MissingKey { key })?;
    v.as_array()
        .ok_or_else(|| wrong_type(key, None, "array", v))
}

/// Parses `"left right"` merge rules, checking that both halves and their concatenation are
/// tokens so that a bad file is reported with the rule's position rather than by HF.
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
            let joined = format!("{left}{right}");
            for part in [left, right, joined.as_str()] {
                if !vocab.contains_key(part) {
                    return Err(bad(format!("token {part:?} is not in the vocabulary")));
                }
            }
            Ok((left.to_string(), right.to_string()))
        })
        .collect()
}

/// GPT-2's byte → printable symbol table: bytes that are printable and not space map to
/// themselves, the other 68 to U+0100 onwards in byte order.
const BYTE_TO_CHAR: [char; 256] = {
    let mut table = ['\0'; 256];
    let mut next = 0x100u32;
    let mut b = 0usize;
    while b < 256 {
        let printable = matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
        let cp = if printable {
            b as u32
        } else {
            next += 1;
            next - 1
        };
        table[b] = match char::from_u32(cp) {
            Some(c) => c,
            None => panic!("byte-level symbols are all below U+0200"),
        };
        b += 1;
    }
    table
};

/// The bytes behind the 68 symbols at U+0100.., the inverse of [`BYTE_TO_CHAR`] there.
const SYMBOL_TO_BYTE: [u8; 68] = {
    let mut table = [0u8; 68];
    let mut b = 0usize;
    while b < 256 {
        let cp = BYTE_TO_CHAR[b] as u32;
        if cp >= 0x100 {
            table[(cp - 0x100) as usize] = b as u8;
        }
        b += 1;
    }
    table
};

/// The byte a byte-level symbol stands for; `None` for any other character.
fn symbol_to_byte(c: char) -> Option<u8> {
    match c as u32 {
        cp @ (0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF) => u8::try_from(cp).ok(),
        cp @ 0x100..0x144 => SYMBOL_TO_BYTE.get((cp - 0x100) as usize).copied(),
        _ => None,
    }
}

/// Raw bytes of every token, concatenated, with start offsets (one extra at the end).
/// A normal token whose text is not entirely byte-level symbols keeps its UTF-8 text, as HF's
/// ByteLevel decoder does.
fn token_byte_table(texts: &[&str], is_special: impl Fn(usize) -> bool) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = Vec::with_capacity(texts.iter().map(|t| t.len()).sum());
    let mut offsets = Vec::with_capacity(texts.len() + 1);
    offsets.push(0);
    for (i, text) in texts.iter().enumerate() {
        let symbols = !is_special(i) && text.chars().all(|c| symbol_to_byte(c).is_some());
        if symbols {
            bytes.extend(text.chars().filter_map(symbol_to_byte));
        } else {
            bytes.extend_from_slice(text.as_bytes());
        }
        offsets.push(bytes.len());
    }
    (bytes, offsets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{GgufValueType, GgufWriter};
    use proptest::prelude::*;
    use std::path::{Path, PathBuf};

    fn strings(items: &[&str]) -> GgufValue {
        GgufValue::Array(
            GgufValueType::String,
            items
                .iter()
                .map(|s| GgufValue::String(s.to_string()))
                .collect(),
        )
    }

    fn i32s(items: &[i32]) -> GgufValue {
        GgufValue::Array(
            GgufValueType::I32,
            items.iter().map(|&v| GgufValue::I32(v)).collect(),
        )
    }

    fn byte_symbol(b: u8) -> String {
        BYTE_TO_CHAR[b as usize].to_string()
    }

    /// The 256 byte tokens (id = byte), then merged tokens, then specials.
    fn tiny_vocab() -> (Vec<String>, Vec<i32>, Vec<&'static str>) {
        let mut tokens: Vec<String> = (0..=255u8).map(byte_symbol).collect();
        let merged = [
            "Ġt", "he", "Ġthe", "ll", "llo", "Ġh", "Ġhe", "Ġhello", "Ġw", "or", "ld", "Ġwor",
            "Ġworld",
        ];
        tokens.extend(merged.iter().map(|s| s.to_string()));
        let mut types = vec![1; tokens.len()];
        for (text, ty) in [
            ("<|begin_of_text|>", 3),
            ("<|end_of_text|>", 3),
            ("<|eot_id|>", 3),
            ("<think>", 4),
        ] {
            tokens.push(text.to_string());
            types.push(ty);
        }
        let merges = vec![
            "Ġ t", "h e", "Ġt he", "l l", "ll o", "Ġ h", "Ġh e", "Ġhe llo", "Ġ w", "o r", "l d",
            "Ġw or", "Ġwor ld",
        ];
        (tokens, types, merges)
    }

    fn build(edit: impl FnOnce(&mut GgufWriter)) -> Result<Tokenizer, TokenizerError> {
        let (tokens, types, merges) = tiny_vocab();
        let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let mut w = GgufWriter::new();
        w.add_kv(KEY_MODEL, GgufValue::String("gpt2".into()))
            .add_kv(KEY_PRE, GgufValue::String("llama-bpe".into()))
            .add_kv(KEY_TOKENS, strings(&tokens))
            .add_kv(KEY_TOKEN_TYPE, i32s(&types))
            .add_kv(KEY_MERGES, strings(&merges))
            .add_kv(KEY_BOS, GgufValue::U32(269))
            .add_kv(KEY_EOS, GgufValue::U32(270));
        edit(&mut w);
        let mut bytes = Vec::new();
        w.write_with(&mut bytes, |_| unreachable!("no tensors"))
            .expect("in-memory write");
        Tokenizer::from_gguf(&GgufFile::from_bytes(bytes).expect("valid GGUF"))
    }

    fn tiny() -> Tokenizer {
        build(|_| {}).expect("tiny vocabulary builds")
    }

    #[test]
    fn shareable_across_threads() {
        // The server shares one tokenizer between request tasks.
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Tokenizer>();
        assert_send_sync::<StreamDecoder>();
    }

    #[test]
    fn byte_table_is_gpt2s() {
        assert_eq!(BYTE_TO_CHAR[b' ' as usize], 'Ġ');
        assert_eq!(BYTE_TO_CHAR[b'\n' as usize], 'Ċ');
        assert_eq!(BYTE_TO_CHAR[b'a' as usize], 'a');
        assert_eq!(BYTE_TO_CHAR[0xAD], 'Ń');
        for b in 0..=255u8 {
            assert_eq!(symbol_to_byte(BYTE_TO_CHAR[b as usize]), Some(b));
        }
        assert_eq!(symbol_to_byte('世'), None);
        assert_eq!(symbol_to_byte(' '), None);
    }

    #[test]
    fn encodes_with_merges_and_specials() {
        let t = tiny();
        assert_eq!(t.vocab_size(), 273);
        let id = |s: &str| t.token_to_id(s).expect("token exists");
        assert_eq!(t.encode(" the", false).expect("encodes"), vec![id("Ġthe")]);
        // "hello" is not a token, so merges apply; " world" is, so it is taken whole.
        assert_eq!(
            t.encode("hello world", false).expect("encodes"),
            vec![id("he"), id("llo"), id("Ġworld")]
        );
        // Specials are matched whole, wherever they sit.
        let ids = t
            .encode("<|begin_of_text|>the<|eot_id|><think>", false)
            .expect("encodes");
        assert_eq!(ids, vec![269, 116, id("he"), 271, 272]);
        // Whitespace runs and newlines follow the LLaMA 3 split: "  " before a word is one
        // piece (a lone space) plus " the".
        assert_eq!(
            t.encode("a  the\n\n", false).expect("encodes"),
            vec![97, 32, id("Ġthe"), 10, 10]
        );
        // Multi-byte characters fall back to byte tokens.
        assert_eq!(t.encode("é", false).expect("encodes"), vec![0xC3, 0xA9]);
        assert_eq!(t.encode("", false).expect("encodes"), Vec::<u32>::new());
    }

    #[test]
    fn special_ids_and_flags() {
        let t = tiny();
        assert_eq!(
            (t.bos_id(), t.eos_id(), t.eot_id()),
            (Some(269), Some(270), Some(271))
        );
        assert!(t.add_bos_default(), "llama-bpe defaults to a BOS");
        assert!(t.is_end_of_generation(270) && t.is_end_of_generation(271));
        assert!(!t.is_end_of_generation(269) && !t.is_end_of_generation(10_000));
        assert_eq!(t.encode(" the", true).expect("encodes"), vec![269, 258]);

        let no_bos = build(|w| {
            w.add_kv(KEY_ADD_BOS, GgufValue::Bool(false))
                .add_kv(KEY_EOT, GgufValue::U32(270));
        })
        .expect("builds");
        assert!(!no_bos.add_bos_default());
        assert_eq!(no_bos.encode(" the", true).expect("encodes"), vec![258]);
        assert_eq!(no_bos.eot_id(), Some(270));
        // No pre-tokenizer name: llama.cpp's default adds no BOS.
        let bare = build(|w| {
            w.add_kv(KEY_PRE, GgufValue::String("default".into()));
        })
        .expect("builds");
        assert!(!bare.add_bos_default());
    }

    #[test]
    fn decode_and_token_bytes() {
        let t = tiny();
        assert_eq!(t.token_bytes(32).expect("in range"), b" ");
        assert_eq!(t.token_bytes(258).expect("in range"), b" the");
        assert_eq!(t.token_bytes(271).expect("in range"), b"<|eot_id|>");
        let text = "<|begin_of_text|>hello world é\r\n 世界 🙂<|eot_id|>";
        let ids = t.encode(text, false).expect("encodes");
        assert_eq!(t.decode(&ids).expect("decodes"), text);
        // Agrees with HF's own ByteLevel decoder.
        assert_eq!(t.hf.decode(&ids, false).expect("HF decodes"), text);
        assert!(matches!(
            t.decode(&[1, 273]),
            Err(TokenizerError::IdOutOfRange {
                id: 273,
                vocab_size: 273
            })
        ));
        assert!(t.token_bytes(u32::MAX).is_err());
        // An unfinished character is not text.
        assert_eq!(t.decode(&[0xE4, 0xB8]).expect("decodes"), "\u{FFFD}");
    }

    fn expect_err(edit: impl FnOnce(&mut GgufWriter), want: &str) {
        match build(edit) {
            Ok(_) => panic!("expected an error containing {want:?}"),
            Err(e) => assert!(
                e.to_string().contains(want),
                "{e} does not mention {want:?}"
            ),
        }
    }

    #[test]
    fn metadata_errors_name_the_key() {
        expect_err(
            |w| *w = GgufWriter::new(),
            "'tokenizer.ggml.model' is missing",
        );
        expect_err(
            |w| {
                w.add_kv(KEY_MODEL, GgufValue::String("llama".into()));
            },
            "tokenizer model 'llama' is not supported yet",
        );
        expect_err(
            |w| {
                w.add_kv(KEY_MODEL, GgufValue::U32(1));
            },
            "'tokenizer.ggml.model': expected string",
        );
        expect_err(
            |w| {
                w.add_kv(KEY_TOKEN_TYPE, i32s(&[1, 1]));
            },
            "'tokenizer.ggml.token_type' has 2 entries but 'tokenizer.ggml.tokens' has 273",
        );
        expect_err(
            |w| {
                w.add_kv(KEY_MERGES, strings(&["Ġ t", "he"]));
            },
            "'tokenizer.ggml.merges' entry 1 (\"he\"): no space",
        );
        expect_err(
            |w| {
                w.add_kv(KEY_MERGES, strings(&["Ġ q"]));
            },
            "token \"Ġq\" is not in the vocabulary",
        );
        expect_err(
            |w| {
                w.add_kv(KEY_MERGES, strings(&["h x€"]));
            },
            "token \"x€\" is not in the vocabulary",
        );
        expect_err(
            |w| {
                w.add_kv(KEY_EOS, GgufValue::U32(273));
            },
            "'tokenizer.ggml.eos_token_id' = 273 is outside",
        );
        expect_err(
            |w| {
                w.add_kv(
                    KEY_TOKENS,
                    GgufValue::Array(GgufValueType::U32, vec![GgufValue::U32(1)]),
                );
            },
            "'tokenizer.ggml.tokens' element 0: expected string",
        );
        expect_err(
            |w| {
                w.add_kv(KEY_TOKEN_TYPE, i32s(&[-1; 273]));
            },
            "'tokenizer.ggml.token_type' element 0",
        );
        let mut bytes = Vec::new();
        let mut w = GgufWriter::new();
        w.add_kv(KEY_MODEL, GgufValue::String("gpt2".into()));
        w.write_with(&mut bytes, |_| unreachable!("no tensors"))
            .expect("in-memory write");
        let file = GgufFile::from_bytes(bytes).expect("valid GGUF");
        let err = Tokenizer::from_gguf(&file).expect_err("no tokens");
        assert!(
            err.to_string()
                .contains("'tokenizer.ggml.tokens' is missing"),
            "{err}"
        );
    }

    #[test]
    fn incomplete_byte_alphabet_is_an_error_not_a_silent_drop() {
        // Drop the byte 'z' by renaming its token; nothing merges into it.
        let t = build(|w| {
            let (mut tokens, _, _) = tiny_vocab();
            tokens[b'z' as usize] = "zz-unused".into();
            let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
            w.add_kv(KEY_TOKENS, strings(&tokens));
        })
        .expect("builds");
        assert!(matches!(
            t.encode("lazy", false),
            Err(TokenizerError::Unencodable { .. })
        ));
        assert_eq!(t.encode("the", false).expect("encodes"), vec![116, 257]);
    }

    #[test]
    fn stream_decoder_holds_split_characters() {
        let t = tiny();
        // "世" is E4 B8 96 and "🙂" F0 9F 99 82, here one byte token each.
        let mut d = StreamDecoder::new();
        let mut out = Vec::new();
        for id in [104, 0xE4, 0xB8, 0x96, 32, 0xF0, 0x9F, 0x99, 0x82, 271] {
            out.push(d.push(&t, id).expect("in range"));
        }
        assert_eq!(
            out,
            vec!["h", "", "", "世", " ", "", "", "", "🙂", "<|eot_id|>"]
        );
        assert_eq!(d.flush(), "");
        // An unfinished character at the end comes out lossy; an invalid byte at once.
        assert_eq!(d.push(&t, 0xE4).expect("in range"), "");
        assert_eq!(d.flush(), "\u{FFFD}");
        assert_eq!(d.push(&t, 0xFF).expect("in range"), "\u{FFFD}");
        assert_eq!(d.push(&t, 0xE4).expect("in range"), "");
        assert_eq!(d.push(&t, 104).expect("in range"), "\u{FFFD}h");
        assert!(d.push(&t, 9999).is_err());
    }

    proptest! {
        #[test]
        fn stream_equals_decode(ids in prop::collection::vec(prop_oneof![0u32..256, 256u32..273], 0..40)) {
            let t = tiny();
            let mut d = StreamDecoder::new();
            let mut streamed = String::new();
            for &id in &ids {
                streamed.push_str(&d.push(&t, id).expect("in range"));
            }
            streamed.push_str(&d.flush());
            prop_assert_eq!(streamed, t.decode(&ids).expect("in range"));
        }

        #[test]
        fn encode_decode_round_trip(text in "\\PC{0,40}") {
            let t = tiny();
            let ids = t.encode(&text, false).expect("encodes");
            prop_assert_eq!(t.decode(&ids).expect("decodes"), text);
        }
    }

    fn repo_path(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
    }

    /// Varied strings for parity checks against a reference tokenizer.
    const PARITY_TEXTS: &[&str] = &[
        "",
        " ",
        "  ",
        "   ",
        "\t",
        "\n",
        "\n\n\n",
        "\r\n",
        "line one\r\nline two\r\n\r\n",
        "Hello world",
        " Hello world",
        "Hello, world!",
        "The quick brown fox jumps over the lazy dog.",
        "It's what they'd've said, isn't it? I'LL go; you'RE sure.",
        "    indented code();\n\tif (x) { return 42; }",
        "trailing spaces   ",
        "multiple     spaces   between   words",
        "3",
        "33",
        "333",
        "3333",
        "1234567890",
        "pi is 3.14159, e is 2.71828",
        "$100.00 and 50% off!!!",
        "emoji 🙂 and 🦙 and 😶‍🌫️",
        "世界 你好，世界",
        "日本語のテキスト",
        "нещо на Български",
        "Äpfel Cửa Việt",
        "a<|eot_id|>b",
        "<|begin_of_text|>Hello<|end_of_text|>",
        "mixed\u{00A0}non-breaking\u{2003}spaces",
        "\u{FEFF}bom",
        "tab\tseparated\tvalues\n",
        "email@example.com http://example.org/path?q=1",
        "CamelCaseWord snake_case_word kebab-case-word",
        "' era",
        "\n =",
        "!!!!!!",
        "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～",
    ];

    #[test]
    fn vocab_tiny_matches_hf_tokenizer_json() {
        let gguf = repo_path("models/vocab-tiny.gguf");
        let json = repo_path("tests/fixtures/numpy_ref/vocab-tiny.tokenizer.json");
        if !gguf.exists() || !json.exists() {
            println!(
                "skipped: {} or {} is absent",
                gguf.display(),
                json.display()
            );
            return;
        }
        let ours = Tokenizer::from_gguf(&GgufFile::open(&gguf).expect("vocab-tiny opens"))
            .expect("builds");
        let reference = tokenizers::Tokenizer::from_file(&json).expect("tokenizer.json loads");
        for text in PARITY_TEXTS {
            let want = reference
                .encode(*text, false)
                .expect("HF encodes")
                .get_ids()
                .to_vec();
            let got = ours.encode(text, false).expect("encodes");
            assert_eq!(got, want, "encoding {text:?}");
            assert_eq!(
                ours.decode(&got).expect("decodes"),
                reference.decode(&want, false).expect("HF decodes")
            );
        }
    }

    const LLAMA_BPE: &str =
        "/work/ref/llama-cpp-python-0.3.36/vendor/llama.cpp/models/ggml-vocab-llama-bpe.gguf";

    #[test]
    fn llama_bpe_vocab_matches_llama_cpp() {
        if !Path::new(LLAMA_BPE).exists() {
            println!("skipped: {LLAMA_BPE} is absent");
            return;
        }
        let file = GgufFile::open(LLAMA_BPE).expect("opens");
        let start = std::time::Instant::now();
        let t = Tokenizer::from_gguf(&file).expect("builds");
        println!(
            "from_gguf on ggml-vocab-llama-bpe.gguf took {:?}",
            start.elapsed()
        );
        assert_eq!(
            t.encode("Hello, world!", false).expect("encodes"),
            vec![9906, 11, 1917, 0]
        );
        assert_eq!(
            t.encode(" 世界 🙂 don't", false).expect("encodes"),
            vec![127365, 28584, 1541, 956]
        );
        assert_eq!(
            t.encode("Hello", true).expect("encodes"),
            vec![128000, 9906]
        );
        assert_eq!(t.eot_id(), t.token_to_id("<|eot_id|>"));
        assert_eq!(
            t.encode("<|start_header_id|>user<|end_header_id|>", false)
                .expect("encodes"),
            vec![128006, 882, 128007]
        );

        // llama.cpp's own test cases for this vocabulary (tests/test-tokenizer-0.cpp format).
        let (Ok(inp), Ok(out)) = (
            std::fs::read_to_string(format!("{LLAMA_BPE}.inp")),
            std::fs::read_to_string(format!("{LLAMA_BPE}.out")),
        ) else {
            println!("skipped llama.cpp's case list: {LLAMA_BPE}.inp/.out absent");
            return;
        };
        let inputs: Vec<&str> = inp.split("\n__ggml_vocab_test__\n").collect();
        let outputs: Vec<&str> = out.lines().collect();
        // The input file ends with a separator, which leaves one empty piece at the end.
        assert_eq!(inputs.len(), outputs.len() + 1);
        for (text, line) in inputs.iter().zip(&outputs) {
            let want: Vec<u32> = line
                .split_whitespace()
                .map(|s| s.parse().expect("numeric id"))
                .collect();
            let got = t.encode(text, false).expect("encodes");
            assert_eq!(got, want, "encoding {text:?}");
            assert_eq!(t.decode(&got).expect("decodes"), *text);
        }
        println!("{} llama.cpp cases match", outputs.len());
    }
}
