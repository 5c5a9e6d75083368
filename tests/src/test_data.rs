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

/// The tokenizer of a fetched vocab file (`vocab/ggml-vocab-{name}.gguf`), built once per test
/// binary: a 128k-token vocabulary takes seconds to build in an unoptimized test build.
pub fn vocab_tokenizer(name: &str) -> Option<&'static bitnet_engine::tokenizer::Tokenizer> {
    use bitnet_engine::gguf::GgufFile;
    use bitnet_engine::tokenizer::Tokenizer;
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static BUILT: OnceLock<Mutex<HashMap<String, &'static Tokenizer>>> = OnceLock::new();
    let path = file(&format!("vocab/ggml-vocab-{name}.gguf"))?;
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(t) = built.get(name) {
        return Some(t);
    }
    let file = GgufFile::open(&path).expect("vocab file opens");
    let t: &'static Tokenizer = Box::leak(Box::new(
        Tokenizer::from_gguf(&file).expect("builds from metadata"),
    ));
    built.insert(name.to_string(), t);
    Some(t)
}
