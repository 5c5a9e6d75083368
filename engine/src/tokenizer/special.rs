//! Splits text around special tokens written in it, before the rest is tokenized.
//!
//! As in llama.cpp, user-defined tokens are always matched, control and unknown tokens only
//! when the caller asks (chat templates do; user text should not). Matches are
//! leftmost-longest, as HF `tokenizers` matches its added tokens.

use super::metadata::TokenType;
use aho_corasick::{AhoCorasick, MatchKind};

/// One piece of the split: raw text to tokenize, or a special token's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segment<'t> {
    Text(&'t str),
    Special(u32),
}

/// Matchers over the special tokens' texts.
pub(crate) struct SpecialMatcher {
    /// Every special token (control, unknown, user-defined).
    all: Option<(AhoCorasick, Vec<u32>)>,
    /// User-defined tokens only.
    user: Option<(AhoCorasick, Vec<u32>)>,
}

impl SpecialMatcher {
    /// Builds matchers over the non-empty texts of the special tokens.
    pub fn new(texts: &[&str], types: &[TokenType]) -> Result<Self, String> {
        let build = |keep: &dyn Fn(TokenType) -> bool| -> Result<_, String> {
            let (ids, pats): (Vec<u32>, Vec<&str>) = texts
                .iter()
                .zip(types)
                .enumerate()
                .filter(|(_, (t, ty))| !t.is_empty() && keep(**ty))
                // Ids fit in u32: the vocabulary size was checked.
                .map(|(i, (t, _))| (i as u32, *t))
                .unzip();
            if ids.is_empty() {
                return Ok(None);
            }
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&pats)
                .map_err(|e| format!("special-token matcher: {e}"))?;
            Ok(Some((ac, ids)))
        };
        Ok(Self {
            all: build(&|ty| ty.is_special())?,
            user: build(&|ty| ty == TokenType::UserDefined)?,
        })
    }

    /// Splits `text`; with `parse_special` false only user-defined tokens are matched.
    pub fn split<'t>(&self, text: &'t str, parse_special: bool) -> Vec<Segment<'t>> {
        let matcher = if parse_special { &self.all } else { &self.user };
        let Some((ac, ids)) = matcher else {
            return vec![Segment::Text(text)];
        };
        let mut out = Vec::new();
        let mut last = 0;
        for m in ac.find_iter(text) {
            if m.start() > last {
                out.push(Segment::Text(&text[last..m.start()]));
            }
            out.push(Segment::Special(ids[m.pattern().as_usize()]));
            last = m.end();
        }
        if last < text.len() {
            out.push(Segment::Text(&text[last..]));
        }
        out
    }
}
