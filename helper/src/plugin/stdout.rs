//! Keeping stdout for protocol bytes only.
//!
//! A plugin runs in keyhelm's process and can write to fd 1, which is the pipe git (or
//! docker, cargo, kubectl) reads the answer from. [`protect_stdout`] moves the real stdout
//! to a private descriptor and points fd 1 at stderr, so a stray `println!` in a plugin (or
//! in any library) lands on stderr and can never corrupt the answer.

use std::fs::File;
use std::io::{self, Write};

/// Duplicates fd 1 into a private descriptor for protocol output, then points fd 1 at
/// stderr. Returns the protocol stream. Call it once, at startup, before loading any
/// plugin; afterwards write protocol bytes only to the returned `File`, and nothing else
/// (`println!` included) reaches the tool.
///
/// On Windows the protocol stream is a duplicate of stdout and stdout is left in place.
pub fn protect_stdout() -> io::Result<File> {
    io::stdout().lock().flush()?;
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        // F_DUPFD_CLOEXEC: the private copy is not inherited by child processes.
        let protocol = io::stdout().as_fd().try_clone_to_owned()?;
        redirect_fd1_to_stderr()?;
        Ok(File::from(protocol))
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::AsHandle;
        let protocol = io::stdout().as_handle().try_clone_to_owned()?;
        Ok(File::from(protocol))
    }
}

#[cfg(unix)]
#[expect(unsafe_code, reason = "dup2 has no safe std equivalent")]
fn redirect_fd1_to_stderr() -> io::Result<()> {
    // SAFETY: dup2(2, 1) atomically makes fd 1 a copy of fd 2. It touches no memory of
    // ours. Rust's `Stdout` keeps no cached state about fd 1 beyond its buffer, which we
    // flushed before; `OwnedFd`s elsewhere in the process never own fd 1 (std's stdio
    // handles are borrowed, not owned), so no owner sees its descriptor change under it
    // in a way that breaks I/O safety. If fd 2 is closed, dup2 fails with EBADF and we
    // report it.
    let r = unsafe { libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
