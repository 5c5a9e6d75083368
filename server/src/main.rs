//! `bitnet`: run, inspect and generate BitNet b1.58 models.

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BITNET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = cli::dispatch(args) {
        // One line, the whole cause chain: "error: cannot load x.gguf: tensor 'a' ...".
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
