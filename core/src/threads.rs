//! A persistent worker pool, one per session: `n - 1` threads plus the
//! caller run each job together, then meet at a barrier.
//!
//! Decode issues a few hundred jobs per token, so a job must start in
//! microseconds and allocate nothing: workers spin briefly on an epoch
//! counter before parking on a condvar, the job is passed as a borrowed
//! trait object (no boxing), and completion is an atomic countdown.

use std::cell::UnsafeCell;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// Most threads a pool runs (the per-job split uses fixed-size arrays).
pub const MAX_THREADS: usize = 64;

/// Spins before a waiting worker parks. About 20-50 µs on current cores:
/// long enough to cover the gap between the jobs of one token.
const SPIN: u32 = 20_000;

type Job = dyn Fn(usize) + Sync;

struct Shared {
    /// The current job. Written by the caller only while every worker is
    /// idle (between `remaining == 0` and the next epoch bump), read by
    /// workers only after they observe the bump.
    job: UnsafeCell<Option<*const Job>>,
    epoch: AtomicU64,
    remaining: AtomicUsize,
    sleepers: AtomicUsize,
    panicked: AtomicBool,
    stop: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

// SAFETY: `job` is only accessed under the epoch protocol described on the
// field: a single writer while no reader exists, readers only after an
// Acquire load of `epoch` that follows the writer's Release store.
unsafe impl Sync for Shared {}
// SAFETY: the raw pointer in `job` is only dereferenced under the protocol
// above, while the caller of `run` keeps the job alive.
unsafe impl Send for Shared {}

/// A fixed set of worker threads.
pub struct ThreadPool {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
    n: usize,
}

impl ThreadPool {
    /// A pool running jobs on `n` threads in all (the caller counts as
    /// one), `1 <= n <= MAX_THREADS`.
    pub fn new(n: usize) -> ThreadPool {
        let n = n.clamp(1, MAX_THREADS);
        let shared = Arc::new(Shared {
            job: UnsafeCell::new(None),
            epoch: AtomicU64::new(0),
            remaining: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let handles = (1..n)
            .map(|i| {
                let s = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("minke-worker-{i}"))
                    .spawn(move || worker(&s, i))
                    .expect("spawning a worker thread")
            })
            .collect();
        ThreadPool { shared, handles, n }
    }

    /// Number of threads a job runs on.
    pub fn n_threads(&self) -> usize {
        self.n
    }

    /// Runs `f(i)` for every thread index `i < n_threads()` at once, and
    /// returns when all have finished. Allocates nothing.
    ///
    /// # Panics
    /// If `f` panicked on any thread.
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        if self.n == 1 {
            f(0);
            return;
        }
        let s = &*self.shared;
        // SAFETY: every worker is idle (the previous `run` waited for
        // `remaining == 0`), so nobody reads `job` now. The pointer's
        // lifetime is erased; it is only used before this function returns,
        // which waits for every worker to finish with it.
        unsafe {
            let p: *const Job = std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static Job>(f);
            *s.job.get() = Some(p);
        }
        s.remaining.store(self.n - 1, Ordering::Relaxed);
        // SeqCst pairs with the worker's SeqCst `sleepers` increment and epoch
        // check: one of the two sides always sees the other, so no wakeup is lost.
        s.epoch.fetch_add(1, Ordering::SeqCst);
        if s.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        let mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(0)));
        let mut spins = 0u32;
        while s.remaining.load(Ordering::Acquire) != 0 {
            if spins < SPIN {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        if let Err(p) = mine {
            std::panic::resume_unwind(p);
        }
        if s.panicked.swap(false, Ordering::AcqRel) {
            panic!("a minke worker thread panicked");
        }
    }
}

fn worker(s: &Shared, index: usize) {
    let mut seen = 0u64;
    loop {
        // Wait for a new epoch: spin, then park.
        let mut spins = 0u32;
        loop {
            if s.stop.load(Ordering::Acquire) {
                return;
            }
            let e = s.epoch.load(Ordering::Acquire);
            if e != seen {
                seen = e;
                break;
            }
            if spins < SPIN {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            let g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.sleepers.fetch_add(1, Ordering::SeqCst);
            let g = s
                .wake
                .wait_while(g, |_| {
                    s.epoch.load(Ordering::SeqCst) == seen && !s.stop.load(Ordering::Acquire)
                })
                .unwrap_or_else(|e| e.into_inner());
            s.sleepers.fetch_sub(1, Ordering::SeqCst);
            drop(g);
            spins = 0;
        }
        // SAFETY: the epoch bump we observed (Acquire) follows the write of
        // `job` (Release), and the caller keeps the job alive until we
        // decrement `remaining` below.
        let job = unsafe { (*s.job.get()).map(|p| &*p) };
        if let Some(job) = job {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(index))).is_err() {
                s.panicked.store(true, Ordering::Release);
            }
        }
        s.remaining.fetch_sub(1, Ordering::Release);
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        {
            let _g = self.shared.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// The part of `0..n` that thread `i` of `nt` takes, in multiples of
/// `align` (the last part takes the rest).
pub fn split(n: usize, nt: usize, i: usize, align: usize) -> Range<usize> {
    let units = n.div_ceil(align);
    let per = units.div_ceil(nt.max(1));
    let start = (i * per * align).min(n);
    let end = ((i + 1) * per * align).min(n);
    start..end
}

/// Runs `f(rows, out_chunk)` on the pool with `out` (laid out as `rows` of
/// `row_len` values each) split into contiguous row ranges, one per thread.
/// Rows are split in multiples of `align`.
pub fn par_rows<T: Send>(
    pool: &ThreadPool,
    out: &mut [T],
    row_len: usize,
    align: usize,
    f: impl Fn(Range<usize>, &mut [T]) + Sync,
) {
    let nt = pool.n_threads();
    let rows = out.len() / row_len.max(1);
    if nt == 1 || rows <= align {
        f(0..rows, out);
        return;
    }
    // One slot per thread, each holding that thread's disjoint chunk: the
    // safe way to hand out `&mut` pieces to a `Fn` shared by all threads.
    type Slot<'a, T> = Mutex<Option<(Range<usize>, &'a mut [T])>>;
    let slots: [Slot<'_, T>; MAX_THREADS] = std::array::from_fn(|_| Mutex::new(None));
    let mut rest = out;
    for (i, slot) in slots.iter().enumerate().take(nt) {
        let r = split(rows, nt, i, align);
        let (mine, tail) = std::mem::take(&mut rest).split_at_mut(r.len() * row_len);
        rest = tail;
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some((r, mine));
    }
    pool.run(&|i| {
        let taken = slots[i].lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((r, chunk)) = taken {
            if !r.is_empty() {
                f(r, chunk);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_runs_once_per_job() {
        let pool = ThreadPool::new(4);
        let hits: Vec<AtomicUsize> = (0..4).map(|_| AtomicUsize::new(0)).collect();
        for _ in 0..1000 {
            pool.run(&|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
        }
        for h in &hits {
            assert_eq!(h.load(Ordering::Relaxed), 1000);
        }
    }

    #[test]
    fn par_rows_covers_every_row_once() {
        for nt in [1, 2, 3, 8] {
            let pool = ThreadPool::new(nt);
            for rows in [1, 2, 7, 64, 1000] {
                let mut out = vec![0u32; rows * 3];
                par_rows(&pool, &mut out, 3, 4, |r, chunk| {
                    assert_eq!(chunk.len(), r.len() * 3);
                    for (k, row) in r.clone().enumerate() {
                        for c in 0..3 {
                            chunk[k * 3 + c] += (row * 3 + c) as u32 + 1;
                        }
                    }
                });
                let want: Vec<u32> = (1..=rows as u32 * 3).collect();
                assert_eq!(out, want, "nt={nt} rows={rows}");
            }
        }
    }

    #[test]
    fn a_panicking_job_is_reported_and_the_pool_survives() {
        let pool = ThreadPool::new(3);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(&|i| assert!(i != 2, "boom"));
        }));
        assert!(r.is_err());
        let n = AtomicUsize::new(0);
        pool.run(&|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 3);
    }
}
