//! The raw bytes each token stands for, computed once at load so that decoding and
//! streaming are table lookups.

use super::byte_level::symbol_to_byte;
use super::metadata::TokenType;

/// How normal tokens' texts are written in the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PieceStyle {
    /// GPT-2 byte-level symbols (`Ġ` for a space byte, ...).
    ByteLevel,
    /// SentencePiece: `▁` for a space, `<0xNN>` byte tokens.
    SentencePiece,
}

/// Every token's bytes in one buffer: token `i` is `bytes[offsets[i]..offsets[i + 1]]`.
/// One buffer instead of 128k small allocations.
pub(crate) struct TokenPieces {
    bytes: Vec<u8>,
    offsets: Vec<usize>,
    types: Vec<TokenType>,
}

impl TokenPieces {
    /// Decodes every token's text per `style`. Special and user-defined tokens keep their text
    /// as written; unused slots are empty.
    pub fn new(texts: &[&str], types: &[TokenType], style: PieceStyle) -> Self {
        let mut bytes = Vec::with_capacity(texts.iter().map(|t| t.len()).sum());
        let mut offsets = Vec::with_capacity(texts.len() + 1);
        offsets.push(0);
        for (text, &ty) in texts.iter().zip(types) {
            match (ty, style) {
                (TokenType::Unused, _) => {}
                (TokenType::Control | TokenType::Unknown | TokenType::UserDefined, _) => {
                    bytes.extend_from_slice(text.as_bytes())
                }
                (TokenType::Byte, PieceStyle::SentencePiece) => match parse_byte_token(text) {
                    Some(b) => bytes.push(b),
                    None => bytes.extend_from_slice(text.as_bytes()),
                },
                (_, PieceStyle::SentencePiece) => {
                    for c in text.chars() {
                        let c = if c == '\u{2581}' { ' ' } else { c };
                        let mut buf = [0u8; 4];
                        bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
                (_, PieceStyle::ByteLevel) => {
                    // A text that is not all byte-level symbols is kept as UTF-8, as HF's
                    // ByteLevel decoder does.
                    if text.chars().all(|c| symbol_to_byte(c).is_some()) {
                        bytes.extend(text.chars().filter_map(symbol_to_byte));
                    } else {
                        bytes.extend_from_slice(text.as_bytes());
                    }
                }
            }
            offsets.push(bytes.len());
        }
        Self {
            bytes,
            offsets,
            types: types.to_vec(),
        }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// The token's bytes, or `None` for an id outside the vocabulary.
    pub fn bytes(&self, id: u32) -> Option<&[u8]> {
        let i = id as usize;
        let (start, end) = (*self.offsets.get(i)?, *self.offsets.get(i + 1)?);
        self.bytes.get(start..end)
    }

    /// The token's type, or `None` for an id outside the vocabulary.
    pub fn token_type(&self, id: u32) -> Option<TokenType> {
        self.types.get(id as usize).copied()
    }

    /// The bytes shown for a token: control and unknown tokens only when `render_special`.
    pub fn shown(&self, id: u32, render_special: bool) -> Option<&[u8]> {
        let ty = self.token_type(id)?;
        if !render_special && matches!(ty, TokenType::Control | TokenType::Unknown) {
            return Some(&[]);
        }
        self.bytes(id)
    }
}

/// The byte of a SentencePiece byte token, `<0xNN>`.
pub(crate) fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}
