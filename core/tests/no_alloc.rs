//! Principle 2 of the design: once a session exists, `prefill` and `decode`
//! allocate nothing, on any thread. A counting global allocator proves it.

mod common;

use common::*;
use minke::quant::DType;
use minke::{KvType, Model, Session, SessionParams};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; it only
// counts calls while `COUNTING` is set.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count<R>(f: impl FnOnce() -> R) -> (R, usize) {
    ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let r = f();
    COUNTING.store(false, Ordering::SeqCst);
    (r, ALLOCS.load(Ordering::SeqCst))
}

/// One test function (not several) so no other test thread allocates
/// while counting is on.
#[test]
fn decode_and_prefill_allocate_nothing() {
    // The counter itself works: one Vec is one allocation.
    let (v, n) = count(|| vec![1u8; 100]);
    assert_eq!((v.len(), n), (100, 1));

    let dir = TempDir::new("noalloc");
    let f32_path = dir.path("m.minke");
    write_random(&f32_path, &tiny_config(), 9);
    let q_path = dir.path("q.minke");
    minke::quantize::quantize(&f32_path, &q_path, DType::Q4_0, |_, _| {}).unwrap();
    for path in [&f32_path, &q_path] {
        let model = Model::open(path).unwrap();
        for (threads, kv) in [(1, KvType::F32), (3, KvType::F16)] {
            let p = SessionParams {
                n_ctx: 64,
                n_threads: threads,
                kv_type: kv,
                n_batch: 8,
                logits_all: true,
            };
            let mut s = Session::new(&model, p).unwrap();
            // Warm up: first calls may touch lazily-initialised statics.
            s.prefill(&[1, 2, 3]).unwrap();
            s.rewind(0).unwrap();
            let (_, n) = count(|| {
                s.prefill(&[5; 20]).unwrap();
                for t in 0..10 {
                    s.decode(t).unwrap();
                }
                s.prefill_each(&[7; 9], |_, _| {}).unwrap();
                s.rewind(4).unwrap();
                s.decode(3).unwrap();
            });
            assert_eq!(
                n,
                0,
                "{} with {threads} threads: {n} allocations",
                path.display()
            );
        }
    }
}
