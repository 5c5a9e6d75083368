//! The HTTP routes: OpenAI completions and chat (streamed over SSE or not), models,
//! tokenize/detokenize and the health probes.

use super::api::{self, ChatRequest, CompletionRequest, Prompt, Settings};
use super::error::ApiError;
use super::generation::{Generation, Piece};
use super::scheduler::{Job, SubmitError};
use super::state::{AppState, ModelState, Served};
use bitnet_engine::chat::{ChatMessage, RenderOptions};
use bitnet_engine::sampling::Sampler;
use futures_util::stream;
use salvo::http::ParseError;
use salvo::prelude::*;
use salvo::sse::{self, SseEvent};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The router over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let s = || Arc::clone(&state);
    Router::new()
        .push(Router::with_path("health/live").get(Live))
        .push(Router::with_path("health/ready").get(Ready(s())))
        .push(Router::with_path("v1/models").get(Models(s())))
        .push(Router::with_path("v1/completions").post(Completions(s())))
        .push(Router::with_path("v1/chat/completions").post(Chat(s())))
        .push(Router::with_path("tokenize").post(Tokenize(s())))
        .push(Router::with_path("detokenize").post(Detokenize(s())))
        .push(Router::with_path("metrics").get(MetricsRoute(s())))
        .push(Router::with_path("api/load").post(super::admin::Load(s())))
        .push(Router::with_path("api/unload").post(super::admin::Unload(s())))
        .push(Router::with_path("api/models").get(super::admin::List(s())))
}

/// `Authorization: Bearer KEY` when the server has a key.
pub(super) fn check_key(state: &AppState, req: &Request) -> Result<(), ApiError> {
    match &state.api_key {
        Some(key) => check_bearer(req, key, "API key"),
        None => Ok(()),
    }
}

/// The request's Bearer token must be `key` (`what` names it in the 401).
pub(super) fn check_bearer(req: &Request, key: &str, what: &str) -> Result<(), ApiError> {
    let given = req
        .header::<String>("authorization")
        .and_then(|h| h.strip_prefix("Bearer ").map(str::to_string));
    match given {
        None => Err(ApiError::unauthorized(format!(
            "missing {what}: send 'Authorization: Bearer <{what}>'"
        ))),
        Some(k) if k == key => Ok(()),
        Some(_) => Err(ApiError::unauthorized(format!("the {what} is wrong"))),
    }
}

/// The request body, within the size limit.
pub(super) async fn body(state: &AppState, req: &mut Request) -> Result<Vec<u8>, ApiError> {
    match req.payload_with_max_size(state.max_body).await {
        Ok(b) => Ok(b.to_vec()),
        Err(ParseError::PayloadTooLarge) => Err(ApiError::too_large(state.max_body)),
        Err(e) => Err(ApiError::bad_json(format!("cannot read the body: {e}"))),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `GET /health/live`: the process answers.
pub struct Live;

#[handler]
impl Live {
    async fn handle(&self, res: &mut Response) {
        res.render(Json(json!({"status": "live"})));
    }
}

/// `GET /health/ready`: 200 only while a model is loaded and serving; 503 with the state.
pub struct Ready(Arc<AppState>);

#[handler]
impl Ready {
    async fn handle(&self, res: &mut Response) {
        let state = self.0.model.read().unwrap_or_else(|e| e.into_inner());
        let (code, body) = match &*state {
            ModelState::Ready(s) | ModelState::Swapping { old: s, .. } => {
                let c = s.scheduler.counts();
                let waiting = c.waiting.load(Ordering::Relaxed);
                let th = &self.0.thresholds;
                let rss_mib = if th.needs_rss() {
                    self.0.metrics.process_rss().map(|b| b >> 20)
                } else {
                    None
                };
                let verdict = th.check(&super::thresholds::Observed { waiting, rss_mib });
                for w in &verdict.warnings {
                    tracing::warn!("readiness warning: {w}");
                }
                let (code, status) = match &*state {
                    _ if !verdict.overloaded.is_empty() => {
                        (StatusCode::SERVICE_UNAVAILABLE, "overloaded")
                    }
                    ModelState::Swapping { .. } => (StatusCode::OK, "swapping"),
                    _ => (StatusCode::OK, "ready"),
                };
                (
                    code,
                    json!({
                        "status": status,
                        "reasons": verdict.overloaded,
                        "warnings": verdict.warnings,
                        "model": s.name,
                        "load_seconds": s.load_seconds,
                        "requests_running": c.running.load(Ordering::Relaxed),
                        "requests_waiting": waiting,
                        "kv_tokens_in_use": c.kv_used.load(Ordering::Relaxed),
                        "parallel": s.scheduler.parallel(),
                    }),
                )
            }
            ModelState::Unloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"status": "unloaded"}),
            ),
            ModelState::Loading(name) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"status": "loading", "model": name}),
            ),
            ModelState::Failed(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"status": "failed", "reason": why}),
            ),
        };
        res.status_code(code);
        res.render(Json(body));
    }
}

/// `GET /metrics`: Prometheus text.
pub struct MetricsRoute(Arc<AppState>);

#[handler]
impl MetricsRoute {
    async fn handle(&self, res: &mut Response) {
        if !self.0.metrics.enabled() {
            return ApiError::not_found("metrics are off (--metrics off)").write(res);
        }
        let served = self.0.served().ok();
        let snap = served.as_ref().map(|s| {
            let c = s.scheduler.counts();
            let used = c.kv_used.load(Ordering::Relaxed);
            let cap = c.kv_capacity.load(Ordering::Relaxed);
            super::metrics::Snapshot {
                model: &s.name,
                running: c.running.load(Ordering::Relaxed),
                waiting: c.waiting.load(Ordering::Relaxed),
                kv_usage: if cap == 0 {
                    0.0
                } else {
                    used as f64 / cap as f64
                },
                load_seconds: s.load_seconds,
            }
        });
        let text = self.0.metrics.render(snap);
        res.add_header(
            "content-type",
            "text/plain; version=0.0.4; charset=utf-8",
            true,
        )
        .ok();
        res.render(text);
    }
}

/// `GET /v1/models`.
pub struct Models(Arc<AppState>);

#[handler]
impl Models {
    async fn handle(&self, req: &mut Request, res: &mut Response) {
        let r = check_key(&self.0, req).and_then(|_| self.0.served());
        match r {
            Ok(s) => res.render(Json(json!({
                "object": "list",
                "data": [{"id": s.name, "object": "model", "created": 0, "owned_by": "bitnet-rs",
                          "n_ctx": s.n_ctx, "n_vocab": s.n_vocab}],
            }))),
            Err(e) => e.write(res),
        }
    }
}

/// Prompt ids of a completion request.
fn completion_prompt(s: &Served, prompt: Prompt) -> Result<Vec<u32>, ApiError> {
    let text = match prompt {
        Prompt::Ids(ids) => {
            if let Some(&bad) = ids.iter().find(|&&i| i as usize >= s.n_vocab) {
                return Err(ApiError::invalid(
                    "prompt",
                    format!("token id {bad} is outside the vocabulary of {}", s.n_vocab),
                ));
            }
            return Ok(ids);
        }
        Prompt::Text(t) => t,
        Prompt::Texts(mut v) if v.len() == 1 => v.remove(0),
        Prompt::Texts(v) => {
            return Err(ApiError::invalid(
                "prompt",
                format!("one prompt per request, got {}", v.len()),
            ));
        }
    };
    s.tokenizer
        .encode(&text, true, false)
        .map_err(|e| ApiError::invalid("prompt", format!("cannot tokenize the prompt: {e}")))
}

/// Prompt ids of a chat request, through the model's template.
fn chat_prompt(s: &Served, messages: &[api::Message]) -> Result<Vec<u32>, ApiError> {
    if messages.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "'messages' is empty: send at least one message",
        ));
    }
    let template = s.template.as_ref().map_err(|why| {
        ApiError::invalid(
            "messages",
            format!("this model has no usable chat template: {why}"),
        )
    })?;
    let msgs: Vec<ChatMessage> = messages
        .iter()
        .map(|m| ChatMessage::new(m.role.clone(), m.content.clone()))
        .collect();
    let opts = RenderOptions {
        add_generation_prompt: true,
        ..RenderOptions::default()
    };
    template
        .encode(&s.tokenizer, &msgs, &opts)
        .map_err(|e| ApiError::invalid("messages", format!("cannot apply the chat template: {e}")))
}

/// Checks the prompt against the context, queues the request and follows it.
fn start(
    st: &AppState,
    s: &Arc<Served>,
    arrived: Instant,
    prompt: Vec<u32>,
    set: &Settings,
) -> Result<Generation, ApiError> {
    if prompt.is_empty() {
        return Err(ApiError::invalid("prompt", "the prompt is empty"));
    }
    if prompt.len() >= s.n_ctx {
        return Err(ApiError::context(prompt.len(), s.n_ctx));
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let n = prompt.len();
    let job = Job {
        max_tokens: set.max_tokens.min(s.n_ctx - n),
        prompt,
        sampler: Sampler::new(set.sampler.clone()),
        stop_tokens: s.stop_tokens.clone(),
        events: tx,
        queued_at: Instant::now(),
    };
    s.scheduler.submit(job).map_err(|e| match e {
        SubmitError::QueueFull { max_queue } => ApiError::queue_full(max_queue),
        SubmitError::Stopped => ApiError::unavailable("the engine has stopped"),
    })?;
    Ok(Generation::new(
        Arc::clone(s),
        Arc::clone(&st.metrics),
        arrived,
        rx,
        n,
        &set.stop,
    ))
}

fn usage(g: &Generation) -> Value {
    json!({
        "prompt_tokens": g.prompt_tokens,
        "completion_tokens": g.completion_tokens,
        "total_tokens": g.prompt_tokens + g.completion_tokens,
    })
}

/// Which endpoint a generation answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Completion,
    Chat,
}

impl Kind {
    fn id(self) -> String {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = (unix_now() << 20) ^ NEXT.fetch_add(1, Ordering::Relaxed);
        match self {
            Kind::Completion => format!("cmpl-{n:x}"),
            Kind::Chat => format!("chatcmpl-{n:x}"),
        }
    }

    fn object(self, stream: bool) -> &'static str {
        match (self, stream) {
            (Kind::Completion, _) => "text_completion",
            (Kind::Chat, false) => "chat.completion",
            (Kind::Chat, true) => "chat.completion.chunk",
        }
    }

    /// One choice: the text (as a delta when streamed) and the finish reason.
    fn choice(self, text: &str, finish: Option<&str>, stream: bool, first: bool) -> Value {
        match (self, stream) {
            (Kind::Completion, _) => {
                json!({"index": 0, "text": text, "logprobs": null, "finish_reason": finish})
            }
            (Kind::Chat, false) => json!({
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
            }),
            (Kind::Chat, true) => {
                let delta = if first {
                    json!({"role": "assistant", "content": text})
                } else if finish.is_some() && text.is_empty() {
                    json!({})
                } else {
                    json!({"content": text})
                };
                json!({"index": 0, "delta": delta, "finish_reason": finish})
            }
        }
    }
}

/// Answers a generation request, streamed or not.
async fn answer(
    kind: Kind,
    served: Arc<Served>,
    mut g: Generation,
    set: Settings,
    res: &mut Response,
) {
    let (id, created, model) = (kind.id(), unix_now(), served.name.clone());
    if !set.stream {
        match g.collect().await {
            Ok((text, finish)) => res.render(Json(json!({
                "id": id,
                "object": kind.object(false),
                "created": created,
                "model": model,
                "choices": [kind.choice(&text, Some(finish.as_str()), false, false)],
                "usage": usage(&g),
                "timings": {"queued_ms": g.queued.as_secs_f64() * 1e3},
            }))),
            Err(e) => e.write(res),
        }
        return;
    }
    // Text chunks are most of a stream: their JSON is built from a prepared prefix and the
    // escaped text instead of a `Value` tree per token.
    let prefix = format!(
        "{{\"id\":{},\"object\":\"{}\",\"created\":{created},\"model\":{},\"choices\":[",
        Value::from(id.as_str()),
        kind.object(true),
        Value::from(model.as_str())
    );
    let text_chunk = move |text: &str, first: bool| {
        let mut out = String::with_capacity(prefix.len() + text.len() + 80);
        out.push_str(&prefix);
        out.push_str(match (kind, first) {
            (Kind::Completion, _) => "{\"index\":0,\"text\":",
            (Kind::Chat, true) => "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":",
            (Kind::Chat, false) => "{\"index\":0,\"delta\":{\"content\":",
        });
        bitnet_engine::chat::pyjson::write_string(&mut out, text);
        out.push_str(match kind {
            Kind::Completion => ",\"logprobs\":null,\"finish_reason\":null}]}",
            Kind::Chat => "},\"finish_reason\":null}]}",
        });
        SseEvent::default().text(out)
    };
    let chunk = move |choices: Vec<Value>, usage: Option<Value>| {
        let mut v = json!({
            "id": id, "object": kind.object(true), "created": created, "model": model,
            "choices": choices,
        });
        if let Some(u) = usage {
            v["usage"] = u;
        }
        SseEvent::default().text(v.to_string())
    };
    // States: streaming text, then the usage chunk (if asked), then [DONE], then the end.
    enum Stage {
        Text,
        Usage(Value),
        Done,
        End,
    }
    let init = (g, Stage::Text, true, set.include_usage, (chunk, text_chunk));
    let events = stream::unfold(
        init,
        move |(mut g, stage, first, with_usage, makers)| async move {
            let (chunk, text_chunk) = &makers;
            let (event, next, first) = match stage {
                Stage::End => return None,
                Stage::Done => (SseEvent::default().text("[DONE]"), Stage::End, first),
                Stage::Usage(u) => (chunk(Vec::new(), Some(u)), Stage::Done, first),
                Stage::Text => match next_nonempty(&mut g).await {
                    Some(Ok(Piece::Text(t))) => (text_chunk(&t, first), Stage::Text, false),
                    Some(Ok(Piece::End { text, finish })) => {
                        let next = if with_usage {
                            Stage::Usage(usage(&g))
                        } else {
                            Stage::Done
                        };
                        let c = kind.choice(&text, Some(finish.as_str()), true, first);
                        (chunk(vec![c], None), next, false)
                    }
                    Some(Err(e)) => (
                        SseEvent::default().text(e.body().to_string()),
                        Stage::Done,
                        first,
                    ),
                    None => (SseEvent::default().text("[DONE]"), Stage::End, first),
                },
            };
            Some((
                Ok::<_, Infallible>(event),
                (g, next, first, with_usage, makers),
            ))
        },
    );
    sse::stream(res, events);
}

/// The next piece that has text or ends the generation (empty pieces, held back for a stop
/// string or an unfinished UTF-8 sequence, are not sent as chunks).
async fn next_nonempty(g: &mut Generation) -> Option<Result<Piece, ApiError>> {
    loop {
        match g.next().await {
            Some(Ok(Piece::Text(t))) if t.is_empty() => continue,
            other => return other,
        }
    }
}

/// Parses, validates and answers a completion or chat request.
async fn generate(st: &AppState, kind: Kind, req: &mut Request, res: &mut Response) {
    let arrived = Instant::now();
    let prepared = async {
        check_key(st, req)?;
        let served = st.served()?;
        let b = body(st, req).await?;
        let common: api::Common = api::parse(&b)?;
        let set = common.settings(&served.name, served.n_ctx)?;
        let prompt = match kind {
            Kind::Completion => {
                completion_prompt(&served, api::parse::<CompletionRequest>(&b)?.prompt)?
            }
            Kind::Chat => chat_prompt(&served, &api::parse::<ChatRequest>(&b)?.messages)?,
        };
        let g = start(st, &served, arrived, prompt, &set)?;
        Ok::<_, ApiError>((served, g, set))
    };
    match prepared.await {
        Ok((served, g, set)) => answer(kind, served, g, set, res).await,
        Err(e) => e.write(res),
    }
}

/// `POST /v1/completions`.
pub struct Completions(Arc<AppState>);

#[handler]
impl Completions {
    async fn handle(&self, req: &mut Request, res: &mut Response) {
        generate(&self.0, Kind::Completion, req, res).await;
    }
}

/// `POST /v1/chat/completions`.
pub struct Chat(Arc<AppState>);

#[handler]
impl Chat {
    async fn handle(&self, req: &mut Request, res: &mut Response) {
        generate(&self.0, Kind::Chat, req, res).await;
    }
}

/// `POST /tokenize` `{"content": "…", "add_special": false}` → `{"tokens": [...]}`.
pub struct Tokenize(Arc<AppState>);

#[handler]
impl Tokenize {
    async fn handle(&self, req: &mut Request, res: &mut Response) {
        #[derive(serde::Deserialize)]
        struct Body {
            content: String,
            #[serde(default)]
            add_special: bool,
        }
        let st = &self.0;
        let r = async {
            check_key(st, req)?;
            let served = st.served()?;
            let b: Body = api::parse(&body(st, req).await?)?;
            let ids = served
                .tokenizer
                .encode(&b.content, b.add_special, false)
                .map_err(|e| ApiError::invalid("content", e.to_string()))?;
            Ok::<_, ApiError>(json!({"tokens": ids}))
        };
        match r.await {
            Ok(v) => res.render(Json(v)),
            Err(e) => e.write(res),
        }
    }
}

/// `POST /detokenize` `{"tokens": [...]}` → `{"content": "…"}`.
pub struct Detokenize(Arc<AppState>);

#[handler]
impl Detokenize {
    async fn handle(&self, req: &mut Request, res: &mut Response) {
        #[derive(serde::Deserialize)]
        struct Body {
            tokens: Vec<u32>,
        }
        let st = &self.0;
        let r = async {
            check_key(st, req)?;
            let served = st.served()?;
            let b: Body = api::parse(&body(st, req).await?)?;
            let text = served
                .tokenizer
                .decode(&b.tokens, false)
                .map_err(|e| ApiError::invalid("tokens", e.to_string()))?;
            Ok::<_, ApiError>(json!({"content": text}))
        };
        match r.await {
            Ok(v) => res.render(Json(v)),
            Err(e) => e.write(res),
        }
    }
}

#[cfg(test)]
mod tests {
    use bitnet_engine::chat::pyjson::write_string as push_json_str;

    #[test]
    fn json_strings_round_trip() {
        for s in [
            "",
            "plain",
            "q\"uote",
            "back\\slash",
            "line\nbreak\r\t",
            "\u{1}\u{1f}\u{7f}",
            "é漢字🙂",
        ] {
            let mut out = String::new();
            push_json_str(&mut out, s);
            let back: String = serde_json::from_str(&out).expect("valid JSON string");
            assert_eq!(back, s, "{out}");
        }
    }
}
