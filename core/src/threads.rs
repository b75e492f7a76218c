//! A persistent worker pool, one per session: `n - 1` threads plus the
//! caller share each job.
//!
//! Decode issues a few hundred jobs per token, so a job must start in
//! microseconds and allocate nothing: workers spin briefly on a state word
//! before parking on a condvar, and the job is passed as a borrowed trait
//! object (no boxing).
//!
//! Work is claimed, not assigned: a job's closure takes ranges of rows
//! from per-thread counters ([`par_rows`]), and a worker only *joins* a
//! job that is still open. The caller closes the job once every row is
//! claimed and waits only for workers that joined. A worker the OS has
//! not scheduled (an oversubscribed machine, a phone's little core)
//! therefore never stalls the token: the others take its share. With a
//! static split, one descheduled thread made every job wait a whole time
//! slice.

use std::cell::UnsafeCell;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::{Error, Result};

/// Most threads a pool runs.
pub const MAX_THREADS: usize = 64;

/// Spins before a waiting worker parks: a few tens of microseconds, enough
/// to cover the gap between the jobs of one token.
const SPIN: u32 = if cfg!(miri) { 20 } else { 20_000 };

type Job = dyn Fn(usize) + Sync;

/// `state` layout: bits 0..32 count workers inside the job, bit 32 says the
/// job is open to new workers, bits 33.. are the job's epoch.
const ACTIVE: u64 = (1 << 32) - 1;
const OPEN: u64 = 1 << 32;
const EPOCH_ONE: u64 = 1 << 33;

struct Shared {
    /// The current job. Written by the caller only while the job is closed
    /// and no worker is inside it; read by a worker only after it joined
    /// the open job (a successful CAS on `state`).
    job: UnsafeCell<Option<*const Job>>,
    state: AtomicU64,
    sleepers: AtomicUsize,
    panicked: AtomicBool,
    stop: AtomicBool,
    /// Set while a job runs: the pool is shared by reference (jobs capture
    /// it), so two threads, or a job itself, could otherwise start a job
    /// over a running one and race on `job`. On its own cache lines, which
    /// only callers touch.
    busy: Padded<AtomicBool>,
    /// [`for_each_range`]'s claims: thread `t`'s unclaimed units as
    /// `front | back << 32`. Each on its own cache lines, so that a thread
    /// claiming its own units keeps its slot in its cache.
    slots: [Padded<AtomicU64>; MAX_THREADS],
    /// Workers that have started running: `new` waits for all of them, so
    /// the OS and std finish their per-thread set-up (which allocates)
    /// before the pool is used.
    started: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

// SAFETY: `job` is only accessed under the protocol described on the field:
// one writer while no reader can exist, readers only between joining (CAS,
// AcqRel, after the writer's SeqCst publication) and leaving.
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
    /// A pool running jobs on up to `n` threads in all (the caller counts
    /// as one), `1 <= n <= MAX_THREADS`.
    ///
    /// # Errors
    /// [`Error::Resources`] when the system will not start a worker thread
    /// (the ones already started are stopped and joined).
    pub fn new(n: usize) -> Result<ThreadPool> {
        let n = n.clamp(1, MAX_THREADS);
        let shared = Arc::new(Shared {
            job: UnsafeCell::new(None),
            state: AtomicU64::new(0),
            sleepers: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            started: AtomicUsize::new(0),
            busy: Padded(AtomicBool::new(false)),
            slots: std::array::from_fn(|_| Padded(AtomicU64::new(0))),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        // Built before the threads so that dropping it on an error stops
        // and joins those already running.
        let mut pool = ThreadPool {
            shared,
            handles: Vec::with_capacity(n - 1),
            n,
        };
        for i in 1..n {
            let s = Arc::clone(&pool.shared);
            let handle = spawn_worker(i, move || worker(&s, i)).map_err(|e| {
                Error::Resources(format!("could not start worker thread {i} of {n}: {e}"))
            })?;
            pool.handles.push(handle);
        }
        while pool.shared.started.load(Ordering::Acquire) < n - 1 {
            std::thread::yield_now();
        }
        Ok(pool)
    }

    /// Number of threads a job may run on.
    pub fn n_threads(&self) -> usize {
        self.n
    }

    /// Runs `f(i)` on the calling thread (`i = 0`) and on every worker that
    /// joins before the caller's `f` returns (each with its own `i`), and
    /// returns when all of them have finished. `f` must therefore get the
    /// whole job done even if it runs on the caller alone: claim work from a
    /// shared counter, as [`par_rows`] does. Allocates nothing.
    ///
    /// # Panics
    /// If `f` panicked on any thread, or if a job is already running on
    /// this pool (started by another thread, or by `f` itself).
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        let job = self.exclusive();
        self.run_exclusive(&job, f);
    }

    /// The right to run one job: no other job starts on the pool until the
    /// guard is dropped, and none is running (`run` returns only after
    /// every worker left its job).
    ///
    /// # Panics
    /// If a job is running.
    fn exclusive(&self) -> Exclusive<'_> {
        let busy = &self.shared.busy.0;
        if busy.swap(true, Ordering::Acquire) {
            panic!("a minke thread pool was asked for a job while running one (a job that starts another on its own pool, or two threads sharing a pool)");
        }
        Exclusive(busy)
    }

    /// [`ThreadPool::run`] for a caller holding the pool's [`Exclusive`].
    fn run_exclusive(&self, _job: &Exclusive<'_>, f: &(dyn Fn(usize) + Sync)) {
        if self.n == 1 {
            f(0);
            return;
        }
        let s = &*self.shared;
        let epoch = (s.state.load(Ordering::Relaxed) & !(ACTIVE | OPEN)).wrapping_add(EPOCH_ONE);
        // SAFETY: the previous job is closed and has no worker inside (the
        // previous `run` waited for that), so nobody reads `job` now. The
        // pointer's lifetime is erased; it is only used by workers that
        // join before we close the job below, and we wait for them to leave
        // before returning.
        unsafe {
            let p: *const Job = std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static Job>(f);
            *s.job.get() = Some(p);
        }
        // SeqCst pairs with the worker's SeqCst `sleepers` increment and
        // state check: one side always sees the other, so no wakeup is lost.
        s.state.store(epoch | OPEN, Ordering::SeqCst);
        if s.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        let mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(0)));
        s.state.fetch_and(!OPEN, Ordering::SeqCst);
        let mut spins = 0u32;
        while s.state.load(Ordering::Acquire) & ACTIVE != 0 {
            if spins < SPIN {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        // Clear the workers' flag whoever panicked, or the next job would
        // report this one's panic.
        let worker_panicked = s.panicked.swap(false, Ordering::AcqRel);
        if let Err(p) = mine {
            std::panic::resume_unwind(p);
        }
        if worker_panicked {
            panic!("a minke worker thread panicked");
        }
    }
}

/// Held while a job runs; clears the pool's `busy` flag when dropped (also
/// when the job panicked).
struct Exclusive<'a>(&'a AtomicBool);

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Starts worker `i` running `f`.
fn spawn_worker(i: usize, f: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    #[cfg(test)]
    if FAIL_SPAWN_AT.with(|at| at.get()) == i {
        return Err(std::io::Error::from(std::io::ErrorKind::WouldBlock));
    }
    std::thread::Builder::new()
        .name(format!("minke-worker-{i}"))
        .spawn(f)
}

#[cfg(test)]
thread_local! {
    /// Tests: the worker index whose start fails (0: none).
    static FAIL_SPAWN_AT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn worker(s: &Shared, index: usize) {
    // Touch what std sets up lazily per thread (the thread handle) before
    // saying we have started.
    let _ = std::thread::current();
    s.started.fetch_add(1, Ordering::Release);
    let mut seen = 0u64;
    loop {
        // Wait for a new epoch: spin, then park.
        let mut spins = 0u32;
        let epoch = loop {
            if s.stop.load(Ordering::Acquire) {
                return;
            }
            let e = s.state.load(Ordering::SeqCst) & !(ACTIVE | OPEN);
            if e != seen {
                break e;
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
                    s.state.load(Ordering::SeqCst) & !(ACTIVE | OPEN) == seen
                        && !s.stop.load(Ordering::Acquire)
                })
                .unwrap_or_else(|e| e.into_inner());
            s.sleepers.fetch_sub(1, Ordering::SeqCst);
            drop(g);
            spins = 0;
        };
        seen = epoch;
        // Join the job if it is still open (same epoch); otherwise the
        // caller already finished it without us.
        let mut cur = s.state.load(Ordering::Acquire);
        let joined = loop {
            if cur & !(ACTIVE | OPEN) != epoch || cur & OPEN == 0 {
                break false;
            }
            match s
                .state
                .compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break true,
                Err(now) => cur = now,
            }
        };
        if !joined {
            continue;
        }
        // SAFETY: we joined the open job (CAS above, after the caller's
        // SeqCst publication of `job`); the caller keeps the job alive until
        // we leave below.
        let job = unsafe { (*s.job.get()).map(|p| &*p) };
        if let Some(job) = job {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(index))).is_err() {
                s.panicked.store(true, Ordering::Release);
            }
        }
        s.state.fetch_sub(1, Ordering::AcqRel);
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

/// Runs `f(rows, out_chunk)` over `out` (laid out as rows of `row_len`
/// values each) split into contiguous row ranges (in multiples of `align`
/// rows), which the pool's threads claim: each its own share first, front
/// to back, in claims that shrink as the share does, then what others have
/// left, from the back.
/// A last row shorter than `row_len` counts as a row (its chunk is
/// shorter).
pub fn par_rows<T: Send>(
    pool: &ThreadPool,
    out: &mut [T],
    row_len: usize,
    align: usize,
    f: impl Fn(Range<usize>, &mut [T]) + Sync,
) {
    par_rows_tid(pool, out, row_len, align, |_, r, c| f(r, c));
}

/// [`par_rows`], also telling `f` which thread runs it (`0..n_threads`), so
/// that it can use per-thread scratch.
pub fn par_rows_tid<T: Send>(
    pool: &ThreadPool,
    out: &mut [T],
    row_len: usize,
    align: usize,
    f: impl Fn(usize, Range<usize>, &mut [T]) + Sync,
) {
    let rows = out.len().div_ceil(row_len.max(1));
    let len = out.len();
    let out = Parts::new(out);
    par_ranges(pool, rows, align, |tid, r| {
        let span = (r.start * row_len).min(len)..(r.end * row_len).min(len);
        // SAFETY: `par_ranges` hands out disjoint row ranges, hence
        // disjoint spans.
        f(tid, r, unsafe { out.part(span) });
    });
}

/// Runs `f(tid, rows)` over `0..n` split into disjoint ranges (in
/// multiples of `align`; non-empty unless `n` is 0), which the pool's
/// threads claim as in [`par_rows`]: for callers whose threads write
/// through their own disjoint views of a shared output.
pub fn par_ranges(
    pool: &ThreadPool,
    n: usize,
    align: usize,
    f: impl Fn(usize, Range<usize>) + Sync,
) {
    let nt = pool.n_threads();
    let align = align.max(1);
    let units = n.div_ceil(align);
    if nt == 1 || units <= 1 {
        f(0, 0..n);
        return;
    }
    for_each_range(pool, units, |tid, u| {
        f(tid, u.start * align..(u.end * align).min(n))
    });
}

/// Runs `f(tid, units)` over disjoint ranges covering `0..n`, on the pool.
/// Thread `t` owns units `t · n / threads` onwards and claims them from the
/// front, in order, so that consecutive rows (which the kernels prefetch
/// one tile ahead) stay on one core; each claim takes a quarter of what it
/// has left (at least one unit), so claims shrink as the job nears its
/// end. A thread that runs out takes a quarter of what another has left
/// from the back, so a late thread never holds up the job, and the threads
/// finish within about one unit of each other: with a fixed four chunks
/// per thread, the first to finish waited for half a chunk on average,
/// 7% of decode's time in jobs.
fn for_each_range(pool: &ThreadPool, n: usize, f: impl Fn(usize, Range<usize>) + Sync) {
    let nt = pool.n_threads();
    assert!(n <= u32::MAX as usize, "too many units for one job");
    let job = pool.exclusive();
    let slots = &pool.shared.slots[..nt];
    for (t, slot) in slots.iter().enumerate() {
        let own = home(n, nt, t);
        slot.0.store(pack(own.start, own.end), Ordering::Relaxed);
    }
    pool.run_exclusive(&job, &|tid| {
        while let Some(r) = claim(&slots[tid].0, false) {
            f(tid, r);
        }
        for v in (tid + 1..nt).chain(0..tid) {
            while let Some(r) = claim(&slots[v].0, true) {
                f(tid, r);
            }
        }
    });
}

/// The units thread `tid` of `threads` owns in a job over `n` units (of
/// [`par_rows`], [`par_ranges`] and their kin): it claims them first, in
/// order, and other threads take from their back only once out of their
/// own. What a thread will most likely read next, for prefetching.
pub(crate) fn home(n: usize, threads: usize, tid: usize) -> Range<usize> {
    let t = threads.max(1);
    tid * n / t..(tid + 1) * n / t
}

/// `front..back` as a slot value.
fn pack(front: usize, back: usize) -> u64 {
    front as u64 | (back as u64) << 32
}

/// Takes a quarter (rounded up) of the units left in `slot`, from the
/// front or from the `back`; `None` once it is empty.
fn claim(slot: &AtomicU64, back: bool) -> Option<Range<usize>> {
    let mut cur = slot.load(Ordering::Relaxed);
    loop {
        let (a, b) = ((cur & 0xFFFF_FFFF) as usize, (cur >> 32) as usize);
        if a >= b {
            return None;
        }
        let take = (b - a).div_ceil(4);
        let (r, next) = if back {
            (b - take..b, pack(a, b - take))
        } else {
            (a..a + take, pack(a + take, b))
        };
        // Relaxed: the slot only hands out indices; the data each range
        // covers is published by the job's start and end.
        match slot.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Some(r),
            Err(now) => cur = now,
        }
    }
}

/// A value alone on its cache lines (two: adjacent-line prefetchers pull
/// lines in pairs).
#[repr(align(128))]
struct Padded<T>(T);

/// A `&mut [T]` that the pool's threads carve into disjoint parts.
pub(crate) struct Parts<'a, T> {
    ptr: *mut T,
    len: usize,
    _out: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: `Parts` only hands out disjoint `&mut` parts (the contract of
// `part`), so sharing it across threads is sharing `&mut [T]` pieces, which
// needs `T: Send`.
unsafe impl<T: Send> Sync for Parts<'_, T> {}

impl<'a, T> Parts<'a, T> {
    pub(crate) fn new(s: &'a mut [T]) -> Self {
        Parts {
            ptr: s.as_mut_ptr(),
            len: s.len(),
            _out: std::marker::PhantomData,
        }
    }

    /// The elements `span` of the slice.
    ///
    /// # Safety
    /// No two calls during the slice's borrow may ask for overlapping spans.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn part(&self, span: Range<usize>) -> &'a mut [T] {
        assert!(
            span.start <= span.end && span.end <= self.len,
            "part outside the slice"
        );
        // SAFETY: in bounds (checked), and disjoint from every other part
        // handed out (the caller's contract).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(span.start), span.len()) }
    }
}

/// [`par_rows_tid`] over two buffers split alike: `a` and `b` both hold
/// rows of `row_len` values, and `f` gets the same row range of each.
pub fn par_rows_tid2<T: Send>(
    pool: &ThreadPool,
    a: &mut [T],
    b: &mut [T],
    row_len: usize,
    align: usize,
    f: impl Fn(usize, Range<usize>, &mut [T], &mut [T]) + Sync,
) {
    let row_len = row_len.max(1);
    let rows = a.len().min(b.len()) / row_len;
    let (a, b) = (&mut a[..rows * row_len], &mut b[..rows * row_len]);
    let (a, b) = (Parts::new(a), Parts::new(b));
    par_ranges(pool, rows, align, |tid, r| {
        let span = r.start * row_len..r.end * row_len;
        // SAFETY: `par_ranges` hands out disjoint row ranges, hence
        // disjoint spans.
        let (ca, cb) = unsafe { (a.part(span.clone()), b.part(span)) };
        f(tid, r, ca, cb);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Repetitions of the loops below: Miri runs about a million times
    /// slower than native code.
    const REPS: usize = if cfg!(miri) { 8 } else { 1000 };

    /// Not a test of the pool: a data race on purpose, which
    /// `scripts/race.sh` runs expecting its race detectors to report it
    /// (a detector that saw nothing here would pass everything).
    #[test]
    #[ignore = "a deliberate data race, for scripts/race.sh"]
    fn canary_data_race() {
        struct Racy(UnsafeCell<u64>);
        // SAFETY: none; the point is the unsynchronized writes below.
        unsafe impl Sync for Racy {}
        let x = Racy(UnsafeCell::new(0));
        // Both threads are alive when they write: without the barrier the
        // first could finish before the second starts, and the scope's own
        // bookkeeping (atomics) could order the two writes, hiding the
        // race from ThreadSanitizer (it did once in CI).
        let both = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            let (r, both) = (&x, &both);
            for _ in 0..2 {
                s.spawn(move || {
                    both.wait();
                    // SAFETY: none: two threads write without
                    // synchronization.
                    unsafe { *r.0.get() += 1 }
                });
            }
        });
        assert!(x.0.into_inner() <= 2);
    }

    #[test]
    fn a_worker_that_cannot_start_is_an_error() {
        FAIL_SPAWN_AT.with(|at| at.set(3));
        let err = ThreadPool::new(5)
            .err()
            .expect("the third worker fails to start");
        FAIL_SPAWN_AT.with(|at| at.set(0));
        assert!(matches!(err, Error::Resources(_)), "{err}");
        assert!(err.to_string().contains("worker thread 3 of 5"), "{err}");
        // The pool is usable again once threads can start.
        let pool = ThreadPool::new(5).unwrap();
        let hits = AtomicUsize::new(0);
        pool.run(&|_| {
            hits.fetch_add(1, Ordering::Relaxed);
        });
        assert!(hits.load(Ordering::Relaxed) >= 1);
    }

    #[test]
    fn each_thread_index_runs_at_most_once_per_job_and_the_caller_always() {
        let pool = ThreadPool::new(4).unwrap();
        for _ in 0..REPS {
            let hits: [AtomicUsize; 4] = Default::default();
            pool.run(&|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert_eq!(hits[0].load(Ordering::Relaxed), 1);
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) <= 1));
        }
    }

    #[test]
    fn a_busy_worker_does_not_stall_the_job() {
        // Two threads, and the worker is held inside a long first chunk:
        // the caller must take the remaining chunks itself.
        let pool = ThreadPool::new(2).unwrap();
        let mut out = vec![0u32; 64];
        par_rows_tid(&pool, &mut out, 1, 1, |tid, r, chunk| {
            if tid == 1 {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            for (k, row) in r.enumerate() {
                chunk[k] = row as u32 + 1;
            }
        });
        assert_eq!(out, (1..=64).collect::<Vec<u32>>());
    }

    #[test]
    fn par_rows_tid2_splits_both_buffers_alike() {
        for nt in [1, 2, 3] {
            let pool = ThreadPool::new(nt).unwrap();
            let (mut a, mut b) = (vec![0u32; 300], vec![0u32; 300]);
            par_rows_tid2(&pool, &mut a, &mut b, 3, 4, |_, r, ca, cb| {
                assert_eq!((ca.len(), cb.len()), (r.len() * 3, r.len() * 3));
                for (k, row) in r.enumerate() {
                    ca[k * 3] = row as u32;
                    cb[k * 3] = row as u32 + 1;
                }
            });
            for row in 0..100 {
                assert_eq!((a[row * 3], b[row * 3]), (row as u32, row as u32 + 1));
            }
        }
    }

    #[test]
    fn par_rows_covers_every_row_once() {
        for nt in [1, 2, 3, 8] {
            let pool = ThreadPool::new(nt).unwrap();
            for rows in [1, 2, 7, 64, if cfg!(miri) { 100 } else { 1000 }] {
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
    fn a_job_started_inside_a_job_is_refused_and_the_pool_survives() {
        for nt in [1, 2] {
            let pool = ThreadPool::new(nt).unwrap();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut out = vec![0u8; 64];
                par_rows(&pool, &mut out, 1, 1, |_, c| {
                    let mut inner = vec![0u8; 64];
                    par_rows(&pool, &mut inner, 1, 1, |_, d| d.fill(2));
                    c.fill(1);
                });
            }));
            // One thread runs every job inline, sharing nothing: nesting
            // is harmless there.
            assert_eq!(r.is_err(), nt > 1, "{nt} threads");
            let mut out = vec![0u8; 100];
            par_rows(&pool, &mut out, 1, 1, |_, c| c.fill(1));
            assert!(out.iter().all(|&x| x == 1));
        }
    }

    #[test]
    fn two_threads_sharing_a_pool_get_whole_jobs_or_a_refusal() {
        // A job that ran must have run every row exactly once; a job that
        // met another running is refused with a panic; the pool survives.
        let pool = ThreadPool::new(2).unwrap();
        std::thread::scope(|sc| {
            for _ in 0..2 {
                sc.spawn(|| {
                    for _ in 0..REPS / 5 {
                        let mut out = vec![0u32; 256];
                        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            par_rows(&pool, &mut out, 1, 1, |_, c| {
                                c.iter_mut().for_each(|x| *x += 1)
                            });
                        }));
                        if ran.is_ok() {
                            assert!(out.iter().all(|&x| x == 1), "rows run twice or never");
                        }
                    }
                });
            }
        });
        let mut out = vec![0u8; 100];
        par_rows(&pool, &mut out, 1, 1, |_, c| c.fill(1));
        assert!(out.iter().all(|&x| x == 1));
    }

    #[test]
    fn a_panicking_job_is_reported_and_the_pool_survives() {
        let pool = ThreadPool::new(3).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut out = vec![0u8; 100];
            par_rows(&pool, &mut out, 1, 1, |r, _| {
                assert!(!r.contains(&50), "boom")
            });
        }));
        assert!(r.is_err());
        let mut out = vec![0u8; 100];
        par_rows(&pool, &mut out, 1, 1, |_, c| c.fill(1));
        assert!(out.iter().all(|&x| x == 1));
    }
}
