//! Merging two copies of a vault.
//!
//! Every entry id keeps the greatest of its versions, where versions are ordered by
//! (HLC stamp, tombstone over live, canonical encoding). That is a total order, and taking the
//! maximum under a total order is commutative, associative and idempotent, so copies can be
//! merged in any order, any number of times, without a common base. Version vectors take the
//! pointwise maximum; each recipient keeps its latest addition or removal; the vault secrets
//! are the newest few of both lists (a set's greatest elements, again a join).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use crate::clock::Hlc;
use crate::entry::{Account, CachedToken, Credential, EntryId, PluginState};
use crate::error::{Error, Result};
use crate::payload::{
    Live, OtherLive, Payload, Sorted, StampedSecret, Tombstone, encode_entry, encode_other,
    normalize_secrets,
};
use crate::snapshot::Snapshot;

/// Merges two snapshots of the same vault into a new one (`a`'s device stamps later changes).
/// Commutative, associative and idempotent in content. Errors if they are different vaults.
pub fn merge(a: &Snapshot, b: &Snapshot) -> Result<Snapshot> {
    let mut merged = a.clone();
    merged.merge_from(b)?;
    Ok(merged)
}

impl Snapshot {
    /// Merges `other` (another copy of the same vault: a conflict copy, the other side of a
    /// git merge, a shadow copy) into this snapshot. Afterwards every entry holds the newer of
    /// its two versions; nothing is lost. Marks the snapshot changed if anything changed.
    pub fn merge_from(&mut self, other: &Snapshot) -> Result<()> {
        if merge_payload(&mut self.payload, &other.payload)? {
            self.dirty = true;
        }
        Ok(())
    }
}

/// One version of an entry, owned.
enum Version {
    Credential(Live<Credential>),
    Account(Live<Account>),
    Token(Live<CachedToken>),
    PluginState(Live<PluginState>),
    Other(OtherLive),
    Dead(Tombstone),
}

/// One version of an entry, borrowed.
#[derive(Clone, Copy)]
enum VersionRef<'a> {
    Credential(&'a Live<Credential>),
    Account(&'a Live<Account>),
    Token(&'a Live<CachedToken>),
    PluginState(&'a Live<PluginState>),
    Other(&'a OtherLive),
    Dead(&'a Tombstone),
}

impl Version {
    fn as_ref(&self) -> VersionRef<'_> {
        match self {
            Version::Credential(l) => VersionRef::Credential(l),
            Version::Account(l) => VersionRef::Account(l),
            Version::Token(l) => VersionRef::Token(l),
            Version::PluginState(l) => VersionRef::PluginState(l),
            Version::Other(o) => VersionRef::Other(o),
            Version::Dead(t) => VersionRef::Dead(t),
        }
    }
}

impl VersionRef<'_> {
    fn hlc(self) -> Hlc {
        match self {
            VersionRef::Credential(l) => l.hlc,
            VersionRef::Account(l) => l.hlc,
            VersionRef::Token(l) => l.hlc,
            VersionRef::PluginState(l) => l.hlc,
            VersionRef::Other(o) => o.hlc,
            VersionRef::Dead(t) => t.hlc,
        }
    }

    fn to_owned(self) -> Version {
        match self {
            VersionRef::Credential(l) => Version::Credential(l.clone()),
            VersionRef::Account(l) => Version::Account(l.clone()),
            VersionRef::Token(l) => Version::Token(l.clone()),
            VersionRef::PluginState(l) => Version::PluginState(l.clone()),
            VersionRef::Other(o) => Version::Other(o.clone()),
            VersionRef::Dead(t) => Version::Dead(t.clone()),
        }
    }

    /// The canonical encoding, for the tie-break between different versions with the same
    /// stamp (which only a misbehaving writer produces).
    fn canonical(self, id: &EntryId) -> Zeroizing<Vec<u8>> {
        match self {
            VersionRef::Credential(l) => encode_entry(l),
            VersionRef::Account(l) => encode_entry(l),
            VersionRef::Token(l) => encode_entry(l),
            VersionRef::PluginState(l) => encode_entry(l),
            VersionRef::Other(o) => encode_other(id, o),
            VersionRef::Dead(t) => {
                let mut text = format!("{}\0", t.kind.as_str());
                for (k, v) in &t.extra {
                    text.push_str(k);
                    text.push('\0');
                    text.push_str(v.0.expose_secret());
                    text.push('\0');
                }
                Zeroizing::new(text.into_bytes())
            }
        }
    }
}

/// The total order on versions of one entry id.
fn compare(id: &EntryId, a: VersionRef<'_>, b: VersionRef<'_>) -> Ordering {
    let dead = |v: VersionRef<'_>| matches!(v, VersionRef::Dead(_));
    a.hlc()
        .cmp(&b.hlc())
        // With equal stamps, a delete wins over a write.
        .then_with(|| dead(a).cmp(&dead(b)))
        .then_with(|| a.canonical(id).cmp(&b.canonical(id)))
}

/// Moves every entry of `p` into one map by id.
fn explode(p: &mut Payload) -> BTreeMap<EntryId, Version> {
    let mut map = BTreeMap::new();
    for l in std::mem::take(&mut p.credentials) {
        map.insert(l.id, Version::Credential(l));
    }
    for l in std::mem::take(&mut p.accounts) {
        map.insert(l.id, Version::Account(l));
    }
    for l in std::mem::take(&mut p.tokens) {
        map.insert(l.id, Version::Token(l));
    }
    for l in std::mem::take(&mut p.plugin_states) {
        map.insert(l.id, Version::PluginState(l));
    }
    for (id, o) in std::mem::take(&mut p.others) {
        map.insert(id, Version::Other(o));
    }
    for (id, t) in std::mem::take(&mut p.tombstones) {
        map.insert(id, Version::Dead(t));
    }
    map
}

/// Puts every entry back into its set.
fn implode(p: &mut Payload, map: BTreeMap<EntryId, Version>) {
    let (mut credentials, mut accounts, mut tokens, mut states) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, version) in map {
        match version {
            Version::Credential(l) => credentials.push(l),
            Version::Account(l) => accounts.push(l),
            Version::Token(l) => tokens.push(l),
            Version::PluginState(l) => states.push(l),
            Version::Other(o) => {
                p.others.insert(id, o);
            }
            Version::Dead(t) => {
                p.tombstones.insert(id, t);
            }
        }
    }
    // Keys are unique: ids are, and an id is a hash of the key.
    p.credentials = Sorted::from_vec(credentials).expect("unique keys");
    p.accounts = Sorted::from_vec(accounts).expect("unique keys");
    p.tokens = Sorted::from_vec(tokens).expect("unique keys");
    p.plugin_states = Sorted::from_vec(states).expect("unique keys");
}

/// Every entry of `p`, by reference.
fn versions(p: &Payload) -> impl Iterator<Item = (EntryId, VersionRef<'_>)> + '_ {
    let credentials = p
        .credentials
        .iter()
        .map(|l| (l.id, VersionRef::Credential(l)));
    let accounts = p.accounts.iter().map(|l| (l.id, VersionRef::Account(l)));
    let tokens = p.tokens.iter().map(|l| (l.id, VersionRef::Token(l)));
    let states = p
        .plugin_states
        .iter()
        .map(|l| (l.id, VersionRef::PluginState(l)));
    let others = p.others.iter().map(|(id, o)| (*id, VersionRef::Other(o)));
    let dead = p
        .tombstones
        .iter()
        .map(|(id, t)| (*id, VersionRef::Dead(t)));
    credentials
        .chain(accounts)
        .chain(tokens)
        .chain(states)
        .chain(others)
        .chain(dead)
}

/// Merges `theirs` into `ours`; returns whether `ours` changed.
pub(crate) fn merge_payload(ours: &mut Payload, theirs: &Payload) -> Result<bool> {
    if ours.vault_id != theirs.vault_id {
        return Err(Error::DifferentVaults {
            ours: hex::encode(ours.vault_id),
            theirs: hex::encode(theirs.vault_id),
        });
    }
    let mut changed = false;

    // Recipients: per key, the later addition or removal (a removal wins at an equal stamp).
    for (key, member) in &theirs.recipients {
        match ours.recipients.get_mut(key) {
            Some(mine) if *mine >= *member => {}
            Some(mine) => {
                *mine = *member;
                changed = true;
            }
            None => {
                ours.recipients.insert(key.clone(), *member);
                changed = true;
            }
        }
    }

    // Vault secrets: the newest of both lists (the current one is the newest of all).
    let before: Vec<_> = ours.secrets.iter().map(StampedSecret::order_key).collect();
    ours.secrets.extend(theirs.secrets.iter().cloned());
    normalize_secrets(&mut ours.secrets);
    if ours.secrets.iter().map(StampedSecret::order_key).ne(before) {
        changed = true;
    }

    for (device, &writes) in &theirs.vv {
        let mine = ours.vv.entry(*device).or_insert(0);
        if writes > *mine {
            *mine = writes;
            changed = true;
        }
    }

    if theirs.max_hlc > ours.max_hlc {
        ours.max_hlc = theirs.max_hlc;
        changed = true;
    }

    // Unknown top-level fields: union by name (kept sorted); on a clash the greater text wins.
    for (key, value) in &theirs.extra {
        match ours.extra.binary_search_by(|(k, _)| k.as_str().cmp(key)) {
            Ok(i) => {
                if value.0.expose_secret() > ours.extra[i].1.0.expose_secret() {
                    ours.extra[i].1 = value.clone();
                    changed = true;
                }
            }
            Err(i) => {
                ours.extra.insert(i, (key.clone(), value.clone()));
                changed = true;
            }
        }
    }

    let mut mine = explode(ours);
    for (id, version) in versions(theirs) {
        let wins = match mine.get(&id) {
            None => true,
            Some(current) => compare(&id, version, current.as_ref()) == Ordering::Greater,
        };
        if wins {
            mine.insert(id, version.to_owned());
            changed = true;
        }
    }
    implode(ours, mine);
    Ok(changed)
}

#[cfg(test)]
mod tests;
