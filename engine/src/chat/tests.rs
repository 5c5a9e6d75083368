use super::*;
use crate::gguf::GgufValue;
use crate::tokenizer::tests::tiny_gguf;
use std::time::{Duration, UNIX_EPOCH};

fn msgs(pairs: &[(&str, &str)]) -> Vec<ChatMessage> {
    pairs
        .iter()
        .map(|(r, c)| ChatMessage::new(*r, *c))
        .collect()
}

fn conversation() -> Vec<ChatMessage> {
    msgs(&[
        ("system", " Be brief. "),
        ("user", "Hi\n"),
        ("assistant", "Hello!"),
        ("user", "Bye"),
    ])
}

fn gen_prompt() -> RenderOptions {
    RenderOptions {
        add_generation_prompt: true,
        ..RenderOptions::default()
    }
}

fn builtin(b: BuiltinTemplate) -> ChatTemplate {
    ChatTemplate::new(
        b.source(),
        TemplateOrigin::Builtin(b),
        "<|begin_of_text|>",
        "<|end_of_text|>",
    )
    .expect("built-in templates compile")
}

fn inline(source: &str) -> Result<String, ChatTemplateError> {
    ChatTemplate::new(
        source,
        TemplateOrigin::UserFile("inline".into()),
        "<s>",
        "</s>",
    )?
    .render(&conversation(), &gen_prompt())
}

#[test]
fn bitnet_format_is_llama_cpps() {
    let text = builtin(BuiltinTemplate::Bitnet)
        .render(&conversation(), &gen_prompt())
        .expect("renders");
    assert_eq!(
        text,
        "<|begin_of_text|>System: Be brief.<|eot_id|>User: Hi<|eot_id|>\
         Assistant: Hello!<|eot_id|>User: Bye<|eot_id|>Assistant: "
    );
    let err = builtin(BuiltinTemplate::Bitnet)
        .render(&msgs(&[("tool", "{}")]), &gen_prompt())
        .expect_err("BitNet has no tool role");
    assert!(err.to_string().contains("no role tool"), "{err}");
}

#[test]
fn llama3_and_chatml_formats() {
    let text = builtin(BuiltinTemplate::Llama3)
        .render(&conversation()[1..2], &gen_prompt())
        .expect("renders");
    assert_eq!(
        text,
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\
         <|start_header_id|>assistant<|end_header_id|>\n\n"
    );
    let text = builtin(BuiltinTemplate::ChatMl)
        .render(&conversation()[2..], &RenderOptions::default())
        .expect("renders");
    assert_eq!(
        text,
        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
    );
}

#[test]
fn hf_environment_behaviours() {
    // trim_blocks + lstrip_blocks, as transformers configures Jinja.
    assert_eq!(
        inline("{% for m in messages %}\n    {% if loop.first %}\n[{{ m.role }}]\n    {% endif %}\n{% endfor %}")
            .expect("renders"),
        "[system]\n"
    );
    // Python string and dict methods, loop controls, namespace.
    assert_eq!(
        inline(
            "{{ messages[0].content.strip() }}|{{ 'a,b'.split(',') | join('+') }}|\
             {% for k, v in {'x': 1}.items() %}{{ k }}={{ v }}{% endfor %}|\
             {% for m in messages %}{% if loop.index > 2 %}{% break %}{% endif %}{{ m.role[0] }}{% endfor %}|\
             {{ messages[1].content.startswith('Hi') }}"
        )
        .expect("renders"),
        "Be brief.|a+b|x=1|su|True"
    );
    assert_eq!(
        inline("{{ {'b': [1, 2.5], 'a': 'é\"'} | tojson }}").expect("renders"),
        r#"{"b": [1, 2.5], "a": "é\""}"#
    );
    assert_eq!(
        inline("{{ bos_token }}{{ eos_token }}").expect("renders"),
        "<s></s>"
    );
}

#[test]
fn long_conversations_fit_the_instruction_budget() {
    let long: Vec<ChatMessage> = (0..2000)
        .map(|i| ChatMessage::new(["user", "assistant"][i % 2], format!("message {i}")))
        .collect();
    for b in BuiltinTemplate::ALL {
        let text = builtin(b).render(&long, &gen_prompt()).expect("renders");
        assert!(text.contains("message 1999"), "{}", b.name());
    }
}

#[test]
fn transformers_extensions() {
    // `{% generation %}` renders its body; whitespace control on the tags is kept.
    assert_eq!(
        inline("a {%- generation -%} b {%- endgeneration %} c{% generation %}d{% endgeneration %}")
            .expect("renders"),
        "ab cd"
    );
    // none is not iterable (transformers passes tools=None); undefined and strings are.
    assert_eq!(
        inline("{{ tools is iterable }} {{ nothing is iterable }} {{ 'ab' is iterable }}")
            .expect("renders"),
        "False True True"
    );
}

#[test]
fn strftime_now_uses_the_render_time() {
    let t = ChatTemplate::new(
        "{{ strftime_now('%d %b %Y') }}",
        TemplateOrigin::ModelFile,
        "",
        "",
    )
    .expect("compiles");
    let opts = RenderOptions {
        now: Some(UNIX_EPOCH + Duration::from_secs(1_795_737_600)),
        ..RenderOptions::default()
    };
    assert_eq!(t.render(&[], &opts).expect("renders"), "27 Nov 2026");
}

#[test]
fn extra_variables_reach_the_template() {
    let t = ChatTemplate::new(
        "{{ tools | length }} {{ tools[0].name }} {{ date_string }}",
        TemplateOrigin::ModelFile,
        "",
        "",
    )
    .expect("compiles");
    let opts = RenderOptions {
        extra: vec![
            ("tools".into(), serde_json::json!([{"name": "f"}])),
            ("date_string".into(), serde_json::json!("1 Jan 2025")),
        ],
        ..RenderOptions::default()
    };
    assert_eq!(t.render(&[], &opts).expect("renders"), "1 f 1 Jan 2025");
}

#[test]
fn failures_are_errors_that_say_why() {
    let e =
        inline("{{ raise_exception('Conversation roles must alternate') }}").expect_err("raises");
    assert!(matches!(e, ChatTemplateError::Render { .. }), "{e:?}");
    assert!(
        e.to_string().contains("Conversation roles must alternate"),
        "{e}"
    );

    let e = inline("ok\n{% for %}").expect_err("bad syntax");
    assert!(matches!(e, ChatTemplateError::Compile { .. }), "{e:?}");
    assert!(e.to_string().contains("line 2"), "{e}");

    // A hostile template runs out of fuel instead of hanging.
    let start = std::time::Instant::now();
    let e =
        inline("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}")
            .expect_err("runs out of fuel");
    assert!(e.to_string().contains("fuel"), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );

    let e = inline("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").expect_err("recursion");
    assert!(matches!(e, ChatTemplateError::Render { .. }), "{e:?}");
}

#[test]
fn choice_for_a_model() {
    let bitnet_arch = |w: &mut crate::gguf::GgufWriter| {
        w.add_kv(
            "general.architecture",
            GgufValue::String("bitnet-b1.58".into()),
        );
    };
    let file = tiny_gguf(bitnet_arch);
    let tok = Tokenizer::from_gguf(&file).expect("tiny tokenizer");
    let t = ChatTemplate::for_model(&file, &tok, None).expect("falls back");
    assert_eq!(
        t.origin(),
        &TemplateOrigin::Builtin(BuiltinTemplate::Bitnet)
    );
    assert_eq!(t.bos_token(), "<|begin_of_text|>");

    // BOS is written by the template and not added a second time; control tokens are parsed.
    let ids = t
        .encode(&tok, &msgs(&[("user", "hello")]), &gen_prompt())
        .expect("encodes");
    let bos = tok.bos_id().expect("bos");
    let eot = tok.token_to_id("<|eot_id|>").expect("eot");
    assert_eq!(ids[0], bos);
    assert_eq!(ids.iter().filter(|&&i| i == bos).count(), 1, "{ids:?}");
    assert!(ids.contains(&eot), "{ids:?}");

    let t = ChatTemplate::for_model(&file, &tok, Some("llama3")).expect("named");
    assert_eq!(
        t.origin(),
        &TemplateOrigin::Builtin(BuiltinTemplate::Llama3)
    );
    let e = ChatTemplate::for_model(&file, &tok, Some("vicuna")).expect_err("unknown");
    assert!(e.to_string().contains("bitnet, llama3, chatml"), "{e}");
    let e = ChatTemplate::for_model(&file, &tok, Some("missing/chat.jinja")).expect_err("absent");
    assert!(matches!(e, ChatTemplateError::Read { .. }), "{e:?}");
    assert!(e.to_string().contains("missing/chat.jinja"), "{e}");

    // The file's own template wins over the fallback.
    let file = tiny_gguf(|w| {
        bitnet_arch(w);
        w.add_kv(
            "tokenizer.chat_template",
            GgufValue::String("{{ messages[0].content }}!".into()),
        );
    });
    let tok = Tokenizer::from_gguf(&file).expect("tiny tokenizer");
    let t = ChatTemplate::for_model(&file, &tok, None).expect("file template");
    assert_eq!(t.origin(), &TemplateOrigin::ModelFile);
    assert_eq!(
        t.render(&msgs(&[("user", "hey")]), &gen_prompt())
            .expect("renders"),
        "hey!"
    );

    // Not a bitnet architecture, no LLaMA 3 or ChatML tokens: nothing fits.
    let file = tiny_gguf(|_| {});
    let tok = Tokenizer::from_gguf(&file).expect("tiny tokenizer");
    let e = ChatTemplate::for_model(&file, &tok, None).expect_err("no template");
    assert!(matches!(e, ChatTemplateError::NoTemplate { .. }), "{e:?}");
}
