//! The engine thread: continuous batching over `Model::step`.
//!
//! Requests wait in a bounded queue; up to `parallel` of them are active at once, each with
//! its own KV cache. Every iteration evaluates one batch holding, per active request, either
//! its whole prompt (just admitted) or its last sampled token, so new requests join between
//! decode steps of the others instead of waiting for them to finish. Tokens go back to the
//! request's handler over a channel; a handler that has gone away (client disconnected, stop
//! string matched) makes the next send fail, which ends the request and frees its slot
//! before the next step.

use bitnet_engine::backend::Backend;
use bitnet_engine::model::{KvCache, LogitsWanted, Model, SeqBatch};
use bitnet_engine::sampling::Sampler;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// One generation request.
pub struct Job {
    /// Prompt token ids (validated against the context by the caller).
    pub prompt: Vec<u32>,
    /// Most tokens to generate (at least 1).
    pub max_tokens: usize,
    /// The request's sampler.
    pub sampler: Sampler,
    /// Tokens that end generation (EOS/EOT); not emitted.
    pub stop_tokens: Vec<u32>,
    /// Where tokens and the end go.
    pub events: UnboundedSender<Event>,
    /// When the request was queued.
    pub queued_at: Instant,
}

/// Why a request stopped generating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// An end token was sampled.
    Stop,
    /// `max_tokens` or the context was reached.
    Length,
}

impl Finish {
    /// OpenAI's `finish_reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
        }
    }
}

/// What the engine thread tells a request's handler.
#[derive(Debug)]
pub enum Event {
    /// The request left the queue; its prompt is being evaluated.
    Started {
        /// Time spent waiting in the queue.
        queued: Duration,
    },
    /// A sampled token.
    Token(u32),
    /// Generation ended.
    Done {
        /// Why.
        finish: Finish,
    },
    /// The engine failed on this request.
    Failed(String),
}

/// Why a request was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum SubmitError {
    /// The queue holds `max_queue` requests already.
    QueueFull {
        /// The queue's bound.
        max_queue: usize,
    },
    /// The engine thread has stopped.
    Stopped,
}

/// Handle to the engine thread.
pub struct Scheduler {
    tx: SyncSender<Job>,
    counts: Arc<Counts>,
    max_queue: usize,
    parallel: usize,
}

/// Gauges the metrics read.
#[derive(Debug, Default)]
pub struct Counts {
    /// Requests in the queue.
    pub waiting: AtomicUsize,
    /// Requests being generated.
    pub running: AtomicUsize,
    /// KV cache positions in use across running requests.
    pub kv_used: AtomicUsize,
    /// KV cache positions the running requests hold.
    pub kv_capacity: AtomicUsize,
}

impl Scheduler {
    /// Starts the engine thread for `model` with `parallel` slots and a queue of `max_queue`.
    /// The handle is the same whatever the backend: only the engine thread knows it.
    pub fn start<B: Backend + 'static>(
        model: Arc<Model<B>>,
        parallel: usize,
        max_queue: usize,
    ) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel(max_queue.max(1));
        let counts = Arc::new(Counts::default());
        let c = Arc::clone(&counts);
        let parallel = parallel.max(1);
        std::thread::Builder::new()
            .name("bitnet-engine".into())
            .spawn(move || engine_loop(&model, parallel, &rx, &c))?;
        Ok(Scheduler {
            tx,
            counts,
            max_queue: max_queue.max(1),
            parallel,
        })
    }

    /// Queues a request, or says why not.
    pub fn submit(&self, job: Job) -> Result<(), SubmitError> {
        // Counted before sending so the engine never sees a negative count.
        self.counts.waiting.fetch_add(1, Ordering::SeqCst);
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.counts.waiting.fetch_sub(1, Ordering::SeqCst);
                Err(match e {
                    TrySendError::Full(_) => SubmitError::QueueFull {
                        max_queue: self.max_queue,
                    },
                    TrySendError::Disconnected(_) => SubmitError::Stopped,
                })
            }
        }
    }

    /// The gauges.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Concurrent slots.
    pub fn parallel(&self) -> usize {
        self.parallel
    }
}

/// A request being generated.
struct Slot<B: Backend> {
    job: Job,
    cache: KvCache<B>,
    /// Tokens to evaluate in the next step (the prompt, then the last sampled token).
    pending: Vec<u32>,
    /// Prompt and generated tokens (the sampler's repetition window reads it).
    history: Vec<u32>,
    generated: usize,
}

fn engine_loop<B: Backend>(model: &Model<B>, parallel: usize, rx: &Receiver<Job>, c: &Counts) {
    let mut active: Vec<Slot<B>> = Vec::with_capacity(parallel);
    loop {
        // Admit queued requests into free slots; block only when nothing is running.
        while active.len() < parallel {
            let job = if active.is_empty() {
                match rx.recv() {
                    Ok(j) => j,
                    Err(_) => return,
                }
            } else {
                match rx.try_recv() {
                    Ok(j) => j,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            };
            c.waiting.fetch_sub(1, Ordering::SeqCst);
            admit(model, job, &mut active);
        }
        c.running.store(active.len(), Ordering::Relaxed);
        if active.is_empty() {
            continue;
        }
        step(model, &mut active);
        c.running.store(active.len(), Ordering::Relaxed);
        c.kv_used.store(
            active.iter().map(|s| s.cache.len()).sum(),
            Ordering::Relaxed,
        );
        c.kv_capacity.store(
            active.iter().map(|s| s.cache.capacity()).sum(),
            Ordering::Relaxed,
        );
    }
}

/// Gives a job a KV cache sized for its prompt and answer and adds it to the batch.
fn admit<B: Backend>(model: &Model<B>, job: Job, active: &mut Vec<Slot<B>>) {
    let queued = job.queued_at.elapsed();
    if job.events.send(Event::Started { queued }).is_err() {
        // Cancelled while queued.
        return;
    }
    let capacity = (job.prompt.len() + job.max_tokens).min(model.config.n_ctx_train);
    match model.new_cache(capacity) {
        Ok(cache) => active.push(Slot {
            pending: job.prompt.clone(),
            history: Vec::with_capacity(capacity),
            cache,
            generated: 0,
            job,
        }),
        Err(e) => {
            let _ = job.events.send(Event::Failed(e.to_string()));
        }
    }
}

/// One batched forward pass over every active request, then a token sampled for each.
fn step<B: Backend>(model: &Model<B>, active: &mut Vec<Slot<B>>) {
    let mut batch: Vec<SeqBatch<'_, B>> = active
        .iter_mut()
        .map(|s| SeqBatch {
            cache: &mut s.cache,
            tokens: &s.pending,
            logits: LogitsWanted::Last,
        })
        .collect();
    let logits = match model.step(&mut batch) {
        Ok(l) => l,
        Err(e) => {
            // No cache advanced: fail every request of the batch rather than retry forever.
            for s in active.drain(..) {
                let _ = s
                    .job
                    .events
                    .send(Event::Failed(format!("forward pass: {e}")));
            }
            return;
        }
    };
    let mut keep = Vec::with_capacity(active.len());
    for (mut s, logits) in active.drain(..).zip(logits) {
        s.history.append(&mut s.pending);
        let tok = match s.job.sampler.sample(&logits, &s.history) {
            Ok(t) => t,
            Err(e) => {
                let _ = s.job.events.send(Event::Failed(format!("sampling: {e}")));
                continue;
            }
        };
        if s.job.stop_tokens.contains(&tok) {
            let _ = s.job.events.send(Event::Done {
                finish: Finish::Stop,
            });
            continue;
        }
        if s.job.events.send(Event::Token(tok)).is_err() {
            // The handler is gone: stop here and free the slot.
            continue;
        }
        s.generated += 1;
        if s.generated >= s.job.max_tokens || s.cache.len() >= s.cache.capacity() {
            let _ = s.job.events.send(Event::Done {
                finish: Finish::Length,
            });
            continue;
        }
        s.pending.push(tok);
        keep.push(s);
    }
    *active = keep;
}
