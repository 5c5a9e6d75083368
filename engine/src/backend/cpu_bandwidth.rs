//! How fast this machine streams memory into the CPU backend's threads: the roof a decode step
//! runs under, since every weight is read once per token.

use super::cpu_pool::SpinPool;
use std::time::Instant;

/// Reads a `bytes`-long buffer (rounded up to whole MiB, at least 64 MiB so caches do not
/// hold it) with every thread of `pool`, `passes` times, and returns the best pass's rate in
/// bytes per second.
pub(crate) fn read_bandwidth(pool: &SpinPool, bytes: usize, passes: usize) -> f64 {
    const PIECE: usize = 1 << 20;
    let words = bytes.max(64 << 20).next_multiple_of(PIECE) / 8;
    // Distinct non-zero values, so no page is shared (a zeroed buffer may map one page).
    let buf: Vec<u64> = (0..words as u64).map(|i| i | 1).collect();
    let pieces = words * 8 / PIECE;
    let mut best = f64::INFINITY;
    for _ in 0..passes.max(1) {
        let t0 = Instant::now();
        let sums = pool.map(pieces, |p| {
            let words = &buf[p * PIECE / 8..(p + 1) * PIECE / 8];
            // Eight independent lanes, so the loop is bound by loads, not by one add chain.
            let (chunks, _) = words.as_chunks::<8>();
            let mut acc = [0u64; 8];
            for c in chunks {
                for (a, &v) in acc.iter_mut().zip(c) {
                    *a = a.wrapping_add(v);
                }
            }
            acc.iter().fold(0u64, |s, &v| s.wrapping_add(v))
        });
        std::hint::black_box(sums);
        best = best.min(t0.elapsed().as_secs_f64());
    }
    (words * 8) as f64 / best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_positive_finite_rate() {
        let pool = SpinPool::new(2, "bw-test").expect("spawn");
        let r = read_bandwidth(&pool, 1, 1);
        assert!(r.is_finite() && r > 1e8, "{r} B/s");
    }
}
