//! The `kdep` binary: parses the command line and dispatches to one file per subcommand.
//!
//! Exit codes (documented in `--help` and the README):
//! - 0: success;
//! - 1: problems in the sources (type or permission errors, unformatted files under `--check`,
//!   manifests `import` cannot convert);
//! - 2: usage or I/O problems (bad flags, missing paths, unwritable output).
//!
//! A closed stdout (e.g. `kdep build | head`) is treated as success.

mod cmd;
mod fs;
mod output;
mod report;

use std::process::ExitCode;

use clap::Parser;

/// The compiler allocates many small, short-lived values; mimalloc serves them several times
/// faster than glibc's allocator does on a secondary thread (measured on `bench/build-bench.py`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Stack size of the thread that runs the compiler. Parsing and evaluation bound their own
/// depth; the extra room makes sure those bounds, not the OS stack, are what users hit.
const COMPILER_STACK_BYTES: usize = 256 * 1024 * 1024;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    // The compiler thread hands its exit code over and stays parked until the process exits:
    // a thread that ends first gives its allocator heap back page by page (mimalloc visits
    // every page the thread allocated: the whole compilation, 3 ms at N = 5000 after the
    // output was written), which the process exit makes pointless.
    let (done, code) = std::sync::mpsc::channel();
    let worker = std::thread::Builder::new().name("kdep".into()).stack_size(COMPILER_STACK_BYTES).spawn(move || {
        let code = cli.run();
        if done.send(code).is_ok() {
            loop {
                std::thread::park();
            }
        }
    });
    match worker {
        Ok(handle) => match code.recv() {
            Ok(code) => code.into(),
            // The thread ended without a code: it panicked (its message is printed already).
            Err(_) => {
                let _ = handle.join();
                eprintln!("error: kdep crashed; this is a bug, please report it with the input that caused it");
                ExitCode::from(101)
            }
        },
        Err(e) => {
            eprintln!("error: cannot start the compiler thread: {e}");
            ExitCode::from(2)
        }
    }
}
