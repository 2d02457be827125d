//! Human commands: readable text on stdout, `--json` where scripts want it.

pub mod account;
pub mod doctor;
pub mod init;
pub mod list;
pub mod plugin;
pub mod setup;

/// A unix time as `2026-11-23 11:00:00 UTC`.
pub fn format_time(unix: u64) -> String {
    match jiff::Timestamp::from_second(unix.min(i64::MAX as u64) as i64) {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => format!("@{unix}"),
    }
}
