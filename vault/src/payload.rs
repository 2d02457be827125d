//! The decrypted payload: its in-memory model and its JSON encoding (docs/vault-format.md).
//!
//! Decoding runs straight over the decrypted buffer with hand-written visitors: strings that
//! need no unescaping are copied once from the buffer into their final allocation, secrets go
//! straight into `SecretString`s of exact size, unknown fields and plugin state are kept as raw
//! JSON text, and no intermediate `serde_json::Value` is built. Encoding writes into a
//! [`ZeroizingWriter`], so every byte of plaintext that leaves this module is wiped when
//! dropped.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::marker::PhantomData;

use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::value::RawValue;
use zeroize::{Zeroize, Zeroizing};

use crate::FORMAT_VERSION;
use crate::clock::{DeviceId, Hlc};
use crate::entry::{
    Account, Body, CachedToken, Credential, CredentialKey, EntryId, Kind, PluginState,
};
use crate::index::{self, Record, Span};

/// Raw JSON text of a field or body this build does not know (written by a newer keyhelm).
/// Treated as secret: it may hold one.
#[derive(Clone)]
pub(crate) struct RawJson(pub SecretString);

impl RawJson {
    fn text(&self) -> &str {
        self.0.expose_secret()
    }
}

/// The 32 bytes of the vault secret.
#[derive(Clone, Default, Zeroize)]
pub(crate) struct SecretBytes(pub [u8; 32]);
impl secrecy::CloneableSecret for SecretBytes {}

/// Unknown fields of an object, kept in order so a read-modify-write preserves them.
pub(crate) type Extra = Vec<(String, RawJson)>;

/// A live entry of a known kind.
#[derive(Clone)]
pub(crate) struct Live<T> {
    pub id: EntryId,
    pub hlc: Hlc,
    pub body: T,
    /// Unknown fields of the entry object.
    pub extra: Extra,
    /// Unknown fields of the body object.
    pub body_extra: Extra,
}

impl<T: Body> Live<T> {
    pub(crate) fn new(body: T, hlc: Hlc) -> Live<T> {
        Live {
            id: body.id(),
            hlc,
            body,
            extra: Vec::new(),
            body_extra: Vec::new(),
        }
    }
}

/// Live entries of one kind, sorted by key (credential key, account name): lookups are
/// binary searches and iteration is in key order. A sorted vector rather than a tree: a vault
/// file lists entries in this order, so reading builds it without moving entries around.
#[derive(Clone)]
pub(crate) struct Sorted<T>(Vec<Live<T>>);

impl<T> Default for Sorted<T> {
    fn default() -> Self {
        Sorted(Vec::new())
    }
}

impl<T: Body> Sorted<T> {
    /// Sorts (a no-op check for files this crate wrote). `None` if two entries share a key.
    pub(crate) fn from_vec(mut v: Vec<Live<T>>) -> Option<Sorted<T>> {
        if !v.is_sorted_by(|a, b| a.body.key() < b.body.key()) {
            v.sort_by(|a, b| a.body.key().cmp(b.body.key()));
            if v.windows(2).any(|w| w[0].body.key() == w[1].body.key()) {
                return None;
            }
        }
        Some(Sorted(v))
    }

    fn position(&self, key: &T::Key) -> Result<usize, usize> {
        self.0.binary_search_by(|l| l.body.key().cmp(key))
    }

    pub(crate) fn get(&self, key: &T::Key) -> Option<&Live<T>> {
        self.position(key).ok().map(|i| &self.0[i])
    }

    pub(crate) fn take(&mut self, key: &T::Key) -> Option<Live<T>> {
        self.position(key).ok().map(|i| self.0.remove(i))
    }

    /// Inserts, or replaces the entry with the same key.
    pub(crate) fn replace(&mut self, live: Live<T>) {
        match self.position(live.body.key()) {
            Ok(i) => self.0[i] = live,
            Err(i) => self.0.insert(i, live),
        }
    }
}

impl<T> Sorted<T> {
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Live<T>> {
        self.0.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    #[cfg(test)]
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

impl<T> IntoIterator for Sorted<T> {
    type Item = Live<T>;
    type IntoIter = std::vec::IntoIter<Live<T>>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a Sorted<T> {
    type Item = &'a Live<T>;
    type IntoIter = std::slice::Iter<'a, Live<T>>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The body of an entry of a kind this build does not know.
#[derive(Clone)]
pub(crate) struct OtherBody {
    pub kind: String,
    pub body: RawJson,
}

/// A live entry of an unknown kind, kept as is.
#[derive(Clone)]
pub(crate) struct OtherLive {
    pub hlc: Hlc,
    pub body: OtherBody,
    pub extra: Extra,
}

/// A deleted entry: its stamp and kind, no body.
#[derive(Clone)]
pub(crate) struct Tombstone {
    pub hlc: Hlc,
    pub kind: Kind,
    pub extra: Extra,
}

/// How many vault secrets a payload keeps: the current one and the ones it replaced, so that a
/// device that missed a few rotations still recognises the vault (see [`Payload::secrets`]).
pub(crate) const SECRETS_KEPT: usize = 8;

/// One recipient of the recipients set: the stamp of its last addition or removal.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct Member {
    pub hlc: Hlc,
    /// Removed (a tombstone): the vault is no longer encrypted to it.
    pub removed: bool,
}

/// A vault secret and the stamp of the write that made it current.
#[derive(Clone)]
pub(crate) struct StampedSecret {
    pub hlc: Hlc,
    pub secret: SecretBox<SecretBytes>,
}

impl StampedSecret {
    /// The order of secrets: by stamp, then by value (equal stamps only come from a
    /// misbehaving writer).
    pub(crate) fn order_key(&self) -> (Hlc, [u8; 32]) {
        (self.hlc, self.secret.expose_secret().0)
    }
}

/// The decrypted content of a vault.
#[derive(Clone)]
pub(crate) struct Payload {
    pub vault_id: [u8; 16],
    /// The vault secrets, newest first (see [`StampedSecret::order_key`]): the first is the
    /// current one, the others are the ones it replaced. Never empty; at most
    /// [`SECRETS_KEPT`].
    pub secrets: Vec<StampedSecret>,
    /// Every recipient that was ever added, by canonical key, live or removed. The vault is
    /// encrypted to the live ones.
    pub recipients: BTreeMap<String, Member>,
    /// Writes per device.
    pub vv: BTreeMap<DeviceId, u64>,
    /// The greatest stamp in the payload.
    pub max_hlc: Hlc,
    pub credentials: Sorted<Credential>,
    pub accounts: Sorted<Account>,
    pub tokens: Sorted<CachedToken>,
    pub plugin_states: Sorted<PluginState>,
    pub others: BTreeMap<EntryId, OtherLive>,
    pub tombstones: BTreeMap<EntryId, Tombstone>,
    /// Unknown top-level fields.
    pub extra: Extra,
}

impl Payload {
    /// The current vault secret.
    pub(crate) fn current_secret(&self) -> &StampedSecret {
        &self.secrets[0]
    }

    /// The live recipients (the keys the vault is encrypted to), in key order.
    pub(crate) fn live_recipients(&self) -> impl Iterator<Item = &str> + '_ {
        self.recipients
            .iter()
            .filter(|(_, m)| !m.removed)
            .map(|(k, _)| k.as_str())
    }
}

/// Sorts secrets newest first, drops repeated ones and keeps the [`SECRETS_KEPT`] newest: the
/// greatest elements of a set, so that merging secret lists is a join.
pub(crate) fn normalize_secrets(secrets: &mut Vec<StampedSecret>) {
    secrets.sort_by_key(|s| std::cmp::Reverse(s.order_key()));
    secrets.dedup_by(|a, b| a.order_key() == b.order_key());
    secrets.truncate(SECRETS_KEPT);
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// A `Write` into a `Zeroizing<Vec<u8>>` that never lets the vector reallocate by itself: when
/// it must grow, the bytes move to a new buffer and the old one is wiped.
pub(crate) struct ZeroizingWriter {
    buf: Zeroizing<Vec<u8>>,
}

impl ZeroizingWriter {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        ZeroizingWriter {
            buf: Zeroizing::new(Vec::with_capacity(capacity)),
        }
    }

    pub(crate) fn into_inner(self) -> Zeroizing<Vec<u8>> {
        self.buf
    }

    /// Bytes written so far: the position of the next byte.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    fn reserve(&mut self, more: usize) {
        let needed = self.buf.len() + more;
        if needed > self.buf.capacity() {
            let capacity = needed.max(self.buf.capacity() * 2).max(1024);
            let mut bigger = Zeroizing::new(Vec::with_capacity(capacity));
            bigger.extend_from_slice(&self.buf);
            // The old buffer is zeroized (its whole capacity) when dropped here.
            self.buf = bigger;
        }
    }

    pub(crate) fn put(&mut self, data: &[u8]) {
        self.reserve(data.len());
        self.buf.extend_from_slice(data);
    }

    fn put_zeros(&mut self, n: usize) {
        self.reserve(n);
        let len = self.buf.len() + n;
        self.buf.resize(len, b'0');
    }
}

impl std::io::Write for ZeroizingWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.put(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Encodes the payload as compact JSON into a zeroizing buffer, with its index (see
/// [`crate::index`]). `size_hint` is the expected size (for example the size this payload had
/// when read).
pub(crate) fn encode(payload: &Payload, size_hint: usize) -> Zeroizing<Vec<u8>> {
    let mut out = ZeroizingWriter::with_capacity(size_hint + size_hint / 4 + 4096);
    write_payload(&mut out, payload)
        .expect("a payload always encodes: raw JSON fields were validated when read");
    out.into_inner()
}

/// Writes one value as compact JSON.
fn json<T: Serialize + ?Sized>(out: &mut ZeroizingWriter, value: &T) -> serde_json::Result<()> {
    serde_json::to_writer(out, value)
}

/// Writes the entries of one group into the `entries` array; returns the span they cover.
fn group<T: Serialize>(
    out: &mut ZeroizingWriter,
    first: &mut bool,
    items: impl IntoIterator<Item = T>,
) -> serde_json::Result<Option<Span>> {
    let mut span: Option<(usize, usize)> = None;
    for item in items {
        if !std::mem::take(first) {
            out.put(b",");
        }
        let start = out.len();
        json(out, &item)?;
        let end = out.len();
        span = Some((span.map_or(start, |(s, _)| s), end));
    }
    // Past 4 GiB no index is written (see `write_payload`): any span will do.
    Ok(span.map(|(start, end)| Span::between(start, end).unwrap_or_default()))
}

/// The payload, field by field, in the documented order. The object is written by hand (not
/// through one `Serialize`) so that the position of every entry is known to the index, whose
/// text is reserved at the start and filled in at the end.
fn write_payload(out: &mut ZeroizingWriter, payload: &Payload) -> serde_json::Result<()> {
    let Payload {
        vault_id,
        secrets,
        recipients,
        vv,
        max_hlc,
        credentials,
        accounts,
        tokens,
        plugin_states,
        others,
        tombstones,
        extra,
    } = payload;
    // One record per (protocol, host): credentials are sorted by key, so each host's are
    // next to each other.
    let hosts = credentials
        .iter()
        .zip(credentials.iter().skip(1))
        .filter(|(a, b)| !same_host(&a.body.key, &b.body.key))
        .count()
        + usize::from(!credentials.0.is_empty());
    // `format` first: a reader learns the version before anything else; the index next, so
    // that a lookup finds it in the first decrypted chunk.
    debug_assert_eq!(FORMAT_VERSION, 1, "index::PREFIX names the format");
    out.put(index::PREFIX);
    let index_at = out.len();
    // Zeros are a header that fits no payload (length 0): if filling it in fails, a reader
    // ignores the index.
    out.put_zeros(index::text_len(hosts));
    out.put(b"\",\"vault_id\":");
    json(out, &Hex16(vault_id))?;
    out.put(b",\"secrets\":");
    json(out, &SecretsSer(secrets))?;
    out.put(b",\"recipients\":");
    json(out, &MembersSer(recipients))?;
    out.put(b",\"vv\":");
    json(out, &VvSer(vv))?;
    out.put(b",\"max_hlc\":");
    json(out, &HlcSer(max_hlc))?;
    out.put(b",\"entries\":[");
    // Kinds in a fixed order, each sorted by key: a reader finds them already in order.
    let first = &mut true;
    let accounts = group(out, first, accounts.iter().map(LiveSer))?;
    let mut records = Vec::with_capacity(hosts);
    let mut rest = credentials.0.as_slice();
    while let Some(head) = rest.first() {
        let n = rest
            .iter()
            .position(|l| !same_host(&l.body.key, &head.body.key))
            .unwrap_or(rest.len());
        let (these, after) = rest.split_at(n);
        if let Some(span) = group(out, first, these.iter().map(LiveSer))? {
            records.push(Record {
                hash: index::host_hash(&head.body.key.protocol, &head.body.key.host),
                span,
            });
        }
        rest = after;
    }
    group(out, first, plugin_states.iter().map(LiveSer))?;
    let tokens = group(out, first, tokens.iter().map(LiveSer))?;
    group(out, first, others.iter().map(|(id, o)| OtherSer(id, o)))?;
    group(
        out,
        first,
        tombstones.iter().map(|(id, t)| TombstoneSer(id, t)),
    )?;
    out.put(b"]");
    for (key, value) in extra {
        out.put(b",");
        json(out, key)?;
        out.put(b":");
        json(out, &Raw(value.text()))?;
    }
    out.put(b"}");
    // A payload of 4 GiB or more keeps the zeros: no index.
    if let Ok(payload_len) = u32::try_from(out.len()) {
        let header = index::Header {
            payload_len,
            accounts: accounts.unwrap_or_default(),
            tokens: tokens.unwrap_or_default(),
            records: u32::try_from(records.len()).unwrap_or(u32::MAX),
        };
        let text = &mut out.buf[index_at..index_at + index::text_len(records.len())];
        index::write(text, &header, &mut records);
    }
    Ok(())
}

fn same_host(a: &CredentialKey, b: &CredentialKey) -> bool {
    a.protocol == b.protocol && a.host == b.host
}

/// Encodes one live entry on its own (for the merge tie-break).
pub(crate) fn encode_entry<T: Body + BodySer>(live: &Live<T>) -> Zeroizing<Vec<u8>> {
    let mut out = ZeroizingWriter::with_capacity(512);
    serde_json::to_writer(&mut out, &LiveSer(live)).expect("an entry always encodes");
    out.into_inner()
}

pub(crate) fn encode_other(id: &EntryId, other: &OtherLive) -> Zeroizing<Vec<u8>> {
    let mut out = ZeroizingWriter::with_capacity(512);
    serde_json::to_writer(&mut out, &OtherSer(id, other)).expect("an entry always encodes");
    out.into_inner()
}

struct Hex16<'a>(&'a [u8; 16]);
impl Serialize for Hex16<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 32];
        hex::encode_to_slice(self.0, &mut buf).expect("sized");
        s.serialize_str(std::str::from_utf8(&buf).expect("hex is ASCII"))
    }
}

struct SecretHex32<'a>(&'a SecretBox<SecretBytes>);
impl Serialize for SecretHex32<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = Zeroizing::new([0u8; 64]);
        hex::encode_to_slice(self.0.expose_secret().0, buf.as_mut()).expect("sized");
        s.serialize_str(std::str::from_utf8(buf.as_ref()).expect("hex is ASCII"))
    }
}

struct HlcSer<'a>(&'a Hlc);
impl Serialize for HlcSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Hlc {
            wall_ms,
            counter,
            device,
        } = self.0;
        let mut seq = s.serialize_seq(Some(3))?;
        seq.serialize_element(wall_ms)?;
        seq.serialize_element(counter)?;
        seq.serialize_element(&Hex16(&device.0))?;
        seq.end()
    }
}

struct Secret<'a>(&'a SecretString);
impl Serialize for Secret<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.expose_secret())
    }
}

/// Raw JSON text, written as is.
struct Raw<'a>(&'a str);
impl Serialize for Raw<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(self.0).map_err(ser::Error::custom)?;
        raw.serialize(s)
    }
}

fn write_extra<M: SerializeMap>(map: &mut M, extra: &Extra) -> Result<(), M::Error> {
    for (key, value) in extra {
        map.serialize_entry(key, &Raw(value.text()))?;
    }
    Ok(())
}

/// `[{"hlc": stamp, "secret": hex}, ...]`, newest first.
struct SecretsSer<'a>(&'a [StampedSecret]);
impl Serialize for SecretsSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct One<'a>(&'a StampedSecret);
        impl Serialize for One<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let StampedSecret { hlc, secret } = self.0;
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("hlc", &HlcSer(hlc))?;
                map.serialize_entry("secret", &SecretHex32(secret))?;
                map.end()
            }
        }
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for secret in self.0 {
            seq.serialize_element(&One(secret))?;
        }
        seq.end()
    }
}

/// `[{"key": recipient, "hlc": stamp}, {"key": ..., "hlc": ..., "removed": true}, ...]`, in key
/// order.
struct MembersSer<'a>(&'a BTreeMap<String, Member>);
impl Serialize for MembersSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct One<'a>(&'a str, &'a Member);
        impl Serialize for One<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let Member { hlc, removed } = self.1;
                let mut map = s.serialize_map(None)?;
                map.serialize_entry("key", self.0)?;
                map.serialize_entry("hlc", &HlcSer(hlc))?;
                if *removed {
                    map.serialize_entry("removed", &true)?;
                }
                map.end()
            }
        }
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (key, member) in self.0 {
            seq.serialize_element(&One(key, member))?;
        }
        seq.end()
    }
}

struct VvSer<'a>(&'a BTreeMap<DeviceId, u64>);
impl Serialize for VvSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (device, writes) in self.0 {
            let mut buf = [0u8; 32];
            map.serialize_entry(device.hex(&mut buf), writes)?;
        }
        map.end()
    }
}

struct LiveSer<'a, T>(&'a Live<T>);
impl<T: Body + BodySer> Serialize for LiveSer<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Live {
            id,
            hlc,
            body,
            extra,
            body_extra,
        } = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &Hex16(&id.0))?;
        map.serialize_entry("hlc", &HlcSer(hlc))?;
        map.serialize_entry("kind", T::KIND.as_str())?;
        map.serialize_entry("body", &BodyWithExtra(body, body_extra))?;
        write_extra(&mut map, extra)?;
        map.end()
    }
}

struct OtherSer<'a>(&'a EntryId, &'a OtherLive);
impl Serialize for OtherSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let OtherLive {
            hlc,
            body: OtherBody { kind, body },
            extra,
        } = self.1;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &Hex16(&self.0.0))?;
        map.serialize_entry("hlc", &HlcSer(hlc))?;
        map.serialize_entry("kind", kind)?;
        map.serialize_entry("body", &Raw(body.text()))?;
        write_extra(&mut map, extra)?;
        map.end()
    }
}

struct TombstoneSer<'a>(&'a EntryId, &'a Tombstone);
impl Serialize for TombstoneSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Tombstone { hlc, kind, extra } = self.1;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &Hex16(&self.0.0))?;
        map.serialize_entry("hlc", &HlcSer(hlc))?;
        map.serialize_entry("kind", kind.as_str())?;
        map.serialize_entry("deleted", &true)?;
        write_extra(&mut map, extra)?;
        map.end()
    }
}

/// Writes the fields of a body into an open map.
pub(crate) trait BodySer {
    fn write_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error>;
}

struct BodyWithExtra<'a, T>(&'a T, &'a Extra);
impl<T: BodySer> Serialize for BodyWithExtra<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        self.0.write_fields(&mut map)?;
        write_extra(&mut map, self.1)?;
        map.end()
    }
}

impl BodySer for Credential {
    fn write_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        let Credential {
            key:
                CredentialKey {
                    protocol,
                    host,
                    path,
                    username,
                },
            password,
            password_expiry_utc,
            oauth_refresh_token,
            authtype,
            credential,
        } = self;
        map.serialize_entry("protocol", protocol)?;
        map.serialize_entry("host", host)?;
        // Absent attributes are omitted; empty ones are written as "".
        if let Some(path) = path {
            map.serialize_entry("path", path)?;
        }
        if let Some(username) = username {
            map.serialize_entry("username", username)?;
        }
        if let Some(password) = password {
            map.serialize_entry("password", &Secret(password))?;
        }
        if let Some(expiry) = password_expiry_utc {
            map.serialize_entry("password_expiry_utc", expiry)?;
        }
        if let Some(token) = oauth_refresh_token {
            map.serialize_entry("oauth_refresh_token", &Secret(token))?;
        }
        if let Some(authtype) = authtype {
            map.serialize_entry("authtype", authtype)?;
        }
        if let Some(credential) = credential {
            map.serialize_entry("credential", &Secret(credential))?;
        }
        Ok(())
    }
}

struct SecretMapSer<'a>(&'a BTreeMap<String, SecretString>);
impl Serialize for SecretMapSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, &Secret(v))?;
        }
        map.end()
    }
}

impl BodySer for Account {
    fn write_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        let Account {
            name,
            provider,
            url,
            matches,
            settings,
            secrets,
        } = self;
        map.serialize_entry("name", name)?;
        map.serialize_entry("provider", provider)?;
        map.serialize_entry("url", url)?;
        map.serialize_entry("matches", matches)?;
        map.serialize_entry("settings", settings)?;
        map.serialize_entry("secrets", &SecretMapSer(secrets))?;
        Ok(())
    }
}

impl BodySer for CachedToken {
    fn write_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        let CachedToken {
            account,
            secret,
            username,
            authtype,
            expires_at,
            obtained_at,
            info,
        } = self;
        map.serialize_entry("account", account)?;
        map.serialize_entry("secret", &Secret(secret))?;
        if let Some(username) = username {
            map.serialize_entry("username", username)?;
        }
        if let Some(authtype) = authtype {
            map.serialize_entry("authtype", authtype)?;
        }
        if let Some(expires_at) = expires_at {
            map.serialize_entry("expires_at", expires_at)?;
        }
        map.serialize_entry("obtained_at", obtained_at)?;
        if !info.is_null() {
            map.serialize_entry("info", info)?;
        }
        Ok(())
    }
}

/// Whether `text` can be embedded in the payload as raw JSON and read back byte for byte.
pub(crate) fn is_embeddable_json(text: &str) -> bool {
    text.trim() == text && serde_json::from_str::<&RawValue>(text).is_ok()
}

impl BodySer for PluginState {
    fn write_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        let PluginState { account, state } = self;
        map.serialize_entry("account", account)?;
        // A JSON document is embedded as is (no escaping, so reading it back needs no
        // unescaping buffer); anything else is stored as a string.
        let text = state.expose_secret();
        if is_embeddable_json(text) {
            map.serialize_entry("state", &Raw(text))?;
        } else {
            map.serialize_entry("state_text", &Secret(state))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Why a payload could not be decoded. The reason never contains payload content.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// The payload declares a format newer than this build reads.
    UnsupportedFormat(u32),
    /// Anything else, with a reason that is safe to show.
    Invalid(String),
}

/// Prefix of the error messages this module raises itself (safe to show, no content).
const OURS: &str = "keyhelm: ";

fn ours<E: de::Error>(msg: &str) -> E {
    E::custom(format_args!("{OURS}{msg}"))
}

/// Whether to recompute every live entry's id from its key while decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ids {
    /// Check them: before a payload is written again or merged, so that a wrong id never
    /// spreads to other devices.
    Verify,
    /// Trust them: a read-only lookup, where hashing every key would cost more than the
    /// rest of the parse (ids only matter to writes and merges).
    Trust,
}

/// Decodes a payload from the decrypted buffer, verifying entry ids.
#[cfg(test)]
pub(crate) fn decode(buf: &[u8]) -> Result<Payload, DecodeError> {
    decode_with(buf, Ids::Verify)
}

/// Decodes a payload from the decrypted buffer.
pub(crate) fn decode_with(buf: &[u8], ids: Ids) -> Result<Payload, DecodeError> {
    // One UTF-8 check over the whole buffer is cheaper than serde_json's check per string.
    let text = std::str::from_utf8(buf).map_err(|e| {
        DecodeError::Invalid(format!(
            "the payload is not UTF-8 text (byte {} of the payload)",
            e.valid_up_to()
        ))
    })?;
    let format = Cell::new(None);
    // A credential takes about 250 bytes of JSON.
    let capacity = buf.len() / 256;
    let mut de = serde_json::Deserializer::from_str(text);
    let result = PayloadSeed {
        format: &format,
        capacity,
        ids,
    }
    .deserialize(&mut de)
    .and_then(|p| {
        de.end()?;
        Ok(p)
    });
    match result {
        Ok(payload) => Ok(payload),
        Err(e) => {
            // A newer format may not parse as this one: report the version, not the damage.
            let found = format.get().or_else(|| format_only(buf));
            match found {
                Some(found) if found > FORMAT_VERSION => Err(DecodeError::UnsupportedFormat(found)),
                _ => Err(DecodeError::Invalid(safe_reason(&e))),
            }
        }
    }
}

/// Turns a serde_json error into a reason without any payload content: serde's own messages
/// can quote the offending value ("invalid type: string \"hunter2\""), so only their category
/// and position are kept; messages this module raised are kept whole.
pub(crate) fn safe_reason(e: &serde_json::Error) -> String {
    let (line, column) = (e.line(), e.column());
    let position = format!("line {line}, column {column} of the payload");
    let message = e.to_string();
    if let Some(ours) = message.strip_prefix(OURS) {
        // serde_json appends " at line L column C"; keep only our text.
        let ours = ours.split(" at line ").next().unwrap_or(ours);
        return format!("{ours} ({position})");
    }
    match e.classify() {
        serde_json::error::Category::Syntax => {
            format!("the payload is not valid JSON ({position})")
        }
        serde_json::error::Category::Eof => format!("the payload ends early ({position})"),
        serde_json::error::Category::Data => {
            format!("the payload has a missing or wrong-typed value ({position})")
        }
        serde_json::error::Category::Io => format!("the payload could not be read ({position})"),
    }
}

/// Reads only the `format` field, ignoring everything else.
fn format_only(buf: &[u8]) -> Option<u32> {
    struct FormatOnly(Option<u32>);
    impl<'de> FromObject<'de> for FormatOnly {
        const EXPECTING: &'static str = "a vault payload";
        fn from_object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
            let mut format = None;
            while let Some(key) = map.next_key::<Key<'de>>()? {
                if key.0 == "format" {
                    format = map.next_value::<u32>().ok();
                    if format.is_some() {
                        break;
                    }
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(FormatOnly(format))
        }
    }
    let mut de = serde_json::Deserializer::from_slice(buf);
    object()
        .deserialize(&mut de)
        .ok()
        .and_then(|FormatOnly(f)| f)
}

/// A map key: borrowed from the buffer when it needs no unescaping.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A secret string, allocated once at its exact size.
struct SecretDe(SecretString);

impl<'de> de::Deserialize<'de> for SecretDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SecretDe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretDe, E> {
                Ok(SecretDe(SecretString::from(Box::<str>::from(v))))
            }
            fn visit_string<E: de::Error>(self, mut v: String) -> Result<SecretDe, E> {
                let secret = SecretString::from(Box::<str>::from(v.as_str()));
                v.zeroize();
                Ok(SecretDe(secret))
            }
        }
        d.deserialize_str(V)
    }
}

/// Raw JSON text of any value, copied from the buffer into a secret.
fn raw_json<'de, A: MapAccess<'de>>(map: &mut A) -> Result<RawJson, A::Error> {
    let raw: &'de RawValue = map.next_value()?;
    Ok(RawJson(SecretString::from(Box::<str>::from(raw.get()))))
}

/// A value decoded from a JSON object by a visitor that only accepts maps (see [`object`]).
trait FromObject<'de>: Sized {
    /// What the object is, for serde's "expected ..." messages.
    const EXPECTING: &'static str;
    fn from_object<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

/// The seed (and visitor) that decodes a [`FromObject`] value: `map.next_value_seed(object())`.
struct Object<T>(PhantomData<T>);

fn object<T>() -> Object<T> {
    Object(PhantomData)
}

impl<'de, T: FromObject<'de>> DeserializeSeed<'de> for Object<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: FromObject<'de>> Visitor<'de> for Object<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::from_object(map)
    }
}

struct Hex16De([u8; 16]);
impl<'de> de::Deserialize<'de> for Hex16De {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Hex16De;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("32 hexadecimal characters")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Hex16De, E> {
                let mut out = [0u8; 16];
                if v.len() != 32 || hex::decode_to_slice(v, &mut out).is_err() {
                    return Err(ours("an id is not 32 hexadecimal characters"));
                }
                Ok(Hex16De(out))
            }
        }
        d.deserialize_str(V)
    }
}

struct SecretHex32De(SecretBox<SecretBytes>);
impl<'de> de::Deserialize<'de> for SecretHex32De {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SecretHex32De;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 hexadecimal characters")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretHex32De, E> {
                let mut ok = v.len() == 64;
                let secret = SecretBox::init_with_mut(|out: &mut SecretBytes| {
                    ok = ok && hex::decode_to_slice(v, &mut out.0).is_ok();
                });
                if !ok {
                    return Err(ours("the vault secret is not 64 hexadecimal characters"));
                }
                Ok(SecretHex32De(secret))
            }
        }
        d.deserialize_str(V)
    }
}

struct HlcDe(Hlc);
impl<'de> de::Deserialize<'de> for HlcDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HlcDe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a clock stamp [wall_ms, counter, device]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HlcDe, A::Error> {
                let bad = || ours("a clock stamp is not [wall_ms, counter, device]");
                let wall_ms: u64 = seq.next_element()?.ok_or_else(bad)?;
                let counter: u32 = seq.next_element()?.ok_or_else(bad)?;
                let device: Hex16De = seq.next_element()?.ok_or_else(bad)?;
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(bad());
                }
                Ok(HlcDe(Hlc {
                    wall_ms,
                    counter,
                    device: DeviceId(device.0),
                }))
            }
        }
        d.deserialize_seq(V)
    }
}

/// The recipients: a list of members (`[{"key", "hlc", "removed"?}]`), or the register of
/// earlier builds (`{"value": [key], "hlc": stamp}`: every key live, with the register's stamp).
enum RecipientsDe {
    Members(BTreeMap<String, Member>),
    Register(Vec<String>, Hlc),
}
impl<'de> de::Deserialize<'de> for RecipientsDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RecipientsDe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of recipients")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RecipientsDe, A::Error> {
                let mut members = BTreeMap::new();
                while let Some(MemberDe(key, member)) = seq.next_element_seed(object())? {
                    if members.insert(key, member).is_some() {
                        return Err(ours("a recipient is listed twice"));
                    }
                }
                Ok(RecipientsDe::Members(members))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RecipientsDe, A::Error> {
                let (mut value, mut hlc) = (None, None);
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match &*key.0 {
                        "value" => value = Some(map.next_value::<Vec<String>>()?),
                        "hlc" => hlc = Some(map.next_value::<HlcDe>()?.0),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                match (value, hlc) {
                    (Some(value), Some(hlc)) => Ok(RecipientsDe::Register(value, hlc)),
                    _ => Err(ours("the recipients register lacks its value or stamp")),
                }
            }
        }
        d.deserialize_any(V)
    }
}

struct MemberDe(String, Member);
impl<'de> FromObject<'de> for MemberDe {
    const EXPECTING: &'static str = "a recipient {key, hlc}";
    fn from_object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let (mut key, mut hlc, mut removed) = (None, None, false);
        while let Some(name) = map.next_key::<Key<'de>>()? {
            match &*name.0 {
                "key" => key = Some(map.next_value::<String>()?),
                "hlc" => hlc = Some(map.next_value::<HlcDe>()?.0),
                "removed" => removed = map.next_value::<bool>()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        match (key, hlc) {
            (Some(key), Some(hlc)) if !key.is_empty() => Ok(MemberDe(key, Member { hlc, removed })),
            _ => Err(ours("a recipient lacks its key or stamp")),
        }
    }
}

/// `[{"hlc": stamp, "secret": hex}, ...]`.
struct SecretsDe(Vec<StampedSecret>);
impl<'de> de::Deserialize<'de> for SecretsDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct One(StampedSecret);
        impl<'de> FromObject<'de> for One {
            const EXPECTING: &'static str = "a vault secret {hlc, secret}";
            fn from_object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
                let (mut hlc, mut secret) = (None, None);
                while let Some(name) = map.next_key::<Key<'de>>()? {
                    match &*name.0 {
                        "hlc" => hlc = Some(map.next_value::<HlcDe>()?.0),
                        "secret" => secret = Some(map.next_value::<SecretHex32De>()?.0),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                match (hlc, secret) {
                    (Some(hlc), Some(secret)) => Ok(One(StampedSecret { hlc, secret })),
                    _ => Err(ours("a vault secret lacks its value or stamp")),
                }
            }
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SecretsDe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of vault secrets")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SecretsDe, A::Error> {
                let mut secrets = Vec::new();
                while let Some(One(secret)) = seq.next_element_seed(object())? {
                    secrets.push(secret);
                }
                Ok(SecretsDe(secrets))
            }
        }
        d.deserialize_seq(V)
    }
}

struct VvDe(BTreeMap<DeviceId, u64>);
impl<'de> FromObject<'de> for VvDe {
    const EXPECTING: &'static str = "a version vector";
    fn from_object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut vv = BTreeMap::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let device: DeviceId = key
                .0
                .parse()
                .map_err(|_| ours("a version vector key is not a device id"))?;
            vv.insert(device, map.next_value::<u64>()?);
        }
        Ok(VvDe(vv))
    }
}

/// The entries of a span of the payload (see [`crate::index`]), by kind.
#[derive(Default)]
pub(crate) struct SpanEntries {
    pub credentials: Vec<Live<Credential>>,
    pub accounts: Vec<Live<Account>>,
    pub tokens: Vec<Live<CachedToken>>,
    /// How many entries of any other kind, tombstones included.
    pub others: usize,
}

impl SpanEntries {
    /// How many entries the span holds, of every kind.
    pub(crate) fn len(&self) -> usize {
        self.credentials.len() + self.accounts.len() + self.tokens.len() + self.others
    }
}

/// Decodes `[` followed by the text of a span and `]`, checking every live entry's id against
/// its key. `None` if that is not a list of valid entries.
pub(crate) fn decode_span(text: &[u8]) -> Option<SpanEntries> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let parts = EntriesSeed {
        capacity: 0,
        ids: Ids::Verify,
    }
    .deserialize(&mut de)
    .ok()?;
    de.end().ok()?;
    let Parts {
        credentials,
        accounts,
        tokens,
        plugin_states,
        others,
        tombstones,
        max_hlc: _,
        verify_ids: _,
    } = parts;
    Some(SpanEntries {
        credentials,
        accounts,
        tokens,
        others: plugin_states.len() + others.len() + tombstones.len(),
    })
}

/// Collected entries, by kind, in file order.
#[derive(Default)]
struct Parts {
    credentials: Vec<Live<Credential>>,
    accounts: Vec<Live<Account>>,
    tokens: Vec<Live<CachedToken>>,
    plugin_states: Vec<Live<PluginState>>,
    others: Vec<(EntryId, OtherLive)>,
    tombstones: Vec<(EntryId, Tombstone)>,
    max_hlc: Hlc,
    verify_ids: bool,
}

struct PayloadSeed<'c> {
    format: &'c Cell<Option<u32>>,
    /// Expected number of credentials.
    capacity: usize,
    ids: Ids,
}

impl<'de> DeserializeSeed<'de> for PayloadSeed<'_> {
    type Value = Payload;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Payload, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PayloadSeed<'_> {
    type Value = Payload;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a vault payload (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Payload, A::Error> {
        let mut format = None;
        let mut vault_id = None;
        let mut vault_secret = None;
        let mut secrets = None;
        let mut recipients = None;
        let mut vv = None;
        let mut max_hlc = None;
        let mut parts = None;
        let mut extra = Vec::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match &*key.0 {
                "format" => {
                    let f: u32 = map.next_value()?;
                    self.format.set(Some(f));
                    if f > FORMAT_VERSION {
                        return Err(ours("the payload is of a newer format"));
                    }
                    if f == 0 {
                        return Err(ours("the payload declares format 0, which does not exist"));
                    }
                    format = Some(f);
                }
                // Derived data, rewritten on every write: a full read has no use for it.
                "index" => {
                    map.next_value::<IgnoredAny>()?;
                }
                "vault_id" => vault_id = Some(map.next_value::<Hex16De>()?.0),
                "secrets" => secrets = Some(map.next_value::<SecretsDe>()?.0),
                // Earlier builds: one secret, stamped by the recipients register.
                "vault_secret" => vault_secret = Some(map.next_value::<SecretHex32De>()?.0),
                "recipients" => recipients = Some(map.next_value::<RecipientsDe>()?),
                "vv" => vv = Some(map.next_value_seed(object::<VvDe>())?.0),
                "max_hlc" => max_hlc = Some(map.next_value::<HlcDe>()?.0),
                "entries" => {
                    parts = Some(map.next_value_seed(EntriesSeed {
                        capacity: self.capacity,
                        ids: self.ids,
                    })?);
                }
                _ => {
                    let value = raw_json(&mut map)?;
                    extra.push((key.0.into_owned(), value));
                }
            }
        }
        // Kept sorted by name, so merges of unknown fields are order-independent.
        extra.sort_by(|a, b| a.0.cmp(&b.0));
        let missing = |name: &str| ours::<A::Error>(&format!("the payload has no `{name}` field"));
        format.ok_or_else(|| missing("format"))?;
        let vault_id = vault_id.ok_or_else(|| missing("vault_id"))?;
        let (recipients, register_hlc) = match recipients.ok_or_else(|| missing("recipients"))? {
            RecipientsDe::Members(members) => (members, None),
            RecipientsDe::Register(keys, hlc) => (
                keys.into_iter()
                    .map(|key| {
                        (
                            key,
                            Member {
                                hlc,
                                removed: false,
                            },
                        )
                    })
                    .collect(),
                Some(hlc),
            ),
        };
        let mut secrets = match (secrets, vault_secret) {
            (Some(secrets), _) => secrets,
            (None, Some(secret)) => vec![StampedSecret {
                hlc: register_hlc.unwrap_or(Hlc::ZERO),
                secret,
            }],
            (None, None) => return Err(missing("secrets")),
        };
        if secrets.is_empty() {
            return Err(ours("the payload lists no vault secret"));
        }
        normalize_secrets(&mut secrets);
        let vv = vv.ok_or_else(|| missing("vv"))?;
        let max_hlc = max_hlc.ok_or_else(|| missing("max_hlc"))?;
        let parts = parts.ok_or_else(|| missing("entries"))?;
        assemble(
            Header {
                vault_id,
                secrets,
                recipients,
                vv,
                max_hlc,
                extra,
            },
            parts,
        )
        .map_err(ours)
    }
}

struct Header {
    vault_id: [u8; 16],
    secrets: Vec<StampedSecret>,
    recipients: BTreeMap<String, Member>,
    vv: BTreeMap<DeviceId, u64>,
    max_hlc: Hlc,
    extra: Extra,
}

/// Builds the sets, checking that every id appears once.
fn assemble(header: Header, parts: Parts) -> Result<Payload, &'static str> {
    const DUPLICATE: &str = "two entries have the same id";
    let Parts {
        credentials,
        accounts,
        tokens,
        plugin_states,
        others,
        tombstones,
        max_hlc,
        verify_ids: _,
    } = parts;
    let mut dead = BTreeMap::new();
    for (id, tombstone) in tombstones {
        if dead.insert(id, tombstone).is_some() {
            return Err(DUPLICATE);
        }
    }
    let mut other_map = BTreeMap::new();
    for (id, other) in others {
        if dead.contains_key(&id) || other_map.insert(id, other).is_some() {
            return Err(DUPLICATE);
        }
    }
    let dead_ids: HashSet<EntryId> = dead
        .keys()
        .chain(other_map.keys())
        .copied()
        .collect::<HashSet<_>>();
    let Header {
        vault_id,
        secrets,
        recipients,
        vv,
        max_hlc: stored,
        extra,
    } = header;
    // The invariant "max_hlc is the greatest stamp" holds even if a writer broke it.
    let max_hlc = recipients
        .values()
        .map(|m| m.hlc)
        .chain(secrets.iter().map(|s| s.hlc))
        .fold(stored.max(max_hlc), Hlc::max);
    Ok(Payload {
        vault_id,
        secrets,
        recipients,
        vv,
        max_hlc,
        credentials: into_set(credentials, &dead_ids).ok_or(DUPLICATE)?,
        accounts: into_set(accounts, &dead_ids).ok_or(DUPLICATE)?,
        tokens: into_set(tokens, &dead_ids).ok_or(DUPLICATE)?,
        plugin_states: into_set(plugin_states, &dead_ids).ok_or(DUPLICATE)?,
        others: other_map,
        tombstones: dead,
        extra,
    })
}

/// Checks for duplicates (also against ids of other kinds and tombstones) and sorts.
fn into_set<T: Body>(v: Vec<Live<T>>, taken: &HashSet<EntryId>) -> Option<Sorted<T>> {
    if !taken.is_empty() && v.iter().any(|l| taken.contains(&l.id)) {
        return None;
    }
    Sorted::from_vec(v)
}

struct EntriesSeed {
    /// Expected number of credentials (from the payload size).
    capacity: usize,
    ids: Ids,
}
impl<'de> DeserializeSeed<'de> for EntriesSeed {
    type Value = Parts;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Parts, D::Error> {
        d.deserialize_seq(self)
    }
}
impl<'de> Visitor<'de> for EntriesSeed {
    type Value = Parts;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of entries")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Parts, A::Error> {
        let mut parts = Parts {
            credentials: Vec::with_capacity(self.capacity),
            max_hlc: Hlc::ZERO,
            verify_ids: self.ids == Ids::Verify,
            ..Parts::default()
        };
        // Each entry goes straight into its vector: no intermediate values to move around.
        while seq.next_element_seed(EntrySeed(&mut parts))?.is_some() {}
        Ok(parts)
    }
}

enum ParsedBody {
    Credential(Credential, Extra),
    Account(Account, Extra),
    Token(CachedToken, Extra),
    PluginState(PluginState, Extra),
}

impl ParsedBody {
    fn parse<'de, D: Deserializer<'de>>(kind: &Kind, d: D) -> Result<Option<Self>, D::Error> {
        Ok(Some(match kind {
            Kind::Credential => {
                let BodyDe(b, e) = object().deserialize(d)?;
                ParsedBody::Credential(b, e)
            }
            Kind::Account => {
                let BodyDe(b, e) = object().deserialize(d)?;
                ParsedBody::Account(b, e)
            }
            Kind::Token => {
                let BodyDe(b, e) = object().deserialize(d)?;
                ParsedBody::Token(b, e)
            }
            Kind::PluginState => {
                let BodyDe(b, e) = object().deserialize(d)?;
                ParsedBody::PluginState(b, e)
            }
            Kind::Other(_) => return Ok(None),
        }))
    }
}

/// Parses one entry into [`Parts`].
struct EntrySeed<'p>(&'p mut Parts);

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an entry")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let parts = self.0;
        let mut id = None;
        let mut hlc = None;
        let mut kind: Option<Kind> = None;
        let mut deleted = false;
        let mut body: Option<ParsedBody> = None;
        let mut raw_body: Option<&'de RawValue> = None;
        let mut extra = Vec::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match &*key.0 {
                "id" => id = Some(EntryId(map.next_value::<Hex16De>()?.0)),
                "hlc" => hlc = Some(map.next_value::<HlcDe>()?.0),
                "kind" => kind = Some(Kind::from_name(&map.next_value::<Key<'de>>()?.0)),
                "deleted" => deleted = map.next_value()?,
                "body" => match &kind {
                    // The usual order (kind before body): parse in place.
                    Some(
                        k @ (Kind::Credential | Kind::Account | Kind::Token | Kind::PluginState),
                    ) => {
                        body = map.next_value_seed(BodySeed(k))?;
                    }
                    // Kind not known yet, or unknown: keep the raw text for later.
                    _ => raw_body = Some(map.next_value()?),
                },
                _ => {
                    let value = raw_json(&mut map)?;
                    extra.push((key.0.into_owned(), value));
                }
            }
        }
        let id = id.ok_or_else(|| ours("an entry has no id"))?;
        let hlc = hlc.ok_or_else(|| ours("an entry has no clock stamp"))?;
        let kind = kind.ok_or_else(|| ours("an entry has no kind"))?;
        parts.max_hlc = parts.max_hlc.max(hlc);
        if deleted {
            // A tombstone: any body is dropped.
            parts.tombstones.push((id, Tombstone { hlc, kind, extra }));
            return Ok(());
        }
        if body.is_none()
            && let Some(raw) = raw_body
        {
            if let Kind::Other(name) = &kind {
                let body = RawJson(SecretString::from(Box::<str>::from(raw.get())));
                let other = OtherBody {
                    kind: name.clone(),
                    body,
                };
                parts.others.push((
                    id,
                    OtherLive {
                        hlc,
                        body: other,
                        extra,
                    },
                ));
                return Ok(());
            }
            let mut de = serde_json::Deserializer::from_str(raw.get());
            body = ParsedBody::parse(&kind, &mut de).map_err(|e| {
                // Keep a reason of ours (it names no content); hide serde's.
                let message = e.to_string();
                match message.strip_prefix(OURS) {
                    Some(m) => ours(m.split(" at line ").next().unwrap_or(m)),
                    None => ours("an entry's body is not valid for its kind"),
                }
            })?;
        }
        let body = body.ok_or_else(|| ours("a live entry has no body"))?;
        let verify = parts.verify_ids;
        fn live<T: Body, E: de::Error>(
            verify: bool,
            id: EntryId,
            hlc: Hlc,
            body: T,
            extra: Extra,
            body_extra: Extra,
        ) -> Result<Live<T>, E> {
            if verify && body.id() != id {
                return Err(ours("an entry's id does not match its key"));
            }
            Ok(Live {
                id,
                hlc,
                body,
                extra,
                body_extra,
            })
        }
        match body {
            ParsedBody::Credential(b, e) => {
                parts.credentials.push(live(verify, id, hlc, b, extra, e)?)
            }
            ParsedBody::Account(b, e) => parts.accounts.push(live(verify, id, hlc, b, extra, e)?),
            ParsedBody::Token(b, e) => parts.tokens.push(live(verify, id, hlc, b, extra, e)?),
            ParsedBody::PluginState(b, e) => parts
                .plugin_states
                .push(live(verify, id, hlc, b, extra, e)?),
        }
        Ok(())
    }
}

struct BodySeed<'k>(&'k Kind);
impl<'de> DeserializeSeed<'de> for BodySeed<'_> {
    type Value = Option<ParsedBody>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        ParsedBody::parse(self.0, d)
    }
}

/// A body of a known kind, with its unknown fields.
struct BodyDe<T>(T, Extra);

impl<'de> FromObject<'de> for BodyDe<Credential> {
    const EXPECTING: &'static str = "a stored credential";
    fn from_object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let (mut protocol, mut host, mut path, mut username) = (None, None, None, None);
        let (mut password, mut expiry, mut refresh, mut authtype, mut credential) =
            (None, None, None, None, None);
        let mut extra = Vec::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match &*key.0 {
                "protocol" => protocol = Some(map.next_value::<String>()?),
                "host" => host = Some(map.next_value::<String>()?),
                "path" => path = map.next_value::<Option<String>>()?,
                "username" => username = map.next_value::<Option<String>>()?,
                "password" => password = map.next_value::<Option<SecretDe>>()?,
                "password_expiry_utc" => expiry = map.next_value::<Option<u64>>()?,
                "oauth_refresh_token" => refresh = map.next_value::<Option<SecretDe>>()?,
                "authtype" => authtype = map.next_value::<Option<String>>()?,
                "credential" => credential = map.next_value::<Option<SecretDe>>()?,
                _ => {
                    let value = raw_json(&mut map)?;
                    extra.push((key.0.into_owned(), value));
                }
            }
        }
        let (Some(protocol), Some(host)) = (protocol, host) else {
            return Err(ours("a stored credential lacks its protocol or host"));
        };
        Ok(BodyDe(
            Credential {
                key: CredentialKey {
                    protocol,
                    host,
                    path,
                    username,
                },
                password: password.map(|s| s.0),
                password_expiry_utc: expiry,
                oauth_refresh_token: refresh.map(|s| s.0),
                authtype,
                credential: credential.map(|s| s.0),
            },
            extra,
        ))
    }
}

struct SecretMapDe(BTreeMap<String, SecretString>);
impl<'de> FromObject<'de> for SecretMapDe {
    const EXPECTING: &'static str = "a map of secrets";
    fn from_object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            out.insert(key, map.next_value::<SecretDe>()?.0);
        }
        Ok(SecretMapDe(out))
    }
}

impl<'de> FromObject<'de> for BodyDe<Account> {
    const EXPECTING: &'static str = "an account";
    fn from_object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let (mut name, mut provider, mut url) = (None, None, None);
        let (mut matches, mut settings, mut secrets) = (None, None, None);
        let mut extra = Vec::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match &*key.0 {
                "name" => name = Some(map.next_value::<String>()?),
                "provider" => provider = Some(map.next_value::<String>()?),
                "url" => url = Some(map.next_value::<String>()?),
                "matches" => matches = Some(map.next_value::<Vec<String>>()?),
                "settings" => settings = Some(map.next_value::<BTreeMap<String, String>>()?),
                "secrets" => secrets = Some(map.next_value_seed(object::<SecretMapDe>())?.0),
                _ => {
                    let value = raw_json(&mut map)?;
                    extra.push((key.0.into_owned(), value));
                }
            }
        }
        let (Some(name), Some(provider), Some(url)) = (name, provider, url) else {
            return Err(ours("an account lacks its name, provider or url"));
        };
        Ok(BodyDe(
            Account {
                name,
                provider,
                url,
                matches: matches.unwrap_or_default(),
                settings: settings.unwrap_or_default(),
                secrets: secrets.unwrap_or_default(),
            },
            extra,
        ))
    }
}

impl<'de> FromObject<'de> for BodyDe<CachedToken> {
    const EXPECTING: &'static str = "a cached token";
    fn from_object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let (mut account, mut secret, mut username, mut authtype) = (None, None, None, None);
        let (mut expires_at, mut obtained_at, mut info) = (None, None, None);
        let mut extra = Vec::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match &*key.0 {
                "account" => account = Some(map.next_value::<String>()?),
                "secret" => secret = Some(map.next_value::<SecretDe>()?.0),
                "username" => username = map.next_value::<Option<String>>()?,
                "authtype" => authtype = map.next_value::<Option<String>>()?,
                "expires_at" => expires_at = map.next_value::<Option<u64>>()?,
                "obtained_at" => obtained_at = Some(map.next_value::<u64>()?),
                "info" => info = Some(map.next_value::<serde_json::Value>()?),
                _ => {
                    let value = raw_json(&mut map)?;
                    extra.push((key.0.into_owned(), value));
                }
            }
        }
        let (Some(account), Some(secret), Some(obtained_at)) = (account, secret, obtained_at)
        else {
            return Err(ours(
                "a cached token lacks its account, secret or obtained_at",
            ));
        };
        Ok(BodyDe(
            CachedToken {
                account,
                secret,
                username,
                authtype,
                expires_at,
                obtained_at,
                info: info.unwrap_or(serde_json::Value::Null),
            },
            extra,
        ))
    }
}

impl<'de> FromObject<'de> for BodyDe<PluginState> {
    const EXPECTING: &'static str = "plugin state";
    fn from_object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let (mut account, mut state) = (None, None);
        let mut extra = Vec::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match &*key.0 {
                "account" => account = Some(map.next_value::<String>()?),
                "state" => state = Some(raw_json(&mut map)?.0),
                "state_text" => state = Some(map.next_value::<SecretDe>()?.0),
                _ => {
                    let value = raw_json(&mut map)?;
                    extra.push((key.0.into_owned(), value));
                }
            }
        }
        let (Some(account), Some(state)) = (account, state) else {
            return Err(ours("plugin state lacks its account or state"));
        };
        Ok(BodyDe(PluginState { account, state }, extra))
    }
}

#[cfg(test)]
mod tests;
