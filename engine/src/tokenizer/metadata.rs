//! The `tokenizer.ggml.*` metadata of a GGUF file, read and checked once.

use super::error::TokenizerError;
use crate::gguf::{GgufFile, GgufValue};

pub(crate) const KEY_MODEL: &str = "tokenizer.ggml.model";
pub(crate) const KEY_PRE: &str = "tokenizer.ggml.pre";
pub(crate) const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
pub(crate) const KEY_TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
pub(crate) const KEY_SCORES: &str = "tokenizer.ggml.scores";
pub(crate) const KEY_MERGES: &str = "tokenizer.ggml.merges";
pub(crate) const KEY_BOS: &str = "tokenizer.ggml.bos_token_id";
pub(crate) const KEY_EOS: &str = "tokenizer.ggml.eos_token_id";
pub(crate) const KEY_EOT: &str = "tokenizer.ggml.eot_token_id";
pub(crate) const KEY_EOM: &str = "tokenizer.ggml.eom_token_id";
pub(crate) const KEY_UNK: &str = "tokenizer.ggml.unknown_token_id";
pub(crate) const KEY_PAD: &str = "tokenizer.ggml.padding_token_id";
pub(crate) const KEY_ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
pub(crate) const KEY_ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
pub(crate) const KEY_ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
pub(crate) const KEY_CHAT_TEMPLATE: &str = "tokenizer.chat_template";

/// A token's role, from `tokenizer.ggml.token_type` (llama.cpp's `llama_token_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    /// 0: no type given; treated as normal text.
    Undefined,
    /// 1: ordinary text.
    Normal,
    /// 2: the unknown token.
    Unknown,
    /// 3: control tokens (BOS, EOS, chat markers): matched in text only when asked, shown
    /// only when asked.
    Control,
    /// 4: user-defined tokens: always matched in text as whole units, shown as written.
    UserDefined,
    /// 5: reserved slots that carry no text.
    Unused,
    /// 6: a single raw byte, written `<0xNN>` (SentencePiece byte fallback).
    Byte,
}

impl TokenType {
    /// The type for a `tokenizer.ggml.token_type` value, if it is one.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => Self::Undefined,
            1 => Self::Normal,
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => return None,
        })
    }

    /// Whether the token is matched in text as a whole unit rather than built by merges.
    pub fn is_special(self) -> bool {
        matches!(self, Self::Unknown | Self::Control | Self::UserDefined)
    }
}

/// The special-token ids a file names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpecialIds {
    /// Beginning of sequence.
    pub bos: Option<u32>,
    /// End of sequence.
    pub eos: Option<u32>,
    /// End of turn (chat).
    pub eot: Option<u32>,
    /// End of message (tool calls).
    pub eom: Option<u32>,
    /// Unknown token.
    pub unk: Option<u32>,
    /// Padding.
    pub pad: Option<u32>,
}

/// Everything a tokenizer is built from, borrowed from the file.
pub(crate) struct VocabMetadata<'a> {
    pub model: &'a str,
    pub pre: Option<&'a str>,
    pub tokens: Vec<&'a str>,
    pub types: Vec<TokenType>,
    pub scores: Option<Vec<f32>>,
    pub merges: Option<&'a [GgufValue]>,
    pub ids: SpecialIds,
    pub add_bos: Option<bool>,
    pub add_eos: Option<bool>,
    pub add_space_prefix: Option<bool>,
    pub chat_template: Option<&'a str>,
}

impl<'a> VocabMetadata<'a> {
    /// Reads and checks every key: types, array lengths, id ranges.
    pub fn read(file: &'a GgufFile) -> Result<Self, TokenizerError> {
        let model = get_str(file, KEY_MODEL)?;
        let pre = opt(file, KEY_PRE, "string", GgufValue::as_str)?;
        let raw_tokens = get_array(file, KEY_TOKENS)?;
        let n = raw_tokens.len();
        if n == 0 || u32::try_from(n).is_err() {
            return Err(TokenizerError::BadVocabSize { len: n });
        }
        let tokens: Vec<&str> = raw_tokens
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .ok_or_else(|| wrong_type(KEY_TOKENS, Some(i), "string", v))
            })
            .collect::<Result<_, _>>()?;

        let types = match file.get(KEY_TOKEN_TYPE) {
            // llama.cpp treats an absent type array as all-normal tokens.
            None => vec![TokenType::Normal; n],
            Some(v) => per_token(v, KEY_TOKEN_TYPE, n)?
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_f64()
                        .filter(|f| f.fract() == 0.0)
                        .and_then(|f| TokenType::from_code(f as i64))
                        .ok_or_else(|| wrong_type(KEY_TOKEN_TYPE, Some(i), "a token type 0..=6", v))
                })
                .collect::<Result<_, _>>()?,
        };
        let scores = match file.get(KEY_SCORES) {
            None => None,
            Some(v) => Some(
                per_token(v, KEY_SCORES, n)?
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        v.as_f64()
                            .map(|f| f as f32)
                            .ok_or_else(|| wrong_type(KEY_SCORES, Some(i), "number", v))
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        let merges = opt(file, KEY_MERGES, "array", GgufValue::as_array)?;

        let id = |key: &'static str| -> Result<Option<u32>, TokenizerError> {
            let Some(v) = file.get(key) else {
                return Ok(None);
            };
            // Some converters write -1 for "none".
            if v.as_f64() == Some(-1.0) {
                return Ok(None);
            }
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
        let ids = SpecialIds {
            bos: id(KEY_BOS)?,
            eos: id(KEY_EOS)?,
            eot: id(KEY_EOT)?,
            eom: id(KEY_EOM)?,
            unk: id(KEY_UNK)?,
            pad: id(KEY_PAD)?,
        };
        Ok(Self {
            model,
            pre,
            tokens,
            types,
            scores,
            merges,
            ids,
            add_bos: opt(file, KEY_ADD_BOS, "bool", GgufValue::as_bool)?,
            add_eos: opt(file, KEY_ADD_EOS, "bool", GgufValue::as_bool)?,
            add_space_prefix: opt(file, KEY_ADD_SPACE_PREFIX, "bool", GgufValue::as_bool)?,
            chat_template: opt(file, KEY_CHAT_TEMPLATE, "string", GgufValue::as_str)?,
        })
    }
}

pub(crate) fn wrong_type(
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

/// An optional key: absent is `None`, present with the wrong type is an error.
fn opt<'a, T: 'a>(
    file: &'a GgufFile,
    key: &'static str,
    expected: &'static str,
    get: impl Fn(&'a GgufValue) -> Option<T>,
) -> Result<Option<T>, TokenizerError> {
    match file.get(key) {
        None => Ok(None),
        Some(v) => get(v)
            .map(Some)
            .ok_or_else(|| wrong_type(key, None, expected, v)),
    }
}

/// A per-token array, which must have exactly one entry per token.
fn per_token<'a>(
    v: &'a GgufValue,
    key: &'static str,
    tokens: usize,
) -> Result<&'a [GgufValue], TokenizerError> {
    let arr = v
        .as_array()
        .ok_or_else(|| wrong_type(key, None, "array", v))?;
    if arr.len() != tokens {
        return Err(TokenizerError::LengthMismatch {
            key,
            len: arr.len(),
            tokens,
        });
    }
    Ok(arr)
}
