//! `docker-credential-keyhelm get|store|erase|list|version`: docker's credential helper.
//!
//! docker runs `docker-credential-<name> <action>` for the name in `credsStore` (every
//! registry) or in `credHelpers` (one registry) of its `config.json`, writes the request on
//! stdin and reads the answer from stdout. The protocol is the one of
//! docker/docker-credential-helpers (`credentials/credentials.go`), as docker's client
//! library (`client/client.go`, used by docker/cli `native_store.go`) drives it:
//!
//! | action | stdin | stdout | exit |
//! |---|---|---|---|
//! | `get` | the server URL, no newline (surrounding white space is trimmed) | `{"ServerURL":…,"Username":…,"Secret":…}` and a newline | 0 |
//! | `store` | `{"ServerURL":…,"Username":…,"Secret":…}` and a newline | nothing | 0 |
//! | `erase` | the server URL | nothing (also when nothing was stored) | 0 |
//! | `list` | ignored (docker writes `unused`; it is never read) | `{"<ServerURL>":"<Username>",…}` and a newline | 0 |
//! | `version`, `--version`, `-v` | – | `docker-credential-keyhelm (github.com/keyhelm/keyhelm) v<version>` | 0 |
//!
//! Every refusal is one line on stdout and exit 1, because that is where docker's client
//! reads it. It compares the line with three exact messages: `credentials not found in
//! native keychain` (a `get` that found nothing: docker goes on without credentials),
//! `no credentials server URL` and `no credentials username`. keyhelm's own failures (the
//! vault is damaged, the identity is locked, a provider refused a login) are written as one
//! line on stdout, which docker shows as `error getting credentials - err: exit status 1,
//! out: `…``, and also to stderr in keyhelm's usual `keyhelm: error:`/`keyhelm: hint:` form
//! (docker passes the helper's stderr through).
//!
//! Storage: a docker credential is a stored credential with protocol `docker`, host = the
//! server URL exactly as docker gave it, no path, and the user name; the secret is its
//! password. git never asks for protocol `docker`, so git never sees them, and docker never
//! sees git's. There is one entry per server URL: a `store` replaces the previous user.
//! A `<token>` user name (docker's marker for an identity token) is kept as is.
//!
//! `get` answers from the stored credential for the URL (see [`server_url`] for the matching
//! rules), or else from an account whose URL patterns match the registry (user name: the one
//! the provider reported, else the account's name; secret: its token). A fresh cached token
//! costs one vault read, like a stored credential: no plugin, no HTTP client, no runtime.
//! Accounts are not part of `list`, which lists what docker stored.

pub mod config;
pub mod doctor;
pub mod json;
pub mod server_url;
pub mod setup;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{Read, Write};

use keyhelm_vault::{Credential, CredentialKey, Hlc, Snapshot};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::ctx::Ctx;
use crate::error::{Failure, Result};
use crate::paths::Env;
use crate::provider;
use server_url::ServerUrl;

/// The helper's binary name.
pub const NAME: &str = "docker-credential-keyhelm";
/// What docker's `credsStore`/`credHelpers` name to run [`NAME`].
pub const SUFFIX: &str = "keyhelm";
/// The protocol under which docker credentials are stored in the vault.
pub const PROTOCOL: &str = "docker";
/// docker's exact "nothing stored" message.
pub const NOT_FOUND: &str = "credentials not found in native keychain";
/// docker's exact "empty server URL" message.
pub const MISSING_SERVER_URL: &str = "no credentials server URL";
/// docker's exact "empty user name" message.
pub const MISSING_USERNAME: &str = "no credentials username";
/// The usage line of the reference helpers.
pub const USAGE: &str = "Usage: docker-credential-keyhelm <store|get|erase|list|version>";

/// The longest server URL accepted (the reference helpers read stdin with Go's
/// `bufio.Scanner`, whose lines stop at 64 KiB).
const MAX_SERVER_URL: usize = 64 * 1024;
/// The largest `store` request accepted.
const MAX_STORE: usize = 1024 * 1024;

/// The process entry point of `docker-credential-keyhelm`: real environment, real stdio.
pub fn main() -> std::process::ExitCode {
    let env = Env::from_process();
    let args: Vec<OsString> = std::env::args_os().collect();
    let stdin = std::io::stdin();
    // As in `keyhelm`: nothing a plugin prints can reach the stream docker reads.
    let code = match crate::plugin::protect_stdout() {
        Ok(mut protocol) => run(
            &args,
            env,
            &mut stdin.lock(),
            &mut protocol,
            &mut std::io::stderr().lock(),
        ),
        Err(_) => run(
            &args,
            env,
            &mut stdin.lock(),
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        ),
    };
    std::process::ExitCode::from(code)
}

/// Runs one docker action with the given arguments (`argv[0]` first) and streams; returns
/// the exit code: 0, or 1 for every refusal.
pub fn run(
    args: &[OsString],
    env: Env,
    input: &mut impl Read,
    output: &mut impl Write,
    err: &mut impl Write,
) -> u8 {
    crate::app::init_logging(&env);
    let result = match args {
        [_, action] => act(&action.to_string_lossy(), env, input, output),
        _ => Err(Refusal::Protocol(USAGE.into())),
    };
    match result {
        Ok(()) => 0,
        Err(refusal) => {
            refusal.report(output, err);
            1
        }
    }
}

/// How an action ends when it does not succeed.
#[derive(Debug)]
enum Refusal {
    /// A message of the protocol itself, on stdout only.
    Protocol(Cow<'static, str>),
    /// keyhelm's own failure: one line on stdout for docker, the usual report on stderr.
    Failure(Failure),
}

impl From<Failure> for Refusal {
    fn from(f: Failure) -> Refusal {
        Refusal::Failure(f)
    }
}

impl From<keyhelm_vault::Error> for Refusal {
    fn from(e: keyhelm_vault::Error) -> Refusal {
        Refusal::Failure(e.into())
    }
}

impl Refusal {
    fn report(&self, output: &mut impl Write, err: &mut impl Write) {
        let line = match self {
            Refusal::Protocol(message) => message.to_string(),
            Refusal::Failure(failure) => {
                failure.report(&mut *err);
                failure.to_string().replace(['\n', '\r'], " ")
            }
        };
        // Nothing better to do when stdout is gone.
        let _ = crate::out::write_all(output, format!("{line}\n").as_bytes());
    }
}

fn act(
    action: &str,
    env: Env,
    input: &mut impl Read,
    output: &mut impl Write,
) -> Result<(), Refusal> {
    match action {
        "get" | "store" | "erase" | "list" => {}
        "version" | "--version" | "-v" => {
            let line = format!(
                "{NAME} (github.com/keyhelm/keyhelm) v{}\n",
                env!("CARGO_PKG_VERSION")
            );
            return write(output, line.as_bytes());
        }
        "--help" | "-h" => return write(output, help().as_bytes()),
        other => {
            return Err(Refusal::Protocol(
                format!("{NAME}: unknown action: {other}").into(),
            ));
        }
    }
    let ctx = Ctx::new(env)?;
    match action {
        "get" => {
            let url = read_server_url(input)?;
            match lookup(&ctx, &url)? {
                Some(answer) => write(
                    output,
                    &json::encode_get(&url, &answer.username, &answer.secret),
                ),
                None => Err(Refusal::Protocol(NOT_FOUND.into())),
            }
        }
        "store" => store(&ctx, &read_store(input)?),
        "erase" => erase(&ctx, &read_server_url(input)?),
        _ => list(&ctx, output),
    }
}

fn help() -> String {
    format!(
        "{USAGE}\n\n\
         keyhelm's credential helper for docker. docker runs it when its config.json names \
         \"{SUFFIX}\" in credsStore\n\
         (every registry) or credHelpers (one registry); `keyhelm setup docker` writes that. \
         It answers from\n\
         keyhelm's vault and accounts. See `keyhelm --help` and keyhelm's user guide.\n"
    )
}

fn write(output: &mut impl Write, bytes: &[u8]) -> Result<(), Refusal> {
    crate::out::write_all(output, bytes)
        .map_err(|e| Failure::other(format!("cannot write the answer: {e}")).into())
}

/// Reads stdin up to `max` bytes (a larger request is refused), into a buffer reserved up
/// front and wiped when dropped.
fn read_limited(input: &mut impl Read, max: usize) -> Result<Zeroizing<Vec<u8>>, Refusal> {
    let mut buf = Zeroizing::new(Vec::with_capacity(max + 1));
    input
        .take(max as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Failure::other(format!("cannot read the request: {e}")))?;
    if buf.len() > max {
        return Err(bad_request(format!(
            "the request on stdin is larger than {max} bytes"
        )));
    }
    Ok(buf)
}

fn bad_request(message: impl Into<String>) -> Refusal {
    Failure::bad_request(message)
        .hint("nothing was read from or written to the vault")
        .into()
}

/// The server URL of `get` and `erase`: stdin, trimmed, in one line.
fn read_server_url(input: &mut impl Read) -> Result<String, Refusal> {
    let bytes = read_limited(input, MAX_SERVER_URL)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| bad_request("the server URL on stdin is not valid UTF-8"))?;
    let url = text.trim();
    if url.is_empty() {
        return Err(Refusal::Protocol(MISSING_SERVER_URL.into()));
    }
    if url.chars().any(char::is_control) {
        return Err(bad_request(
            "the server URL on stdin contains a line break or another control character",
        ));
    }
    Ok(url.to_owned())
}

fn read_store(input: &mut impl Read) -> Result<json::StoreRequest, Refusal> {
    let bytes = read_limited(input, MAX_STORE)?;
    json::parse_store(&bytes).map_err(|e| match e {
        json::StoreError::MissingServerUrl => Refusal::Protocol(MISSING_SERVER_URL.into()),
        json::StoreError::MissingUsername => Refusal::Protocol(MISSING_USERNAME.into()),
        other => bad_request(other.to_string()),
    })
}

/// Whether a stored credential is one of docker's.
pub fn is_docker(c: &Credential) -> bool {
    c.key.protocol == PROTOCOL
        && c.key.path.is_none()
        && c.key.username.is_some()
        && c.password.is_some()
}

/// How `keyhelm list` shows a docker credential: `docker <ServerURL> as <user>`.
pub fn describe(c: &Credential) -> Option<String> {
    is_docker(c).then(|| {
        format!(
            "docker {} as {}",
            c.key.host,
            c.key.username.as_deref().unwrap_or_default()
        )
    })
}

fn docker_credentials(s: &Snapshot) -> impl Iterator<Item = (&Credential, Hlc)> + '_ {
    s.credentials_stamped().filter(|(c, _)| is_docker(c))
}

/// The stored docker credential that answers a `get` of `url`: the one stored under
/// exactly this URL, else the first rule of [`server_url`] that finds one; the newest when
/// several qualify (two devices may have stored different users before a sync).
pub fn find<'a>(s: &'a Snapshot, url: &str) -> Option<&'a Credential> {
    fn newest<'a>(it: impl Iterator<Item = (&'a Credential, Hlc)>) -> Option<&'a Credential> {
        it.max_by_key(|(_, stamp)| *stamp).map(|(c, _)| c)
    }
    if let Some(c) = newest(docker_credentials(s).filter(|(c, _)| c.key.host == url)) {
        return Some(c);
    }
    let wanted = ServerUrl::parse(url)?;
    let parsed: Vec<(&Credential, Hlc, ServerUrl)> = docker_credentials(s)
        .filter_map(|(c, stamp)| Some((c, stamp, ServerUrl::parse(&c.key.host)?)))
        .collect();
    let rule = |matches: fn(&ServerUrl, &ServerUrl) -> bool| {
        newest(
            parsed
                .iter()
                .filter(|(_, _, stored)| matches(&wanted, stored))
                .map(|(c, stamp, _)| (*c, *stamp)),
        )
    };
    rule(ServerUrl::matches_exactly).or_else(|| rule(ServerUrl::matches_approximately))
}

/// A registry as account patterns see it.
struct Registry {
    protocol: String,
    host: String,
    path: Option<String>,
}

/// The account that serves `url`, with the registry as it matched. A URL without a scheme
/// is tried as `https://` and then as `http://` (for registries on plain HTTP, such as a
/// local one, that an account names with an `http://` pattern).
fn account_for<'a>(s: &'a Snapshot, url: &str) -> Option<(&'a keyhelm_vault::Account, Registry)> {
    let parsed = ServerUrl::parse(url)?;
    let (protocol, host, path) = parsed.as_request();
    let schemes: &[&str] = if parsed.has_scheme() {
        &[protocol]
    } else {
        &["https", "http"]
    };
    schemes.iter().find_map(|scheme| {
        let account = provider::account_for(s, scheme, &host, path)?;
        Some((
            account,
            Registry {
                protocol: (*scheme).to_owned(),
                host: host.clone(),
                path: path.map(str::to_owned),
            },
        ))
    })
}

/// What `get` answers.
struct Answer {
    username: String,
    secret: SecretString,
}

fn lookup(ctx: &Ctx, url: &str) -> Result<Option<Answer>> {
    let Some(vault) = ctx.vault()? else {
        return Ok(None);
    };
    let snapshot = match vault.read() {
        Ok(snapshot) => snapshot,
        Err(keyhelm_vault::Error::Missing { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if let Some(c) = find(&snapshot, url) {
        let (Some(username), Some(secret)) = (&c.key.username, &c.password) else {
            return Ok(None); // `find` only returns credentials with both.
        };
        tracing::debug!(server_url = url, stored_as = %c.key.host, "docker get: a stored credential");
        return Ok(Some(Answer {
            username: username.clone(),
            secret: secret.clone(),
        }));
    }
    let Some((account, registry)) = account_for(&snapshot, url) else {
        tracing::debug!(server_url = url, "docker get: nothing stored, no account");
        return Ok(None);
    };
    let name = account.name.clone();
    tracing::debug!(server_url = url, account = %name, "docker get: an account's token");
    // The hot path: a fresh cached token is answered from the snapshot already read.
    let token = match provider::fresh(snapshot.token(&name)) {
        Some(token) => token.clone(),
        None => {
            drop(snapshot);
            let target = provider::Target {
                protocol: Some(&registry.protocol),
                host: Some(&registry.host),
                path: registry.path.as_deref(),
                username: None,
            };
            let opts = provider::Options::lookup(crate::cmd::account::has_terminal());
            provider::token(ctx, &vault, &name, target, opts)?
        }
    };
    Ok(Some(Answer {
        username: token
            .username
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or(name),
        secret: token.secret.clone(),
    }))
}

/// Whether `secret` is an account's cached token: `docker login` stores what `get` answered
/// once the registry accepted it, and an account's token must stay with its account (it is
/// renewed there), not become a stored credential that outlives it.
fn is_account_token(s: &Snapshot, secret: &SecretString) -> bool {
    s.tokens()
        .any(|t| t.secret.expose_secret() == secret.expose_secret())
}

fn store(ctx: &Ctx, req: &json::StoreRequest) -> Result<(), Refusal> {
    let new = Credential {
        key: CredentialKey {
            protocol: PROTOCOL.to_owned(),
            host: req.server_url.clone(),
            path: None,
            username: Some(req.username.clone()),
        },
        password: Some(req.secret.clone()),
        password_expiry_utc: None,
        oauth_refresh_token: None,
        authtype: None,
        credential: None,
    };
    // Other users stored under the same server URL: a store replaces them.
    let others = |s: &Snapshot| -> Vec<CredentialKey> {
        docker_credentials(s)
            .filter(|(c, _)| c.key.host == req.server_url && c.key != new.key)
            .map(|(c, _)| c.key.clone())
            .collect()
    };
    let settled = |s: &Snapshot| {
        is_account_token(s, &req.secret)
            || (others(s).is_empty()
                && s.credential(&new.key)
                    .is_some_and(|stored| stored.same_as(&new)))
    };
    let (vault, _) = ctx.vault_or_init()?;
    // docker stores again after every `docker login`: what is already there as is must not
    // rewrite the vault.
    match vault.read() {
        Ok(snapshot) if settled(&snapshot) => return Ok(()),
        Ok(_) | Err(keyhelm_vault::Error::Missing { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    vault.update(|s| {
        if settled(s) {
            return Ok::<_, Failure>(());
        }
        for other in others(s) {
            s.remove_credential(&other);
        }
        s.put_credential(new.clone());
        Ok(())
    })?;
    Ok(())
}

/// `erase` removes what is stored under exactly this server URL (compared as written, or
/// as parsed: `https://r.tld/?x` is `https://r.tld/`). docker's `logout` erases several
/// spellings of the registry in turn, so nothing stored is not an error.
fn erase(ctx: &Ctx, url: &str) -> Result<(), Refusal> {
    let Some(vault) = ctx.vault()? else {
        return Ok(());
    };
    let parsed = ServerUrl::parse(url);
    let doomed = |s: &Snapshot| -> Vec<CredentialKey> {
        docker_credentials(s)
            .filter(|(c, _)| {
                c.key.host == url
                    || parsed.as_ref().is_some_and(|wanted| {
                        ServerUrl::parse(&c.key.host).is_some_and(|u| wanted.matches_exactly(&u))
                    })
            })
            .map(|(c, _)| c.key.clone())
            .collect()
    };
    match vault.read() {
        Ok(snapshot) if doomed(&snapshot).is_empty() => return Ok(()),
        Ok(_) => {}
        Err(keyhelm_vault::Error::Missing { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    vault.update(|s| {
        for key in doomed(s) {
            s.remove_credential(&key);
        }
        Ok::<_, Failure>(())
    })?;
    Ok(())
}

fn list(ctx: &Ctx, output: &mut impl Write) -> Result<(), Refusal> {
    let mut entries = BTreeMap::new();
    if let Some(vault) = ctx.vault()? {
        match vault.read() {
            Ok(snapshot) => {
                let mut stored: Vec<(&Credential, Hlc)> = docker_credentials(&snapshot).collect();
                // The newest user wins where two devices stored the same URL.
                stored.sort_by_key(|(_, stamp)| *stamp);
                for (c, _) in stored {
                    if let Some(user) = &c.key.username {
                        entries.insert(c.key.host.clone(), user.clone());
                    }
                }
            }
            Err(keyhelm_vault::Error::Missing { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    write(output, &json::encode_list(&entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn run_with(args: &[&str], stdin: &[u8]) -> (u8, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let env = Env {
            keyhelm_home: Some(dir.path().to_path_buf()),
            ..Env::default()
        };
        let args: Vec<OsString> = std::iter::once(NAME)
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(&args, env, &mut Cursor::new(stdin), &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn version_help_and_usage() {
        let version = format!(
            "docker-credential-keyhelm (github.com/keyhelm/keyhelm) v{}\n",
            env!("CARGO_PKG_VERSION")
        );
        for flag in ["version", "--version", "-v"] {
            assert_eq!(run_with(&[flag], b""), (0, version.clone(), String::new()));
        }
        let (code, out, _) = run_with(&["--help"], b"");
        assert_eq!(code, 0);
        assert!(out.starts_with(&format!("{USAGE}\n\n")), "{out}");
        assert!(out.contains("`keyhelm setup docker`"), "{out}");
        let usage = (1, format!("{USAGE}\n"), String::new());
        assert_eq!(run_with(&[], b""), usage);
        assert_eq!(run_with(&["get", "extra"], b""), usage);
    }

    #[test]
    fn unknown_actions_are_refused_on_stdout() {
        assert_eq!(
            run_with(&["frobnicate"], b"ghcr.io"),
            (
                1,
                "docker-credential-keyhelm: unknown action: frobnicate\n".to_owned(),
                String::new()
            )
        );
    }

    #[test]
    fn a_store_get_list_erase_round_trip_in_process() {
        let dir = tempfile::tempdir().unwrap();
        let env = || Env {
            keyhelm_home: Some(dir.path().to_path_buf()),
            ..Env::default()
        };
        let call = |action: &str, stdin: &[u8]| {
            let args = [OsString::from(NAME), OsString::from(action)];
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let code = run(&args, env(), &mut Cursor::new(stdin), &mut out, &mut err);
            (code, String::from_utf8(out).unwrap())
        };
        assert_eq!(call("get", b"ghcr.io"), (1, format!("{NOT_FOUND}\n")));
        assert_eq!(call("list", b"unused"), (0, "{}\n".to_owned()));
        assert_eq!(
            call(
                "store",
                br#"{"ServerURL":"ghcr.io","Username":"u","Secret":"s"}"#
            ),
            (0, String::new())
        );
        assert_eq!(
            call("get", b"ghcr.io"),
            (
                0,
                "{\"ServerURL\":\"ghcr.io\",\"Username\":\"u\",\"Secret\":\"s\"}\n".to_owned()
            )
        );
        assert_eq!(
            call("list", b"unused"),
            (0, "{\"ghcr.io\":\"u\"}\n".to_owned())
        );
        assert_eq!(call("erase", b"ghcr.io"), (0, String::new()));
        assert_eq!(call("get", b"ghcr.io"), (1, format!("{NOT_FOUND}\n")));
    }

    #[test]
    fn describe_shows_docker_entries_only() {
        let mut c = Credential {
            key: CredentialKey {
                protocol: PROTOCOL.into(),
                host: "https://index.docker.io/v1/".into(),
                path: None,
                username: Some("<token>".into()),
            },
            password: Some("s".into()),
            password_expiry_utc: None,
            oauth_refresh_token: None,
            authtype: None,
            credential: None,
        };
        assert_eq!(
            describe(&c).as_deref(),
            Some("docker https://index.docker.io/v1/ as <token>")
        );
        c.key.protocol = "https".into();
        assert_eq!(describe(&c), None);
    }
}
