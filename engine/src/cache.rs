//! The per-user cache this program keeps on disk (kernel timings, compiled PTX, the bundled
//! model), and the stable hash its file names are built from.

use std::path::PathBuf;

/// `$XDG_CACHE_HOME/bitnet-rs`, else `~/.cache/bitnet-rs`; `None` without either variable.
pub fn user_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("bitnet-rs"))
}

/// 64-bit FNV-1a, fed incrementally: cache names must not change between builds (std's
/// hasher may), and they are names, not a defence (cached contents are checked on use).
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a64(u64);

impl Default for Fnv1a64 {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a64 {
    /// Mixes in `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The hash of everything mixed in so far.
    pub fn finish(self) -> u64 {
        self.0
    }

    /// The hash of `bytes` alone.
    pub fn of(bytes: &[u8]) -> u64 {
        let mut h = Self::default();
        h.update(bytes);
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_published_test_vectors() {
        assert_eq!(Fnv1a64::of(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fnv1a64::of(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Fnv1a64::of(b"foobar"), 0x8594_4171_f739_67e8);
        let mut h = Fnv1a64::default();
        h.update(b"foo");
        h.update(b"bar");
        assert_eq!(h.finish(), Fnv1a64::of(b"foobar"));
    }
}
