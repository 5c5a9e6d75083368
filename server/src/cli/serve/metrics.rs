//! `/metrics`: the OpenTelemetry SDK's instruments exported as Prometheus text, in vLLM's
//! naming under `bitnet_` (serving.md), every series labelled `model_name`, latencies in
//! seconds with buckets in seconds.
//!
//! Request-level instruments are recorded as requests progress; the gauges (running and
//! waiting requests, KV cache use, process CPU and memory) are sampled when Prometheus
//! scrapes, so an idle server does no metrics work.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, MeterProvider};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder, TextEncoder};
use std::sync::Mutex;
use std::time::Duration;

/// Latency buckets, in seconds: from a fast decode step to a long generation.
const LATENCY_BUCKETS: [f64; 17] = [
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// Every instrument, and the exporter's registry.
pub struct Metrics {
    /// `--metrics off` turns recording off (and `/metrics` answers 404).
    enabled: bool,
    registry: prometheus::Registry,
    /// Kept alive: dropping it stops collection.
    _provider: SdkMeterProvider,
    ttft: Histogram<f64>,
    itl: Histogram<f64>,
    e2e: Histogram<f64>,
    queue: Histogram<f64>,
    prompt_tokens: Counter<u64>,
    generation_tokens: Counter<u64>,
    success: Counter<u64>,
    failure: Counter<u64>,
    running: Gauge<u64>,
    waiting: Gauge<u64>,
    kv_usage: Gauge<f64>,
    load_seconds: Gauge<f64>,
    rss: Gauge<u64>,
    cpu: Gauge<f64>,
    system: Mutex<sysinfo::System>,
}

/// What the scrape samples besides the process.
pub struct Snapshot<'a> {
    /// The served model's name (the label).
    pub model: &'a str,
    /// Requests being generated.
    pub running: usize,
    /// Requests queued.
    pub waiting: usize,
    /// KV cache positions in use over positions available to the running slots.
    pub kv_usage: f64,
    /// How long the model took to load.
    pub load_seconds: f64,
}

impl Metrics {
    /// Creates the instruments and the Prometheus exporter; with `enabled` false nothing is
    /// recorded.
    pub fn new(enabled: bool) -> Result<Self, String> {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_target_info()
            .scope_info_enabled(false)
            .build()
            .map_err(|e| format!("cannot build the Prometheus exporter: {e}"))?;
        let provider = SdkMeterProvider::builder().with_reader(exporter).build();
        let m = provider.meter("bitnet-server");
        let seconds = |name: &'static str, help: &'static str| {
            m.f64_histogram(name)
                .with_unit("s")
                .with_description(help)
                .with_boundaries(LATENCY_BUCKETS.to_vec())
                .build()
        };
        let count = |name: &'static str, help: &'static str| {
            m.u64_counter(name).with_description(help).build()
        };
        Ok(Metrics {
            enabled,
            ttft: seconds(
                "bitnet_time_to_first_token",
                "Time from the request's arrival to its first generated token.",
            ),
            itl: seconds(
                "bitnet_inter_token_latency",
                "Time between consecutive generated tokens of a request.",
            ),
            e2e: seconds(
                "bitnet_e2e_request_latency",
                "Time from the request's arrival to its last token.",
            ),
            queue: seconds(
                "bitnet_request_queue_time",
                "Time a request waited for a generation slot.",
            ),
            prompt_tokens: count("bitnet_prompt_tokens", "Prompt tokens evaluated."),
            generation_tokens: count("bitnet_generation_tokens", "Tokens generated."),
            success: count(
                "bitnet_request_success",
                "Requests answered, by finish reason (stop, length, abort).",
            ),
            failure: count("bitnet_request_failure", "Requests the engine failed."),
            running: m
                .u64_gauge("bitnet_requests_running")
                .with_description("Requests being generated.")
                .build(),
            waiting: m
                .u64_gauge("bitnet_requests_waiting")
                .with_description("Requests waiting for a slot.")
                .build(),
            kv_usage: m
                .f64_gauge("bitnet_kv_cache_usage_ratio")
                .with_description("KV cache positions in use over those the running requests hold.")
                .build(),
            load_seconds: m
                .f64_gauge("bitnet_model_load")
                .with_unit("s")
                .with_description("How long the served model took to load.")
                .build(),
            rss: m
                .u64_gauge("bitnet_process_resident_memory")
                .with_unit("By")
                .with_description("Resident memory of the server process.")
                .build(),
            cpu: m
                .f64_gauge("bitnet_process_cpu_usage_ratio")
                .with_description(
                    "CPU use of the server process since the last scrape (1 = one core).",
                )
                .build(),
            system: Mutex::new(
                sysinfo::System::new()
                    .map_err(|e| format!("cannot read process statistics: {e}"))?,
            ),
            registry,
            _provider: provider,
        })
    }

    /// The `model_name` label of `model`: built once per request, not per token.
    pub fn label(model: &str) -> [KeyValue; 1] {
        [KeyValue::new("model_name", model.to_string())]
    }

    /// The first token of a request arrived `since` after the request did.
    pub fn first_token(&self, label: &[KeyValue], since: Duration) {
        if !self.enabled {
            return;
        }
        self.ttft.record(since.as_secs_f64(), label);
    }

    /// A later token arrived `gap` after the previous one.
    pub fn next_token(&self, label: &[KeyValue], gap: Duration) {
        if !self.enabled {
            return;
        }
        self.itl.record(gap.as_secs_f64(), label);
    }

    /// A request left the queue after `waited`.
    pub fn queued(&self, label: &[KeyValue], waited: Duration) {
        if !self.enabled {
            return;
        }
        self.queue.record(waited.as_secs_f64(), label);
    }

    /// A request ended normally (`reason`: stop, length or abort).
    pub fn finished(
        &self,
        label: &[KeyValue],
        reason: &'static str,
        total: Duration,
        prompt: usize,
        generated: usize,
    ) {
        if !self.enabled {
            return;
        }
        self.e2e.record(total.as_secs_f64(), label);
        self.prompt_tokens.add(prompt as u64, label);
        self.generation_tokens.add(generated as u64, label);
        let mut l2 = label.to_vec();
        l2.push(KeyValue::new("finished_reason", reason));
        self.success.add(1, &l2);
    }

    /// The engine failed a request.
    pub fn failed(&self, label: &[KeyValue]) {
        if !self.enabled {
            return;
        }
        self.failure.add(1, label);
    }

    /// The process's resident memory in bytes (for the readiness thresholds).
    pub fn process_rss(&self) -> Option<u64> {
        let pid = sysinfo::get_current_pid().ok()?;
        let mut sys = self.system.lock().unwrap_or_else(|e| e.into_inner());
        sys.refresh_processes_specifics(
            sysinfo::ProcessesToUpdate::Some(&[pid]),
            true,
            sysinfo::ProcessRefreshKind::nothing().with_memory(),
        );
        sys.process(pid).map(|p| p.memory())
    }

    /// Whether metrics are recorded.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Samples the gauges and renders everything as Prometheus text.
    pub fn render(&self, snap: Option<Snapshot<'_>>) -> String {
        if let Some(s) = snap {
            let l = Self::label(s.model);
            self.running.record(s.running as u64, &l);
            self.waiting.record(s.waiting as u64, &l);
            self.kv_usage.record(s.kv_usage, &l);
            self.load_seconds.record(s.load_seconds, &l);
        }
        if let Ok(pid) = sysinfo::get_current_pid() {
            let mut sys = self.system.lock().unwrap_or_else(|e| e.into_inner());
            sys.refresh_processes_specifics(
                sysinfo::ProcessesToUpdate::Some(&[pid]),
                true,
                sysinfo::ProcessRefreshKind::nothing()
                    .with_memory()
                    .with_cpu(),
            );
            if let Some(p) = sys.process(pid) {
                self.rss.record(p.memory(), &[]);
                self.cpu.record(f64::from(p.cpu_usage()) / 100.0, &[]);
            }
        }
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail on I/O; a metric the encoder rejects is skipped.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}
