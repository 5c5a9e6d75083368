//! `bitnet tokenize`: text → ids and pieces, one text or JSON lines in bulk.

use anyhow::{Context, bail};
use bitnet_engine::gguf::GgufFile;
use bitnet_engine::tokenizer::Tokenizer;
use clap::Args;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// Arguments of `bitnet tokenize`.
#[derive(Args, Debug)]
pub struct TokenizeArgs {
    /// Model or vocab-only file (GGUF).
    #[arg(short, long)]
    model: PathBuf,
    /// The text to tokenize (not with --jsonl).
    #[arg(conflicts_with = "jsonl")]
    text: Option<String>,
    /// Read `{"text": ...}` lines from stdin, write one `{"ids": [...]}` line per input.
    #[arg(long)]
    jsonl: bool,
    /// Add BOS/EOS as the model wants.
    #[arg(long)]
    add_special: bool,
    /// Match control tokens written in the text (e.g. `<|eot_id|>`).
    #[arg(long)]
    parse_special: bool,
    /// Print only the ids, comma-separated.
    #[arg(long, conflicts_with = "jsonl")]
    ids_only: bool,
    /// A HF tokenizer.json to encode with instead of the one rebuilt from the GGUF metadata.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
}

/// Builds the model's tokenizer, with the user's tokenizer.json as its encoder when given.
pub fn load_tokenizer(file: &GgufFile, json: Option<&Path>) -> anyhow::Result<Tokenizer> {
    let t = Tokenizer::from_gguf(file)?;
    Ok(match json {
        Some(path) => t.with_tokenizer_json(path)?,
        None => t,
    })
}

/// Runs `bitnet tokenize`.
pub fn tokenize(a: TokenizeArgs) -> anyhow::Result<()> {
    let file =
        GgufFile::open(&a.model).with_context(|| format!("cannot load {}", a.model.display()))?;
    let tok = load_tokenizer(&file, a.tokenizer.as_deref())
        .with_context(|| format!("cannot build the tokenizer of {}", a.model.display()))?;
    let mut out = std::io::stdout().lock();
    if a.jsonl {
        for (n, line) in std::io::stdin().lock().lines().enumerate() {
            let line = line.context("cannot read stdin")?;
            if line.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(&line)
                .with_context(|| format!("stdin line {}: not JSON", n + 1))?;
            let Some(text) = value.get("text").and_then(|t| t.as_str()) else {
                bail!(
                    "stdin line {}: expected an object with a string \"text\"",
                    n + 1
                );
            };
            let ids = tok
                .encode(text, a.add_special, a.parse_special)
                .with_context(|| format!("stdin line {}", n + 1))?;
            serde_json::to_writer(&mut out, &serde_json::json!({ "ids": ids }))?;
            out.write_all(b"\n")?;
        }
        return Ok(());
    }
    let Some(text) = a.text else {
        bail!("give the text to tokenize, or --jsonl to read JSON lines from stdin");
    };
    let ids = tok.encode(&text, a.add_special, a.parse_special)?;
    if a.ids_only {
        let list: Vec<String> = ids.iter().map(u32::to_string).collect();
        writeln!(out, "{}", list.join(","))?;
        return Ok(());
    }
    for id in ids {
        let piece = String::from_utf8_lossy(tok.token_bytes(id)?);
        writeln!(out, "{id:>7} -> {piece:?}")?;
    }
    Ok(())
}
