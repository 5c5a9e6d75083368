//! `bitnet serve`: the OpenAI-compatible HTTP service.
//!
//! The listener comes up first and answers the probes while the model loads on a thread of
//! its own (`/health/ready` is 503 `loading` until then; inference routes answer 503 too).
//! The loaded model runs on one engine thread that batches concurrent requests
//! ([`scheduler`]); handlers only parse, validate, tokenize and stream.

mod admin;
mod api;
mod error;
mod generation;
mod lifecycle;
mod metrics;
mod routes;
mod scheduler;
mod state;
mod thresholds;

use super::load;
use anyhow::Context;
use salvo::conn::Acceptor;
use salvo::prelude::*;
use state::{AppState, ModelState};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// Arguments of `bitnet serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Model file (GGUF; default: the bundled bitnet-b1.58-tiny-austen).
    #[arg(short, long)]
    model: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0: any free port, printed at startup).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Require `Authorization: Bearer KEY` on the API routes.
    #[arg(long)]
    api_key: Option<String>,
    /// Requests generated at once (each with its own KV cache), batched in every step.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// Requests that may wait for a slot; more get 429.
    #[arg(long, default_value_t = 64)]
    max_queue: usize,
    /// Context per request (default: the model's training context).
    #[arg(long)]
    ctx: Option<usize>,
    /// Directory the admin API may load models from (`POST /api/load {"model": NAME}`).
    #[arg(long)]
    models_dir: Option<PathBuf>,
    /// Require `Authorization: Bearer KEY` on the admin routes (`/api/*`); without it they
    /// are off.
    #[arg(long)]
    admin_key: Option<String>,
    /// Record request metrics and serve `/metrics` (off: for measuring their cost).
    #[arg(long, value_enum, default_value_t = Toggle::On)]
    metrics: Toggle,
    /// Largest request body in bytes; larger gets 413.
    #[arg(long, default_value_t = 1 << 20)]
    max_body: usize,
    #[command(flatten)]
    thresholds: thresholds::Thresholds,
    #[command(flatten)]
    runner: load::RunnerArgs,
}

/// An on/off switch on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Toggle {
    /// On.
    On,
    /// Off.
    Off,
}

/// Runs the service until the process is stopped (Ctrl-C or SIGTERM).
pub fn serve(a: ServeArgs) -> anyhow::Result<()> {
    load::check_cpu_options(&a.runner)?;
    if a.runner.backend == Some(load::BackendChoice::Reference) {
        anyhow::bail!("the server runs on --backend cpu or a GPU --device, not the reference");
    }
    // A bad --device combination fails now, not in the loader thread after the listener is up.
    super::device::request(&a.runner)?;
    let model_path = super::bundled::model_path(a.model.as_deref())?;
    let name = lifecycle::model_name(&model_path);
    let state = Arc::new(AppState {
        model: RwLock::new(ModelState::Loading(name.clone())),
        api_key: a.api_key.clone(),
        max_body: a.max_body,
        metrics: Arc::new(
            metrics::Metrics::new(a.metrics == Toggle::On).map_err(anyhow::Error::msg)?,
        ),
        admin_key: a.admin_key.clone(),
        loader: lifecycle::Loader {
            runner: a.runner.clone(),
            ctx: a.ctx,
            parallel: a.parallel,
            max_queue: a.max_queue,
            models_dir: a.models_dir.clone(),
        },
        failures: Default::default(),
        admin_lock: tokio::sync::Mutex::new(()),
        thresholds: a.thresholds.clone(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let acceptor = TcpListener::new(format!("{}:{}", a.host, a.port))
            .try_bind()
            .await
            .with_context(|| format!("cannot listen on {}:{}", a.host, a.port))?;
        for addr in acceptor.holdings().iter().map(|h| h.local_addr.to_string()) {
            // Printed as `socket://ip:port`; tests and scripts read the port from this line.
            eprintln!(
                "listening on http://{}",
                addr.trim_start_matches("socket://")
            );
        }
        let loader_state = Arc::clone(&state);
        std::thread::Builder::new()
            .name("bitnet-load".into())
            .spawn(move || match loader_state.loader.load(&model_path) {
                Ok(s) => {
                    eprintln!("model '{}' ready in {:.2} s", s.name, s.load_seconds);
                    loader_state.set(ModelState::Ready(Arc::new(s)));
                }
                Err(e) => {
                    eprintln!("error: cannot load the model: {e:#}");
                    loader_state
                        .failures
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(name, format!("{e:#}"));
                    loader_state.set(ModelState::Failed(format!("{e:#}")));
                }
            })
            .context("cannot start the loader thread")?;
        let server = Server::new(acceptor);
        let handle = server.handle();
        tokio::spawn(async move {
            shutdown_signal().await;
            handle.stop_graceful(None);
        });
        server.serve(routes::router(state)).await;
        Ok(())
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
