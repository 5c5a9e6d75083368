//! Incremental detokenization for streamed output.

use super::Tokenizer;
use super::error::TokenizerError;

/// Turns ids into text as they are generated, one at a time, emitting only complete UTF-8
/// characters: a character split over several byte tokens (emoji, CJK) is held back until its
/// last byte arrives, so a stream never shows a broken character. Bytes that can never form
/// a character come out as U+FFFD, exactly as [`Tokenizer::decode`] renders them.
///
/// The tokenizer is passed to each call rather than borrowed for the decoder's lifetime, so a
/// decoder can live in a session next to a shared tokenizer. A stream continues a prompt, so
/// unlike [`Tokenizer::decode`] it never strips SentencePiece's leading space.
#[derive(Debug, Clone, Default)]
pub struct StreamDecoder {
    pending: Vec<u8>,
    render_special: bool,
}

impl StreamDecoder {
    /// A decoder with nothing pending that hides control tokens.
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder that shows control tokens' text (e.g. `<|eot_id|>`) when `render_special`.
    pub fn with_special(render_special: bool) -> Self {
        Self {
            pending: Vec::new(),
            render_special,
        }
    }

    /// Adds one token and returns the text it completes (possibly empty).
    pub fn push(&mut self, tokenizer: &Tokenizer, id: u32) -> Result<String, TokenizerError> {
        self.pending
            .extend_from_slice(tokenizer.token_bytes_shown(id, self.render_special)?);
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
