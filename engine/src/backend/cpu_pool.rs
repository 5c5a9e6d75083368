//! The CPU backend's persistent worker pool: the calling thread and `threads − 1` helpers that
//! spin between operations, so a decode step's few hundred small parallel operations do not
//! each pay for waking sleeping threads.
//!
//! Why not rayon's pool: `install` hands the job to the pool and puts the caller to sleep, and
//! idle workers go to sleep within microseconds, so every operation paid two futex wake-ups —
//! about a tenth of a decode step at 2B-4T's size. Here the caller works on the job itself and
//! helpers spin for a while (`SPIN`) after their last task before they park, as llama.cpp's
//! threads do; an idle server parks them and stops burning CPU.
//!
//! A job is `n` tasks `0..n`; threads claim the next task index from a shared counter, so a
//! thread that finishes early takes more. Tasks must not call [`SpinPool::run`] themselves;
//! a nested call runs its tasks on the calling thread.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle helper spins for the next job before it parks.
const SPIN: Duration = Duration::from_millis(2);

/// One job, on the caller's stack for the duration of [`SpinPool::run`].
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    n: usize,
    next: AtomicUsize,
    done: AtomicUsize,
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

impl Job<'_> {
    /// Claims and runs tasks until none is left.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, SeqCst);
            if i >= self.n {
                return;
            }
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| (self.f)(i))) {
                let mut slot = self.panic.lock().unwrap_or_else(|e| e.into_inner());
                slot.get_or_insert(p);
            }
            self.done.fetch_add(1, SeqCst);
        }
    }
}

struct Shared {
    /// Bumped for every job, so helpers notice a new one.
    epoch: AtomicU64,
    /// The current job (type-erased `*const Job`), null between jobs.
    job: AtomicPtr<()>,
    /// Helpers that may be reading `job`; the caller waits for 0 before the job goes away.
    active: AtomicUsize,
    shutdown: AtomicBool,
    sleep: Mutex<()>,
    wake: Condvar,
}

/// A pool of `threads` threads counting the caller.
pub struct SpinPool {
    shared: Arc<Shared>,
    helpers: Vec<JoinHandle<()>>,
    threads: usize,
    /// Serialises callers: one job at a time.
    running: Mutex<()>,
}

thread_local! {
    /// Set while this thread runs tasks of a job (nested `run` calls go serial).
    static IN_JOB: Cell<bool> = const { Cell::new(false) };
}

impl SpinPool {
    /// Starts `threads − 1` helper threads named `{name}-{i}` (at least the caller runs).
    pub fn new(threads: usize, name: &str) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            active: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
        });
        let helpers = (1..threads)
            .map(|i| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || helper(&shared))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(SpinPool {
            shared,
            helpers,
            threads,
            running: Mutex::new(()),
        })
    }

    /// Threads that run tasks, the caller included.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f(0) … f(n − 1)` across the pool and returns when all are done. A panic in a
    /// task is re-raised here after every task has finished.
    pub fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        if n == 0 {
            return;
        }
        if n == 1 || self.threads == 1 || IN_JOB.with(Cell::get) {
            (0..n).for_each(f);
            return;
        }
        let _one = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let job = Job {
            f,
            n,
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            panic: Mutex::new(None),
        };
        let s = &*self.shared;
        s.job.store((&raw const job).cast_mut().cast(), SeqCst);
        s.epoch.fetch_add(1, SeqCst);
        {
            // Wakes parked helpers; spinning ones see the epoch first.
            let _g = s.sleep.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        IN_JOB.with(|c| c.set(true));
        job.work();
        IN_JOB.with(|c| c.set(false));
        let mut spins = 0u32;
        while job.done.load(SeqCst) < n {
            backoff(&mut spins);
        }
        // No helper may touch `job` after this function returns: retract it, then wait for
        // every helper that might have loaded the pointer to leave.
        s.job.store(std::ptr::null_mut(), SeqCst);
        while s.active.load(SeqCst) != 0 {
            backoff(&mut spins);
        }
        let panic = job.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(p) = panic {
            resume_unwind(p);
        }
    }
}

impl SpinPool {
    /// `f(i)` for `i` in `0..n` across the pool, results in index order.
    pub fn map<R: Send>(&self, n: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
        let slots: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
        self.run(n, &|i| {
            let r = f(i);
            *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        });
        slots
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
            .map(|r| r.unwrap_or_else(|| unreachable!("run returns after every task ran")))
            .collect()
    }

    /// `f(i, items[i])` for every item across the pool (items are typically disjoint
    /// `&mut` pieces of buffers, zipped with what each piece needs).
    pub fn each<T: Send>(&self, items: Vec<T>, f: impl Fn(usize, T) + Sync) {
        let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
        self.run(slots.len(), &|i| {
            let item = slots[i].lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(item) = item {
                f(i, item);
            }
        });
    }

    /// `f(i, chunk_i)` for the consecutive `chunk`-long pieces of `data` across the pool.
    pub fn chunks_mut<T: Send>(
        &self,
        data: &mut [T],
        chunk: usize,
        f: impl Fn(usize, &mut [T]) + Sync,
    ) {
        // Each piece behind its own (uncontended) lock: a task index owns one piece.
        let pieces: Vec<Mutex<&mut [T]>> = data.chunks_mut(chunk.max(1)).map(Mutex::new).collect();
        self.run(pieces.len(), &|i| {
            let mut piece = pieces[i].lock().unwrap_or_else(|e| e.into_inner());
            f(i, &mut piece);
        });
    }
}

/// Spinning waits give the CPU away after this long, so an oversubscribed machine (other
/// processes, or more pools than cores) still makes progress.
const YIELD_AFTER: Duration = Duration::from_micros(50);

/// One step of a caller's wait: spin first, then yield the CPU between checks.
fn backoff(spins: &mut u32) {
    *spins += 1;
    if *spins < 4096 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

fn helper(s: &Shared) {
    let mut seen = 0u64;
    IN_JOB.with(|c| c.set(true));
    loop {
        // Spin for a new epoch, then park.
        let mut since = Instant::now();
        loop {
            if s.shutdown.load(SeqCst) {
                return;
            }
            let e = s.epoch.load(SeqCst);
            if e != seen {
                seen = e;
                break;
            }
            if since.elapsed() < SPIN {
                for _ in 0..64 {
                    std::hint::spin_loop();
                }
                // On a machine busy with other work, let it run between checks.
                if since.elapsed() > YIELD_AFTER {
                    std::thread::yield_now();
                }
                continue;
            }
            let g = s.sleep.lock().unwrap_or_else(|e| e.into_inner());
            if s.epoch.load(SeqCst) == seen && !s.shutdown.load(SeqCst) {
                // A timeout bounds the cost of any missed notification.
                let _ = s.wake.wait_timeout(g, Duration::from_millis(50));
            }
            since = Instant::now();
        }
        s.active.fetch_add(1, SeqCst);
        let p = s.job.load(SeqCst).cast::<Job<'_>>().cast_const();
        if !p.is_null() {
            // SAFETY: `run` keeps the job alive until `active` is back to 0, and this thread
            // counted itself in `active` before loading the pointer (see `run`).
            unsafe { (*p).work() };
        }
        s.active.fetch_sub(1, SeqCst);
    }
}

impl Drop for SpinPool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, SeqCst);
        {
            let _g = self.shared.sleep.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for h in self.helpers.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once() {
        for threads in [1, 2, 3, 8] {
            let pool = SpinPool::new(threads, "test").expect("spawn");
            for n in [0usize, 1, 2, 7, 1000] {
                let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                pool.run(n, &|i| {
                    hits[i].fetch_add(1, SeqCst);
                });
                assert!(
                    hits.iter().all(|h| h.load(SeqCst) == 1),
                    "{threads} threads, {n}"
                );
            }
        }
    }

    #[test]
    fn many_jobs_back_to_back_and_after_parking() {
        let pool = SpinPool::new(3, "test").expect("spawn");
        let total = AtomicUsize::new(0);
        for round in 0..2000 {
            pool.run(5, &|i| {
                total.fetch_add(i, SeqCst);
            });
            if round == 1000 {
                // Long enough for the helpers to park.
                std::thread::sleep(SPIN * 3);
            }
        }
        assert_eq!(total.load(SeqCst), 2000 * 10);
    }

    #[test]
    fn map_and_chunks_mut_cover_everything_in_order() {
        let pool = SpinPool::new(2, "test").expect("spawn");
        assert_eq!(
            pool.map(100, |i| i * 2),
            (0..100).map(|i| i * 2).collect::<Vec<_>>()
        );
        let mut v = vec![0usize; 1001];
        pool.chunks_mut(&mut v, 64, |c, piece| {
            for (j, x) in piece.iter_mut().enumerate() {
                *x = c * 64 + j;
            }
        });
        assert_eq!(v, (0..1001).collect::<Vec<_>>());
        pool.chunks_mut(&mut [] as &mut [u8], 8, |_, _| unreachable!("no pieces"));
    }

    #[test]
    fn nested_runs_go_serial() {
        let pool = SpinPool::new(2, "test").expect("spawn");
        let total = AtomicUsize::new(0);
        pool.run(4, &|_| {
            pool.run(3, &|_| {
                total.fetch_add(1, SeqCst);
            })
        });
        assert_eq!(total.load(SeqCst), 12);
    }

    #[test]
    fn a_task_panic_reaches_the_caller_and_the_pool_survives() {
        let pool = SpinPool::new(2, "test").expect("spawn");
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.run(10, &|i| assert!(i != 7, "task 7 fails"));
        }));
        assert!(r.is_err());
        let total = AtomicUsize::new(0);
        pool.run(10, &|_| {
            total.fetch_add(1, SeqCst);
        });
        assert_eq!(total.load(SeqCst), 10);
    }
}
