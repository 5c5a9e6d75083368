//! End-to-end: the `bitnet` binary on the bundled synthetic model.

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

fn bitnet(args: &[&str]) -> Output {
    session_env(&mut Command::new(env!("CARGO_BIN_EXE_bitnet")))
        .args(args)
        .current_dir(repo(""))
        .output()
        .expect("run bitnet")
}

/// The scratch cache, and a runtime directory as a login session has one: without it, Mesa's
/// Vulkan device-select layer (loaded when `--device auto` lists the wgpu adapters) writes
/// "error: XDG_RUNTIME_DIR is invalid" to stderr, which the one-line error checks would read.
fn session_env(c: &mut Command) -> &mut Command {
    c.env("XDG_CACHE_HOME", scratch_cache())
        .env("XDG_RUNTIME_DIR", scratch_cache())
}

/// A cache directory of this test process's own, so kernel timings never land in (or come
/// from) the user's cache.
fn scratch_cache() -> PathBuf {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"))
        .path()
        .to_path_buf()
}

/// Runs `bitnet` with kernel timings cached in `cache` alone: a test that checks when timing
/// happens must not share the cache with tests running beside it.
fn bitnet_cached(args: &[&str], cache: &std::path::Path) -> Output {
    session_env(&mut Command::new(env!("CARGO_BIN_EXE_bitnet")))
        .env("XDG_CACHE_HOME", cache)
        .args(args)
        .current_dir(repo(""))
        .output()
        .expect("run bitnet")
}

/// Runs `bitnet` with `input` written to its stdin.
fn bitnet_with_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = session_env(&mut Command::new(env!("CARGO_BIN_EXE_bitnet")))
        .args(args)
        .current_dir(repo(""))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn bitnet");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("bitnet exits")
}

const MODEL: &str = "models/bitnet-tiny-synthetic.gguf";

#[test]
fn run_streams_text_and_reports_speed() {
    let out = bitnet(&[
        "run",
        "-m",
        MODEL,
        "-p",
        "Once upon a time",
        "-n",
        "12",
        "--seed",
        "3",
        "--threads",
        "2",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!out.stdout.is_empty());
    assert!(err.contains("tok/s") && err.contains("peak RSS"), "{err}");
}

#[test]
fn same_seed_same_text_and_greedy_is_deterministic() {
    let args = [
        "run", "-m", MODEL, "-p", "The", "-n", "16", "--seed", "11", "--temp", "1.0",
    ];
    let a = bitnet(&args);
    let b = bitnet(&args);
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
    let g1 = bitnet(&[
        "run", "-m", MODEL, "-p", "The", "-n", "8", "--temp", "0", "--seed", "1",
    ]);
    let g2 = bitnet(&[
        "run", "-m", MODEL, "-p", "The", "-n", "8", "--temp", "0", "--seed", "2",
    ]);
    assert_eq!(g1.stdout, g2.stdout, "greedy ignores the seed");
}

#[test]
fn logits_out_has_one_row_per_evaluated_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("l.json");
    let p = path.to_str().expect("utf8 path");
    let out = bitnet(&[
        "run",
        "-m",
        MODEL,
        "--prompt-ids",
        "504,10,20,30",
        "-n",
        "0",
        "--logits-out",
        p,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    assert_eq!(v["prompt_ids"], serde_json::json!([504, 10, 20, 30]));
    let rows = v["logits"].as_array().expect("logits");
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.as_array().map(Vec::len) == Some(512)));

    let out = bitnet(&[
        "run",
        "-m",
        MODEL,
        "--prompt-ids",
        "504,10",
        "-n",
        "3",
        "--temp",
        "0",
        "--logits-out",
        p,
    ]);
    assert!(out.status.success());
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    let generated = v["generated_ids"].as_array().expect("generated").len();
    assert_eq!(v["logits"].as_array().expect("logits").len(), 2 + generated);
}

#[test]
fn inspect_prints_metadata_and_tensors() {
    let out = bitnet(&["inspect", MODEL]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        s.contains("general.architecture") && s.contains("bitnet-b1.58"),
        "{s}"
    );
    assert!(
        s.contains("blk.0.attn_q.weight") && s.contains("I2_S"),
        "{s}"
    );
    assert!(s.contains("synthetic"), "{s}");
}

#[test]
fn bad_inputs_give_one_line_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.gguf");
    std::fs::write(&junk, b"GGML not a model").expect("write");
    for args in [
        vec!["inspect", junk.to_str().expect("p")],
        vec!["run", "-m", junk.to_str().expect("p"), "-p", "x"],
        vec!["run", "-m", "does-not-exist.gguf", "-p", "x"],
        vec!["run", "-m", MODEL, "--prompt-ids", "1,2,999999", "-n", "0"],
        vec!["run", "-m", MODEL, "-p", "x", "-n", "100000"],
    ] {
        let out = bitnet(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.trim_end().lines().count() == 1,
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn synth_writes_a_loadable_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.gguf");
    let p = path.to_str().expect("utf8");
    let out = bitnet(&[
        "synth", "--shape", "tiny", "--type", "tq1_0", "--arch", "bitnet", "-o", p,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bitnet(&["run", "-m", p, "-p", "hi", "-n", "4"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bitnet(&["synth", "--shape", "huge", "-o", p]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown shape 'huge'"));
}

#[test]
fn tokenize_prints_ids_and_pieces_and_bulk_json_lines() {
    let out = bitnet(&["tokenize", "-m", MODEL, "--ids-only", "Hello world"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(',')
        .map(|s| s.parse().expect("numeric id"))
        .collect();
    assert!(!ids.is_empty());

    let out = bitnet(&["tokenize", "-m", MODEL, "Hello world"]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listing.lines().count(), ids.len(), "{listing}");
    assert!(listing.contains(&format!("{} -> ", ids[0])), "{listing}");

    // Bulk: one {"ids"} line per {"text"} line, BOS only with --add-special.
    let jsonl = |extra: &[&str], input: &str| {
        let args: Vec<&str> = ["tokenize", "-m", MODEL, "--jsonl"]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        bitnet_with_stdin(&args, input)
    };
    let out = jsonl(&[], "{\"text\": \"Hello world\"}\n{\"text\": \"\"}\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["ids"], serde_json::json!(ids));
    assert_eq!(lines[1]["ids"], serde_json::json!([]));
    let out = jsonl(&["--add-special"], "{\"text\": \"Hello world\"}\n");
    let with_bos: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).expect("JSON line");
    assert_eq!(
        with_bos["ids"].as_array().map(Vec::len),
        Some(ids.len() + 1)
    );

    let out = jsonl(&[], "{\"text\": 3}\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("stdin line 1: expected an object with a string \"text\""),
        "{err}"
    );
}

/// Runs `bitnet chat` with `input` on stdin.
fn chat(args: &[&str], input: &str) -> Output {
    let args: Vec<&str> = std::iter::once("chat")
        .chain(args.iter().copied())
        .collect();
    bitnet_with_stdin(&args, input)
}

#[test]
fn chat_answers_each_turn_and_reuses_the_cache() {
    let args = ["-m", MODEL, "-n", "4", "--temp", "0", "-t", "2"];
    let out = chat(
        &args,
        "Hello\nHow are\\\nyou?\n/reset\nAgain\n/exit\nnot read\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let turns: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("prompt tokens"))
        .collect();
    assert_eq!(turns.len(), 3, "one status line per turn: {err}");
    let reused = |line: &str| -> usize {
        let (_, rest) = line.split_once('(').expect("reuse count");
        rest.split_whitespace()
            .next()
            .expect("n")
            .parse()
            .expect("number")
    };
    assert_eq!(reused(turns[0]), 0, "{err}");
    assert!(
        reused(turns[1]) > 5,
        "the second turn reuses the first: {err}"
    );
    assert_eq!(reused(turns[2]), 0, "/reset clears the cache: {err}");
    assert!(err.contains("[conversation cleared]"), "{err}");
    // One reply line per turn; greedy, so the first and the post-reset turn ("Hello" and
    // "Again" are different prompts) are at least deterministic across runs.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 3, "{stdout:?}");
    let again = chat(&args, "Hello\n");
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).lines().next(),
        stdout.lines().next()
    );

    // The template's rendered prompt, on request: the tiny model's own LLaMA 3-style template.
    let out = chat(&[&args[..], &["--verbose-prompt"]].concat(), "Hi\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"),
        "{err}"
    );
    // A built-in format on request.
    let out = chat(
        &[
            &args[..],
            &["--verbose-prompt", "--chat-template", "bitnet"],
        ]
        .concat(),
        "Hi\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("User: Hi<|eot_id|>Assistant: "), "{err}");
}

#[test]
fn chat_reports_bad_turns_and_bad_options() {
    // A context too small for the turn: reported, the turn dropped, the chat goes on.
    let out = chat(
        &["-m", MODEL, "-n", "2", "-c", "8", "--temp", "0"],
        "a long first message here\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("the context holds 8"), "{err}");

    let out = chat(&["-m", MODEL, "--chat-template", "vicuna"], "Hi\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("unknown chat template 'vicuna'"), "{err}");
}

#[test]
fn quantize_converts_between_ternary_types_and_the_model_still_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tl2 = dir.path().join("tl2.gguf");
    let t = tl2.to_str().expect("utf8");
    let out = bitnet(&["quantize", MODEL, t, "--type", "tl2", "--embd-type", "q8_0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("14 ternary tensors converted"), "{err}");
    let listing = String::from_utf8_lossy(&bitnet(&["inspect", t]).stdout).to_string();
    assert!(
        listing.contains("TL2") && listing.contains("Q8_0"),
        "{listing}"
    );
    assert!(listing.contains("bitnet_rs.tl_config.bk"), "{listing}");
    let out = bitnet(&["run", "-m", t, "-p", "Hello", "-n", "3", "--temp", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Refusals leave nothing behind and name the problem.
    let bad = dir.path().join("bad.gguf");
    let b = bad.to_str().expect("utf8");
    for (args, want) in [
        (vec!["quantize", MODEL, b, "--type", "q4_0"], "ternary type"),
        (
            vec!["quantize", MODEL, b, "--type", "nope"],
            "unknown tensor type",
        ),
        (
            vec![
                "quantize",
                MODEL,
                b,
                "--type",
                "tl1",
                "--tl-config",
                "missing.ini",
            ],
            "missing.ini",
        ),
    ] {
        let out = bitnet(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!bad.exists(), "{args:?}");
    }
}

#[test]
fn convert_turns_a_hf_checkpoint_into_a_runnable_model() {
    use bitnet_tests::hf_checkpoint::{HfCheckpoint, Kind};
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("bitnet-b1.58-2B-4T-mini");
    HfCheckpoint::build(Kind::Packed, 3).write(&src);
    let out_path = dir.path().join("mini.gguf");
    let (s, o) = (
        src.to_str().expect("utf8"),
        out_path.to_str().expect("utf8"),
    );
    let out = bitnet(&["convert", s, o, "--type", "tl1", "--embd-type", "q6_k"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("bitnet-b1.58") && err.contains("unpacked from the packed checkpoint"),
        "{err}"
    );
    let listing = String::from_utf8_lossy(&bitnet(&["inspect", o]).stdout).to_string();
    assert!(
        listing.contains("Q6_K") && listing.contains("TL1"),
        "{listing}"
    );
    let out = bitnet(&["run", "-m", o, "-p", "Hello", "-n", "2", "--temp", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A directory without a checkpoint: one line naming what is missing, no output file.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let target = dir.path().join("none.gguf");
    let out = bitnet(&[
        "convert",
        empty.to_str().expect("utf8"),
        target.to_str().expect("utf8"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("config.json"), "{err}");
    assert!(!target.exists());
}

#[test]
fn bench_prints_a_table_of_pp_and_tg_rates() {
    let out = bitnet(&[
        "bench", "-m", MODEL, "-p", "8", "-n", "4", "-r", "2", "-t", "2",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" | pp8 | ") || l.contains(" | tg4 | "))
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    for row in rows {
        // "| mean ± sd |" with a positive mean.
        let rate = row.rsplit('|').nth(1).expect("rate cell").trim();
        let mean: f64 = rate
            .split(" ± ")
            .next()
            .expect("mean")
            .parse()
            .expect("number");
        assert!(mean > 0.0, "{row}");
    }
    // CPU feature detection time is reported (measured cold, the first query in the
    // process); speed itself is not asserted in tests.
    let detect = text
        .lines()
        .find_map(|l| l.split("features detected in ").nth(1))
        .and_then(|rest| rest.split(" µs").next())
        .and_then(|us| us.parse::<f64>().ok())
        .expect("detection time line");
    assert!(
        detect.is_finite() && text.starts_with("CPU kernels: "),
        "{text}"
    );
    // The kernel of each matrix shape, and how close decode came to the memory's pace.
    assert!(text.lines().any(|l| l.starts_with("kernel ")), "{text}");
    let roofline = text
        .lines()
        .find(|l| l.starts_with("roofline: "))
        .expect("roofline line");
    assert!(
        roofline.contains("MB of weights per token") && roofline.contains("GB/s"),
        "{roofline}"
    );
    let out = bitnet(&["bench", "-m", MODEL, "-p", "0", "-n", "0"]);
    assert_eq!(out.status.code(), Some(1));
    let out = bitnet(&[
        "bench",
        "-m",
        MODEL,
        "--backend",
        "reference",
        "--lm-head",
        "q8_0",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--lm-head and --kernel apply to --backend cpu")
    );
}

#[test]
fn devices_lists_the_cpu_and_each_shapes_kernel() {
    let out = bitnet(&["devices"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "cpu: ",
        "features: ",
        "detected in ",
        "score: 100 (CPU backend",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
    // The tiny model's ternary shapes get a kernel each: timed at the first load on this
    // machine (in this test's own cache directory), read from the cache afterwards.
    let own = tempfile::tempdir().expect("tempdir");
    let cache = own.path().join("bitnet-rs").join("cpu-kernels.json");
    let first = bitnet_cached(&["devices", "-m", MODEL, "-t", "2"], own.path());
    let first = String::from_utf8_lossy(&first.stdout).into_owned();
    let kernels = |t: &str| {
        t.lines()
            .filter(|l| l.trim_start().starts_with("kernel "))
            .count()
    };
    assert_eq!(kernels(&first), 4, "{first}");
    assert!(first.contains("(timed now; i2s "), "{first}");
    assert!(cache.is_file(), "no cache written");
    let second = bitnet_cached(&["devices", "-m", MODEL, "-t", "2"], own.path());
    let second = String::from_utf8_lossy(&second.stdout).into_owned();
    assert_eq!(kernels(&second), 4, "{second}");
    assert!(
        !second.contains("timed now") && second.contains("(cached timing"),
        "{second}"
    );
    let forced = bitnet(&["devices", "-m", MODEL, "--kernel", "lut3"]);
    let forced = String::from_utf8_lossy(&forced.stdout).into_owned();
    assert_eq!(
        forced.matches("lut3 (forced by --kernel)").count(),
        4,
        "{forced}"
    );
    let bad = bitnet(&["devices", "-m", MODEL, "--kernel", "fast"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("unknown kernel 'fast'") && err.contains("i2s-masked"),
        "{err}"
    );
}

#[test]
fn devices_lists_every_device_with_its_score_and_the_choice_for_a_model() {
    let out = bitnet(&["devices"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("cpu: "), "{text}");
    // Each wgpu adapter gets a section, or the wgpu line says there is none (or no wgpu).
    let wgpu = text
        .lines()
        .find_map(|l| l.strip_prefix("wgpu: "))
        .expect("wgpu line");
    let sections = text
        .lines()
        .filter(|l| l.starts_with("wgpu:") && !l.starts_with("wgpu: "))
        .count();
    match sections {
        0 if cfg!(feature = "wgpu") => assert!(wgpu.starts_with("no adapter found"), "{text}"),
        0 => assert!(wgpu.starts_with("not built"), "{text}"),
        1 => assert_eq!(wgpu, "1 adapter", "{text}"),
        n => assert_eq!(wgpu, format!("{n} adapters"), "{text}"),
    }
    // The CUDA line, likewise: a section per device, or why there is none.
    let cuda = text
        .lines()
        .find_map(|l| l.strip_prefix("cuda: "))
        .expect("cuda line");
    let cuda_sections = text
        .lines()
        .filter(|l| l.starts_with("cuda:") && !l.starts_with("cuda: "))
        .count();
    match cuda_sections {
        0 if cfg!(feature = "cuda") => assert!(
            !cuda.starts_with("not built") && !cuda.ends_with(" devices"),
            "{text}"
        ),
        0 => assert!(cuda.starts_with("not built"), "{text}"),
        1 => assert_eq!(cuda, "1 device", "{text}"),
        n => assert_eq!(cuda, format!("{n} devices"), "{text}"),
    }
    #[cfg(feature = "cuda")]
    if let Err(e) = bitnet_engine::backend::cuda::libs::driver() {
        assert_eq!(cuda, e.to_string(), "{text}");
    }
    // Discovery of the CPU and the GPU APIs is timed.
    let ms = text
        .lines()
        .find_map(|l| l.strip_prefix("discovery took "))
        .and_then(|rest| rest.split(" ms").next())
        .and_then(|v| v.parse::<f64>().ok())
        .expect("discovery time line");
    assert!(ms.is_finite() && ms >= 0.0, "{text}");

    let out = bitnet(&["devices", "-m", MODEL, "-t", "2", "-c", "64"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!(
            "model {MODEL} (64 tokens of context, 1 sequence):"
        )),
        "{text}"
    );
    assert!(text.contains("\n  cpu: can run it, score 100\n"), "{text}");
    // No GPU in a test machine is assumed, but an emulated one (lavapipe) never wins auto,
    // and a real one would.
    let pick = text
        .lines()
        .find_map(|l| l.strip_prefix("  --device auto → "))
        .expect("auto's pick");
    assert!(
        pick.starts_with("cpu (") || pick.starts_with("wgpu:"),
        "{pick}"
    );
    let cpu_only = bitnet(&["devices", "-m", MODEL, "--lm-head", "q6_k"]);
    let text = String::from_utf8_lossy(&cpu_only.stdout);
    assert!(
        text.contains("--device auto → cpu: --lm-head q6_k applies to the CPU only"),
        "{text}"
    );
}

/// What `--device cuda` answers on a machine where the CUDA backend cannot start (no driver,
/// or no device), or `None` where it can.
#[cfg(feature = "cuda")]
fn cuda_unavailable() -> Option<String> {
    match bitnet_engine::backend::cuda::devices() {
        Err(e) => Some(format!("cuda: {e}")),
        Ok(d) if d.is_empty() => Some("the CUDA driver reports no device".into()),
        Ok(_) => None,
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda_unavailable() -> Option<String> {
    None
}

#[test]
fn bad_device_values_are_refused_with_a_clear_error() {
    for (value, want) in [
        ("wgpu:x", "'x' is not a device index"),
        ("tpu", "unknown device 'tpu'"),
        ("cpu:0", "cpu takes no index"),
    ] {
        let out = bitnet(&["run", "-m", MODEL, "-p", "Hi", "--device", value]);
        assert_eq!(out.status.code(), Some(2), "{value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("bad device '{value}'")) && err.contains(want),
            "{value}: {err}"
        );
    }
    // Well-formed, but not usable here or not together. Without a CUDA driver (or without
    // the cuda feature) `--device cuda` says why.
    let cuda_missing = if cfg!(feature = "cuda") {
        cuda_unavailable()
    } else {
        Some("cuda: this binary was built without the cuda feature".to_string())
    };
    let mut cases = vec![
        (
            &["--device", "wgpu", "--backend", "reference"][..],
            "--backend reference (the scalar oracle) runs on the CPU only; it cannot be used \
             with --device wgpu"
                .to_string(),
        ),
        (
            &["--device", "wgpu:0", "--lm-head", "q6_k"][..],
            "--lm-head q6_k runs on the CPU only".to_string(),
        ),
        (&["--device", "wgpu:99"][..], "wgpu:99".to_string()),
    ];
    if let Some(why) = cuda_missing {
        cases.push((&["--device", "cuda"][..], why));
    }
    for (args, want) in cases {
        for base in [
            &["run", "-m", MODEL, "-p", "Hi", "-n", "1"][..],
            &["bench", "-m", MODEL, "-p", "1", "-n", "1", "-r", "1"][..],
            &["chat", "-m", MODEL][..],
        ] {
            let full = [base, args].concat();
            let out = bitnet_with_stdin(&full, "");
            assert_eq!(out.status.code(), Some(1), "{full:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err.lines().last().unwrap_or_default();
            assert!(
                last.starts_with("error: ") && last.contains(&want),
                "{full:?}: {err}"
            );
        }
    }
    let out = bitnet(&[
        "serve", "--port", "0", "--device", "wgpu", "--kernel", "i2s",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--kernel runs on the CPU only"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// With no wgpu adapter (here: wgpu told to use Metal, which Linux lacks), asking for one
/// is a one-line error that says why and what to install, and `devices` says so too.
#[cfg(all(target_os = "linux", feature = "wgpu"))]
#[test]
fn no_wgpu_adapter_is_a_clear_error() {
    let run = |args: &[&str]| {
        session_env(&mut Command::new(env!("CARGO_BIN_EXE_bitnet")))
            .env("WGPU_BACKEND", "metal")
            .args(args)
            .current_dir(repo(""))
            .output()
            .expect("run bitnet")
    };
    let out = run(&[
        "run", "-m", MODEL, "-p", "Hi", "-n", "1", "--device", "wgpu",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.trim_end().lines().count() == 1
            && err.contains("no wgpu adapter found")
            && err.contains("mesa-vulkan-drivers"),
        "{err}"
    );
    let devices = run(&["devices"]);
    assert!(devices.status.success());
    let text = String::from_utf8_lossy(&devices.stdout);
    assert!(text.contains("wgpu: no adapter found"), "{text}");
    assert!(text.contains("cpu: "), "{text}");
}

#[test]
fn perplexity_scores_a_text_file_and_names_bad_input() {
    let text = repo("README.md");
    let out = bitnet(&[
        "perplexity",
        "-m",
        MODEL,
        "-f",
        text.to_str().expect("utf-8 path"),
        "-c",
        "64",
        "--device",
        "cpu",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value: f64 = stdout
        .strip_prefix("perplexity: ")
        .and_then(|s| s.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no perplexity in {stdout}"));
    assert!(value.is_finite() && value > 1.0, "{stdout}");
    assert!(stdout.contains("windows of 64 tokens"), "{stdout}");
    let missing = bitnet(&["perplexity", "-m", MODEL, "-f", "no/such/file.txt"]);
    assert_eq!(missing.status.code(), Some(1));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("cannot read no/such/file.txt"), "{err}");
    let one = bitnet(&["perplexity", "-m", MODEL, "-f", "README.md", "-c", "1"]);
    assert!(String::from_utf8_lossy(&one.stderr).contains("at least 2 tokens"));
}
