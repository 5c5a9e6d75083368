//! tokenizer.json (+ tokenizer_config.json) → the GGUF `tokenizer.*` metadata our tokenizer
//! (and llama.cpp's) is rebuilt from.
//!
//! - Byte-level BPE (LLaMA 3, 2B-4T) becomes `gpt2` with its tokens, merges and the
//!   `tokenizer.ggml.pre` whose regexes equal the file's `Split` pre-tokenizers.
//! - BPE with byte fallback (LLaMA 2 SentencePiece, 1bitLLM) becomes `llama`. GGUF keeps
//!   SentencePiece scores, not merges, so each token's score is minus the rank of the first
//!   merge that makes it (tokens no merge makes rank below every merge): the scores then
//!   order merges as the file's merge list does.
//! - Added tokens are control tokens when `special`, user-defined otherwise; `<0xNN>` pieces
//!   are byte tokens. Ids the file leaves empty up to the embedding size are unused padding.

use super::super::ConvertError;
use crate::gguf::{GgufValue, GgufValueType};
use crate::tokenizer::{PreTokenizerKind, TokenType};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

fn invalid(why: String) -> ConvertError {
    ConvertError::Invalid(format!("tokenizer.json: {why}"))
}

fn read_json(path: &Path) -> Result<Value, ConvertError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConvertError::Io {
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_str(&text)
        .map_err(|e| ConvertError::Invalid(format!("{}: {e}", path.display())))
}

fn type_code(t: TokenType) -> i32 {
    match t {
        TokenType::Undefined => 0,
        TokenType::Normal => 1,
        TokenType::Unknown => 2,
        TokenType::Control => 3,
        TokenType::UserDefined => 4,
        TokenType::Unused => 5,
        TokenType::Byte => 6,
    }
}

fn strings(items: Vec<String>) -> GgufValue {
    GgufValue::Array(
        GgufValueType::String,
        items.into_iter().map(GgufValue::String).collect(),
    )
}

/// The `tokenizer.*` GGUF metadata of the tokenizer.json (and tokenizer_config.json, when
/// present) in `dir`, for a model whose embedding has `n_vocab` rows (ids the file leaves
/// empty become unused padding). `bos`/`eos` (config.json's ids) are used when
/// tokenizer_config.json does not name those tokens.
pub fn tokenizer_metadata(
    dir: &Path,
    n_vocab: usize,
    bos: Option<u32>,
    eos: Option<u32>,
) -> Result<Vec<(String, GgufValue)>, ConvertError> {
    let tj = read_json(&dir.join("tokenizer.json"))?;
    let config_path = dir.join("tokenizer_config.json");
    let tc = if config_path.is_file() {
        Some(read_json(&config_path)?)
    } else {
        None
    };
    let model = &tj["model"];
    if model["type"].as_str() != Some("BPE") {
        return Err(invalid(format!("model type {} is not BPE", model["type"])));
    }
    let spm = model["byte_fallback"].as_bool() == Some(true);

    // Tokens by id, with their types.
    let vocab = model["vocab"]
        .as_object()
        .ok_or_else(|| invalid("model.vocab is not an object".into()))?;
    let mut slots: Vec<Option<(String, TokenType)>> = vec![None; n_vocab];
    let mut place = |id: u64, text: &str, ty: TokenType| -> Result<(), ConvertError> {
        let slot = usize::try_from(id)
            .ok()
            .and_then(|i| slots.get_mut(i))
            .ok_or_else(|| {
                invalid(format!(
                    "token {text:?} has id {id}, outside the embedding's {n_vocab} rows"
                ))
            })?;
        *slot = Some((text.to_string(), ty));
        Ok(())
    };
    for (text, id) in vocab {
        let id = id
            .as_u64()
            .ok_or_else(|| invalid(format!("token {text:?} has id {id}")))?;
        let ty = if spm && is_byte_piece(text) {
            TokenType::Byte
        } else {
            TokenType::Normal
        };
        place(id, text, ty)?;
    }
    let unk = model["unk_token"].as_str();
    for added in tj["added_tokens"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let (Some(id), Some(text)) = (added["id"].as_u64(), added["content"].as_str()) else {
            return Err(invalid(format!("malformed added token {added}")));
        };
        let ty = if Some(text) == unk {
            TokenType::Unknown
        } else if added["special"].as_bool() == Some(true) {
            TokenType::Control
        } else {
            TokenType::UserDefined
        };
        place(id, text, ty)?;
    }
    if let Some(u) = unk
        && let Some(slot) = slots.iter_mut().flatten().find(|(t, _)| t == u)
    {
        slot.1 = TokenType::Unknown;
    }
    let tokens: Vec<(String, TokenType)> = slots
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.unwrap_or_else(|| (format!("[PAD{i}]"), TokenType::Unused)))
        .collect();

    let merges = parse_merges(&model["merges"])?;
    let mut kv: Vec<(String, GgufValue)> = Vec::new();
    let mut add = |k: &str, v: GgufValue| kv.push((k.to_string(), v));
    if spm {
        add("tokenizer.ggml.model", GgufValue::String("llama".into()));
        add("tokenizer.ggml.pre", GgufValue::String("default".into()));
    } else {
        add("tokenizer.ggml.model", GgufValue::String("gpt2".into()));
        let pre = pre_tokenizer(&tj["pre_tokenizer"])?;
        add(
            "tokenizer.ggml.pre",
            GgufValue::String(pre.gguf_name().into()),
        );
    }
    let ids: HashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .map(|(i, (t, _))| (t.as_str(), i))
        .collect();
    if spm {
        add(
            "tokenizer.ggml.scores",
            GgufValue::Array(
                GgufValueType::F32,
                spm_scores(&tokens, &merges)
                    .into_iter()
                    .map(GgufValue::F32)
                    .collect(),
            ),
        );
    }
    add(
        "tokenizer.ggml.token_type",
        GgufValue::Array(
            GgufValueType::I32,
            tokens
                .iter()
                .map(|(_, t)| GgufValue::I32(type_code(*t)))
                .collect(),
        ),
    );
    if !spm {
        for (l, r) in &merges {
            for part in [l, r] {
                if !ids.contains_key(part.as_str()) {
                    return Err(invalid(format!(
                        "merge \"{l} {r}\" names {part:?}, which is not a token"
                    )));
                }
            }
        }
        add(
            "tokenizer.ggml.merges",
            strings(merges.iter().map(|(l, r)| format!("{l} {r}")).collect()),
        );
    }

    // Special ids: tokenizer_config.json names the texts; config.json has the ids.
    let named = |key: &str| -> Option<u32> {
        let v = tc.as_ref()?.get(key)?;
        let text = v
            .as_str()
            .or_else(|| v.get("content").and_then(Value::as_str))?;
        ids.get(text).map(|&i| i as u32)
    };
    let mut special = |key: &str, v: Option<u32>| {
        if let Some(id) = v {
            kv.push((format!("tokenizer.ggml.{key}"), GgufValue::U32(id)));
        }
    };
    special("bos_token_id", named("bos_token").or(bos));
    special("eos_token_id", named("eos_token").or(eos));
    special("padding_token_id", named("pad_token"));
    special(
        "unknown_token_id",
        unk.and_then(|u| ids.get(u)).map(|&i| i as u32),
    );
    let flag = |key: &str| {
        tc.as_ref()
            .and_then(|c| c.get(key))
            .and_then(Value::as_bool)
    };
    if let Some(b) = flag("add_bos_token") {
        kv.push(("tokenizer.ggml.add_bos_token".into(), GgufValue::Bool(b)));
    }
    if let Some(b) = flag("add_eos_token") {
        kv.push(("tokenizer.ggml.add_eos_token".into(), GgufValue::Bool(b)));
    }
    if let Some(t) = tc
        .as_ref()
        .and_then(|c| c.get("chat_template"))
        .and_then(Value::as_str)
    {
        kv.push((
            "tokenizer.chat_template".into(),
            GgufValue::String(t.into()),
        ));
    }
    kv.insert(
        2,
        (
            "tokenizer.ggml.tokens".into(),
            strings(tokens.into_iter().map(|(t, _)| t).collect()),
        ),
    );
    Ok(kv)
}

fn is_byte_piece(text: &str) -> bool {
    text.len() == 6
        && text.starts_with("<0x")
        && text.ends_with('>')
        && text[3..5].chars().all(|c| c.is_ascii_hexdigit())
}

/// `merges` as `"a b"` strings or `["a", "b"]` pairs.
fn parse_merges(v: &Value) -> Result<Vec<(String, String)>, ConvertError> {
    let Some(list) = v.as_array() else {
        return Ok(Vec::new());
    };
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            let pair = match m {
                Value::String(s) => s
                    .split_once(' ')
                    .map(|(l, r)| (l.to_string(), r.to_string())),
                Value::Array(a) if a.len() == 2 => match (a[0].as_str(), a[1].as_str()) {
                    (Some(l), Some(r)) => Some((l.to_string(), r.to_string())),
                    _ => None,
                },
                _ => None,
            };
            pair.ok_or_else(|| invalid(format!("merge {i} ({m}) is not two tokens")))
        })
        .collect()
}

/// The pre-tokenizer family whose regexes the file's `Split` steps use (a bare `ByteLevel`
/// with its own regex is GPT-2's rule).
fn pre_tokenizer(v: &Value) -> Result<PreTokenizerKind, ConvertError> {
    let steps: Vec<&Value> = match v["type"].as_str() {
        Some("Sequence") => v["pretokenizers"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        Some(_) => vec![v],
        None => Vec::new(),
    };
    let regexes: Vec<&str> = steps
        .iter()
        .filter(|s| s["type"].as_str() == Some("Split"))
        .filter_map(|s| s["pattern"]["Regex"].as_str())
        .collect();
    let byte_level_regex = steps
        .iter()
        .any(|s| s["type"].as_str() == Some("ByteLevel") && s["use_regex"].as_bool() == Some(true));
    if regexes.is_empty() && byte_level_regex {
        return Ok(PreTokenizerKind::Gpt2);
    }
    PreTokenizerKind::from_regexes(&regexes).ok_or_else(|| {
        invalid(format!(
            "the pre-tokenizer regexes {regexes:?} are none that bitnet-rs knows \
             (LLaMA 3, GPT-2, SmolLM, Qwen 2, llama.cpp's default); converting would change \
             token ids"
        ))
    })
}

/// SentencePiece-style scores reproducing the merge order (see the module docs).
fn spm_scores(tokens: &[(String, TokenType)], merges: &[(String, String)]) -> Vec<f32> {
    let mut rank: HashMap<String, usize> = HashMap::new();
    for (i, (l, r)) in merges.iter().enumerate() {
        rank.entry(format!("{l}{r}")).or_insert(i);
    }
    let n = merges.len();
    tokens
        .iter()
        .enumerate()
        .map(|(id, (text, ty))| match (ty, rank.get(text)) {
            (TokenType::Normal | TokenType::UserDefined, Some(&r)) => -(r as f32),
            (TokenType::Normal | TokenType::UserDefined, None) => -((n + id) as f32),
            _ => 0.0,
        })
        .collect()
}
