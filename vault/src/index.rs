//! The lookup index at the start of the payload (docs/vault-format.md, "The index").
//!
//! Derived data: the encoder writes it on every write and a full read skips it. A lookup uses
//! it only to find where entries are; every entry found is parsed and checked (kind, id, and
//! protocol and host) before it is used, and an index that does not fit its payload sends the
//! lookup back to a full read.
//!
//! The index is one JSON string of lower-case hex, fixed-width fields, big-endian:
//!
//! ```text
//! header  (48 hex)  payload_len u32 | accounts start u32, len u32 | tokens start u32, len u32
//!                   | records u32
//! record  (32 hex)  host hash u64 | start u32 | len u32          (sorted by hash, then start)
//! ```
//!
//! A span (`start`, `len`) covers whole entries of the `entries` array, separated by commas:
//! from the `{` of the first to the `}` of the last, byte offsets into the payload. A record
//! covers the stored credentials of one (protocol, host), which the encoder writes next to
//! each other (credentials are written in key order).

use sha2::{Digest, Sha256};

/// How every payload with an index starts. A payload that starts otherwise has no index (it
/// may still be a valid payload: the index is optional for readers).
pub(crate) const PREFIX: &[u8] = br#"{"format":1,"index":""#;
/// Hex characters of the header.
pub(crate) const HEADER_HEX: usize = 6 * 8;
/// Hex characters of one record.
pub(crate) const RECORD_HEX: usize = 16 + 8 + 8;

/// A byte range of the payload. `len == 0` means "nothing" (the start is then 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: u32,
    pub len: u32,
}

impl Span {
    pub(crate) fn end(self) -> u64 {
        u64::from(self.start) + u64::from(self.len)
    }

    /// The span from `start` to `end` (exclusive), if it fits in 32 bits.
    pub(crate) fn between(start: usize, end: usize) -> Option<Span> {
        Some(Span {
            start: u32::try_from(start).ok()?,
            len: u32::try_from(end.checked_sub(start)?).ok()?,
        })
    }
}

/// The fixed part of the index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Header {
    /// The payload's length in bytes: a payload edited by something else than keyhelm's
    /// encoder (which rewrites the index) almost always changes length.
    pub payload_len: u32,
    /// Every live account.
    pub accounts: Span,
    /// Every cached token.
    pub tokens: Span,
    /// The number of records that follow.
    pub records: u32,
}

/// One (protocol, host) and where its stored credentials are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub hash: u64,
    pub span: Span,
}

/// The hash a record is sorted by: the first 8 bytes of
/// `SHA-256("keyhelm-index-v1" 0x00 || str(protocol) || str(host))`, as a big-endian integer.
pub(crate) fn host_hash(protocol: &str, host: &str) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(b"keyhelm-index-v1\0");
    for s in [protocol, host] {
        hasher.update((s.len() as u64).to_be_bytes());
        hasher.update(s.as_bytes());
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The length of the index text with `records` records.
pub(crate) fn text_len(records: usize) -> usize {
    HEADER_HEX + RECORD_HEX * records
}

fn put_hex(out: &mut [u8], value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let n = out.len();
    for (i, byte) in out.iter_mut().enumerate() {
        let shift = 4 * (n - 1 - i);
        *byte = DIGITS[((value >> shift) & 0xf) as usize];
    }
}

fn get_hex(text: &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for &c in text {
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        value = (value << 4) | u64::from(digit);
    }
    Some(value)
}

fn get_u32(text: &[u8]) -> Option<u32> {
    get_hex(text).and_then(|v| u32::try_from(v).ok())
}

/// Writes the index text into `out` (exactly [`text_len`]`(records.len())` bytes), sorting the
/// records.
pub(crate) fn write(out: &mut [u8], header: &Header, records: &mut [Record]) {
    debug_assert_eq!(out.len(), text_len(records.len()));
    records.sort_by_key(|r| (r.hash, r.span.start));
    let (head, body) = out.split_at_mut(HEADER_HEX);
    let fields = [
        header.payload_len,
        header.accounts.start,
        header.accounts.len,
        header.tokens.start,
        header.tokens.len,
        header.records,
    ];
    for (slot, value) in head.chunks_exact_mut(8).zip(fields) {
        put_hex(slot, u64::from(value));
    }
    for (slot, record) in body.chunks_exact_mut(RECORD_HEX).zip(records.iter()) {
        put_hex(&mut slot[..16], record.hash);
        put_hex(&mut slot[16..24], u64::from(record.span.start));
        put_hex(&mut slot[24..], u64::from(record.span.len));
    }
}

/// Parses the header (the first [`HEADER_HEX`] characters of the index).
pub(crate) fn parse_header(text: &[u8]) -> Option<Header> {
    if text.len() != HEADER_HEX {
        return None;
    }
    let mut fields = text.chunks_exact(8).map(get_u32);
    let mut next = || fields.next().flatten();
    Some(Header {
        payload_len: next()?,
        accounts: Span {
            start: next()?,
            len: next()?,
        },
        tokens: Span {
            start: next()?,
            len: next()?,
        },
        records: next()?,
    })
}

/// The spans of every record with this hash (normally one; more only if two hosts share a
/// hash), among `count` records sorted by hash, where `record(i)` reads the `i`-th. `None` if
/// a record is not valid hex, or they are not sorted where the binary search looked.
pub(crate) fn find_with<E>(
    count: usize,
    hash: u64,
    mut record: impl FnMut(usize) -> Result<Option<Record>, E>,
) -> Result<Option<Vec<Span>>, E> {
    // The first record whose hash is not less than `hash`.
    let (mut lo, mut hi) = (0, count);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let Some(r) = record(mid)? else {
            return Ok(None);
        };
        if r.hash < hash {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let mut spans = Vec::new();
    for i in lo..count {
        let Some(r) = record(i)? else {
            return Ok(None);
        };
        if r.hash != hash {
            break;
        }
        spans.push(r.span);
    }
    Ok(Some(spans))
}

/// Parses one record ([`RECORD_HEX`] characters).
pub(crate) fn parse_record(text: &[u8]) -> Option<Record> {
    if text.len() != RECORD_HEX {
        return None;
    }
    Some(Record {
        hash: get_hex(&text[..16])?,
        span: Span {
            start: get_u32(&text[16..24])?,
            len: get_u32(&text[24..])?,
        },
    })
}

/// [`find_with`] over the records' text in memory.
#[cfg(test)]
pub(crate) fn find(records: &[u8], hash: u64) -> Option<Vec<Span>> {
    if !records.len().is_multiple_of(RECORD_HEX) {
        return None;
    }
    let count = records.len() / RECORD_HEX;
    let at = |i: usize| Ok::<_, ()>(parse_record(&records[i * RECORD_HEX..(i + 1) * RECORD_HEX]));
    find_with(count, hash, at).ok()?
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn header_and_records_round_trip() {
        let header = Header {
            payload_len: 0xdead_beef,
            accounts: Span { start: 10, len: 20 },
            tokens: Span::default(),
            records: 3,
        };
        let mut records = [
            Record {
                hash: u64::MAX,
                span: Span { start: 1, len: 2 },
            },
            Record {
                hash: 5,
                span: Span { start: 9, len: 1 },
            },
            Record {
                hash: 5,
                span: Span { start: 3, len: 4 },
            },
        ];
        let mut out = vec![0u8; text_len(3)];
        write(&mut out, &header, &mut records);
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.starts_with("deadbeef0000000a0000001400000000000000000000000"));
        assert!(
            text.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(parse_header(&out[..HEADER_HEX]), Some(header));
        let body = &out[HEADER_HEX..];
        assert_eq!(
            find(body, 5),
            Some(vec![Span { start: 3, len: 4 }, Span { start: 9, len: 1 }])
        );
        assert_eq!(find(body, u64::MAX), Some(vec![Span { start: 1, len: 2 }]));
        assert_eq!(find(body, 6), Some(vec![]));
        assert_eq!(find(body, 0), Some(vec![]));
        assert_eq!(find(&[], 0), Some(vec![]));
        // Not hex, or a cut record: no answer rather than a wrong one.
        let mut bad = body.to_vec();
        bad[RECORD_HEX] = b'x';
        assert_eq!(find(&bad, 5), None);
        assert_eq!(find(&body[1..], 5), None);
        assert_eq!(parse_header(&out[..HEADER_HEX - 1]), None);
        assert_eq!(
            parse_header(b"DEADBEEF0000000a000000140000000000000000000000003"),
            None
        );
    }

    /// Pins the hash: other implementations depend on it (docs/vault-format.md).
    #[test]
    fn known_answer() {
        assert_eq!(
            format!("{:016x}", host_hash("https", "example.com")),
            KNOWN_HOST_HASH
        );
        assert_ne!(
            host_hash("https", "example.com"),
            host_hash("http", "sexample.com")
        );
    }

    pub(crate) const KNOWN_HOST_HASH: &str = "5cbaf31136c7ee78";
}
