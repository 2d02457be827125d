//! The one place that writes to stdout.
//!
//! Stdout carries protocol bytes (and, for human commands, their report) only. Everything is
//! written in one piece through a locked handle; a closed pipe is not an error worth a panic.

#![allow(clippy::print_stdout)]

use std::io::{self, Write};

/// Writes `bytes` and flushes. A reader that went away (EPIPE) is treated as success: there is
/// nobody left to tell.
pub fn write_all(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
