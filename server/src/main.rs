//! `bitnet`: run, inspect and generate BitNet b1.58 models.

mod cli;

use clap::Parser;

/// mimalloc instead of glibc's allocator: building a 128k-token tokenizer allocates about a
/// million small strings, which took 129 ms with glibc's allocator and 91 ms with mimalloc
/// (benches/benches/tokenizer.rs); encoding allocates per piece too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        if is_broken_pipe(&e) {
            // The reader went away (`bitnet inspect m.gguf | head`): nothing left to say.
            return;
        }
        // One line, the whole cause chain: "error: cannot load x.gguf: tensor 'a' ...".
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// True when the error chain ends in a closed stdout pipe.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
