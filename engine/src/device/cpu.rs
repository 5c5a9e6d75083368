//! The host CPU's facts: model name, logical CPUs, the kernels' SIMD level, and memory.

use crate::backend::cpu::{cpu_model, simd_level};

/// What the CPU backend runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuFacts {
    /// Model name (CPUID brand string, else /proc/cpuinfo).
    pub name: String,
    /// Logical CPUs this process may use.
    pub threads: usize,
    /// The instruction set the CPU kernels run with (`avx512`, `avx2`, `neon`, `scalar`...).
    pub simd: &'static str,
    /// Host memory, where the OS reports it.
    pub memory: Option<MemInfo>,
}

/// Host memory in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemInfo {
    /// All memory this process may use: the machine's, or its cgroup's limit when lower.
    pub total: u64,
    /// Memory free for new use now (the kernel's `MemAvailable`), within `total`.
    pub available: u64,
}

impl CpuFacts {
    /// Detects the facts now (CPUID and a few small files; well under a millisecond).
    pub fn detect() -> Self {
        CpuFacts {
            name: cpu_model(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            simd: simd_level(),
            memory: host_memory(),
        }
    }
}

/// Host memory from /proc/meminfo, capped by a cgroup v2 limit: in a container the machine's
/// total is not what the process may use.
fn host_memory() -> Option<MemInfo> {
    let mut mem = parse_meminfo(&std::fs::read_to_string("/proc/meminfo").ok()?)?;
    if let Some(limit) = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .as_deref()
        .and_then(parse_cgroup_limit)
    {
        mem.total = mem.total.min(limit);
        mem.available = mem.available.min(limit);
    }
    Some(mem)
}

/// `MemTotal` and `MemAvailable` of /proc/meminfo text, in bytes (`None` when either is
/// missing or malformed).
pub fn parse_meminfo(text: &str) -> Option<MemInfo> {
    let field = |key: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(key))?;
        let rest = line.strip_prefix(key)?.trim_start().strip_prefix(':')?;
        let mut parts = rest.split_whitespace();
        let n: u64 = parts.next()?.parse().ok()?;
        match parts.next() {
            Some("kB") => n.checked_mul(1024),
            None => Some(n),
            Some(_) => None,
        }
    };
    let total = field("MemTotal")?;
    let available = field("MemAvailable")?.min(total);
    Some(MemInfo { total, available })
}

/// A cgroup v2 `memory.max` in bytes; `None` for `max` (no limit) or unreadable text.
pub fn parse_cgroup_limit(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_reads_total_and_available_in_bytes() {
        let text = "MemTotal:       16318460 kB\nMemFree:         1234 kB\n\
                    MemAvailable:   12000000 kB\nBuffers: 1 kB\n";
        assert_eq!(
            parse_meminfo(text),
            Some(MemInfo {
                total: 16_318_460 * 1024,
                available: 12_000_000 * 1024
            })
        );
    }

    #[test]
    fn meminfo_without_available_or_with_garbage_is_none() {
        assert_eq!(parse_meminfo("MemTotal: 100 kB\n"), None);
        assert_eq!(parse_meminfo("MemTotal: x kB\nMemAvailable: 1 kB\n"), None);
        assert_eq!(parse_meminfo("MemTotal: 1 MB\nMemAvailable: 1 kB\n"), None);
        assert_eq!(parse_meminfo(""), None);
        // An overflowing value is refused, not wrapped.
        assert_eq!(
            parse_meminfo("MemTotal: 18446744073709551615 kB\nMemAvailable: 1 kB\n"),
            None
        );
    }

    #[test]
    fn available_never_exceeds_total() {
        let m = parse_meminfo("MemTotal: 10 kB\nMemAvailable: 20 kB\n");
        assert_eq!(m.map(|m| m.available), Some(10 * 1024));
    }

    #[test]
    fn cgroup_limit_is_a_number_or_nothing() {
        assert_eq!(parse_cgroup_limit("8589934592\n"), Some(8 << 30));
        assert_eq!(parse_cgroup_limit("max\n"), None);
        assert_eq!(parse_cgroup_limit(""), None);
    }

    #[test]
    fn detect_names_the_cpu_and_counts_threads() {
        let c = CpuFacts::detect();
        assert!(!c.name.is_empty());
        assert!(c.threads >= 1);
        assert!(!c.simd.is_empty());
    }
}
