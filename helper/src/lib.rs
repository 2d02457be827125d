//! The `keyhelm` binary as a library: front-ends (git, docker, cargo, kubectl), the CLI, and
//! the plugin host. `main.rs` only calls [`main`]; tests and benches call [`app::run`] with
//! their own stdin, stdout and environment.

pub mod agent;
pub mod app;
pub mod cargo;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod ctx;
pub mod docker;
pub mod error;
pub mod fsutil;
pub mod git;
pub mod kube;
pub mod out;
pub mod paths;
pub mod plugin;
pub mod provider;
pub mod sync;
pub mod tty;
pub mod urlmatch;

/// The process entry point: real environment, real stdio.
pub fn main() -> std::process::ExitCode {
    let env = paths::Env::from_process();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let stdin = std::io::stdin();
    // Protocol bytes go to a private copy of fd 1, and fd 1 itself points at stderr, so that
    // nothing a plugin prints can reach the tool reading our answer.
    let code = match plugin::protect_stdout() {
        Ok(mut protocol) => app::run(
            &args,
            env,
            &mut stdin.lock(),
            &mut protocol,
            &mut std::io::stderr().lock(),
        ),
        Err(_) => app::run(
            &args,
            env,
            &mut stdin.lock(),
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        ),
    };
    std::process::ExitCode::from(code)
}
