//! `prodsim`: run any scenario headless and print its numbers.
//!
//! Exit status: 0 on success, 2 for bad input (with a message naming the
//! valid choices), 1 if the scenario registry itself is broken or `check`
//! found a failure.

#[cfg(not(target_arch = "wasm32"))]
#[path = "prodsim/cli.rs"]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

/// The command line is native only; a wasm build of this binary (the
/// workspace-wide wasm lint builds every binary) does nothing.
#[cfg(target_arch = "wasm32")]
fn main() {}
