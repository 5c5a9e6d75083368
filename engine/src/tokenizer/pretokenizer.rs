//! The pre-tokenizer table: how `tokenizer.ggml.pre` picks the regex splits that run before
//! byte-level BPE, following llama.cpp's `llama_vocab::load` and `llm_tokenizer_bpe`.
//!
//! Each family is a list of regexes applied in turn, every one splitting the pieces of the
//! one before and keeping both matches and the text between them (HF's `Split` with
//! `Isolated`). The regexes are the ones in the families' own `tokenizer.json` files, which
//! is what HF `tokenizers` runs; llama.cpp rewrites some for its engine without changing
//! what they match.

use super::error::TokenizerError;

/// A pre-tokenizer family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizerKind {
    /// LLaMA 3 (and BitNet b1.58 2B-4T's tokenizer when the file names it): letters with one
    /// leading non-letter, digits in runs of at most three. Whole words found in the
    /// vocabulary skip the merges (`ignore_merges`).
    Llama3,
    /// llama.cpp's choice for a file without `tokenizer.ggml.pre` (as the published 2B-4T GGUF
    /// is): punctuation runs split first, then GPT-2's rule, then digit runs and triples.
    Default,
    /// GPT-2's original rule.
    Gpt2,
    /// Every digit alone, then GPT-2's rule (SmolLM, StarCoder and relatives).
    Smollm,
    /// LLaMA 3's rule with every digit alone (Qwen 2 and relatives).
    Qwen2,
}

const GPT2_REGEX: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// `tokenizer.ggml.pre` names per family, as llama.cpp groups them.
const NAMES: &[(PreTokenizerKind, &[&str])] = &[
    (
        PreTokenizerKind::Llama3,
        &[
            "llama3",
            "llama-v3",
            "llama-bpe",
            "falcon3",
            "falcon-h1",
            "pixtral",
            "midm-2.0",
            "lfm2",
            "jina-v5-nano",
        ],
    ),
    (PreTokenizerKind::Default, &["default"]),
    (
        PreTokenizerKind::Gpt2,
        &[
            "gpt-2",
            "phi-2",
            "jina-es",
            "jina-de",
            "gigachat",
            "jina-v2-es",
            "jina-v2-de",
            "a.x-4.0",
            "mellum",
            "modern-bert",
            "jina-v1-en",
            "jina-v2-code",
            "roberta-bpe",
            "mpt",
            "olmo",
            "jais",
            "trillion",
            "granite-docling",
        ],
    ),
    (
        PreTokenizerKind::Smollm,
        &[
            "smollm",
            "starcoder",
            "refact",
            "command-r",
            "codeshell",
            "exaone",
            "minerva-7b",
            "mellum2",
        ],
    ),
    (
        PreTokenizerKind::Qwen2,
        &[
            "qwen2",
            "deepseek-r1-qwen",
            "kormo",
            "f2llmv2",
            "stablelm2",
            "hunyuan",
            "solar-open",
        ],
    ),
];

impl PreTokenizerKind {
    /// The family for a file's `tokenizer.ggml.pre` (`None` when the key is absent, which
    /// llama.cpp reads as `default`). The choice is logged, since a wrong pre-tokenizer
    /// silently changes token ids.
    pub fn from_gguf(pre: Option<&str>) -> Result<Self, TokenizerError> {
        let Some(name) = pre else {
            tracing::warn!(
                "tokenizer.ggml.pre is missing; using llama.cpp's 'default' pre-tokenizer (as llama.cpp does for such files)"
            );
            return Ok(Self::Default);
        };
        let kind = NAMES
            .iter()
            .find(|(_, names)| names.contains(&name))
            .map(|(kind, _)| *kind)
            .ok_or_else(|| TokenizerError::UnsupportedPreTokenizer {
                pre: name.to_string(),
                known: NAMES
                    .iter()
                    .flat_map(|(_, names)| names.iter().copied())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        tracing::info!("pre-tokenizer '{name}': {} rules", kind.name());
        Ok(kind)
    }

    /// Every family.
    pub const ALL: [Self; 5] = [
        Self::Llama3,
        Self::Default,
        Self::Gpt2,
        Self::Smollm,
        Self::Qwen2,
    ];

    /// The `tokenizer.ggml.pre` name a converter writes for this family.
    pub fn gguf_name(self) -> &'static str {
        match self {
            Self::Llama3 => "llama-bpe",
            Self::Default => "default",
            Self::Gpt2 => "gpt-2",
            Self::Smollm => "smollm",
            Self::Qwen2 => "qwen2",
        }
    }

    /// The family whose regexes are exactly `regexes`, in order (as a tokenizer.json's
    /// `Split` pre-tokenizers list them).
    pub fn from_regexes(regexes: &[&str]) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.regexes() == regexes)
    }

    /// A short name for logs and `inspect`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Llama3 => "llama3",
            Self::Default => "default",
            Self::Gpt2 => "gpt2",
            Self::Smollm => "smollm",
            Self::Qwen2 => "qwen2",
        }
    }

    /// The regexes, applied in order.
    pub fn regexes(self) -> &'static [&'static str] {
        match self {
            Self::Llama3 => &[LLAMA3_REGEX],
            Self::Default => &[
                r"[\p{P}\$\+<=>\^~\|]+",
                r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
                r"\p{N}+",
                r"[0-9][0-9][0-9]",
            ],
            Self::Gpt2 => &[GPT2_REGEX],
            Self::Smollm => &[r"\p{N}", GPT2_REGEX],
            Self::Qwen2 => &[QWEN2_REGEX],
        }
    }

    /// Whether a pre-token that is itself in the vocabulary is taken whole, without merges.
    pub fn ignore_merges(self) -> bool {
        self == Self::Llama3
    }
}
