//! `keyhelm get|store|erase|capability`: git's credential helper contract.
//!
//! See docs/user-guide.md ("git") and research/protocols.md section A. In short:
//! - `get` answers from the first matching stored credential (newest first), where every
//!   attribute present in the request must equal the stored one and absent ones match
//!   anything; nothing found is empty output and exit 0.
//! - `store` replaces the credential with the same protocol, host, path and username; an
//!   `ephemeral` credential is never persisted.
//! - `erase` removes every match, all users when no username is given, and only credentials
//!   whose password equals the given one when one is given.
//! - Any other operation is ignored silently, as git requires of helpers.

pub mod protocol;

use std::io::{BufRead, Write};

use keyhelm_vault::{Credential, CredentialKey, Hlc, Lookup, Snapshot};
use secrecy::ExposeSecret;

use crate::cmd::account::has_terminal;
use crate::ctx::Ctx;
use crate::error::{Failure, Result};
use crate::provider;
use protocol::{Request, Response};

/// Runs one git operation with the tool's stdin and stdout.
pub fn run(ctx: &Ctx, op: &str, input: &mut impl BufRead, output: &mut impl Write) -> Result<()> {
    match op {
        "get" => get(ctx, &read(input)?, output),
        "store" => store(ctx, &read(input)?),
        "erase" => erase(ctx, &read(input)?),
        "capability" => {
            crate::out::write_all(output, b"version 0\ncapability authtype\n")?;
            Ok(())
        }
        _ => Ok(()),
    }
}

fn read(input: &mut impl BufRead) -> Result<Request> {
    protocol::read_request(input).map_err(|e| {
        Failure::bad_request(format!("rejected the request: {e}"))
            .hint("nothing was read from or written to the vault")
    })
}

/// The key a request names, when it names enough to be stored.
fn key_of(req: &Request) -> Option<CredentialKey> {
    Some(CredentialKey {
        protocol: req.protocol.clone()?,
        host: req.host.clone()?,
        path: req.path.clone(),
        username: req.username.clone(),
    })
}

/// git's `credential_match`: every attribute present in the request must be equal.
pub fn matches(req: &Request, key: &CredentialKey) -> bool {
    fn field(want: &Option<String>, have: &str) -> bool {
        want.as_deref().is_none_or(|w| w == have)
    }
    fn optional(want: &Option<String>, have: &Option<String>) -> bool {
        want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
    }
    field(&req.protocol, &key.protocol)
        && field(&req.host, &key.host)
        && optional(&req.path, &key.path)
        && optional(&req.username, &key.username)
}

/// The stored credential that answers `req`: matching, usable by this requester, newest first.
pub fn lookup<'a>(snapshot: &'a Snapshot, req: &Request) -> Option<&'a Credential> {
    best_match(req, snapshot.credentials_stamped())
}

/// Among stored credentials and the stamps of their last write, the one that answers `req`:
/// matching, usable by this requester, the newest (git's own helpers answer with the
/// credential stored last).
pub fn best_match<'a>(
    req: &Request,
    stored: impl IntoIterator<Item = (&'a Credential, Hlc)>,
) -> Option<&'a Credential> {
    if req.protocol.is_none() || req.host.is_none() {
        return None; // Never answer a request that does not say where (CVE-2020-11008).
    }
    let usable = |c: &Credential| {
        c.password.is_some() || (req.capability_authtype && c.credential.is_some())
    };
    stored
        .into_iter()
        .filter(|(c, _)| matches(req, &c.key) && usable(c))
        .max_by_key(|(_, stamp)| *stamp)
        .map(|(c, _)| c)
}

/// `get`: a stored credential, else the token of the account that serves the URL.
///
/// This is the path every git operation takes, so it reads only what it needs: the vault is
/// opened for a [`Lookup`] (which decrypts and parses the entries it is asked for, not the
/// whole vault), and the device id and the plugin machinery are touched only when an
/// account's token must be renewed.
fn get(ctx: &Ctx, req: &Request, output: &mut impl Write) -> Result<()> {
    let (Some(protocol), Some(host)) = (req.protocol.as_deref(), req.host.as_deref()) else {
        return Ok(());
    };
    let Some(identity) = ctx.identity()? else {
        return Ok(());
    };
    let mut vault = match Lookup::open(&ctx.location()?, &identity) {
        Ok(lookup) => lookup,
        Err(keyhelm_vault::Error::Missing { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let stored = vault.credentials(protocol, host)?;
    let response = if let Some(found) = best_match(req, stored.iter().map(|(c, h)| (c, *h))) {
        Response {
            authtype: found.authtype.clone(),
            credential: found.credential.clone(),
            username: found.key.username.clone(),
            password: found.password.clone(),
            password_expiry_utc: found.password_expiry_utc,
            oauth_refresh_token: found.oauth_refresh_token.clone(),
        }
    } else if let Some(name) =
        provider::best_account(&vault.accounts()?, protocol, host, req.path.as_deref())
            .map(|a| a.name.clone())
    {
        // The hot path: a fresh cached token is answered from the vault already open.
        let token = match provider::fresh(vault.token(&name)?) {
            Some(token) => token,
            None => {
                drop(vault);
                let vault = ctx.vault_with(identity)?;
                let target = provider::Target {
                    protocol: Some(protocol),
                    host: Some(host),
                    path: req.path.as_deref(),
                    username: req.username.as_deref(),
                };
                let opts = provider::Options::lookup(has_terminal());
                provider::token(ctx, &vault, &name, target, opts)?
            }
        };
        if let (Some(wanted), Some(user)) = (&req.username, &token.username)
            && wanted != user
        {
            return Ok(()); // git asks for another user than the account's.
        }
        Response {
            authtype: Some(
                token
                    .authtype
                    .clone()
                    .unwrap_or_else(|| "Bearer".to_owned()),
            ),
            credential: Some(token.secret.clone()),
            username: token
                .username
                .clone()
                .or_else(|| req.username.clone())
                .or(Some(name)),
            password: Some(token.secret.clone()),
            password_expiry_utc: token.expires_at,
            oauth_refresh_token: None,
        }
    } else {
        return Ok(());
    };
    let bytes = response
        .encode(req.capability_authtype)
        .map_err(|e| Failure::other(e.to_string()).hint("store the credential again"))?;
    crate::out::write_all(output, &bytes)?;
    Ok(())
}

/// Whether `secret` is the cached token of an account: git hands tokens keyhelm issued back
/// to `store` and `erase`, and they must not become stored credentials.
fn is_account_token(s: &Snapshot, secret: &secrecy::SecretString) -> bool {
    s.accounts()
        .filter_map(|a| s.token(&a.name))
        .any(|t| t.secret.expose_secret() == secret.expose_secret())
}

/// The credential a `store` request asks to persist, or `None` when there is nothing to keep.
fn credential_to_store(req: &Request) -> Option<Credential> {
    if req.ephemeral {
        return None;
    }
    let key = key_of(req)?;
    let gated = req.gated_credential();
    let has_password = key.username.is_some() && req.password.is_some();
    if !has_password && gated.is_none() {
        return None;
    }
    Some(Credential {
        key,
        password: req.password.clone(),
        password_expiry_utc: req.password_expiry_utc,
        oauth_refresh_token: req.oauth_refresh_token.clone(),
        authtype: gated.and_then(|(authtype, _)| authtype.clone()),
        credential: gated.map(|(_, c)| c.clone()),
    })
}

fn same_secret(a: &Option<secrecy::SecretString>, b: &Option<secrecy::SecretString>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.expose_secret() == b.expose_secret(),
        _ => false,
    }
}

fn unchanged(old: &Credential, new: &Credential) -> bool {
    old.key == new.key
        && same_secret(&old.password, &new.password)
        && old.password_expiry_utc == new.password_expiry_utc
        && same_secret(&old.oauth_refresh_token, &new.oauth_refresh_token)
        && old.authtype == new.authtype
        && same_secret(&old.credential, &new.credential)
}

fn store(ctx: &Ctx, req: &Request) -> Result<()> {
    let Some(credential) = credential_to_store(req) else {
        return Ok(());
    };
    // git calls `store` after every successful authentication: a credential that is already
    // stored as is must not rewrite the vault (no new stamp, no backup, no sync churn).
    // A token an account issued is cached with its account, not stored as a credential.
    let secrets = || {
        [&credential.password, &credential.credential]
            .into_iter()
            .flatten()
    };
    let stored_as_is = |s: &Snapshot| {
        s.credentials().any(|c| unchanged(c, &credential))
            || secrets().any(|secret| is_account_token(s, secret))
    };
    // The usual case, checked by a lookup: it reads this host's credentials and the cached
    // tokens, not the whole vault.
    let identity = ctx.identity()?;
    if let Some(identity) = &identity {
        match Lookup::open(&ctx.location()?, identity) {
            Ok(mut lookup) => {
                let (protocol, host) = (&credential.key.protocol, &credential.key.host);
                let same = lookup
                    .credentials(protocol, host)?
                    .iter()
                    .any(|(c, _)| unchanged(c, &credential));
                if same || is_account_token_in(&mut lookup, secrets())? {
                    return Ok(());
                }
            }
            Err(keyhelm_vault::Error::Missing { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let vault = match identity {
        Some(identity) => ctx.vault_with(identity)?,
        None => ctx.vault_or_init()?.0,
    };
    vault.update(|s| {
        if !stored_as_is(s) {
            s.put_credential(credential.clone());
        }
        Ok::<_, Failure>(())
    })
}

/// [`is_account_token`], through a lookup.
fn is_account_token_in<'a>(
    lookup: &mut Lookup,
    mut secrets: impl Iterator<Item = &'a secrecy::SecretString>,
) -> Result<bool> {
    let accounts = lookup.accounts()?;
    let tokens: Vec<_> = lookup
        .tokens()?
        .into_iter()
        .filter(|t| accounts.iter().any(|a| a.name == t.account))
        .collect();
    Ok(secrets.any(|secret| {
        tokens
            .iter()
            .any(|t| t.secret.expose_secret() == secret.expose_secret())
    }))
}

/// Whether an `erase` request removes `c`.
fn erases(req: &Request, c: &Credential) -> bool {
    let equal = |given: Option<&secrecy::SecretString>, stored: &Option<secrecy::SecretString>| {
        given.is_none_or(|g| {
            stored
                .as_ref()
                .is_some_and(|s| s.expose_secret() == g.expose_secret())
        })
    };
    matches(req, &c.key)
        && equal(req.password.as_ref(), &c.password)
        && equal(req.gated_credential().map(|(_, c)| c), &c.credential)
}

/// The accounts whose cached token an `erase` request invalidates: the token git was refused
/// with, or every token for the request's URL when no password is given.
fn erased_tokens(req: &Request, s: &Snapshot) -> Vec<String> {
    let (Some(protocol), Some(host)) = (req.protocol.as_deref(), req.host.as_deref()) else {
        return Vec::new();
    };
    let given: Vec<&secrecy::SecretString> = req
        .password
        .iter()
        .chain(req.gated_credential().map(|(_, c)| c))
        .collect();
    s.accounts()
        .filter(|a| provider::patterns(a).any(|p| p.matches(protocol, host, req.path.as_deref())))
        .filter(|a| {
            s.token(&a.name).is_some_and(|t| {
                given.is_empty()
                    || given
                        .iter()
                        .any(|g| g.expose_secret() == t.secret.expose_secret())
            })
        })
        .map(|a| a.name.clone())
        .collect()
}

fn erase(ctx: &Ctx, req: &Request) -> Result<()> {
    // An empty pattern would match everything: refuse it (CVE-2020-11008).
    if req.protocol.is_none() && req.host.is_none() && req.path.is_none() && req.username.is_none()
    {
        return Ok(());
    }
    let Some(vault) = ctx.vault()? else {
        return Ok(());
    };
    let doomed = |s: &Snapshot| -> (Vec<CredentialKey>, Vec<String>) {
        let keys = s
            .credentials()
            .filter(|c| erases(req, c))
            .map(|c| c.key.clone())
            .collect();
        (keys, erased_tokens(req, s))
    };
    match vault.read() {
        Ok(snapshot) => {
            let (keys, tokens) = doomed(&snapshot);
            if keys.is_empty() && tokens.is_empty() {
                return Ok(());
            }
        }
        Err(keyhelm_vault::Error::Missing { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    vault.update(|s| {
        let (keys, tokens) = doomed(s);
        for key in keys {
            s.remove_credential(&key);
        }
        for account in tokens {
            s.remove_token(&account);
        }
        Ok::<_, Failure>(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str) -> Request {
        protocol::read_request(&mut std::io::Cursor::new(text.as_bytes())).unwrap()
    }

    fn key(
        protocol: &str,
        host: &str,
        path: Option<&str>,
        username: Option<&str>,
    ) -> CredentialKey {
        CredentialKey {
            protocol: protocol.into(),
            host: host.into(),
            path: path.map(Into::into),
            username: username.map(Into::into),
        }
    }

    #[test]
    fn matching_follows_git() {
        let k = key("https", "example.com", None, Some("u"));
        assert!(matches(&req("protocol=https\nhost=example.com\n"), &k));
        assert!(matches(
            &req("protocol=https\nhost=example.com\nusername=u\n"),
            &k
        ));
        assert!(!matches(&req("protocol=http\nhost=example.com\n"), &k));
        assert!(!matches(&req("protocol=https\nhost=Example.com\n"), &k));
        assert!(!matches(&req("protocol=https\nhost=example.com:443\n"), &k));
        assert!(!matches(
            &req("protocol=https\nhost=example.com\nusername=v\n"),
            &k
        ));
        assert!(!matches(
            &req("protocol=https\nhost=example.com\nusername=\n"),
            &k
        ));
        // A path in the request must be stored; a stored path is ignored by a request without.
        assert!(!matches(
            &req("protocol=https\nhost=example.com\npath=a.git\n"),
            &k
        ));
        let with_path = key("https", "example.com", Some("a.git"), Some("u"));
        assert!(matches(
            &req("protocol=https\nhost=example.com\n"),
            &with_path
        ));
        assert!(matches(
            &req("protocol=https\nhost=example.com\npath=a.git\n"),
            &with_path
        ));
        assert!(!matches(
            &req("protocol=https\nhost=example.com\npath=b.git\n"),
            &with_path
        ));
    }

    #[test]
    fn store_request_rules() {
        let ephemeral = req(
            "capability[]=authtype\nprotocol=https\nhost=h\nusername=u\npassword=p\nephemeral=1\n",
        );
        assert!(credential_to_store(&ephemeral).is_none());
        assert!(credential_to_store(&req("protocol=https\nhost=h\npassword=p\n")).is_none());
        assert!(credential_to_store(&req("host=h\nusername=u\npassword=p\n")).is_none());
        // authtype/credential without the capability are not honoured.
        assert!(
            credential_to_store(&req(
                "protocol=https\nhost=h\nauthtype=Bearer\ncredential=t\n"
            ))
            .is_none()
        );
        let c = credential_to_store(&req(
            "capability[]=authtype\nprotocol=https\nhost=h\nauthtype=Bearer\ncredential=t\n",
        ))
        .unwrap();
        assert_eq!(c.authtype.as_deref(), Some("Bearer"));
        assert_eq!(c.key.username, None);
        let c =
            credential_to_store(&req("protocol=https\nhost=h\nusername=\npassword=\n")).unwrap();
        assert_eq!(c.key.username.as_deref(), Some(""));
    }
}
