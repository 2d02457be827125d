//! [`Lookup`]: read-only lookups that decrypt and parse only the entries they need.
//!
//! age encrypts the payload in 64 KiB chunks, each authenticated on its own, and its reader
//! can seek: it decrypts only the chunks that are read. The payload starts with an index
//! ([`crate::index`]), so a lookup decrypts the first chunk, finds where the entries it needs
//! are, and decrypts and parses only those. At 1,000 stored credentials that is 2 chunks out
//! of 4 and a few entries out of 1,000.
//!
//! The index is derived data and is trusted only to find entries: every entry found is parsed
//! and checked (its kind, its id against its key, its protocol and host against the hash it
//! was found by), and an index that does not fit the payload (its recorded length differs,
//! a span leaves the payload, an entry does not parse or is not what the index says) makes
//! the lookup read and parse the whole vault instead, exactly as [`Vault::read`] does. A vault
//! without an index (written by hand, or by another tool) is read whole in the same way.
//!
//! [`Vault::read`]: crate::Vault::read

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::clock::DeviceId;
use crate::clock::Hlc;
use crate::entry::{Account, CachedToken, Credential};
use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::index::{self, Header, Span};
use crate::payload::{Ids, Live, Payload, decode_span};
use crate::store::{self, Location, Worker};
use crate::sync::{self, FileStamp, Lock};

/// age's plaintext chunk size.
const CHUNK: u64 = 64 * 1024;
/// age's ciphertext chunk size (a 16-byte tag per chunk).
const ENCRYPTED_CHUNK: u64 = CHUNK + 16;
/// How much of the file is read at once: the header and the first chunk fit in it.
const READ_AHEAD: usize = 80 * 1024;

/// A vault opened for read-only lookups (what `keyhelm get` needs): the credentials of one
/// protocol and host, the accounts, one account's cached token.
///
/// Each call decrypts and parses only the entries it returns (see the module documentation);
/// a vault without a usable index is read whole on the first call. The file is opened once,
/// under the shared lock, and every call reads that same file, even if a writer replaces the
/// vault meanwhile: the answers always come from one version of the vault.
///
/// Unlike [`Vault::read`](crate::Vault::read), a lookup does not check the chunks it does not
/// read: a vault damaged elsewhere can still answer, and the first write (which reads the
/// whole vault) reports the damage and leaves the file as it is.
pub struct Lookup {
    path: PathBuf,
    /// The ciphertext's length: a capacity for the whole plaintext.
    file_len: usize,
    state: State,
}

enum State {
    Indexed(Box<Indexed<age::stream::StreamReader<BufReader<File>>>>),
    Full(Box<Payload>),
}

impl fmt::Debug for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lookup")
            .field("path", &self.path)
            .field("indexed", &self.is_indexed())
            .finish_non_exhaustive()
    }
}

impl Lookup {
    /// Opens the vault at `location` with `identity`: reads and decrypts the age header and
    /// the index, nothing else yet. [`Error::Missing`] if there is no vault.
    ///
    /// When the vault file is not the one this device last wrote or checked (a sync brought a
    /// new version, a conflict copy appeared), the vault is first brought up to date under the
    /// exclusive lock, exactly as [`Vault::read`](crate::Vault::read) does, and read whole.
    pub fn open(location: &Location, identity: &Identity) -> Result<Lookup> {
        let path = &location.file;
        let (file, meta, fresh) = {
            // The shared lock orders this read after a write in progress; once open, the file
            // is ours whatever happens to its name (writers replace it by rename).
            let lock = Lock::take(location, false)?;
            let file = File::open(path).map_err(|e| match e.kind() {
                ErrorKind::NotFound => Error::Missing { path: path.clone() },
                _ => Error::io("cannot read", path, e),
            })?;
            let meta = file
                .metadata()
                .map_err(|e| Error::io("cannot read", path, e))?;
            let fresh = sync::is_fresh(&lock.memo(), location, FileStamp::of(&meta));
            (file, meta, fresh)
        };
        if !fresh {
            drop(file);
            let worker = Worker {
                location,
                identity,
                device: DeviceId::load_or_create(&location.state_dir)?,
                on_write: None,
            };
            return Ok(Lookup {
                path: path.clone(),
                file_len: 0,
                state: State::Full(Box::new(worker.checked_payload()?)),
            });
        }
        let file_len = meta.len();
        let mut input = BufReader::with_capacity(READ_AHEAD, file);
        let head = input
            .fill_buf()
            .map_err(|e| Error::io("cannot read", path, e))?;
        let plain_len = payload_start(head)
            .and_then(|start| file_len.checked_sub(start))
            .and_then(plaintext_len);
        let mut plain = store::decrypt(input, identity, path)?;
        let file_len = usize::try_from(file_len).unwrap_or(usize::MAX);
        let state = match read_index(&mut plain, plain_len) {
            Ok(Some(header)) => State::Indexed(Box::new(Indexed {
                plain,
                pos: (index::PREFIX.len() + index::HEADER_HEX) as u64,
                header,
            })),
            Ok(None) => State::Full(Box::new(read_whole(&mut plain, file_len, path)?)),
            Err(e) => return Err(store::plaintext_error(path, e)),
        };
        Ok(Lookup {
            path: path.clone(),
            file_len,
            state,
        })
    }

    /// Whether the answers come from the index (`false`: the whole vault was read, because it
    /// has no index or its index does not fit it).
    pub fn is_indexed(&self) -> bool {
        matches!(self.state, State::Indexed(_))
    }

    /// Runs `find` on the index; on an inconsistent index, reads the whole vault instead and
    /// returns `None`.
    fn indexed<T>(
        &mut self,
        find: impl FnOnce(
            &mut Indexed<age::stream::StreamReader<BufReader<File>>>,
        ) -> std::io::Result<Option<T>>,
    ) -> Result<Option<T>> {
        let State::Indexed(indexed) = &mut self.state else {
            return Ok(None);
        };
        match find(indexed) {
            Ok(Some(found)) => Ok(Some(found)),
            Ok(None) => {
                let payload = read_whole(&mut indexed.plain, self.file_len, &self.path)?;
                self.state = State::Full(Box::new(payload));
                Ok(None)
            }
            Err(e) => Err(store::plaintext_error(&self.path, e)),
        }
    }

    fn full(&self) -> &Payload {
        match &self.state {
            State::Full(payload) => payload,
            State::Indexed(_) => unreachable!("`indexed` answered or fell back to a full read"),
        }
    }

    /// The live stored credentials whose protocol and host are exactly these, with the stamp
    /// of their last write, in key order (as [`Snapshot::credentials_stamped`] lists them).
    ///
    /// [`Snapshot::credentials_stamped`]: crate::Snapshot::credentials_stamped
    pub fn credentials(&mut self, protocol: &str, host: &str) -> Result<Vec<(Credential, Hlc)>> {
        let stamped = |live: Live<Credential>| (live.body, live.hlc);
        if let Some(found) = self.indexed(|i| i.credentials(protocol, host))? {
            return Ok(found.into_iter().map(stamped).collect());
        }
        Ok(self
            .full()
            .credentials
            .iter()
            .filter(|l| l.body.key.protocol == protocol && l.body.key.host == host)
            .map(|l| (l.body.clone(), l.hlc))
            .collect())
    }

    /// Every live account, by name.
    pub fn accounts(&mut self) -> Result<Vec<Account>> {
        if let Some(found) = self.indexed(Indexed::accounts)? {
            return Ok(found.into_iter().map(|l| l.body).collect());
        }
        Ok(self
            .full()
            .accounts
            .iter()
            .map(|l| l.body.clone())
            .collect())
    }

    /// Every cached token, by account name.
    pub fn tokens(&mut self) -> Result<Vec<CachedToken>> {
        if let Some(found) = self.indexed(Indexed::tokens)? {
            return Ok(found.into_iter().map(|l| l.body).collect());
        }
        Ok(self.full().tokens.iter().map(|l| l.body.clone()).collect())
    }

    /// The cached token of an account.
    pub fn token(&mut self, account: &str) -> Result<Option<CachedToken>> {
        if let Some(found) = self.indexed(Indexed::tokens)? {
            return Ok(found
                .into_iter()
                .find(|l| l.body.account == account)
                .map(|l| l.body));
        }
        Ok(self.full().tokens.get(account).map(|l| l.body.clone()))
    }
}

/// Where the payload starts in an age file whose first bytes are `head`: after the header,
/// whose last line is the only one that starts with `---` (recipient stanzas start with `->`
/// and their bodies are base64), and the 16-byte nonce. `None` if the header is longer than
/// `head`.
fn payload_start(head: &[u8]) -> Option<u64> {
    let mac = head.windows(5).position(|w| w == b"\n--- ")? + 1;
    let end = mac + head[mac..].iter().position(|&c| c == b'\n')? + 1;
    u64::try_from(end + 16).ok()
}

/// The plaintext length of an age payload of `ct_len` bytes (nonce excluded): every chunk but
/// the last holds 64 KiB, and each carries a 16-byte tag.
fn plaintext_len(ct_len: u64) -> Option<u64> {
    let chunks = ct_len.div_ceil(ENCRYPTED_CHUNK);
    ct_len.checked_sub(16 * chunks).filter(|_| chunks > 0)
}

/// The position just after the index's closing quote.
fn index_end(header: &Header) -> u64 {
    let records = u64::from(header.records) * index::RECORD_HEX as u64;
    (index::PREFIX.len() + index::HEADER_HEX + 1) as u64 + records
}

/// Reads as much of `buf` as the plaintext has; returns how much that was.
fn read_up_to(plain: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match plain.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads the index's header from the start of the plaintext. `None` if there is none, or if it
/// does not fit a payload of `plain_len` bytes (or that length is unknown). The records are
/// read one by one as a search needs them.
fn read_index(plain: &mut impl Read, plain_len: Option<u64>) -> std::io::Result<Option<Header>> {
    let mut head = [0u8; index::PREFIX.len() + index::HEADER_HEX];
    let n = read_up_to(plain, &mut head)?;
    if n < head.len() || !head.starts_with(index::PREFIX) {
        return Ok(None);
    }
    let Some(header) = index::parse_header(&head[index::PREFIX.len()..]) else {
        return Ok(None);
    };
    if plain_len != Some(u64::from(header.payload_len)) {
        return Ok(None);
    }
    // The records and the closing quote fit in the payload.
    if index_end(&header) >= u64::from(header.payload_len) {
        return Ok(None);
    }
    Ok(Some(header))
}

/// Reads and decodes the whole payload (ids trusted, as [`Vault::read`](crate::Vault::read)
/// does).
fn read_whole<P: Read + Seek>(plain: &mut P, capacity: usize, path: &Path) -> Result<Payload> {
    plain
        .seek(SeekFrom::Start(0))
        .map_err(|e| store::plaintext_error(path, e))?;
    let bytes = store::read_plaintext(plain, capacity, path)?;
    store::decode_plaintext(&bytes, path, Ids::Trust)
}

/// A payload read through its index. `P` reads the plaintext.
struct Indexed<P> {
    plain: P,
    /// The plaintext position of `plain`.
    pos: u64,
    header: Header,
}

impl<P: Read + Seek> Indexed<P> {
    /// Moves to `target` in the plaintext.
    ///
    /// age's reader, sent into another chunk, decrypts that chunk and reads the bytes before
    /// `target` into a scratch buffer that it frees without wiping; sent to a chunk's first
    /// byte, it also decrypts the file's last chunk (to learn the plaintext's length). Going
    /// to the chunk's second byte first, and then within the chunk (which only moves a
    /// position), leaves one byte in that scratch buffer and decrypts nothing more.
    fn seek(&mut self, target: u64) -> std::io::Result<()> {
        if target == self.pos {
            return Ok(());
        }
        let offset = target % CHUNK;
        if target / CHUNK != self.pos / CHUNK && offset > 1 {
            self.plain.seek(SeekFrom::Start(target - offset + 1))?;
        }
        self.plain.seek(SeekFrom::Start(target))?;
        self.pos = target;
        Ok(())
    }

    /// The `i`-th record of the index; `None` if it is not valid hex.
    fn record(&mut self, i: usize) -> std::io::Result<Option<index::Record>> {
        let at = (index::PREFIX.len() + index::HEADER_HEX + i * index::RECORD_HEX) as u64;
        self.seek(at)?;
        let mut text = [0u8; index::RECORD_HEX];
        self.plain.read_exact(&mut text)?;
        self.pos += text.len() as u64;
        Ok(index::parse_record(&text))
    }

    /// The entries of `span`, decoded with their ids checked; `None` if the span does not lie
    /// after the index and inside the payload, or is not a list of whole entries.
    fn entries(&mut self, span: Span) -> std::io::Result<Option<crate::payload::SpanEntries>> {
        if span.len == 0 {
            return Ok(Some(Default::default()));
        }
        if u64::from(span.start) < index_end(&self.header)
            || span.end() > u64::from(self.header.payload_len)
        {
            return Ok(None);
        }
        self.seek(u64::from(span.start))?;
        // `[` span `]`: a JSON array of the entries, for the payload's own entry parser.
        let len = span.len as usize;
        let mut text = Zeroizing::new(vec![0u8; len + 2]);
        text[0] = b'[';
        self.plain.read_exact(&mut text[1..=len])?;
        self.pos += u64::from(span.len);
        text[len + 1] = b']';
        Ok(decode_span(&text))
    }

    /// The stored credentials of `protocol` and `host`; `None` if the index is inconsistent.
    fn credentials(
        &mut self,
        protocol: &str,
        host: &str,
    ) -> std::io::Result<Option<Vec<Live<Credential>>>> {
        let hash = index::host_hash(protocol, host);
        let count = self.header.records as usize;
        let Some(spans) = index::find_with(count, hash, |i| self.record(i))? else {
            return Ok(None);
        };
        let mut found = Vec::new();
        for span in spans {
            let Some(entries) = self.entries(span)? else {
                return Ok(None);
            };
            if entries.credentials.len() != entries.len() {
                return Ok(None);
            }
            for live in entries.credentials {
                let key = &live.body.key;
                if index::host_hash(&key.protocol, &key.host) != hash {
                    return Ok(None);
                }
                // Another host with the same hash (2^-64): not an error, not ours.
                if key.protocol == protocol && key.host == host {
                    found.push(live);
                }
            }
        }
        Ok(Some(found))
    }

    /// Every account; `None` if the index is inconsistent.
    fn accounts(&mut self) -> std::io::Result<Option<Vec<Live<Account>>>> {
        let entries = self.entries(self.header.accounts)?;
        Ok(entries
            .filter(|e| e.accounts.len() == e.len())
            .map(|e| e.accounts))
    }

    /// Every cached token; `None` if the index is inconsistent.
    fn tokens(&mut self) -> std::io::Result<Option<Vec<Live<CachedToken>>>> {
        let entries = self.entries(self.header.tokens)?;
        Ok(entries
            .filter(|e| e.tokens.len() == e.len())
            .map(|e| e.tokens))
    }
}

#[cfg(test)]
mod tests;
