//! Third-party test data fetched by `scripts/test-data/fetch.py` (not committed).

use std::path::PathBuf;

/// Where the fetched data lives: `$BITNET_TEST_DATA`, else `<repo>/target/test-data`.
pub fn dir() -> PathBuf {
    std::env::var_os("BITNET_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_path("target/test-data"))
}

/// The path of a fetched file, or `None` (with a note on stdout) when it is absent.
///
/// CI sets `BITNET_REQUIRE_TEST_DATA=1` after fetching, which turns an absent file into a
/// failure, so a broken fetch cannot pass as a skipped test.
pub fn file(rel: &str) -> Option<PathBuf> {
    let path = dir().join(rel);
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("BITNET_REQUIRE_TEST_DATA").is_none(),
        "{} is missing: run scripts/test-data/fetch.py",
        path.display()
    );
    println!(
        "skipped: {} is absent (scripts/test-data/fetch.py fetches it)",
        path.display()
    );
    None
}
