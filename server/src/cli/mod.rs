//! Command-line interface: argument parsing and one module per subcommand.

mod bench;
mod bundled;
mod chat;
mod convert;
mod device;
mod devices;
mod inspect;
mod load;
mod loaded;
mod perplexity;
mod progress;
mod quantize;
mod run;
mod sampling_args;
mod serve;
mod synth;
mod tokenize;

use clap::{Parser, Subcommand};

/// Runs BitNet b1.58 ternary language models.
#[derive(Parser, Debug)]
#[command(name = "bitnet", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate text from a prompt (or evaluate token ids and dump logits).
    Run(run::RunArgs),
    /// Serve a model over HTTP: OpenAI-compatible completions and chat, health probes.
    Serve(serve::ServeArgs),
    /// Chat with a model on the terminal, through its chat template.
    Chat(chat::ChatArgs),
    /// Measure prompt-processing and generation speed (a llama-bench-like table).
    Bench(bench::BenchArgs),
    /// Convert a Hugging Face BitNet checkpoint (safetensors) to GGUF.
    Convert(convert::ConvertArgs),
    /// List the devices models can run on, and which CPU kernel each matrix shape of a model
    /// gets (`-m`).
    Devices(devices::DevicesArgs),
    /// Print a GGUF file's metadata and tensor table.
    Inspect(inspect::InspectArgs),
    /// A model's perplexity on a text file (windows of -c tokens).
    Perplexity(perplexity::PerplexityArgs),
    /// Print the token ids and pieces of a text, or encode JSON lines in bulk.
    Tokenize(tokenize::TokenizeArgs),
    /// Rewrite a model's ternary weights in another ternary type (i2_s, tl1, tl2, tq1_0, tq2_0).
    Quantize(quantize::QuantizeArgs),
    /// Write a random ternary model of a named shape (synthetic, for tests and benchmarks).
    Synth(synth::SynthArgs),
}

/// Runs the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(a) => run::run(a),
        Command::Chat(a) => chat::chat(a),
        Command::Serve(a) => serve::serve(a),
        Command::Bench(a) => bench::bench(a),
        Command::Convert(a) => convert::convert(a),
        Command::Devices(a) => devices::devices(a),
        Command::Inspect(a) => inspect::inspect(a),
        Command::Perplexity(a) => perplexity::perplexity(a),
        Command::Quantize(a) => quantize::quantize(a),
        Command::Synth(a) => synth::synth(a),
        Command::Tokenize(a) => tokenize::tokenize(a),
    }
}
