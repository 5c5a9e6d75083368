//! Chat templates rendered with minijinja against HF transformers' renders of the same
//! templates (llama.cpp's collection of 70 real ones) and conversations:
//! tests/fixtures/chat/hf_renders.jsonl, made by scripts/chat/make_template_fixtures.py.

use bitnet_engine::chat::{ChatMessage, ChatTemplate, RenderOptions, TemplateOrigin};
use bitnet_tests::{repo_path, test_data};
use std::time::{Duration, UNIX_EPOCH};

/// The generator's render time and special-token texts.
const NOW_UNIX: u64 = 1_795_737_600;
const BOS: &str = "<|begin_of_text|>";
const EOS: &str = "<|end_of_text|>";

/// Templates whose renders we knowingly do not reproduce, with the reason. Every other
/// (template, conversation) pair must match transformers exactly, errors included.
/// These three are tool-use variants that loop over `tools` without checking it: given no
/// tools, transformers passes `tools=None` and Jinja raises "'NoneType' object is not
/// iterable", while minijinja iterates none as an empty sequence and renders the prompt with
/// an empty tool list.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "CohereForAI-c4ai-command-r-plus-tool_use.jinja",
        NONE_ITERATION,
    ),
    (
        "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja",
        NONE_ITERATION,
    ),
    (
        "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja",
        NONE_ITERATION,
    ),
];
const NONE_ITERATION: &str = "iterates tools=None: transformers raises, minijinja renders";

#[test]
fn real_templates_render_as_transformers_does() {
    let fixture = std::fs::read_to_string(repo_path("tests/fixtures/chat/hf_renders.jsonl"))
        .expect("fixture is committed");
    let opts_at = |add_gen: bool| RenderOptions {
        add_generation_prompt: add_gen,
        now: Some(UNIX_EPOCH + Duration::from_secs(NOW_UNIX)),
        extra: Vec::new(),
    };
    let (mut same, mut rows) = (0, 0);
    let mut mismatches = Vec::new();
    for line in fixture.lines() {
        let row: serde_json::Value = serde_json::from_str(line).expect("fixture line is JSON");
        let name = row["template"].as_str().expect("template name");
        let Some(path) = test_data::file(&format!("chat/templates/{name}")) else {
            return;
        };
        rows += 1;
        let source = std::fs::read_to_string(&path).expect("template is UTF-8");
        assert_eq!(
            fnv1a64(source.as_bytes()),
            row["template_fnv1a64"].as_str().expect("hash"),
            "{name} differs from the one the fixture was made from: regenerate the fixture"
        );
        let messages: Vec<ChatMessage> =
            serde_json::from_value(row["messages"].clone()).expect("messages");
        let add_gen = row["add_generation_prompt"].as_bool().expect("flag");
        let ours = ChatTemplate::new(&source, TemplateOrigin::UserFile(name.into()), BOS, EOS)
            .and_then(|t| t.render(&messages, &opts_at(add_gen)));
        let case = row["case"].as_str().expect("case");
        let agrees = match (&ours, row.get("output").and_then(|o| o.as_str())) {
            (Ok(text), Some(want)) => text == want,
            (Err(_), None) => true,
            _ => false,
        };
        if agrees {
            same += 1;
        } else if !KNOWN_DIFFERENCES.iter().any(|(t, _)| *t == name) {
            mismatches.push(format!(
                "{name} / {case}:\n  ours: {:?}\n  HF:   {}",
                ours.map_err(|e| e.to_string()),
                row.get("output")
                    .or_else(|| row.get("error"))
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            ));
        }
    }
    let known = rows - same - mismatches.len();
    println!(
        "chat templates: {same}/{rows} renders identical to transformers ({known} known \
         differences in {} templates)",
        KNOWN_DIFFERENCES.len()
    );
    assert!(rows > 0, "the fixture is empty");
    assert!(
        mismatches.is_empty(),
        "{} renders differ from transformers:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// FNV-1a, 64 bit, as the generator computes it.
fn fnv1a64(data: &[u8]) -> String {
    let h = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{h:016x}")
}
