//! Byte-level BPE encoding without HF's `Encoding` bookkeeping.
//!
//! HF's pipeline tracks alignments for every character of every split (`NormalizedString`)
//! and builds an `Encoding` with offsets, words and type ids; we only need ids, and that
//! bookkeeping was about 40 % of encode time on a 128k vocabulary. This runs the same steps
//! with the same parts: the pre-tokenizer regexes through HF's `SysRegex` (each one
//! splitting the pieces of the one before, keeping matches and gaps: `Split` with
//! `Isolated`), GPT-2's byte → symbol map (`ByteLevel` without its own regex), then HF's
//! `BPE` model on each piece. A test holds it equal to the HF pipeline it replaces.

use super::byte_level::BYTE_TO_CHAR;
use super::error::TokenizerError;
use super::pretokenizer::PreTokenizerKind;
use tokenizers::Model;
use tokenizers::models::bpe::BPE;
use tokenizers::utils::SysRegex;

/// The pre-tokenizer of one [`PreTokenizerKind`], compiled.
pub(crate) struct FastByteLevel {
    regexes: Vec<SysRegex>,
}

impl std::fmt::Debug for FastByteLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastByteLevel")
            .field("regexes", &self.regexes.len())
            .finish()
    }
}

impl FastByteLevel {
    /// Compiles the family's regexes.
    pub(crate) fn new(pre: PreTokenizerKind) -> Result<Self, TokenizerError> {
        let regexes = pre
            .regexes()
            .iter()
            .map(|r| {
                SysRegex::new(r)
                    .map_err(|e| TokenizerError::Build(format!("pre-tokenizer regex {r:?}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(FastByteLevel { regexes })
    }

    /// Appends the ids of `text` (which holds no special tokens) to `out`.
    pub(crate) fn encode(
        &self,
        bpe: &BPE,
        text: &str,
        out: &mut Vec<u32>,
    ) -> Result<(), TokenizerError> {
        let mut pieces = vec![(0, text.len())];
        let mut next = Vec::new();
        for regex in &self.regexes {
            next.clear();
            for &(start, end) in &pieces {
                let mut prev = start;
                for (s, e) in regex.find_iter(&text[start..end]) {
                    let (s, e) = (start + s, start + e);
                    if prev != s {
                        next.push((prev, s));
                    }
                    if s != e {
                        next.push((s, e));
                    }
                    prev = e;
                }
                if prev != end {
                    next.push((prev, end));
                }
            }
            std::mem::swap(&mut pieces, &mut next);
        }
        let mut symbols = String::new();
        for (start, end) in pieces {
            symbols.clear();
            symbols.extend(
                text.as_bytes()[start..end]
                    .iter()
                    .map(|&b| BYTE_TO_CHAR[usize::from(b)]),
            );
            let tokens = bpe
                .tokenize(&symbols)
                .map_err(|e| TokenizerError::Encode(e.to_string()))?;
            out.extend(tokens.iter().map(|t| t.id));
        }
        Ok(())
    }
}
