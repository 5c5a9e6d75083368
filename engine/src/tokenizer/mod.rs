//! Text ⇄ token ids, rebuilt from a GGUF file's `tokenizer.ggml.*` metadata on the HF
//! `tokenizers` crate, so no `tokenizer.json` has to ship next to a model.
//!
//! - `gpt2` vocabularies become byte-level BPE with the pre-tokenizer `tokenizer.ggml.pre`
//!   names ([`PreTokenizerKind`]); `llama` vocabularies become SentencePiece BPE with merges
//!   derived from the scores and byte fallback.
//! - Special tokens are split out of the text before HF sees it ([`TokenType`] decides
//!   which, and `parse_special` whether control tokens count), as llama.cpp does.
//! - Decoding does not go through HF: every token's bytes are computed once at load, which
//!   makes decoding a table lookup and lets a [`StreamDecoder`] hold back incomplete UTF-8.
//! - A user's tokenizer.json can replace the encoder ([`Tokenizer::with_tokenizer_json`]);
//!   ids and decoding still come from the GGUF vocabulary, which it must agree with.

mod bpe;
mod byte_level;
mod error;
mod fast_bpe;
mod metadata;
mod pieces;
mod pretokenizer;
mod special;
mod spm;
mod stream;
#[cfg(test)]
pub(crate) mod tests;

pub use error::TokenizerError;
pub use metadata::{SpecialIds, TokenType};
pub use pretokenizer::PreTokenizerKind;
pub use stream::StreamDecoder;

use crate::gguf::GgufFile;
use fast_bpe::FastByteLevel;
use metadata::VocabMetadata;
use pieces::{PieceStyle, TokenPieces};
use special::{Segment, SpecialMatcher};
use std::path::Path;

/// Token texts that end a chat turn when the file names no `tokenizer.ggml.eot_token_id`.
const EOT_FALLBACK_TEXTS: &[&str] = &["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"];

/// The vocabulary family of a tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VocabKind {
    /// Byte-level BPE (`tokenizer.ggml.model = "gpt2"`), with its pre-tokenizer.
    BytePairBpe(PreTokenizerKind),
    /// SentencePiece BPE (`tokenizer.ggml.model = "llama"`).
    SentencePiece,
}

/// What [`Tokenizer::build_encoder`] makes.
struct Encoder {
    hf: tokenizers::Tokenizer,
    fast: Option<FastByteLevel>,
    kind: VocabKind,
    missing_bytes: Vec<u8>,
    add_space_prefix: bool,
}

/// A tokenizer for one model: encodes text to ids and decodes ids to text.
pub struct Tokenizer {
    /// Encodes text with no special tokens in it.
    encoder: tokenizers::Tokenizer,
    /// For byte-level BPE built from the GGUF: `encoder`'s pre-tokenizer, run without HF's
    /// alignment bookkeeping (`None` for SentencePiece and for a user's tokenizer.json).
    fast: Option<FastByteLevel>,
    specials: SpecialMatcher,
    pieces: TokenPieces,
    kind: VocabKind,
    missing_bytes: Vec<u8>,
    ids: SpecialIds,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
    chat_template: Option<String>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("kind", &self.kind)
            .field("vocab_size", &self.vocab_size())
            .field("ids", &self.ids)
            .field("add_bos", &self.add_bos)
            .field("add_eos", &self.add_eos)
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Builds the tokenizer described by `file`'s `tokenizer.ggml.*` metadata.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, TokenizerError> {
        let meta = VocabMetadata::read(file)?;
        let style = match meta.model {
            "gpt2" => PieceStyle::ByteLevel,
            "llama" => PieceStyle::SentencePiece,
            other => {
                return Err(TokenizerError::UnsupportedModel {
                    model: other.to_string(),
                });
            }
        };
        // The special-token matcher and the token table do not depend on the encoder, so they
        // are built on a second thread while HF builds the encoder (the longest part).
        let (encoder, side) = std::thread::scope(|scope| {
            let side = scope.spawn(|| {
                let specials = SpecialMatcher::new(&meta.tokens, &meta.types)
                    .map_err(TokenizerError::Build)?;
                Ok::<_, TokenizerError>((
                    specials,
                    TokenPieces::new(&meta.tokens, &meta.types, style),
                ))
            });
            (Self::build_encoder(&meta), side.join())
        });
        let (specials, pieces) = side.map_err(|_| {
            TokenizerError::Build("the tokenizer's worker thread panicked".into())
        })??;
        let Encoder {
            hf: encoder,
            fast,
            kind,
            missing_bytes,
            add_space_prefix,
        } = encoder?;
        // llama.cpp's defaults: a BOS for SentencePiece and the LLaMA 3 family.
        let default_bos = matches!(
            kind,
            VocabKind::SentencePiece | VocabKind::BytePairBpe(PreTokenizerKind::Llama3)
        );
        let mut ids = meta.ids;
        if ids.eot.is_none() {
            ids.eot = EOT_FALLBACK_TEXTS
                .iter()
                .find_map(|t| meta.tokens.iter().position(|x| x == t))
                .map(|i| i as u32);
        }
        let t = Self {
            encoder,
            fast,
            specials,
            pieces,
            kind,
            missing_bytes,
            ids,
            add_bos: meta.add_bos.unwrap_or(default_bos),
            add_eos: meta.add_eos.unwrap_or(false),
            add_space_prefix,
            chat_template: meta.chat_template.map(str::to_string),
        };
        tracing::info!(
            kind = ?t.kind,
            tokens = t.vocab_size(),
            bos = ?t.ids.bos,
            eos = ?t.ids.eos,
            eot = ?t.ids.eot,
            add_bos = t.add_bos,
            "tokenizer built from GGUF metadata"
        );
        Ok(t)
    }

    /// The HF encoder of a `gpt2` or `llama` vocabulary, with what comes with it.
    fn build_encoder(meta: &VocabMetadata<'_>) -> Result<Encoder, TokenizerError> {
        if meta.model == "gpt2" {
            let pre = PreTokenizerKind::from_gguf(meta.pre)?;
            let (hf, missing_bytes) = bpe::build(meta, pre)?;
            Ok(Encoder {
                hf,
                fast: Some(FastByteLevel::new(pre)?),
                kind: VocabKind::BytePairBpe(pre),
                missing_bytes,
                add_space_prefix: false,
            })
        } else {
            let add_space_prefix = meta.add_space_prefix.unwrap_or(true);
            Ok(Encoder {
                hf: spm::build(meta, add_space_prefix)?,
                fast: None,
                kind: VocabKind::SentencePiece,
                missing_bytes: Vec::new(),
                add_space_prefix,
            })
        }
    }

    /// Replaces the encoder with a HF `tokenizer.json` (e.g. the model's original one when the
    /// GGUF's pre-tokenizer is unknown or wrong). Its vocabulary must give every token of the
    /// GGUF the same id; special tokens are still split out as the GGUF types say.
    pub fn with_tokenizer_json(mut self, path: &Path) -> Result<Self, TokenizerError> {
        let mismatch = |reason: String| TokenizerError::OverrideMismatch {
            path: path.display().to_string(),
            reason,
        };
        let mut hf = tokenizers::Tokenizer::from_file(path).map_err(|e| mismatch(e.to_string()))?;
        let n = hf.get_vocab_size(true);
        if n != self.vocab_size() {
            return Err(mismatch(format!(
                "{n} tokens, but the model's vocabulary has {}",
                self.vocab_size()
            )));
        }
        // Our splitter decides which special tokens count; HF must treat them as text.
        hf.set_encode_special_tokens(true);
        hf.with_post_processor(None::<tokenizers::PostProcessorWrapper>);
        self.encoder = hf;
        self.fast = None;
        self.missing_bytes.clear();
        tracing::info!("encoder replaced by {}", path.display());
        Ok(self)
    }

    /// Encodes `text`.
    ///
    /// - `add_special`: prepend BOS / append EOS as the model wants
    ///   (`tokenizer.ggml.add_bos_token` / `add_eos_token`, else llama.cpp's defaults).
    /// - `parse_special`: control tokens written in the text (e.g. `<|eot_id|>`) become
    ///   their ids. Leave it off for untrusted text; chat templates turn it on.
    ///   User-defined tokens are always matched.
    pub fn encode(
        &self,
        text: &str,
        add_special: bool,
        parse_special: bool,
    ) -> Result<Vec<u32>, TokenizerError> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 2);
        if let (true, true, Some(bos)) = (add_special, self.add_bos, self.ids.bos) {
            ids.push(bos);
        }
        for segment in self.specials.split(text, parse_special) {
            match segment {
                Segment::Special(id) => ids.push(id),
                Segment::Text(piece) => {
                    let start = ids.len();
                    self.encode_text(piece, &mut ids)?;
                    self.check_lossless(piece, &ids[start..])?;
                }
            }
        }
        if let (true, true, Some(eos)) = (add_special, self.add_eos, self.ids.eos) {
            ids.push(eos);
        }
        Ok(ids)
    }

    /// Appends the ids of text that holds no special tokens.
    fn encode_text(&self, text: &str, ids: &mut Vec<u32>) -> Result<(), TokenizerError> {
        if let (Some(fast), tokenizers::models::ModelWrapper::BPE(bpe)) =
            (&self.fast, self.encoder.get_model())
        {
            return fast.encode(bpe, text, ids);
        }
        self.encode_text_hf(text, ids)
    }

    /// [`Self::encode_text`] through HF's whole pipeline.
    fn encode_text_hf(&self, text: &str, ids: &mut Vec<u32>) -> Result<(), TokenizerError> {
        let enc = self
            .encoder
            .encode_fast(text, false)
            .map_err(|e| TokenizerError::Encode(e.to_string()))?;
        ids.extend_from_slice(enc.get_ids());
        Ok(())
    }

    /// HF's byte-level BPE drops bytes it has no token for; refuse rather than lose text.
    fn check_lossless(&self, piece: &str, ids: &[u32]) -> Result<(), TokenizerError> {
        if self.missing_bytes.is_empty() {
            return Ok(());
        }
        let missing: Vec<String> = piece
            .bytes()
            .filter(|b| self.missing_bytes.contains(b))
            .map(|b| format!("{b:#04x}"))
            .collect();
        if missing.is_empty() || self.decode(ids, true)? == piece {
            return Ok(());
        }
        Err(TokenizerError::Unencodable {
            missing: missing.join(" "),
        })
    }

    /// Decodes ids to text, as HF's decoder would: control tokens appear as their text only
    /// with `render_special`, unused slots as nothing, byte sequences that are not valid
    /// UTF-8 as U+FFFD, and a SentencePiece model's added leading space is removed.
    pub fn decode(&self, ids: &[u32], render_special: bool) -> Result<String, TokenizerError> {
        let mut bytes = Vec::new();
        for &id in ids {
            bytes.extend_from_slice(self.token_bytes_shown(id, render_special)?);
        }
        let text = String::from_utf8_lossy(&bytes);
        let text = match (self.add_space_prefix, text.strip_prefix(' ')) {
            (true, Some(rest)) => rest,
            _ => &text,
        };
        Ok(text.to_string())
    }

    /// The raw bytes a token stands for: its text decoded per the vocabulary's style, special
    /// tokens' text as is, nothing for unused slots. One token may hold part of a UTF-8
    /// character.
    pub fn token_bytes(&self, id: u32) -> Result<&[u8], TokenizerError> {
        self.pieces.bytes(id).ok_or_else(|| self.out_of_range(id))
    }

    /// [`Tokenizer::token_bytes`], but empty for control and unknown tokens unless
    /// `render_special`.
    pub fn token_bytes_shown(
        &self,
        id: u32,
        render_special: bool,
    ) -> Result<&[u8], TokenizerError> {
        self.pieces
            .shown(id, render_special)
            .ok_or_else(|| self.out_of_range(id))
    }

    /// The token's type.
    pub fn token_type(&self, id: u32) -> Result<TokenType, TokenizerError> {
        self.pieces
            .token_type(id)
            .ok_or_else(|| self.out_of_range(id))
    }

    /// The token's text as the vocabulary writes it (`Ġthe`, `▁the`, `<|eot_id|>`).
    pub fn token_text(&self, id: u32) -> Result<String, TokenizerError> {
        self.encoder
            .id_to_token(id)
            .ok_or_else(|| self.out_of_range(id))
    }

    fn out_of_range(&self, id: u32) -> TokenizerError {
        TokenizerError::IdOutOfRange {
            id,
            vocab_size: self.vocab_size(),
        }
    }

    /// The id of a token with exactly this text, if the vocabulary has one.
    pub fn token_to_id(&self, text: &str) -> Option<u32> {
        self.encoder.token_to_id(text)
    }

    /// The vocabulary family and pre-tokenizer.
    pub fn kind(&self) -> VocabKind {
        self.kind
    }

    /// The special-token ids (EOT falls back to `<|eot_id|>`-like tokens the vocabulary has).
    pub fn special_ids(&self) -> SpecialIds {
        self.ids
    }

    /// Beginning-of-sequence token (`tokenizer.ggml.bos_token_id`).
    pub fn bos_id(&self) -> Option<u32> {
        self.ids.bos
    }

    /// End-of-sequence token (`tokenizer.ggml.eos_token_id`).
    pub fn eos_id(&self) -> Option<u32> {
        self.ids.eos
    }

    /// End-of-turn token: `tokenizer.ggml.eot_token_id`, else the id of `<|eot_id|>`,
    /// `<|im_end|>`, `<|end|>` or `<end_of_turn>` when the vocabulary has one.
    pub fn eot_id(&self) -> Option<u32> {
        self.ids.eot
    }

    /// Whether the model expects a BOS at the start of a prompt.
    pub fn add_bos_default(&self) -> bool {
        self.add_bos
    }

    /// Whether the model expects an EOS at the end of an encoded text.
    pub fn add_eos_default(&self) -> bool {
        self.add_eos
    }

    /// The file's Jinja chat template (`tokenizer.chat_template`), if it has one.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// Number of tokens in the vocabulary; valid ids are `0..vocab_size()`.
    pub fn vocab_size(&self) -> usize {
        self.pieces.len()
    }

    /// Whether generation should stop at this token (EOS, EOT or EOM).
    pub fn is_end_of_generation(&self, id: u32) -> bool {
        [self.ids.eos, self.ids.eot, self.ids.eom].contains(&Some(id))
    }
}
