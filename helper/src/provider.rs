//! Accounts at lookup time: answer from the cached token when it is still valid, otherwise
//! load the account's provider plugin (and only that one), let it log in or renew, and write
//! the new token and state to the vault before returning it.
//!
//! A valid cached token costs one vault read: no plugin is loaded, no HTTP client or async
//! runtime is started. Renewals of one account are serialised by a lock file in the state
//! folder, and the vault is read again once the lock is held, so two lookups that find the
//! same expired token cause one login, not two.

use std::borrow::Borrow;
use std::path::PathBuf;

use keyhelm_core::msg::{
    self, CredentialRequest, ErrorKind, GetRequest, LogoutRequest, StateUpdate,
};
use keyhelm_vault::{Account, CachedToken, Snapshot, Vault};
use secrecy::ExposeSecret;

use crate::ctx::Ctx;
use crate::error::{Exit, Failure, Result};
use crate::plugin::{self, CallError, HostServices, LoadError, Plugin, Sha256Pin};
use crate::urlmatch::Pattern;

/// How a token may be obtained.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// The provider may prompt (a terminal is there and the caller allows it).
    pub interactive: bool,
    /// Ignore the cached token and log in again (`keyhelm login`).
    pub force_login: bool,
}

impl Options {
    /// A lookup's: the cached token when it is fresh, prompts only when `interactive`.
    pub fn lookup(interactive: bool) -> Options {
        Options {
            interactive,
            force_login: false,
        }
    }
}

/// What a token is for, as the plugin is told: the lookup's URL parts and user name (none
/// for `keyhelm token`, `login` and `logout`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Target<'a> {
    pub protocol: Option<&'a str>,
    pub host: Option<&'a str>,
    pub path: Option<&'a str>,
    pub username: Option<&'a str>,
}

/// The unix time now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether a cached token can still be handed out: not expired, with a safety margin of a
/// minute, or a quarter of the token's lifetime for short-lived tokens.
pub fn is_fresh(token: &CachedToken, now: u64) -> bool {
    match token.expires_at {
        None => true,
        Some(expiry) => {
            let lifetime = expiry.saturating_sub(token.obtained_at);
            let margin = (lifetime / 4).clamp(1, 60);
            expiry > now.saturating_add(margin)
        }
    }
}

/// `token` when it can still be handed out now ([`is_fresh`]).
pub fn fresh<T: Borrow<CachedToken>>(token: Option<T>) -> Option<T> {
    token.filter(|t| is_fresh(t.borrow(), now()))
}

/// The account named `name`, or a NotFound failure that lists what exists.
pub fn account<'a>(snapshot: &'a Snapshot, name: &str) -> Result<&'a Account> {
    snapshot.account(name).ok_or_else(|| {
        let names: Vec<&str> = snapshot.accounts().map(|a| a.name.as_str()).collect();
        let hint = if names.is_empty() {
            "add one with `keyhelm account add NAME --provider P`".to_owned()
        } else {
            format!("the accounts are: {}", names.join(", "))
        };
        Failure::not_found(format!("there is no account named '{name}'")).hint(hint)
    })
}

/// The account whose URL patterns serve a request, the most specific first.
pub fn account_for<'a>(
    snapshot: &'a Snapshot,
    protocol: &str,
    host: &str,
    path: Option<&str>,
) -> Option<&'a Account> {
    best_account(snapshot.accounts(), protocol, host, path)
}

/// Among `accounts`, the one whose URL patterns serve a request, the most specific first.
pub fn best_account<'a>(
    accounts: impl IntoIterator<Item = &'a Account>,
    protocol: &str,
    host: &str,
    path: Option<&str>,
) -> Option<&'a Account> {
    accounts
        .into_iter()
        .filter_map(|a| {
            let best = patterns(a)
                .filter(|p| p.matches(protocol, host, path))
                .map(|p| p.specificity())
                .max()?;
            Some((best, a))
        })
        .max_by(|(x, a), (y, b)| x.cmp(y).then_with(|| b.name.cmp(&a.name)))
        .map(|(_, a)| a)
}

/// An account's URL patterns (its base URL's origin when none were given).
pub fn patterns(account: &Account) -> impl Iterator<Item = Pattern> + '_ {
    let explicit = !account.matches.is_empty();
    let default = (!explicit)
        .then(|| crate::urlmatch::origin_of(&account.url).ok())
        .flatten();
    account
        .matches
        .iter()
        .cloned()
        .chain(default)
        .filter_map(|p| Pattern::parse(&p).ok())
}

/// The folders searched for plugins, in order.
pub fn plugin_dirs(ctx: &Ctx) -> Result<Vec<PathBuf>> {
    let config = ctx.config()?;
    Ok(plugin::default_search_dirs(
        ctx.env.current_exe.as_deref(),
        Some(&ctx.paths.plugin_dir()),
        &config.plugins.dirs,
    ))
}

/// The sha256 the config pins a plugin to.
pub fn pin(ctx: &Ctx, name: &str) -> Result<Option<Sha256Pin>> {
    let Some(text) = ctx.config()?.plugins.pins.get(name) else {
        return Ok(None);
    };
    text.parse::<Sha256Pin>().map(Some).map_err(|_| {
        Failure::other(format!(
            "the sha256 pin of plugin `{name}` in {} is not valid",
            ctx.paths.config_file().display()
        ))
        .hint(format!(
            "run `keyhelm plugin trust {name}` to pin the installed file again"
        ))
    })
}

/// Loads (once per process) the plugin of a provider, after every check.
pub fn load(ctx: &Ctx, provider: &str) -> Result<&'static Plugin> {
    let pin = pin(ctx, provider)?;
    let loaded = match ctx.config()?.plugins.paths.get(provider) {
        Some(path) => plugin::load_plugin(provider, path, pin.as_ref()),
        None => plugin::find_and_load(provider, &plugin_dirs(ctx)?, pin.as_ref()),
    };
    loaded.map_err(load_failure)
}

pub fn load_failure(e: LoadError) -> Failure {
    Failure::new(Exit::Plugin, e.to_string())
}

/// A failed call into a plugin, as the user should see it.
pub fn call_failure(account: &str, e: CallError) -> Failure {
    let Some(error) = e.plugin_error() else {
        return Failure::new(Exit::Plugin, format!("account '{account}': {e}")).hint(
            "the plugin misbehaved: `keyhelm plugin list` shows its file, `keyhelm plugin verify \
             FILE` checks it; reinstall it, or run with KEYHELM_LOG=debug for details",
        );
    };
    let exit = match error.kind {
        ErrorKind::NeedsInteraction => Exit::NeedsInteraction,
        ErrorKind::BadSettings => Exit::Usage,
        _ => Exit::Provider,
    };
    let hint = error.hint.clone().or_else(|| match error.kind {
        ErrorKind::NeedsInteraction | ErrorKind::NeedsLogin => {
            Some(format!("run `keyhelm login {account}` in a terminal"))
        }
        ErrorKind::BadSettings => Some(format!(
            "check the account with `keyhelm account show {account}`"
        )),
        ErrorKind::RateLimited => Some(match error.retry_after {
            Some(secs) => format!("wait {secs} seconds and try again"),
            None => "wait a while and try again".to_owned(),
        }),
        ErrorKind::Network => {
            Some("check your network connection and the account's URL".to_owned())
        }
        _ => None,
    });
    let failure = Failure::new(exit, format!("account '{account}': {}", error.message));
    match hint {
        Some(hint) => failure.hint(hint),
        None => failure,
    }
}

/// The services lent to the account's plugin: its base URL's and patterns' origins, and
/// prompts when allowed.
pub fn services(account: &Account, interactive: bool) -> Result<HostServices> {
    let origins =
        std::iter::once(account.url.as_str()).chain(account.matches.iter().map(String::as_str));
    let services = HostServices::new(&account.name)
        .allow_origins_of(origins)
        .map_err(|e| Failure::other(format!("account '{}': {e}", account.name)))?;
    Ok(services.interactive(interactive))
}

/// The account as the plugin sees it.
pub fn plugin_account(account: &Account) -> msg::Account {
    let mut out = msg::Account::new(&account.name);
    out.base_url = Some(account.url.clone());
    out.settings = account.settings.clone();
    out.secrets = account.secrets.clone();
    out
}

/// A request as the plugin sees it.
pub fn plugin_request(target: Target<'_>, opts: Options) -> CredentialRequest {
    let Target {
        protocol,
        host,
        path,
        username,
    } = target;
    let mut req = CredentialRequest::default();
    req.protocol = protocol.map(str::to_owned);
    req.host = host.map(str::to_owned);
    req.path = path.map(str::to_owned);
    req.username = username.map(str::to_owned);
    req.interactive = opts.interactive;
    req.force_login = opts.force_login;
    req
}

/// Holds the per-account login lock while alive.
struct AccountLock(#[allow(dead_code)] std::fs::File);

fn lock_account(ctx: &Ctx, name: &str) -> Result<AccountLock> {
    let dir = ctx.paths.lock_dir();
    crate::paths::create_private_dir(&dir)?;
    let path = dir.join(format!("account-{}.lock", hex::encode(name.as_bytes())));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode_private()
        .open(&path)
        .map_err(|e| Failure::io("cannot open lock file", &path, &e))?;
    file.lock()
        .map_err(|e| Failure::io("cannot lock", &path, &e))?;
    Ok(AccountLock(file))
}

trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for std::fs::OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

/// A valid token for the account: the cached one when fresh, otherwise a new one from its
/// plugin (written to the vault before it is returned). The plugin is told `target` and
/// `opts`.
pub fn token(
    ctx: &Ctx,
    vault: &Vault,
    name: &str,
    target: Target<'_>,
    opts: Options,
) -> Result<CachedToken> {
    if !opts.force_login {
        let snapshot = vault.read()?;
        account(&snapshot, name)?;
        if let Some(t) = fresh(snapshot.token(name)) {
            return Ok(t.clone());
        }
    }
    let _lock = lock_account(ctx, name)?;
    // Another process may have renewed it while we waited for the lock.
    let snapshot = vault.read()?;
    let account = account(&snapshot, name)?.clone();
    if !opts.force_login
        && let Some(t) = fresh(snapshot.token(name))
    {
        return Ok(t.clone());
    }
    let state = snapshot.plugin_state(name).cloned();
    drop(snapshot);

    let plugin = load(ctx, &account.provider)?;
    let services = services(&account, opts.interactive)?;
    let request = GetRequest::new(
        plugin_account(&account),
        plugin_request(target, opts),
        state,
    );
    tracing::debug!(account = name, provider = %account.provider, "asking the provider for a token");
    let answer = plugin
        .get(&services, &request)
        .map_err(|e| call_failure(name, e))?;

    let obtained_at = now();
    let expires_at = answer.expires_at.and_then(|t| u64::try_from(t).ok());
    let mut info = serde_json::Map::new();
    if !answer.scopes.is_empty() {
        info.insert("scopes".into(), answer.scopes.clone().into());
    }
    for (k, v) in &answer.info {
        info.insert(k.clone(), v.clone().into());
    }
    let token = CachedToken {
        account: name.to_owned(),
        secret: answer.secret.clone(),
        username: answer.username.clone(),
        authtype: answer.authtype.clone(),
        expires_at,
        obtained_at,
        info: serde_json::Value::Object(info),
    };
    if token
        .secret
        .expose_secret()
        .bytes()
        .any(|b| matches!(b, b'\n' | b'\r' | 0))
    {
        return Err(Failure::new(
            Exit::Plugin,
            format!(
                "account '{name}': the provider returned a token containing a line break or NUL"
            ),
        ));
    }
    vault.update(|s| {
        if s.account(name).is_none() {
            return Ok::<_, Failure>(()); // Removed meanwhile: keep nothing.
        }
        s.put_token(token.clone());
        apply_state(s, name, &answer.state);
        Ok(())
    })?;
    Ok(token)
}

fn apply_state(s: &mut Snapshot, name: &str, update: &StateUpdate) {
    match update {
        StateUpdate::Replace { value } => s.put_plugin_state(name, value.clone()),
        StateUpdate::Clear => {
            s.remove_plugin_state(name);
        }
        _ => {}
    }
}

/// `keyhelm logout`: asks the plugin to revoke, then forgets the cached token (and the
/// state when the plugin says so). Returns the plugin's message.
pub fn logout(ctx: &Ctx, vault: &Vault, name: &str) -> Result<Option<String>> {
    let _lock = lock_account(ctx, name)?;
    let snapshot = vault.read()?;
    let account = account(&snapshot, name)?.clone();
    let token = snapshot.token(name).map(|t| t.secret.clone());
    let state = snapshot.plugin_state(name).cloned();
    drop(snapshot);
    let plugin = load(ctx, &account.provider)?;
    let services = services(&account, false)?;
    let request = LogoutRequest::new(
        plugin_account(&account),
        plugin_request(Target::default(), Options::default()),
        state,
        token,
    );
    let answer = plugin
        .logout(&services, &request)
        .map_err(|e| call_failure(name, e))?;
    vault.update(|s| {
        s.remove_token(name);
        apply_state(s, name, &answer.state);
        Ok::<_, Failure>(())
    })?;
    Ok(answer.message.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::Op;
    use keyhelm_core::msg::ErrorMessage;

    #[test]
    fn call_failures_carry_the_exit_code_and_what_to_do() {
        let plugin = |kind, message: &str| CallError::Plugin {
            plugin: "good".into(),
            error: ErrorMessage::new(kind, message),
        };
        let limited = |after| {
            let mut error = ErrorMessage::new(ErrorKind::RateLimited, "slow down");
            error.retry_after = after;
            CallError::Plugin {
                plugin: "good".into(),
                error,
            }
        };
        let cases = [
            (
                plugin(ErrorKind::BadSettings, "no seed"),
                Exit::Usage,
                "account 'w': no seed",
                Some("check the account with `keyhelm account show w`"),
            ),
            (
                CallError::Plugin {
                    plugin: "good".into(),
                    error: ErrorMessage::new(ErrorKind::BadSettings, "no seed")
                        .with_hint("set it with `keyhelm account edit`"),
                },
                Exit::Usage,
                "account 'w': no seed",
                Some("set it with `keyhelm account edit`"),
            ),
            (
                plugin(ErrorKind::NeedsInteraction, "a code is needed"),
                Exit::NeedsInteraction,
                "account 'w': a code is needed",
                Some("run `keyhelm login w` in a terminal"),
            ),
            (
                plugin(ErrorKind::NeedsLogin, "the session ended"),
                Exit::Provider,
                "account 'w': the session ended",
                Some("run `keyhelm login w` in a terminal"),
            ),
            (
                limited(Some(30)),
                Exit::Provider,
                "account 'w': slow down",
                Some("wait 30 seconds and try again"),
            ),
            (
                limited(None),
                Exit::Provider,
                "account 'w': slow down",
                Some("wait a while and try again"),
            ),
            (
                plugin(
                    ErrorKind::Network,
                    "request to https://x failed: could not connect",
                ),
                Exit::Provider,
                "account 'w': request to https://x failed: could not connect",
                Some("check your network connection and the account's URL"),
            ),
            (
                plugin(ErrorKind::AuthFailed, "the service refused the seed"),
                Exit::Provider,
                "account 'w': the service refused the seed",
                None,
            ),
            (
                CallError::Panicked {
                    plugin: "good".into(),
                    op: Op::Get,
                    message: "oops".into(),
                },
                Exit::Plugin,
                "account 'w': plugin `good` crashed during get: oops; this is a bug in the \
                 plugin, report it to its author",
                Some(
                    "the plugin misbehaved: `keyhelm plugin list` shows its file, `keyhelm \
                     plugin verify FILE` checks it; reinstall it, or run with KEYHELM_LOG=debug \
                     for details",
                ),
            ),
        ];
        for (error, exit, message, hint) in cases {
            let f = call_failure("w", error);
            assert_eq!(
                (f.exit, f.message.as_str(), f.hint.as_deref()),
                (exit, message, hint)
            );
        }
    }

    fn token(expires_at: Option<u64>, obtained_at: u64) -> CachedToken {
        CachedToken {
            account: "a".into(),
            secret: "t".into(),
            username: None,
            authtype: None,
            expires_at,
            obtained_at,
            info: serde_json::Value::Null,
        }
    }

    #[test]
    fn freshness_keeps_a_safety_margin() {
        let hour = token(Some(10_000 + 3599), 10_000);
        assert!(is_fresh(&hour, 10_000));
        assert!(is_fresh(&hour, 10_000 + 3599 - 61));
        assert!(!is_fresh(&hour, 10_000 + 3599 - 60));
        let short = token(Some(100 + 8), 100);
        assert!(is_fresh(&short, 105));
        assert!(!is_fresh(&short, 106));
        assert!(is_fresh(&token(None, 0), u64::MAX));
        assert!(!is_fresh(&token(Some(5), 0), 10));
    }
}
