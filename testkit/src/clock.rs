//! An injectable clock shared by every expiry check of a fake server.
//!
//! Tests never sleep to make a token expire: they call
//! [`FakeClock::advance`] and every TTL check of the fake (access tokens,
//! refresh tokens, authorization codes, request tokens, sessions, rate-limit
//! windows) sees the new time at once.
//!
//! A clock is either *frozen* (the default: time moves only when a test
//! advances it, so `expires_in` values are exact and assertions are
//! deterministic) or *following the wall clock* (real time plus whatever was
//! advanced), for end-to-end tests where a real client also looks at real time.
//! Clones share the same time.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A cloneable, thread-safe clock; see the module documentation.
#[derive(Clone)]
pub struct FakeClock {
    inner: Arc<Mutex<ClockState>>,
}

#[derive(Debug)]
struct ClockState {
    /// `Some(t)`: frozen at `t`. `None`: follows `SystemTime::now()`.
    frozen: Option<SystemTime>,
    /// Total of every `advance` so far.
    offset: Duration,
}

impl FakeClock {
    /// A frozen clock set to the current wall-clock time, rounded down to a
    /// whole second (so Unix timestamps and `expires_in` values come out even).
    pub fn new() -> Self {
        Self::frozen_at_unix(unix_seconds(SystemTime::now()))
    }

    /// A frozen clock set to `secs` seconds after the Unix epoch.
    pub fn frozen_at_unix(secs: u64) -> Self {
        Self::from_state(ClockState {
            frozen: Some(UNIX_EPOCH + Duration::from_secs(secs)),
            offset: Duration::ZERO,
        })
    }

    /// A clock that follows the wall clock, plus whatever is advanced.
    pub fn following_wall_clock() -> Self {
        Self::from_state(ClockState {
            frozen: None,
            offset: Duration::ZERO,
        })
    }

    fn from_state(state: ClockState) -> Self {
        Self {
            inner: Arc::new(Mutex::new(state)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ClockState> {
        // A panic while holding this lock cannot leave the state half-updated
        // (both fields are plain values), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current time of this clock.
    pub fn now(&self) -> SystemTime {
        let state = self.lock();
        state.frozen.unwrap_or_else(SystemTime::now) + state.offset
    }

    /// The current time as whole seconds since the Unix epoch.
    pub fn unix(&self) -> u64 {
        unix_seconds(self.now())
    }

    /// Moves this clock (and every clone of it) forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut state = self.lock();
        state.offset += by;
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for FakeClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frozen = self.lock().frozen.is_some();
        f.debug_struct("FakeClock")
            .field("unix", &self.unix())
            .field("frozen", &frozen)
            .finish()
    }
}

/// Whole seconds since the Unix epoch (0 for times before it).
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Whole seconds from `now` until `deadline`, 0 once it has passed.
pub fn seconds_until(now: SystemTime, deadline: SystemTime) -> u64 {
    deadline.duration_since(now).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_advanced() {
        let clock = FakeClock::frozen_at_unix(1_000);
        assert_eq!(clock.unix(), 1_000);
        assert_eq!(clock.unix(), 1_000);
        clock.advance(Duration::from_secs(599));
        assert_eq!(clock.unix(), 1_599);
    }

    #[test]
    fn clones_share_time() {
        let clock = FakeClock::frozen_at_unix(50);
        let other = clock.clone();
        other.advance(Duration::from_secs(10));
        assert_eq!(clock.unix(), 60);
    }

    #[test]
    fn wall_clock_mode_adds_the_offset() {
        let clock = FakeClock::following_wall_clock();
        let before = unix_seconds(SystemTime::now());
        clock.advance(Duration::from_secs(3_600));
        assert!(clock.unix() >= before + 3_600);
    }

    #[test]
    fn new_clock_is_whole_seconds() {
        let clock = FakeClock::new();
        let since = clock.now().duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(since.subsec_nanos(), 0);
    }

    #[test]
    fn seconds_until_saturates() {
        let t = UNIX_EPOCH + Duration::from_secs(100);
        assert_eq!(
            seconds_until(t, t + Duration::from_millis(3_599_900)),
            3_599
        );
        assert_eq!(seconds_until(t + Duration::from_secs(5), t), 0);
    }

    #[test]
    fn debug_shows_time_and_mode() {
        let clock = FakeClock::frozen_at_unix(7);
        assert_eq!(format!("{clock:?}"), "FakeClock { unix: 7, frozen: true }");
    }
}
