//! GPU memory accounting: every device allocation of the CUDA backend is recorded here with
//! its purpose, so current and peak use are known per purpose (for `/metrics` and `bitnet
//! devices`) and whatever is still allocated when the backend goes away can be named.
//!
//! Why a ledger apart from the allocations: the driver only knows bytes, not why they were
//! taken; and the accounting is plain arithmetic, testable on a machine without a GPU. An
//! [`Allocation`] ticket lives inside each device buffer and records the free when the buffer
//! drops, so nothing can be freed without the ledger seeing it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// Why device memory was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Purpose {
    /// Model weights (uploaded once at load).
    Weights,
    /// KV caches of sequences.
    KvCache,
    /// Activations of a step (freed when the step ends).
    Activations,
    /// Buffers an op keeps between calls (attention scores, positions, greedy picks).
    Scratch,
}

impl Purpose {
    /// Every purpose, in report order.
    pub const ALL: [Purpose; 4] = [
        Purpose::Weights,
        Purpose::KvCache,
        Purpose::Activations,
        Purpose::Scratch,
    ];

    /// The name used in reports and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Purpose::Weights => "weights",
            Purpose::KvCache => "kv_cache",
            Purpose::Activations => "activations",
            Purpose::Scratch => "scratch",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Bytes held for one purpose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurposeUsage {
    /// Bytes allocated now.
    pub current: u64,
    /// The most bytes allocated at once since the ledger was made.
    pub peak: u64,
    /// Live allocations now.
    pub count: usize,
}

/// A snapshot of device memory use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Per purpose, indexed in [`Purpose::ALL`] order (see [`MemoryUsage::of`]).
    pub by_purpose: [PurposeUsage; 4],
    /// Bytes allocated now, all purposes.
    pub current: u64,
    /// The most bytes allocated at once, all purposes (not the sum of the per-purpose peaks,
    /// which need not coincide).
    pub peak: u64,
}

impl MemoryUsage {
    /// The use of one purpose.
    pub fn of(&self, p: Purpose) -> PurposeUsage {
        self.by_purpose[p.index()]
    }
}

/// One allocation still live, for the leak report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAllocation {
    /// Why it was taken.
    pub purpose: Purpose,
    /// What it holds (a tensor name, an op's buffer).
    pub label: String,
    /// Its size.
    pub bytes: u64,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    live: BTreeMap<u64, LiveAllocation>,
    usage: MemoryUsage,
}

/// The record of every allocation of one backend. Cheap to clone (a shared handle).
#[derive(Debug, Clone, Default)]
pub struct MemoryLedger {
    state: Arc<Mutex<State>>,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state consistent, so a panic elsewhere poisons nothing real.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `bytes` taken for `purpose`; the returned ticket records the free when dropped.
    pub fn record(&self, purpose: Purpose, bytes: u64, label: impl Into<String>) -> Allocation {
        let mut s = self.lock();
        let id = s.next_id;
        s.next_id += 1;
        s.live.insert(
            id,
            LiveAllocation {
                purpose,
                label: label.into(),
                bytes,
            },
        );
        let u = &mut s.usage;
        let p = &mut u.by_purpose[purpose.index()];
        p.current += bytes;
        p.count += 1;
        p.peak = p.peak.max(p.current);
        u.current += bytes;
        u.peak = u.peak.max(u.current);
        Allocation {
            ledger: self.clone(),
            id,
        }
    }

    fn release(&self, id: u64) {
        let mut s = self.lock();
        if let Some(a) = s.live.remove(&id) {
            let u = &mut s.usage;
            let p = &mut u.by_purpose[a.purpose.index()];
            p.current -= a.bytes;
            p.count -= 1;
            u.current -= a.bytes;
        }
    }

    /// Current and peak use.
    pub fn usage(&self) -> MemoryUsage {
        self.lock().usage
    }

    /// Every allocation still live, oldest first.
    pub fn live(&self) -> Vec<LiveAllocation> {
        self.lock().live.values().cloned().collect()
    }

    /// What is still allocated, in words (per purpose, then the largest few allocations), or
    /// `None` when nothing is.
    pub fn leak_report(&self) -> Option<String> {
        let live = self.live();
        if live.is_empty() {
            return None;
        }
        let usage = self.usage();
        let total: u64 = live.iter().map(|a| a.bytes).sum();
        let per: Vec<String> = Purpose::ALL
            .iter()
            .map(|&p| (p, usage.of(p)))
            .filter(|(_, u)| u.count > 0)
            .map(|(p, u)| format!("{p} {} in {}", u.current, u.count))
            .collect();
        let mut largest = live;
        // Largest first; ties keep allocation order (the sort is stable).
        largest.sort_by_key(|a| std::cmp::Reverse(a.bytes));
        const SHOWN: usize = 8;
        let mut names: Vec<String> = largest
            .iter()
            .take(SHOWN)
            .map(|a| format!("{} '{}' {} B", a.purpose, a.label, a.bytes))
            .collect();
        if largest.len() > SHOWN {
            names.push(format!("and {} more", largest.len() - SHOWN));
        }
        Some(format!(
            "{} device allocations ({total} bytes) still live: {}; {}",
            largest.len(),
            per.join(", "),
            names.join(", ")
        ))
    }
}

/// The ledger's record of one live allocation; dropping it records the free. Lives inside the
/// device buffer it describes, so the two go together.
#[derive(Debug)]
pub struct Allocation {
    ledger: MemoryLedger,
    id: u64,
}

impl Drop for Allocation {
    fn drop(&mut self) {
        self.ledger.release(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_and_peak_follow_allocations_per_purpose_and_in_total() {
        let l = MemoryLedger::new();
        let w = l.record(Purpose::Weights, 1000, "blk.0.attn_q.weight");
        let a = l.record(Purpose::Activations, 300, "x");
        let b = l.record(Purpose::Activations, 200, "h");
        let u = l.usage();
        assert_eq!((u.current, u.peak), (1500, 1500));
        assert_eq!(
            u.of(Purpose::Activations),
            PurposeUsage {
                current: 500,
                peak: 500,
                count: 2
            }
        );
        drop(a);
        drop(b);
        let k = l.record(Purpose::KvCache, 100, "k");
        let u = l.usage();
        assert_eq!((u.current, u.peak), (1100, 1500));
        assert_eq!(u.of(Purpose::Activations).current, 0);
        assert_eq!(u.of(Purpose::Activations).peak, 500);
        assert_eq!(u.of(Purpose::KvCache).count, 1);
        drop((w, k));
        let u = l.usage();
        assert_eq!((u.current, u.peak), (0, 1500));
        assert!(Purpose::ALL.iter().all(|&p| u.of(p).count == 0));
    }

    #[test]
    fn the_total_peak_is_the_largest_sum_at_one_time_not_the_sum_of_peaks() {
        let l = MemoryLedger::new();
        let a = l.record(Purpose::Activations, 700, "a");
        drop(a);
        let s = l.record(Purpose::Scratch, 600, "s");
        let u = l.usage();
        assert_eq!(
            u.of(Purpose::Activations).peak + u.of(Purpose::Scratch).peak,
            1300
        );
        assert_eq!(u.peak, 700);
        drop(s);
    }

    #[test]
    fn nothing_live_is_no_leak_and_live_buffers_are_named_largest_first() {
        let l = MemoryLedger::new();
        assert_eq!(l.leak_report(), None);
        let small = l.record(Purpose::Scratch, 16, "argmax picks");
        let big = l.record(Purpose::KvCache, 4096, "kv cache");
        let gone = l.record(Purpose::Weights, 1 << 20, "output.weight");
        drop(gone);
        let report = l.leak_report().expect("two live");
        assert!(
            report.starts_with("2 device allocations (4112 bytes) still live"),
            "{report}"
        );
        assert!(
            report.contains("kv_cache 4096 in 1, scratch 16 in 1"),
            "{report}"
        );
        let kv = report.find("'kv cache'").expect("named");
        let picks = report.find("'argmax picks'").expect("named");
        assert!(kv < picks, "largest first: {report}");
        assert!(!report.contains("output.weight"), "{report}");
        drop((small, big));
        assert_eq!(l.leak_report(), None);
        assert!(l.live().is_empty());
    }

    #[test]
    fn a_long_leak_list_is_cut() {
        let l = MemoryLedger::new();
        let held: Vec<Allocation> = (0..12)
            .map(|i| l.record(Purpose::Activations, 10 + i, format!("buf{i}")))
            .collect();
        let report = l.leak_report().expect("live");
        assert!(report.contains("and 4 more"), "{report}");
        assert!(
            report.contains("'buf11' 21 B") && !report.contains("'buf0'"),
            "{report}"
        );
        drop(held);
    }

    #[test]
    fn tickets_free_from_any_thread_and_clones_share_the_ledger() {
        let l = MemoryLedger::new();
        let view = l.clone();
        let tickets: Vec<Allocation> = (0..64)
            .map(|i| l.record(Purpose::Activations, i, "t"))
            .collect();
        assert_eq!(view.usage().current, (0..64).sum::<u64>());
        let handles: Vec<_> = tickets
            .into_iter()
            .map(|t| std::thread::spawn(move || drop(t)))
            .collect();
        for h in handles {
            h.join().expect("dropped");
        }
        assert_eq!(view.usage().current, 0);
        assert_eq!(view.usage().peak, (0..64).sum::<u64>());
    }
}
