//! `bitnet chat`: a conversation on the terminal (or over a pipe), through the model's chat
//! template. Each turn re-renders the whole conversation and evaluates only the tokens after
//! the part the KV cache already holds.

use super::loaded::{self, with_model};
use super::sampling_args::SamplingArgs;
use super::{device, load};
use anyhow::{Context, bail};
use bitnet_engine::backend::Backend;
use bitnet_engine::chat::{ChatMessage, ChatTemplate, RenderOptions};
use bitnet_engine::model::{Model, ModelConfig};
use bitnet_engine::sampling::Sampler;
use bitnet_engine::session::{GenerateConfig, Session, StopReason};
use bitnet_engine::tokenizer::{StreamDecoder, Tokenizer};
use clap::Args;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

const HELP: &str = "commands: /reset (forget the conversation), /exit (or Ctrl-D), /help; \
                    end a line with \\ to continue it on the next";

/// Arguments of `bitnet chat`.
#[derive(Args, Debug)]
pub struct ChatArgs {
    /// Model file (GGUF; default: the bundled bitnet-b1.58-tiny-austen).
    #[arg(short, long)]
    model: Option<PathBuf>,
    #[command(flatten)]
    runner: load::RunnerArgs,
    /// System prompt.
    #[arg(short, long)]
    system: Option<String>,
    /// Chat template: bitnet, llama3, chatml or a .jinja file (default: the model's own, else
    /// the built-in format its vocabulary fits).
    #[arg(long)]
    chat_template: Option<String>,
    /// Most tokens per reply.
    #[arg(short = 'n', long, default_value_t = 512)]
    n_predict: usize,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Context size in tokens: the whole conversation must fit (default: the model's, at
    /// most 4096).
    #[arg(short = 'c', long)]
    ctx_size: Option<usize>,
    /// A HF tokenizer.json to encode with instead of the one rebuilt from the GGUF metadata.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Print each turn's rendered prompt to stderr (to check a template).
    #[arg(long)]
    verbose_prompt: bool,
}

/// Runs the chat loop until `/exit` or end of input.
pub fn chat(a: ChatArgs) -> anyhow::Result<()> {
    let threads = load::threads(a.runner.threads)?;
    let model_path = super::bundled::model_path(a.model.as_deref())?;
    let file = load::open(&model_path)?;
    let tokenizer = super::tokenize::load_tokenizer(&file, a.tokenizer.as_deref())
        .context("cannot build the tokenizer")?;
    let template = ChatTemplate::for_model(&file, &tokenizer, a.chat_template.as_deref())?;
    load::check_cpu_options(&a.runner)?;
    let config = ModelConfig::from_gguf(&file)
        .with_context(|| format!("cannot load {}", model_path.display()))?;
    let ctx = a.ctx_size.unwrap_or(config.n_ctx_train.min(4096));
    if ctx < 2 {
        bail!("--ctx-size must be at least 2");
    }
    let plan = device::plan(&a.runner, &file, &config, ctx, 1)?;
    // On the log, not stderr: a failed run prints its one error line and nothing else.
    tracing::info!("device: {}", plan.why);
    let loaded = loaded::load(&plan, &file, &model_path, &a.runner, threads)?;
    with_model!(loaded, model => converse(a, &model_path, &tokenizer, &template, ctx, model))
}

/// Runs the chat loop on the loaded `model`.
fn converse<B: Backend>(
    a: ChatArgs,
    model_path: &Path,
    tokenizer: &Tokenizer,
    template: &ChatTemplate,
    ctx: usize,
    model: Model<B>,
) -> anyhow::Result<()> {
    let sampler = Sampler::new(a.sampling.config()?);
    let mut chat = Chat {
        model: &model,
        tokenizer,
        template,
        session: Session::new(&model, ctx)?,
        sampler,
        messages: Vec::new(),
        system: a.system.clone(),
        n_predict: a.n_predict,
        verbose_prompt: a.verbose_prompt,
    };
    chat.reset();

    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!(
            "chatting with {} ({}, context {ctx} tokens). {HELP}",
            model_path.display(),
            template.origin()
        );
    }
    let mut lines = std::io::stdin().lock();
    while let Some(input) = read_turn(&mut lines, interactive)? {
        match input.trim() {
            "" => continue,
            "/exit" | "/quit" => break,
            "/reset" => {
                chat.reset();
                eprintln!("[conversation cleared]");
            }
            "/help" => eprintln!("{HELP}"),
            _ => chat.turn(input)?,
        }
    }
    Ok(())
}

/// Reads one user turn: a line, joined with the following ones while it ends in `\`.
/// `None` at end of input.
fn read_turn(input: &mut impl BufRead, interactive: bool) -> anyhow::Result<Option<String>> {
    let mut turn = String::new();
    loop {
        if interactive {
            eprint!("{}", if turn.is_empty() { "> " } else { ". " });
            std::io::stderr().flush()?;
        }
        let mut line = String::new();
        if input.read_line(&mut line).context("cannot read stdin")? == 0 {
            return Ok((!turn.is_empty()).then_some(turn));
        }
        let line = line.trim_end_matches(['\n', '\r']);
        match line.strip_suffix('\\') {
            Some(head) => {
                turn.push_str(head);
                turn.push('\n');
            }
            None => {
                turn.push_str(line);
                return Ok(Some(turn));
            }
        }
    }
}

/// The state of one conversation.
struct Chat<'a, B: Backend> {
    model: &'a Model<B>,
    tokenizer: &'a Tokenizer,
    template: &'a ChatTemplate,
    session: Session<B>,
    sampler: Sampler,
    messages: Vec<ChatMessage>,
    system: Option<String>,
    n_predict: usize,
    verbose_prompt: bool,
}

impl<B: Backend> Chat<'_, B> {
    fn reset(&mut self) {
        self.messages.clear();
        if let Some(s) = &self.system {
            self.messages.push(ChatMessage::new("system", s.clone()));
        }
        self.session.truncate(0);
    }

    /// Answers `text`. A turn that cannot be answered (the template refuses it, the context
    /// is full) is reported and dropped; the conversation goes on.
    fn turn(&mut self, text: String) -> anyhow::Result<()> {
        self.messages.push(ChatMessage::new("user", text));
        match self.answer() {
            Ok(reply) => {
                self.messages.push(ChatMessage::new("assistant", reply));
                Ok(())
            }
            Err(TurnError::Dropped(why)) => {
                self.messages.pop();
                eprintln!("error: {why:#}");
                Ok(())
            }
            Err(TurnError::Fatal(e)) => Err(e),
        }
    }

    fn answer(&mut self) -> Result<String, TurnError> {
        let opts = RenderOptions {
            add_generation_prompt: true,
            ..RenderOptions::default()
        };
        if self.verbose_prompt {
            let text = self
                .template
                .render(&self.messages, &opts)
                .map_err(|e| TurnError::Dropped(e.into()))?;
            eprintln!("[prompt]\n{text}\n[/prompt]");
        }
        let ids = self
            .template
            .encode(self.tokenizer, &self.messages, &opts)
            .map_err(|e| TurnError::Dropped(e.into()))?;
        let capacity = self.session.capacity();
        if ids.len() >= capacity {
            return Err(TurnError::Dropped(anyhow::anyhow!(
                "the conversation is {} tokens and the context holds {capacity}: /reset, or \
                 start again with a larger --ctx-size",
                ids.len()
            )));
        }
        // Reuse what the cache holds; at least one token must be evaluated to get logits.
        let held = self.session.tokens();
        let mut common = held.iter().zip(&ids).take_while(|(a, b)| a == b).count();
        common = common.min(ids.len() - 1);
        self.session.truncate(common);
        let cfg = GenerateConfig {
            max_new_tokens: self.n_predict.min(capacity - ids.len()),
            stop_tokens: {
                let s = self.tokenizer.special_ids();
                [s.eos, s.eot, s.eom].into_iter().flatten().collect()
            },
        };
        let mut out = std::io::stdout().lock();
        let mut decoder = StreamDecoder::new();
        let mut reply = String::new();
        let mut failure: Option<anyhow::Error> = None;
        let tokenizer = self.tokenizer;
        let stats = self
            .session
            .generate(
                self.model,
                &ids[common..],
                &cfg,
                &mut self.sampler,
                false,
                |tok, _| {
                    let piece = match decoder.push(tokenizer, tok) {
                        Ok(p) => p,
                        Err(e) => {
                            failure = Some(e.into());
                            return false;
                        }
                    };
                    reply.push_str(&piece);
                    if let Err(e) = out.write_all(piece.as_bytes()).and_then(|_| out.flush()) {
                        failure = Some(e.into());
                        return false;
                    }
                    true
                },
            )
            .map_err(|e| TurnError::Fatal(e.into()))?;
        if let Some(e) = failure {
            return Err(TurnError::Fatal(e));
        }
        let tail = decoder.flush();
        reply.push_str(&tail);
        writeln!(out, "{tail}").map_err(|e| TurnError::Fatal(e.into()))?;
        let secs = stats.gen_time.as_secs_f64();
        eprintln!(
            "[{} prompt tokens ({common} reused), {} generated at {:.1} tok/s, stop: {}]",
            ids.len(),
            stats.generated_tokens,
            if secs > 0.0 {
                stats.generated_tokens as f64 / secs
            } else {
                0.0
            },
            match stats.stop {
                StopReason::EndToken(_) => "end of turn",
                StopReason::Length => "-n limit",
                StopReason::ContextFull => "context full",
                StopReason::Caller => "stopped",
            }
        );
        Ok(reply)
    }
}

/// How a turn failed.
enum TurnError {
    /// The turn is dropped and the chat goes on.
    Dropped(anyhow::Error),
    /// The chat cannot go on (the model failed, stdout closed).
    Fatal(anyhow::Error),
}
