//! Chat formats for models whose GGUF carries no `tokenizer.chat_template`.
//!
//! Each one is written as Jinja so that it renders through the same engine as a file's own
//! template. The formats are those llama.cpp applies under the same names.

/// A chat format built into the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinTemplate {
    /// BitNet b1.58 2B-4T: `System: …<|eot_id|>User: …<|eot_id|>Assistant: …<|eot_id|>`, after
    /// BOS, each content trimmed; the generation prompt is `Assistant: `.
    Bitnet,
    /// LLaMA 3 instruct: `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>` after
    /// BOS, each content trimmed.
    Llama3,
    /// ChatML: `<|im_start|>role\ncontent<|im_end|>\n`.
    ChatMl,
}

impl BuiltinTemplate {
    /// Every built-in format.
    pub const ALL: [BuiltinTemplate; 3] = [Self::Bitnet, Self::Llama3, Self::ChatMl];

    /// The name used on the command line (`--chat-template bitnet`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Bitnet => "bitnet",
            Self::Llama3 => "llama3",
            Self::ChatMl => "chatml",
        }
    }

    /// The format named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// All names, comma-separated (for error messages and help).
    pub fn names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }

    /// Special tokens the vocabulary must have for the format to make sense.
    pub fn required_tokens(self) -> &'static [&'static str] {
        match self {
            Self::Bitnet => &["<|eot_id|>"],
            Self::Llama3 => &["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
            Self::ChatMl => &["<|im_start|>", "<|im_end|>"],
        }
    }

    /// The Jinja source.
    pub fn source(self) -> &'static str {
        match self {
            Self::Bitnet => concat!(
                "{{ bos_token }}",
                "{% for m in messages %}",
                "{% if m['role'] == 'system' %}System: ",
                "{% elif m['role'] == 'user' %}User: ",
                "{% elif m['role'] == 'assistant' %}Assistant: ",
                "{% else %}{{ raise_exception('the BitNet chat format has no role ' ~ m['role']) }}",
                "{% endif %}",
                "{{ m['content'] | trim }}<|eot_id|>",
                "{% endfor %}",
                "{% if add_generation_prompt %}Assistant: {% endif %}",
            ),
            Self::Llama3 => concat!(
                "{{ bos_token }}",
                "{% for m in messages %}",
                "<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n",
                "{{ m['content'] | trim }}<|eot_id|>",
                "{% endfor %}",
                "{% if add_generation_prompt %}",
                "<|start_header_id|>assistant<|end_header_id|>\n\n",
                "{% endif %}",
            ),
            Self::ChatMl => concat!(
                "{% for m in messages %}",
                "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n",
                "{% endfor %}",
                "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
            ),
        }
    }
}
