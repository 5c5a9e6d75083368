//! Progress bars on stderr for long work (loading, synthesis, conversion).

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

/// Runs `work` with a `(done, total)` callback that drives a bar for `what`, and clears the
/// bar when the work ends.
pub fn with_bar<T>(what: &str, work: impl FnOnce(&mut dyn FnMut(usize, usize)) -> T) -> T {
    let pb = bar(what);
    let result = work(&mut |done, total| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
    });
    pb.finish_and_clear();
    result
}
