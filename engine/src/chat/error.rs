//! What can go wrong choosing, compiling or rendering a chat template.

/// What went wrong with a [`ChatTemplate`](super::ChatTemplate).
#[derive(Debug, thiserror::Error)]
pub enum ChatTemplateError {
    /// The model file has no `tokenizer.chat_template` and none of the built-in formats fits
    /// its vocabulary.
    #[error(
        "the model has no chat template (no 'tokenizer.chat_template' key) and its vocabulary \
         fits no built-in format; pass one of {known} or a .jinja file"
    )]
    NoTemplate {
        /// The built-in template names, comma-separated.
        known: String,
    },
    /// A built-in template was asked for by a name that does not exist.
    #[error("unknown chat template '{name}' (built-in: {known}; or give a .jinja file)")]
    UnknownName {
        /// The name asked for.
        name: String,
        /// The built-in template names, comma-separated.
        known: String,
    },
    /// A template file could not be read.
    #[error("cannot read chat template {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The template does not parse.
    #[error("chat template from {origin} does not compile: {detail}")]
    Compile {
        /// Where the template came from.
        origin: String,
        /// minijinja's message, with the line.
        detail: String,
    },
    /// Rendering failed: the template raised an exception (e.g. roles must alternate), used
    /// something unsupported, or ran out of its instruction budget.
    #[error("chat template from {origin} failed to render: {detail}")]
    Render {
        /// Where the template came from.
        origin: String,
        /// minijinja's message, or the template's own `raise_exception` text.
        detail: String,
    },
}
