//! Chat templates: a conversation becomes the prompt text the model was trained on.
//!
//! The template is the file's `tokenizer.chat_template` (Jinja, rendered with minijinja the
//! way HF transformers renders it: `trim_blocks`, `lstrip_blocks`, loop controls,
//! `raise_exception`, `strftime_now`, Python string and dict methods, Python's `tojson`), a
//! [`BuiltinTemplate`] when the file has none, or one the user names.
//!
//! Templates come from model files, so they are untrusted: rendering runs on an instruction
//! budget and a template's failure is an error, never a hang.

mod builtin;
mod error;
pub mod pyjson;
mod strftime;

pub use builtin::BuiltinTemplate;
pub use error::ChatTemplateError;

use crate::gguf::GgufFile;
use crate::tokenizer::{Tokenizer, TokenizerError};
use minijinja::value::{Kwargs, Serde, Value};
use minijinja::{Environment, Error, ErrorKind, State};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::SystemTime;

/// Name of the one template in each environment.
const TEMPLATE_NAME: &str = "chat";
/// Context variable holding the render time, read by `strftime_now`.
const NOW_VAR: &str = "__bitnet_now_unix";
/// Instruction budget of one render: enough for a 2000-message conversation through the
/// built-in formats (tested) and for every template of the parity test, while a looping
/// template fails in a fraction of a second in a release build (about 2 s unoptimized).
const FUEL: u64 = 1_000_000;
/// Architectures whose chat format is BitNet's when the file has no template.
const BITNET_ARCHES: &[&str] = &["bitnet-b1.58", "bitnet-25", "bitnet"];

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` (or whatever else the template knows, e.g. `tool`).
    pub role: String,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A message with this role and text.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// Where a template came from (shown in errors and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateOrigin {
    /// The GGUF file's `tokenizer.chat_template`.
    ModelFile,
    /// A built-in format.
    Builtin(BuiltinTemplate),
    /// A file the user gave.
    UserFile(String),
}

impl std::fmt::Display for TemplateOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ModelFile => f.write_str("the model's tokenizer.chat_template"),
            Self::Builtin(b) => write!(f, "the built-in '{}' format", b.name()),
            Self::UserFile(p) => write!(f, "{p}"),
        }
    }
}

/// Options of one render beyond the messages.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// End with the header that makes the model answer as the assistant.
    pub add_generation_prompt: bool,
    /// The time `strftime_now` reports (default: now).
    pub now: Option<SystemTime>,
    /// Further template variables (e.g. `tools`, `date_string`), passed as they are.
    pub extra: Vec<(String, serde_json::Value)>,
}

/// A compiled chat template with the model's BOS/EOS texts.
pub struct ChatTemplate {
    env: Environment<'static>,
    origin: TemplateOrigin,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("origin", &self.origin)
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Compiles `source`. `bos_token`/`eos_token` are the texts templates see under those
    /// names.
    pub fn new(
        source: &str,
        origin: TemplateOrigin,
        bos_token: impl Into<String>,
        eos_token: impl Into<String>,
    ) -> Result<Self, ChatTemplateError> {
        let mut env = Environment::new();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .map_err(|e| ChatTemplateError::Compile {
                    origin: origin.to_string(),
                    detail: e.to_string(),
                })?,
        );
        env.set_fuel(Some(FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_filter("tojson", tojson);
        env.add_test("iterable", is_iterable);
        env.add_template_owned(TEMPLATE_NAME, generation_tags_as_blocks(source))
            .map_err(|e| ChatTemplateError::Compile {
                origin: origin.to_string(),
                detail: describe(&e),
            })?;
        Ok(Self {
            env,
            origin,
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
        })
    }

    /// The template a model should chat with: `choice` when given (a built-in name or a
    /// `.jinja` file), else the file's `tokenizer.chat_template`, else the built-in format
    /// its architecture and vocabulary fit (BitNet for bitnet architectures with `<|eot_id|>`,
    /// LLaMA 3 for vocabularies with its header tokens, ChatML for `<|im_start|>`).
    pub fn for_model(
        file: &GgufFile,
        tokenizer: &Tokenizer,
        choice: Option<&str>,
    ) -> Result<Self, ChatTemplateError> {
        let token_text = |id: Option<u32>| {
            id.and_then(|i| tokenizer.token_text(i).ok())
                .unwrap_or_default()
        };
        let bos = token_text(tokenizer.bos_id());
        let eos = token_text(tokenizer.eos_id());
        if let Some(choice) = choice {
            if let Some(b) = BuiltinTemplate::from_name(choice) {
                return Self::new(b.source(), TemplateOrigin::Builtin(b), bos, eos);
            }
            let path = Path::new(choice);
            let looks_like_path = choice.contains(std::path::MAIN_SEPARATOR)
                || choice.contains('/')
                || path.extension().is_some();
            if !looks_like_path && !path.exists() {
                return Err(ChatTemplateError::UnknownName {
                    name: choice.to_string(),
                    known: BuiltinTemplate::names(),
                });
            }
            let source =
                std::fs::read_to_string(path).map_err(|source| ChatTemplateError::Read {
                    path: choice.to_string(),
                    source,
                })?;
            return Self::new(&source, TemplateOrigin::UserFile(choice.into()), bos, eos);
        }
        if let Some(source) = tokenizer.chat_template() {
            return Self::new(source, TemplateOrigin::ModelFile, bos, eos);
        }
        let has_all = |b: BuiltinTemplate| {
            b.required_tokens()
                .iter()
                .all(|t| tokenizer.token_to_id(t).is_some())
        };
        let arch = file.architecture().unwrap_or_default();
        let fallback = if BITNET_ARCHES.contains(&arch) && has_all(BuiltinTemplate::Bitnet) {
            Some(BuiltinTemplate::Bitnet)
        } else {
            [BuiltinTemplate::Llama3, BuiltinTemplate::ChatMl]
                .into_iter()
                .find(|&b| has_all(b))
        };
        let b = fallback.ok_or_else(|| ChatTemplateError::NoTemplate {
            known: BuiltinTemplate::names(),
        })?;
        tracing::info!(
            template = b.name(),
            arch,
            "the model has no tokenizer.chat_template; using a built-in format"
        );
        Self::new(b.source(), TemplateOrigin::Builtin(b), bos, eos)
    }

    /// Where the template came from.
    pub fn origin(&self) -> &TemplateOrigin {
        &self.origin
    }

    /// The BOS text the template is given.
    pub fn bos_token(&self) -> &str {
        &self.bos_token
    }

    /// Renders `messages` into prompt text.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        opts: &RenderOptions,
    ) -> Result<String, ChatTemplateError> {
        let render_err = |e: Error| ChatTemplateError::Render {
            origin: self.origin.to_string(),
            detail: describe(&e),
        };
        let tmpl = self.env.get_template(TEMPLATE_NAME).map_err(render_err)?;
        let now = opts.now.unwrap_or_else(SystemTime::now);
        let unix = match now.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        };
        let mut ctx: Vec<(String, Value)> = vec![
            ("messages".into(), Value::from(Serde(messages))),
            (
                "add_generation_prompt".into(),
                Value::from(opts.add_generation_prompt),
            ),
            ("bos_token".into(), Value::from(self.bos_token.as_str())),
            ("eos_token".into(), Value::from(self.eos_token.as_str())),
            (NOW_VAR.into(), Value::from(unix)),
        ];
        // transformers always defines these (as None when not given); tool-use templates
        // test them with `is not none` or fail on them, and must do the same here.
        for name in ["tools", "documents"] {
            if !opts.extra.iter().any(|(k, _)| k == name) {
                ctx.push((name.into(), Value::from(())));
            }
        }
        for (k, v) in &opts.extra {
            ctx.push((k.clone(), Value::from(Serde(v))));
        }
        tmpl.render(Value::from_pairs(ctx)).map_err(render_err)
    }

    /// Renders `messages` and tokenizes the result with control tokens parsed (templates
    /// write them as text). BOS is added when the model wants one and the template did not
    /// already write it.
    pub fn encode(
        &self,
        tokenizer: &Tokenizer,
        messages: &[ChatMessage],
        opts: &RenderOptions,
    ) -> Result<Vec<u32>, ChatEncodeError> {
        let text = self.render(messages, opts)?;
        let mut ids = Vec::new();
        if let Some(bos) = tokenizer.bos_id().filter(|_| tokenizer.add_bos_default())
            && (self.bos_token.is_empty() || !text.starts_with(&self.bos_token))
        {
            ids.push(bos);
        }
        ids.extend(tokenizer.encode(&text, false, true)?);
        Ok(ids)
    }
}

/// Rendering or tokenizing a conversation failed.
#[derive(Debug, thiserror::Error)]
pub enum ChatEncodeError {
    /// The template failed.
    #[error(transparent)]
    Template(#[from] ChatTemplateError),
    /// The rendered text could not be tokenized.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
}

/// minijinja's message with the template line, for error messages.
fn describe(e: &Error) -> String {
    let mut s = e.to_string();
    if let Some(line) = e.line()
        && !s.contains("line")
    {
        s.push_str(&format!(" (line {line})"));
    }
    s
}

/// Jinja's `iterable` test: strings, sequences, mappings and undefined are; none is not.
/// (minijinja counts none as an empty sequence, so `tools is iterable and tools | length`
/// would fail on the `tools = none` every template receives.)
fn is_iterable(value: &Value) -> bool {
    !value.is_none() && (value.is_undefined() || value.try_iter().is_ok())
}

/// transformers' `{% generation %}…{% endgeneration %}` marks the assistant's tokens for
/// training masks and renders its body unchanged; minijinja has no such tag, so it becomes an
/// always-true `if` block with the same whitespace control.
fn generation_tags_as_blocks(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{%") {
        out.push_str(&rest[..start]);
        let tag = &rest[start..];
        let Some(end) = tag.find("%}") else {
            break;
        };
        let inner = &tag[2..end];
        let open = inner.strip_prefix(['-', '+']).map_or("", |_| &inner[..1]);
        let close = inner
            .strip_suffix(['-', '+'])
            .map_or("", |_| &inner[inner.len() - 1..]);
        let word = inner[open.len()..inner.len() - close.len()].trim();
        match word {
            "generation" => out.push_str(&format!("{{%{open} if true {close}%}}")),
            "endgeneration" => out.push_str(&format!("{{%{open} endif {close}%}}")),
            _ => out.push_str(&tag[..end + 2]),
        }
        rest = &tag[end + 2..];
    }
    out.push_str(rest);
    out
}

/// `raise_exception(message)`: templates use it to refuse a conversation (e.g. roles that
/// do not alternate).
fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// `strftime_now(format)`, at the render's time.
fn strftime_now(state: &State, format: String) -> String {
    let unix = state
        .lookup(NOW_VAR)
        .and_then(|v| i64::try_from(v).ok())
        .unwrap_or(0);
    let t = if unix >= 0 {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(unix as u64)
    } else {
        SystemTime::UNIX_EPOCH - std::time::Duration::from_secs(unix.unsigned_abs())
    };
    strftime::strftime(t, &format)
}

/// `x | tojson(indent=None, sort_keys=False)` as transformers defines it.
fn tojson(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    // Python-only options that do not change the output here.
    let _: Option<Value> = kwargs.get("ensure_ascii")?;
    let _: Option<Value> = kwargs.get("separators")?;
    kwargs.assert_all_used()?;
    Ok(Value::from_safe_string(pyjson::dumps(
        value,
        indent,
        sort_keys.unwrap_or(false),
    )?))
}

#[cfg(test)]
mod tests;
