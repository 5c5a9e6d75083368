//! Progress bars on stderr for long work (loading, synthesis).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar for `what` that hides itself when stderr is not a terminal.
pub fn bar(what: &str) -> ProgressBar {
    let pb = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {elapsed}") {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    pb
}
