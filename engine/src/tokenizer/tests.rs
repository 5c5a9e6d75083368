use super::byte_level::{BYTE_TO_CHAR, symbol_to_byte};
use super::metadata::*;
use super::*;
use crate::gguf::{GgufValue, GgufValueType, GgufWriter};
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
        "Ġt", "he", "Ġthe", "ll", "llo", "Ġh", "Ġhe", "Ġhello", "Ġw", "or", "ld", "Ġwor", "Ġworld",
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

/// A GGUF holding only the tiny vocabulary's metadata (after `edit`); the chat template
/// tests build on it too.
pub(crate) fn tiny_gguf(edit: impl FnOnce(&mut GgufWriter)) -> GgufFile {
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
    GgufFile::from_bytes(bytes).expect("valid GGUF")
}

fn build(edit: impl FnOnce(&mut GgufWriter)) -> Result<Tokenizer, TokenizerError> {
    Tokenizer::from_gguf(&tiny_gguf(edit))
}

/// The tiny tokenizer, built once: compiling the pre-tokenizer regexes dominates a build in
/// an unoptimized test binary, and property tests would otherwise build it per case.
fn tiny() -> &'static Tokenizer {
    static TINY: std::sync::OnceLock<Tokenizer> = std::sync::OnceLock::new();
    TINY.get_or_init(|| build(|_| {}).expect("tiny vocabulary builds"))
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
    assert_eq!(
        t.encode(" the", false, true).expect("encodes"),
        vec![id("Ġthe")]
    );
    // "hello" is not a token, so merges apply; " world" is, so it is taken whole.
    assert_eq!(
        t.encode("hello world", false, true).expect("encodes"),
        vec![id("he"), id("llo"), id("Ġworld")]
    );
    // Specials are matched whole, wherever they sit.
    let ids = t
        .encode("<|begin_of_text|>the<|eot_id|><think>", false, true)
        .expect("encodes");
    assert_eq!(ids, vec![269, 116, id("he"), 271, 272]);
    // Whitespace runs and newlines follow the LLaMA 3 split: "  " before a word is one
    // piece (a lone space) plus " the".
    assert_eq!(
        t.encode("a  the\n\n", false, true).expect("encodes"),
        vec![97, 32, id("Ġthe"), 10, 10]
    );
    // Multi-byte characters fall back to byte tokens.
    assert_eq!(
        t.encode("é", false, true).expect("encodes"),
        vec![0xC3, 0xA9]
    );
    assert_eq!(
        t.encode("", false, true).expect("encodes"),
        Vec::<u32>::new()
    );
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
    assert_eq!(
        t.encode(" the", true, true).expect("encodes"),
        vec![269, 258]
    );

    let no_bos = build(|w| {
        w.add_kv(KEY_ADD_BOS, GgufValue::Bool(false))
            .add_kv(KEY_EOT, GgufValue::U32(270));
    })
    .expect("builds");
    assert!(!no_bos.add_bos_default());
    assert_eq!(
        no_bos.encode(" the", true, true).expect("encodes"),
        vec![258]
    );
    assert_eq!(no_bos.eot_id(), Some(270));
    // llama.cpp's 'default' pre-tokenizer adds no BOS.
    let bare = build(|w| {
        w.add_kv(KEY_PRE, GgufValue::String("default".into()));
    })
    .expect("builds");
    assert!(!bare.add_bos_default());
    assert_eq!(
        bare.kind(),
        VocabKind::BytePairBpe(PreTokenizerKind::Default)
    );
}

#[test]
fn decode_and_token_bytes() {
    let t = tiny();
    assert_eq!(t.token_bytes(32).expect("in range"), b" ");
    assert_eq!(t.token_bytes(258).expect("in range"), b" the");
    assert_eq!(t.token_bytes(271).expect("in range"), b"<|eot_id|>");
    let text = "<|begin_of_text|>hello world é\r\n 世界 🙂<|eot_id|>";
    let ids = t.encode(text, false, true).expect("encodes");
    assert_eq!(t.decode(&ids, true).expect("decodes"), text);
    // Agrees with HF's own ByteLevel decoder.
    assert_eq!(t.encoder.decode(&ids, false).expect("HF decodes"), text);
    assert!(matches!(
        t.decode(&[1, 273], true),
        Err(TokenizerError::IdOutOfRange {
            id: 273,
            vocab_size: 273
        })
    ));
    assert!(t.token_bytes(u32::MAX).is_err());
    // An unfinished character is not text.
    assert_eq!(t.decode(&[0xE4, 0xB8], true).expect("decodes"), "\u{FFFD}");
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
            w.add_kv(KEY_MODEL, GgufValue::String("bert".into()));
        },
        "tokenizer model 'bert' (GGUF metadata key 'tokenizer.ggml.model') is not supported",
    );
    expect_err(
        |w| {
            w.add_kv(KEY_PRE, GgufValue::String("klingon".into()));
        },
        "pre-tokenizer 'klingon' (GGUF metadata key 'tokenizer.ggml.pre') is not supported",
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
        "'tokenizer.ggml.merges' entry 0 (\"Ġ q\"): merged token \"Ġq\" is not in the vocabulary",
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
        t.encode("lazy", false, true),
        Err(TokenizerError::Unencodable { .. })
    ));
    assert_eq!(
        t.encode("the", false, true).expect("encodes"),
        vec![116, 257]
    );
}

#[test]
fn stream_decoder_holds_split_characters() {
    let t = tiny();
    // "世" is E4 B8 96 and "🙂" F0 9F 99 82, here one byte token each.
    let mut d = StreamDecoder::with_special(true);
    let mut out = Vec::new();
    for id in [104, 0xE4, 0xB8, 0x96, 32, 0xF0, 0x9F, 0x99, 0x82, 271] {
        out.push(d.push(t, id).expect("in range"));
    }
    assert_eq!(
        out,
        vec!["h", "", "", "世", " ", "", "", "", "🙂", "<|eot_id|>"]
    );
    assert_eq!(d.flush(), "");
    // An unfinished character at the end comes out lossy; an invalid byte at once.
    assert_eq!(d.push(t, 0xE4).expect("in range"), "");
    assert_eq!(d.flush(), "\u{FFFD}");
    assert_eq!(d.push(t, 0xFF).expect("in range"), "\u{FFFD}");
    assert_eq!(d.push(t, 0xE4).expect("in range"), "");
    assert_eq!(d.push(t, 104).expect("in range"), "\u{FFFD}h");
    assert!(d.push(t, 9999).is_err());
}

proptest! {
    #[test]
    fn stream_equals_decode(ids in prop::collection::vec(prop_oneof![0u32..256, 256u32..273], 0..40)) {
        let t = tiny();
        let mut d = StreamDecoder::new();
        let mut streamed = String::new();
        for &id in &ids {
            streamed.push_str(&d.push(t, id).expect("in range"));
        }
        streamed.push_str(&d.flush());
        prop_assert_eq!(streamed, t.decode(&ids, false).expect("in range"));
    }

    #[test]
    fn encode_decode_round_trip(text in "\\PC{0,40}") {
        let t = tiny();
        let ids = t.encode(&text, false, true).expect("encodes");
        prop_assert_eq!(t.decode(&ids, true).expect("decodes"), text);
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
    let ours =
        Tokenizer::from_gguf(&GgufFile::open(&gguf).expect("vocab-tiny opens")).expect("builds");
    let reference = tokenizers::Tokenizer::from_file(&json).expect("tokenizer.json loads");
    for text in PARITY_TEXTS {
        let want = reference
            .encode(*text, false)
            .expect("HF encodes")
            .get_ids()
            .to_vec();
        let got = ours.encode(text, false, true).expect("encodes");
        assert_eq!(got, want, "encoding {text:?}");
        assert_eq!(
            ours.decode(&got, true).expect("decodes"),
            reference.decode(&want, false).expect("HF decodes")
        );
    }
}

#[test]
fn control_tokens_in_text_only_when_asked() {
    let t = tiny();
    let text = "<|eot_id|><think>";
    let parsed = t.encode(text, false, true).expect("encodes");
    assert_eq!(parsed, vec![271, 272]);
    // Without parse_special the control token is plain text; user-defined still matches.
    let plain = t.encode(text, false, false).expect("encodes");
    assert!(!plain.contains(&271), "{plain:?}");
    assert_eq!(plain.last(), Some(&272));
    assert_eq!(t.decode(&plain, false).expect("decodes"), text);
    // Control tokens are hidden unless asked for; user-defined ones always show.
    assert_eq!(t.decode(&parsed, false).expect("decodes"), "<think>");
    assert_eq!(t.decode(&parsed, true).expect("decodes"), text);
}

/// A SentencePiece vocabulary: <unk>, <s>, </s>, the 256 byte tokens, then pieces.
fn tiny_spm(edit: impl FnOnce(&mut GgufWriter)) -> Result<Tokenizer, TokenizerError> {
    let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
    let mut types = vec![2, 3, 3];
    let mut scores = vec![0.0f32; 3];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
        scores.push(0.0);
    }
    for (piece, score) in [
        ("\u{2581}", -10.0),
        ("h", -11.0),
        ("e", -12.0),
        ("l", -13.0),
        ("o", -14.0),
        ("ll", -1.0),
        ("llo", -2.0),
        ("\u{2581}h", -3.0),
        ("\u{2581}he", -4.0),
        ("\u{2581}hello", -5.0),
        ("he", -6.0),
        ("<user>", 0.0),
    ] {
        tokens.push(piece.to_string());
        types.push(if piece == "<user>" { 4 } else { 1 });
        scores.push(score);
    }
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let mut w = GgufWriter::new();
    w.add_kv(KEY_MODEL, GgufValue::String("llama".into()))
        .add_kv(KEY_TOKENS, strings(&refs))
        .add_kv(KEY_TOKEN_TYPE, i32s(&types))
        .add_kv(
            KEY_SCORES,
            GgufValue::Array(
                GgufValueType::F32,
                scores.iter().map(|&s| GgufValue::F32(s)).collect(),
            ),
        )
        .add_kv(KEY_UNK, GgufValue::U32(0))
        .add_kv(KEY_BOS, GgufValue::U32(1))
        .add_kv(KEY_EOS, GgufValue::U32(2));
    edit(&mut w);
    let mut bytes = Vec::new();
    w.write_with(&mut bytes, |_| unreachable!("no tensors"))
        .expect("in-memory write");
    Tokenizer::from_gguf(&GgufFile::from_bytes(bytes).expect("valid GGUF"))
}

#[test]
fn sentencepiece_merges_by_score_with_byte_fallback() {
    let t = tiny_spm(|_| {}).expect("builds");
    assert_eq!(t.kind(), VocabKind::SentencePiece);
    let id = |s: &str| t.token_to_id(s).expect("token exists");
    let hello = id("\u{2581}hello");
    assert_eq!(
        t.encode("hello", false, false).expect("encodes"),
        vec![hello]
    );
    // A BOS by default for SentencePiece; "é" is not a piece, so its two bytes are used.
    assert_eq!(
        t.encode("hello é", true, false).expect("encodes"),
        vec![1, hello, id("\u{2581}"), 3 + 0xC3, 3 + 0xA9]
    );
    assert_eq!(
        t.decode(&[1, hello, id("\u{2581}"), 3 + 0xC3, 3 + 0xA9], false)
            .expect("decodes"),
        "hello é"
    );
    // The space prefix goes before the text after a special token too, as in llama.cpp.
    assert_eq!(
        t.encode("<s>hello<user>hello", false, true)
            .expect("encodes"),
        vec![1, hello, id("<user>"), hello]
    );
    assert!(!t.encode("<s>", false, false).expect("encodes").contains(&1));
    let no_prefix = tiny_spm(|w| {
        w.add_kv(KEY_ADD_SPACE_PREFIX, GgufValue::Bool(false));
    })
    .expect("builds");
    assert_eq!(
        no_prefix.encode("hello", false, false).expect("encodes"),
        vec![id("he"), id("llo")]
    );
}

#[test]
fn sentencepiece_errors_name_the_problem() {
    let err = tiny_spm(|w| {
        w.add_kv(
            KEY_SCORES,
            GgufValue::Array(GgufValueType::F32, vec![GgufValue::F32(0.0)]),
        );
    })
    .expect_err("short scores");
    assert!(
        err.to_string()
            .contains("'tokenizer.ggml.scores' has 1 entries but 'tokenizer.ggml.tokens' has 271"),
        "{err}"
    );
    let err = tiny_spm(|w| {
        let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
        tokens.extend((0..268).map(|i| format!("t{i}")));
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        w.add_kv(KEY_TOKENS, strings(&refs));
    })
    .expect_err("no byte tokens");
    assert!(err.to_string().contains("no byte token <0x00>"), "{err}");
}

proptest! {
    #[test]
    fn sentencepiece_round_trip(text in "[a-z ]{0,20}|\\PC{0,20}") {
        static SPM: std::sync::OnceLock<Tokenizer> = std::sync::OnceLock::new();
        let t = SPM.get_or_init(|| tiny_spm(|_| {}).expect("builds"));
        let ids = t.encode(&text, false, false).expect("encodes");
        prop_assert_eq!(t.decode(&ids, false).expect("decodes"), text);
    }
}

/// The tiny vocabulary under each pre-tokenizer family, built once.
fn tiny_with_pre(index: usize) -> &'static Tokenizer {
    const PRES: [&str; 5] = ["llama-bpe", "default", "gpt-2", "smollm", "qwen2"];
    static BUILT: [std::sync::OnceLock<Tokenizer>; 5] = [const { std::sync::OnceLock::new() }; 5];
    BUILT[index].get_or_init(|| {
        build(|w| {
            w.add_kv(KEY_PRE, GgufValue::String(PRES[index].into()));
        })
        .expect("tiny vocabulary builds")
    })
}

proptest! {
    /// The byte-level fast path gives exactly the ids of HF's full pipeline it replaces, for
    /// every pre-tokenizer family (digits, contractions, punctuation and whitespace runs are
    /// where the families differ).
    #[test]
    fn fast_byte_level_equals_hf_pipeline(
        pre in 0usize..5,
        text in "[a-zA-Z0-9 '\n\r\t.,!?$+<=>^~|()\u{e9}\u{4e16}\u{1F642}-]{0,60}|\\PC{0,40}",
    ) {
        let t = tiny_with_pre(pre);
        prop_assert!(t.fast.is_some());
        let (mut fast, mut hf) = (Vec::new(), Vec::new());
        t.encode_text(&text, &mut fast).expect("encodes");
        t.encode_text_hf(&text, &mut hf).expect("encodes");
        prop_assert_eq!(fast, hf);
    }
}
