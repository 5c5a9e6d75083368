//! One request's generation as the HTTP side sees it: tokens from the engine thread turned
//! into text pieces (UTF-8 completed across tokens, stop strings cut), and the counts for
//! `usage`.

use super::error::ApiError;
use super::metrics::Metrics;
use super::scheduler::{Event, Finish};
use super::state::Served;
use bitnet_engine::sampling::StopMatcher;
use bitnet_engine::tokenizer::StreamDecoder;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedReceiver;

/// What the next step of a generation gave.
pub enum Piece {
    /// Text to show (may be empty while a stop string or a UTF-8 sequence is pending).
    Text(String),
    /// The end, with the last held-back text.
    End {
        /// Remaining text.
        text: String,
        /// Why it ended.
        finish: Finish,
    },
}

/// A running generation.
pub struct Generation {
    served: Arc<Served>,
    rx: Option<UnboundedReceiver<Event>>,
    decoder: StreamDecoder,
    stops: StopMatcher,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Tokens generated so far.
    pub completion_tokens: usize,
    /// Time the request waited for a slot.
    pub queued: std::time::Duration,
    metrics: Arc<Metrics>,
    /// The `model_name` label, built once.
    label: [opentelemetry::KeyValue; 1],
    /// When the request arrived.
    arrived: Instant,
    /// When the last token arrived.
    last_token: Option<Instant>,
    /// Set once the end (or a failure) has been counted.
    counted: bool,
}

impl Generation {
    /// Follows the events of a submitted request.
    pub fn new(
        served: Arc<Served>,
        metrics: Arc<Metrics>,
        arrived: Instant,
        rx: UnboundedReceiver<Event>,
        prompt_tokens: usize,
        stop: &[String],
    ) -> Self {
        Generation {
            label: Metrics::label(&served.name),
            served,
            rx: Some(rx),
            decoder: StreamDecoder::new(),
            stops: StopMatcher::new(stop),
            prompt_tokens,
            completion_tokens: 0,
            queued: std::time::Duration::ZERO,
            metrics,
            arrived,
            last_token: None,
            counted: false,
        }
    }

    /// The next piece; `None` after the end.
    pub async fn next(&mut self) -> Option<Result<Piece, ApiError>> {
        loop {
            let rx = self.rx.as_mut()?;
            let event = match rx.recv().await {
                Some(e) => e,
                None => {
                    self.rx = None;
                    return Some(Err(ApiError::internal("the engine stopped mid-request")));
                }
            };
            match event {
                Event::Started { queued } => {
                    self.queued = queued;
                    self.metrics.queued(&self.label, queued);
                    continue;
                }
                Event::Token(t) => {
                    self.completion_tokens += 1;
                    let now = Instant::now();
                    match self.last_token {
                        None => self.metrics.first_token(&self.label, now - self.arrived),
                        Some(prev) => self.metrics.next_token(&self.label, now - prev),
                    }
                    self.last_token = Some(now);
                    let piece = match self.decoder.push(&self.served.tokenizer, t) {
                        Ok(p) => p,
                        Err(e) => {
                            self.rx = None;
                            return Some(Err(ApiError::internal(format!("detokenizing: {e}"))));
                        }
                    };
                    let out = self.stops.push(&piece);
                    if out.stopped {
                        // Dropping the receiver ends generation on the engine thread.
                        self.rx = None;
                        self.count_end("stop");
                        return Some(Ok(Piece::End {
                            text: out.text,
                            finish: Finish::Stop,
                        }));
                    }
                    return Some(Ok(Piece::Text(out.text)));
                }
                Event::Done { finish } => {
                    self.rx = None;
                    self.count_end(finish.as_str());
                    let tail = self.decoder.flush();
                    let mut text = self.stops.push(&tail).text;
                    text.push_str(&self.stops.flush());
                    return Some(Ok(Piece::End { text, finish }));
                }
                Event::Failed(msg) => {
                    self.rx = None;
                    self.counted = true;
                    self.metrics.failed(&self.label);
                    return Some(Err(ApiError::internal(msg)));
                }
            }
        }
    }

    fn count_end(&mut self, reason: &'static str) {
        if !self.counted {
            self.counted = true;
            self.metrics.finished(
                &self.label,
                reason,
                self.arrived.elapsed(),
                self.prompt_tokens,
                self.completion_tokens,
            );
        }
    }

    /// Runs to the end: the whole text and why it ended.
    pub async fn collect(&mut self) -> Result<(String, Finish), ApiError> {
        let mut text = String::new();
        while let Some(p) = self.next().await {
            match p? {
                Piece::Text(t) => text.push_str(&t),
                Piece::End { text: t, finish } => {
                    text.push_str(&t);
                    return Ok((text, finish));
                }
            }
        }
        Err(ApiError::internal("the generation ended without a result"))
    }
}

impl Drop for Generation {
    /// A generation dropped before its end was aborted (the client went away).
    fn drop(&mut self) {
        self.count_end("abort");
    }
}
