//! `keyhelm --cargo-plugin`: cargo's credential provider (research/protocols.md, section C).
//!
//! cargo runs `PATH --cargo-plugin` (the other words of `credential-provider` arrive in each
//! request's `args`), reads the hello line, writes one request line, reads one response line,
//! and closes stdin. keyhelm answers every request line until EOF and exits 0: a response
//! line is always written, errors included, because cargo ignores the response of a provider
//! that exits non-zero.
//!
//! - `get`: the token `cargo login` stored for the registry (never an expired one), else the
//!   token of the account whose URL patterns match the index URL (renewed by its plugin when
//!   it expired), else `not-found`. With the argument `--account NAME`, always that account.
//!   Tokens with an expiry are sent with `"cache":"expires"`, others with `"session"`.
//! - `login`: stores the token cargo passes (from `cargo login` or its stdin), or asks for
//!   one on the terminal.
//! - `logout`: forgets the stored token; `not-found` when there is none.
//! - Unknown kinds and operations: `operation-not-supported`; another protocol version:
//!   `other`.
//!
//! Setting cargo up and checking it: [`config`].

pub mod config;
pub mod protocol;
pub mod registry;

use std::ffi::OsString;
use std::io::{BufRead, Write};

use keyhelm_vault::{Credential, Snapshot, Vault};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::cmd::account::{check_account_name, has_terminal};
use crate::ctx::Ctx;
use crate::error::{Exit, Failure, Result};
use crate::paths::Env;
use crate::provider;
use protocol::{Action, Cache, ErrorKind, Operation, Request, Response};
use registry::Registry;

/// The argument cargo gives its credential providers.
pub const CARGO_PLUGIN_FLAG: &str = "--cargo-plugin";

/// The longest request line keyhelm reads.
const MAX_LINE: u64 = 1 << 20;

/// Runs the provider: hello, then one response per request line until EOF. Returns the exit
/// code: 0 whenever every response could be written.
pub fn main(
    args: &[OsString],
    env: Env,
    input: &mut impl BufRead,
    output: &mut impl Write,
    err: &mut impl Write,
) -> u8 {
    if crate::out::write_all(output, protocol::HELLO).is_err() {
        return Exit::Failure.code();
    }
    // Words after `--cargo-plugin` (no cargo sends any today) count as provider arguments.
    let argv_args: Vec<String> = args
        .iter()
        .skip(2)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let ctx = Ctx::new(env);
    loop {
        let mut line = Zeroizing::new(Vec::with_capacity(4096));
        match std::io::Read::take(&mut *input, MAX_LINE + 1).read_until(b'\n', &mut line) {
            Ok(0) => return Exit::Ok.code(),
            Ok(_) => {}
            Err(e) => {
                let _ = writeln!(err, "keyhelm: error: cannot read cargo's request: {e}");
                return Exit::Failure.code();
            }
        }
        // A line without its end is the last one; one that is too long is not read further.
        let last = line.last() != Some(&b'\n');
        let too_long = line.len() as u64 > MAX_LINE;
        let response = if too_long {
            Response::other("cargo's request is longer than 1 MiB; keyhelm did not read it")
        } else {
            while line.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
                line.pop();
            }
            match std::str::from_utf8(&line) {
                Ok(text) => handle(&ctx, text, &argv_args, err),
                Err(_) => Response::other("cargo's request is not UTF-8"),
            }
        };
        if crate::out::write_all(output, &response.encode()).is_err() {
            return Exit::Failure.code();
        }
        if last || too_long {
            return Exit::Ok.code();
        }
    }
}

/// The answer to one request line. Never fails: every failure becomes an `Err` response.
fn handle(ctx: &Result<Ctx>, line: &str, argv_args: &[String], err: &mut impl Write) -> Response {
    let req = match protocol::parse_request(line) {
        Ok(req) => req,
        Err(e) => return Response::other(e.to_string()),
    };
    match &req.action {
        Action::Unknown(_) | Action::Get(Operation::Unknown(_)) => {
            return Response::error(ErrorKind::OperationNotSupported);
        }
        _ => {}
    }
    let ctx = match ctx {
        Ok(ctx) => ctx,
        Err(failure) => return Response::other(failure.to_string()),
    };
    match perform(ctx, req, argv_args, err) {
        Ok(response) => response,
        Err(failure) => Response::other(failure.to_string()),
    }
}

/// The provider arguments keyhelm understands.
#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    /// `--account NAME`: the registry's token is this account's.
    account: Option<String>,
}

impl Args {
    fn parse<'a>(words: impl IntoIterator<Item = &'a String>) -> Result<Args> {
        let mut args = Args::default();
        let mut words = words.into_iter();
        while let Some(word) = words.next() {
            let account = if word == "--account" {
                words.next().cloned().ok_or_else(|| {
                    Failure::usage("the credential-provider argument --account needs a name")
                        .hint(USAGE)
                })?
            } else if let Some(name) = word.strip_prefix("--account=") {
                name.to_owned()
            } else {
                // Only echo what looks like an option: these words may come from
                // `cargo login -- ...`, where someone might type a token.
                let shown = if word.starts_with("--")
                    && word.len() <= 40
                    && word[2..]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                {
                    format!("'{word}'")
                } else {
                    "an argument that is not an option".to_owned()
                };
                return Err(Failure::usage(format!(
                    "keyhelm does not understand the credential-provider argument {shown}"
                ))
                .hint(USAGE));
            };
            check_account_name(&account)?;
            args.account = Some(account);
        }
        Ok(args)
    }
}

const USAGE: &str = "keyhelm takes `--account NAME` only, e.g. \
    credential-provider = [\"/path/to/keyhelm\", \"--account\", \"NAME\"]";

/// How the request names the registry, for messages.
struct Named {
    display: String,
    /// The `cargo login` command for this registry.
    login: String,
}

impl Named {
    fn of(info: &protocol::RegistryInfo, registry: &Registry) -> Named {
        match info.name.as_deref() {
            Some("crates-io") | None if *registry == Registry::crates_io() => Named {
                display: "crates-io".into(),
                login: "cargo login".into(),
            },
            Some(name) => Named {
                display: name.to_owned(),
                login: format!("cargo login --registry {name}"),
            },
            None => Named {
                display: registry.url(),
                login: format!("cargo login --index {}", registry.url()),
            },
        }
    }
}

fn perform(
    ctx: &Ctx,
    req: Request,
    argv_args: &[String],
    err: &mut impl Write,
) -> Result<Response> {
    let registry = Registry::parse(&req.registry.index_url).map_err(|reason| {
        let which = match &req.registry.name {
            Some(name) => format!("the index URL of registry `{name}`"),
            None => "the registry's index URL".to_owned(),
        };
        Failure::usage(format!("{which} is not usable: {reason}"))
    })?;
    let named = Named::of(&req.registry, &registry);
    let args = Args::parse(argv_args.iter().chain(&req.args))?;
    match req.action {
        Action::Get(_) => get(ctx, &registry, &named, &args, err),
        Action::Login { token, login_url } => {
            login(ctx, &registry, &named, &args, token, login_url.as_deref())
        }
        Action::Logout => logout(ctx, &registry, &named, &args, err),
        Action::Unknown(_) => Ok(Response::error(ErrorKind::OperationNotSupported)),
    }
}

/// Writes a `keyhelm: note:` line (and a hint) on stderr, which cargo shows to the user.
fn notice(err: &mut impl Write, note: &str, hint: &str) {
    let _ = writeln!(err, "keyhelm: note: {note}\nkeyhelm: hint: {hint}");
}

/// The account whose URL patterns serve the registry, the index URL's own scheme first.
pub fn account_for<'a>(snapshot: &'a Snapshot, registry: &Registry) -> Option<&'a str> {
    registry.protocols().into_iter().find_map(|protocol| {
        provider::account_for(snapshot, protocol, registry.host(), registry.path())
            .map(|a| a.name.as_str())
    })
}

fn get(
    ctx: &Ctx,
    registry: &Registry,
    named: &Named,
    args: &Args,
    err: &mut impl Write,
) -> Result<Response> {
    let not_found = Response::error(ErrorKind::NotFound);
    let Some(vault) = ctx.vault()? else {
        return Ok(not_found);
    };
    let snapshot = match vault.read() {
        Ok(snapshot) => snapshot,
        Err(keyhelm_vault::Error::Missing { .. }) if args.account.is_none() => {
            return Ok(not_found);
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(name) = &args.account {
        return account_token(ctx, &vault, snapshot, name, registry);
    }
    let now = provider::now();
    let mut expired = None;
    if let Some(stored) = snapshot.credential(&registry.key())
        && let Some(token) = &stored.password
    {
        match stored.password_expiry_utc {
            Some(at) if at <= now => expired = Some(at),
            expiry => {
                return Ok(Response::Get {
                    token: token.clone(),
                    cache: expiry.map_or(Cache::Session, Cache::Expires),
                });
            }
        }
    }
    if let Some(name) = account_for(&snapshot, registry).map(str::to_owned) {
        return account_token(ctx, &vault, snapshot, &name, registry);
    }
    if let Some(at) = expired {
        notice(
            err,
            &format!(
                "the token keyhelm stored for registry `{}` expired {}",
                named.display,
                crate::cmd::format_time(at)
            ),
            &format!("log in again with `{}`", named.login),
        );
    }
    Ok(not_found)
}

/// The token of an account: the cached one when fresh (no plugin is loaded), else a new one
/// from its plugin.
fn account_token(
    ctx: &Ctx,
    vault: &Vault,
    snapshot: Snapshot,
    name: &str,
    registry: &Registry,
) -> Result<Response> {
    provider::account(&snapshot, name)?;
    let token = match provider::fresh(snapshot.token(name)) {
        Some(token) => token.clone(),
        None => {
            drop(snapshot);
            let protocols = registry.protocols();
            let target = provider::Target {
                protocol: protocols.last().copied(),
                host: Some(registry.host()),
                path: registry.path(),
                username: None,
            };
            let opts = provider::Options::lookup(has_terminal());
            provider::token(ctx, vault, name, target, opts)?
        }
    };
    Ok(Response::Get {
        token: token.secret,
        cache: token.expires_at.map_or(Cache::Session, Cache::Expires),
    })
}

fn served_by_account(named: &Named, name: &str, command: &str) -> Failure {
    Failure::usage(format!(
        "registry `{}` takes its token from account '{name}' (credential-provider argument \
         --account), so keyhelm keeps no token of its own for it",
        named.display
    ))
    .hint(format!("use `keyhelm {command} {name}` for the account"))
}

fn login(
    ctx: &Ctx,
    registry: &Registry,
    named: &Named,
    args: &Args,
    token: Option<SecretString>,
    login_url: Option<&str>,
) -> Result<Response> {
    if let Some(name) = &args.account {
        return Err(served_by_account(named, name, "login"));
    }
    let token = match token {
        Some(token) => token,
        None => prompt_token(named, login_url)?,
    };
    let token = check_token(&token, named)?;
    let (vault, _) = ctx.vault_or_init()?;
    let credential = Credential {
        key: registry.key(),
        password: Some(token),
        password_expiry_utc: None,
        oauth_refresh_token: None,
        authtype: None,
        credential: None,
    };
    vault.update(|s| {
        s.put_credential(credential.clone());
        Ok::<_, Failure>(())
    })?;
    Ok(Response::Login)
}

/// Asks for the token on the terminal (cargo's stdin and stdout are the protocol).
fn prompt_token(named: &Named, login_url: Option<&str>) -> Result<SecretString> {
    use crate::tty::Prompter;
    let no_terminal = || {
        Failure::new(
            Exit::NeedsInteraction,
            format!(
                "cargo passed no token for registry `{}` and there is no terminal to ask for one",
                named.display
            ),
        )
        .hint(format!(
            "give cargo the token on stdin: `{} < token-file`",
            named.login
        ))
    };
    let terminal = crate::tty::Terminal::open().map_err(|_| no_terminal())?;
    let label = match login_url {
        Some(url) => format!(
            "Token for registry `{}` (get one at {}): ",
            named.display,
            crate::tty::sanitize(url)
        ),
        None => format!("Token for registry `{}`: ", named.display),
    };
    terminal.secret(&label).map_err(|e| match e {
        crate::tty::TtyError::NotInteractive { .. } => no_terminal(),
        e => Failure::new(
            Exit::NeedsInteraction,
            format!("cannot read the token: {e}"),
        ),
    })
}

/// The token without surrounding white space; refuses one that is empty or that an HTTP
/// header cannot carry.
fn check_token(token: &SecretString, named: &Named) -> Result<SecretString> {
    let trimmed = token.expose_secret().trim();
    if trimmed.is_empty() {
        return Err(Failure::usage(format!(
            "the token for registry `{}` is empty; nothing was stored",
            named.display
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Failure::usage(format!(
            "the token for registry `{}` contains a line break or another control character, \
             which an HTTP header cannot carry; nothing was stored",
            named.display
        )));
    }
    Ok(SecretString::from(trimmed.to_owned()))
}

fn logout(
    ctx: &Ctx,
    registry: &Registry,
    named: &Named,
    args: &Args,
    err: &mut impl Write,
) -> Result<Response> {
    if let Some(name) = &args.account {
        return Err(served_by_account(named, name, "logout"));
    }
    let not_found = Response::error(ErrorKind::NotFound);
    let Some(vault) = ctx.vault()? else {
        return Ok(not_found);
    };
    let key = registry.key();
    let snapshot = match vault.read() {
        Ok(snapshot) => snapshot,
        Err(keyhelm_vault::Error::Missing { .. }) => return Ok(not_found),
        Err(e) => return Err(e.into()),
    };
    if snapshot.credential(&key).is_none() {
        if let Some(account) = account_for(&snapshot, registry) {
            notice(
                err,
                &format!(
                    "registry `{}` gets its token from account '{account}'",
                    named.display
                ),
                &format!("log out of the account with `keyhelm logout {account}`"),
            );
        }
        return Ok(not_found);
    }
    drop(snapshot);
    let removed = vault.update(|s| Ok::<_, Failure>(s.remove_credential(&key)))?;
    Ok(if removed { Response::Logout } else { not_found })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn provider_arguments() {
        assert_eq!(Args::parse(&words(&[])).unwrap(), Args::default());
        assert_eq!(
            Args::parse(&words(&["--account", "work"])).unwrap().account,
            Some("work".into())
        );
        assert_eq!(
            Args::parse(&words(&["--account=w-2"])).unwrap().account,
            Some("w-2".into())
        );
        let e = Args::parse(&words(&["--account"])).unwrap_err();
        assert_eq!(
            e.message,
            "the credential-provider argument --account needs a name"
        );
        assert_eq!(e.hint.as_deref(), Some(USAGE));
        let e = Args::parse(&words(&["--bearer"])).unwrap_err();
        assert_eq!(
            e.message,
            "keyhelm does not understand the credential-provider argument '--bearer'"
        );
        let e = Args::parse(&words(&["s3cret-token"])).unwrap_err();
        assert_eq!(
            e.message,
            "keyhelm does not understand the credential-provider argument an argument that is \
             not an option"
        );
        let e = Args::parse(&words(&["--account", "a b"])).unwrap_err();
        assert_eq!(e.message, "'a b' is not a valid account name");
    }

    #[test]
    fn tokens_are_checked() {
        let named = Named {
            display: "testreg".into(),
            login: "cargo login --registry testreg".into(),
        };
        let t = check_token(&" t0k \n".into(), &named).unwrap();
        assert_eq!(t.expose_secret(), "t0k");
        let e = check_token(&"  ".into(), &named).unwrap_err();
        assert_eq!(
            e.message,
            "the token for registry `testreg` is empty; nothing was stored"
        );
        let e = check_token(&"a\rb".into(), &named).unwrap_err();
        assert_eq!(
            e.message,
            "the token for registry `testreg` contains a line break or another control \
             character, which an HTTP header cannot carry; nothing was stored"
        );
        assert!(!e.to_string().contains("a\rb"));
    }

    #[test]
    fn registries_are_named_as_cargo_names_them() {
        let info = |name: Option<&str>, url: &str| protocol::RegistryInfo {
            index_url: url.into(),
            name: name.map(Into::into),
        };
        let crates_io = Registry::crates_io();
        let n = Named::of(
            &info(Some("crates-io"), registry::CRATES_IO_SPARSE),
            &crates_io,
        );
        assert_eq!(
            (n.display.as_str(), n.login.as_str()),
            ("crates-io", "cargo login")
        );
        let n = Named::of(&info(None, registry::CRATES_IO_GIT), &crates_io);
        assert_eq!(n.login, "cargo login");
        let reg = Registry::parse("sparse+https://r.example/index/").unwrap();
        let n = Named::of(
            &info(Some("testreg"), "sparse+https://r.example/index/"),
            &reg,
        );
        assert_eq!(n.login, "cargo login --registry testreg");
        let n = Named::of(&info(None, "sparse+https://r.example/index/"), &reg);
        assert_eq!(n.display, "sparse+https://r.example/index/");
        assert_eq!(
            n.login,
            "cargo login --index sparse+https://r.example/index/"
        );
    }
}
