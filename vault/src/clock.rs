//! Device ids, hybrid logical clock stamps, and the few time helpers the vault needs.

use std::fmt;
use std::io::{ErrorKind, Read as _, Write as _};
use std::path::Path;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::fsutil;

/// A device id: 16 random bytes, shown as 32 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct DeviceId(pub [u8; 16]);

/// Name of the device-id file inside the state folder.
const DEVICE_ID_FILE: &str = "device-id";

impl DeviceId {
    /// Reads `<state_dir>/device-id`, creating it (0600) with a fresh random id if absent.
    ///
    /// Creation is atomic (temporary file, then a rename that never replaces an existing
    /// file), so two processes starting at once agree on one id. The state folder is created
    /// (0700) when missing.
    pub fn load_or_create(state_dir: &Path) -> Result<DeviceId> {
        let path = state_dir.join(DEVICE_ID_FILE);
        match read_device_id(&path) {
            Err(Error::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {}
            other => return other,
        }
        fsutil::create_private_dir_all(state_dir)?;
        let id = DeviceId::random()?;
        let mut tmp = fsutil::temp_file(state_dir, ".device-id.")?;
        writeln!(tmp, "{id}").map_err(|e| Error::io("cannot write", tmp.path(), e))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io("cannot write", tmp.path(), e))?;
        match tmp.persist_noclobber(&path) {
            Ok(_) => {
                fsutil::sync_dir(state_dir)?;
                Ok(id)
            }
            // Another process created it first: use theirs.
            Err(e) if e.error.kind() == ErrorKind::AlreadyExists => read_device_id(&path),
            Err(e) => Err(Error::io("cannot create", &path, e.error)),
        }
    }

    /// A fresh random id.
    pub fn random() -> Result<DeviceId> {
        let mut bytes = [0u8; 16];
        fill_random(&mut bytes)?;
        Ok(DeviceId(bytes))
    }

    /// Writes the 32 hex characters into `buf` and returns them as a `&str`.
    pub(crate) fn hex<'b>(&self, buf: &'b mut [u8; 32]) -> &'b str {
        hex::encode_to_slice(self.0, buf).expect("32 bytes hold 16 bytes as hex");
        std::str::from_utf8(buf).expect("hex is ASCII")
    }
}

fn read_device_id(path: &Path) -> Result<DeviceId> {
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(256).read_to_string(&mut text))
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidData => Error::InvalidDeviceId {
                path: path.to_path_buf(),
            },
            _ => Error::io("cannot read", path, e),
        })?;
    text.trim().parse().map_err(|_| Error::InvalidDeviceId {
        path: path.to_path_buf(),
    })
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hex(&mut [0; 32]))
    }
}

/// The error of parsing a [`DeviceId`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a device id is 32 hexadecimal characters")]
#[non_exhaustive]
pub struct ParseDeviceIdError;

impl FromStr for DeviceId {
    type Err = ParseDeviceIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 16];
        if s.len() != 32 {
            return Err(ParseDeviceIdError);
        }
        hex::decode_to_slice(s, &mut bytes).map_err(|_| ParseDeviceIdError)?;
        Ok(DeviceId(bytes))
    }
}

/// A hybrid logical clock stamp. Ordered by (wall_ms, counter, device).
/// `Default` is [`Hlc::ZERO`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Hlc {
    pub wall_ms: u64,
    pub counter: u32,
    pub device: DeviceId,
}

impl Hlc {
    /// The smallest stamp; every real stamp is greater.
    pub const ZERO: Hlc = Hlc {
        wall_ms: 0,
        counter: 0,
        device: DeviceId([0; 16]),
    };

    /// The stamp for a local write by `device` at wall-clock time `now_ms`, given the greatest
    /// stamp seen so far (`max`). The result is greater than `max` even when this device's
    /// clock is behind: it takes `max(now_ms, max.wall_ms)` and, on a tie, counts up.
    pub fn next(max: Hlc, now_ms: u64, device: DeviceId) -> Hlc {
        if now_ms > max.wall_ms {
            return Hlc {
                wall_ms: now_ms,
                counter: 0,
                device,
            };
        }
        match max.counter.checked_add(1) {
            Some(counter) => Hlc {
                wall_ms: max.wall_ms,
                counter,
                device,
            },
            // 4 billion writes within one millisecond: move to the next millisecond.
            None => Hlc {
                wall_ms: max.wall_ms.saturating_add(1),
                counter: 0,
                device,
            },
        }
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Fills `buf` from the operating system's random number generator.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::Random(e.to_string()))
}

/// A UTC calendar time split into fields, for file names and comments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub milli: u32,
}

impl Utc {
    pub(crate) fn from_unix_ms(ms: u64) -> Utc {
        let secs = ms / 1000;
        let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX);
        let rem = secs % 86_400;
        // Howard Hinnant's days_from_civil inverse (civil_from_days).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Utc {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem / 60 % 60) as u32,
            second: (rem % 60) as u32,
            milli: (ms % 1000) as u32,
        }
    }

    /// `2026-11-23T11:26:00Z`, the form age-keygen writes in `# created:` lines.
    pub(crate) fn rfc3339_seconds(&self) -> String {
        let Utc {
            year,
            month,
            day,
            hour,
            minute,
            second,
            milli: _,
        } = *self;
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
    }

    /// `20261123T112600.123Z`: sorts like the time it names.
    pub(crate) fn compact_millis(&self) -> String {
        let Utc {
            year,
            month,
            day,
            hour,
            minute,
            second,
            milli,
        } = *self;
        format!("{year:04}{month:02}{day:02}T{hour:02}{minute:02}{second:02}.{milli:03}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: DeviceId = DeviceId([0xaa; 16]);
    const B: DeviceId = DeviceId([0xbb; 16]);

    #[test]
    fn next_uses_the_wall_clock_when_it_is_ahead() {
        let max = Hlc {
            wall_ms: 1_000,
            counter: 7,
            device: B,
        };
        assert_eq!(
            Hlc::next(max, 2_000, A),
            Hlc {
                wall_ms: 2_000,
                counter: 0,
                device: A
            }
        );
    }

    #[test]
    fn next_counts_up_when_the_wall_clock_is_behind_or_equal() {
        let max = Hlc {
            wall_ms: 5_000,
            counter: 7,
            device: B,
        };
        let behind = Hlc::next(max, 1_000, A);
        assert_eq!(
            behind,
            Hlc {
                wall_ms: 5_000,
                counter: 8,
                device: A
            }
        );
        assert!(behind > max);
        let equal = Hlc::next(max, 5_000, A);
        assert!(equal > max);
        // Greater even than a stamp of a device id that sorts after ours.
        let max = Hlc {
            wall_ms: 5_000,
            counter: 7,
            device: DeviceId([0xff; 16]),
        };
        assert!(Hlc::next(max, 0, DeviceId([0; 16])) > max);
    }

    #[test]
    fn next_survives_counter_overflow() {
        let max = Hlc {
            wall_ms: 5_000,
            counter: u32::MAX,
            device: B,
        };
        let next = Hlc::next(max, 0, A);
        assert_eq!(
            next,
            Hlc {
                wall_ms: 5_001,
                counter: 0,
                device: A
            }
        );
        assert!(next > max);
    }

    #[test]
    fn order_is_wall_then_counter_then_device() {
        let s = |wall_ms, counter, device| Hlc {
            wall_ms,
            counter,
            device,
        };
        assert!(s(1, 9, B) < s(2, 0, A));
        assert!(s(1, 1, B) < s(1, 2, A));
        assert!(s(1, 1, A) < s(1, 1, B));
    }

    #[test]
    fn device_id_text_round_trip() {
        let id = DeviceId([
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0, 1, 2, 3, 4, 5, 6, 7,
        ]);
        assert_eq!(id.to_string(), "0123456789abcdef0001020304050607");
        assert_eq!(id.to_string().parse::<DeviceId>(), Ok(id));
        assert!("0123".parse::<DeviceId>().is_err());
        assert!(
            "zz23456789abcdef0001020304050607"
                .parse::<DeviceId>()
                .is_err()
        );
        assert_eq!(
            ParseDeviceIdError.to_string(),
            "a device id is 32 hexadecimal characters"
        );
    }

    #[test]
    fn device_id_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/keyhelm");
        let first = DeviceId::load_or_create(&state).unwrap();
        let again = DeviceId::load_or_create(&state).unwrap();
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&state.join(DEVICE_ID_FILE)), 0o600);
            assert_eq!(mode(&state), 0o700);
            assert_eq!(mode(state.parent().unwrap()), 0o700);
        }
    }

    #[test]
    fn device_id_created_concurrently_is_the_same_for_everyone() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().to_path_buf();
        let ids: Vec<DeviceId> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| DeviceId::load_or_create(&state).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|id| *id == ids[0]));
    }

    #[test]
    fn damaged_device_id_file_is_an_error_and_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DEVICE_ID_FILE);
        std::fs::write(&path, "not an id\n").unwrap();
        let err = DeviceId::load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, Error::InvalidDeviceId { .. }), "{err:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not an id\n");
    }

    #[test]
    fn calendar_conversion() {
        assert_eq!(
            Utc::from_unix_ms(0).rfc3339_seconds(),
            "1970-01-01T00:00:00Z"
        );
        // 2024-02-29T23:59:59.999Z (a leap day).
        let t = Utc::from_unix_ms(1_709_251_199_999);
        assert_eq!(t.rfc3339_seconds(), "2024-02-29T23:59:59Z");
        assert_eq!(t.compact_millis(), "20240229T235959.999Z");
        assert_eq!(
            Utc::from_unix_ms(951_782_400_000).rfc3339_seconds(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            Utc::from_unix_ms(4_102_444_800_000).rfc3339_seconds(),
            "2100-01-01T00:00:00Z"
        );
    }
}
