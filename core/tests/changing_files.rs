//! Model files that change while a model is open. A model read into memory
//! (`Load::Read`) does not care; a mapped one (`Load::Map`, the default)
//! requires that its file stays as it is, and this pins down what happens
//! when it does not: a read past a truncated end kills the process with
//! SIGBUS (the documented contract: `Load`, the C header's `use_mmap`).

mod common;

use common::*;
use minke::{Load, Model};

const TOKENS: [u32; 12] = [1, 5, 9, 33, 2, 95, 0, 7, 40, 41, 42, 60];

/// Truncates the file at `path` to its first 4 KiB.
fn cut_to_one_page(path: &std::path::Path) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(4096)
        .unwrap();
}

#[test]
fn a_model_read_into_memory_survives_its_file_being_truncated_and_rewritten() {
    let dir = TempDir::new("changing-read");
    let path = dir.path("m.minke");
    write_random(&path, &tiny_config(), 1);
    let model = Model::open_with(&path, Load::Read).unwrap();
    let before = all_logits(&model, params(2, 4), &TOKENS);
    cut_to_one_page(&path);
    let truncated = all_logits(&model, params(2, 4), &TOKENS);
    assert_eq!(before, truncated);
    // Another model in its place.
    write_random(&path, &tiny_config(), 2);
    let rewritten = all_logits(&model, params(2, 4), &TOKENS);
    assert_eq!(before, rewritten);
    let other = Model::open(&path).unwrap();
    assert_ne!(before, all_logits(&other, params(2, 4), &TOKENS));
}

/// Run in a child process (this test binary again): maps a model, cuts
/// its file to one page, and runs it. The parent expects SIGBUS.
#[test]
fn a_mapped_model_whose_file_is_truncated_raises_sigbus() {
    const CHILD: &str = "MINKE_TEST_TRUNCATE_MAPPED";
    if let Ok(path) = std::env::var(CHILD) {
        let model = Model::open_with(&path, Load::Map).unwrap();
        let _ = all_logits(&model, params(1, 4), &TOKENS);
        cut_to_one_page(std::path::Path::new(&path));
        let _ = all_logits(&model, params(1, 4), &TOKENS);
        // Reaching here means the weights were read from a file that has
        // none: the parent fails.
        std::process::exit(0);
    }
    let dir = TempDir::new("changing-map");
    let path = dir.path("m.minke");
    write_random(&path, &tiny_config(), 1);
    let out = this_test_binary()
        .args([
            "--exact",
            "a_mapped_model_whose_file_is_truncated_raises_sigbus",
            "--test-threads=1",
        ])
        .env(CHILD, &path)
        .output()
        .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(libc_sigbus()),
            "child: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A command that runs this test binary again. Under an emulator the
/// binary is foreign to the machine, and where binfmt_misc does not hand
/// it to the emulator (containers, CI) it cannot be executed by itself:
/// `MINKE_TEST_RUNNER` then names the emulator, as cargo's `runner` does
/// (`scripts/test.sh` sets it to qemu-user for the aarch64 suite).
fn this_test_binary() -> std::process::Command {
    let exe = std::env::current_exe().unwrap();
    let runner = std::env::var("MINKE_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut c = std::process::Command::new(program);
            c.args(words).arg(exe);
            c
        }
        None => std::process::Command::new(exe),
    }
}

/// SIGBUS's number: 7 on Linux (x86 and ARM alike), 10 on the BSDs and
/// macOS.
fn libc_sigbus() -> i32 {
    if cfg!(target_os = "linux") || cfg!(target_os = "android") {
        7
    } else {
        10
    }
}
