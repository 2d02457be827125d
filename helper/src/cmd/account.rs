//! `keyhelm account add|list|show|remove` and `keyhelm token|login|logout`.

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};

use keyhelm_core::msg::{Description, SettingSpec};
use keyhelm_vault::{Account, CachedToken, Snapshot, Vault};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use zeroize::Zeroizing;

use crate::cmd::format_time;
use crate::ctx::Ctx;
use crate::error::{Exit, Failure, Result};
use crate::plugin::HostServices;
use crate::provider::{self, Options};
use crate::urlmatch::Pattern;

/// What `keyhelm account add` was asked to do.
#[derive(Debug)]
pub struct AddRequest {
    pub name: String,
    pub provider: String,
    pub url: Option<String>,
    pub matches: Vec<String>,
    pub set: Vec<String>,
    pub secrets_from_stdin: bool,
}

/// Account names: letters, digits, `.`, `_`, `-`; at most 64; starting with a letter or digit.
pub fn check_account_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Failure::usage(format!("'{name}' is not a valid account name"))
            .hint("use letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)"))
    }
}

/// Whether prompts can reach a person: a controlling terminal exists.
pub fn has_terminal() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok()
}

fn loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    matches!(name, "127.0.0.1" | "localhost" | "[::1]") || name.starts_with("127.")
}

fn check_url(url: &str) -> Result<()> {
    let pattern = Pattern::parse(url).map_err(|e| Failure::usage(e.to_string()))?;
    let origin = pattern.origin();
    let (scheme, host) = origin.split_once("://").unwrap_or(("", ""));
    match scheme {
        "https" => Ok(()),
        "http" if loopback(host) => Ok(()),
        _ => Err(
            Failure::usage(format!("the account URL {url} must use https"))
                .hint("plain http is only allowed for 127.0.0.1 and localhost"),
        ),
    }
}

fn spec<'a>(d: &'a Description, key: &str) -> Option<&'a SettingSpec> {
    d.settings.iter().find(|s| s.key == key)
}

fn known_keys(d: &Description, secret: bool) -> String {
    let keys: Vec<&str> = d
        .settings
        .iter()
        .filter(|s| s.secret == secret)
        .map(|s| s.key.as_str())
        .collect();
    if keys.is_empty() {
        "none".to_owned()
    } else {
        keys.join(", ")
    }
}

/// Parses `--set KEY=VALUE` options against the provider's description.
fn settings(provider: &str, d: &Description, set: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in set {
        let Some((key, value)) = item.split_once('=') else {
            // Not echoed: a secret typed with the wrong separator would be in the message.
            return Err(
                Failure::usage("--set takes KEY=VALUE, and one of them has no '='")
                    .hint(format!("its settings are: {}", known_keys(d, false))),
            );
        };
        match spec(d, key) {
            None => {
                return Err(Failure::usage(format!(
                    "provider '{provider}' has no setting '{key}'"
                ))
                .hint(format!("its settings are: {}", known_keys(d, false))));
            }
            Some(s) if s.secret => {
                // Deliberately not echoing the value: it is a secret given on the command line.
                return Err(Failure::usage(format!(
                    "'{key}' is a secret and is never taken from the command line"
                ))
                .hint("keyhelm prompts for it on the terminal, or reads KEY=VALUE lines from stdin with --secrets-from-stdin"));
            }
            Some(_) => {
                out.insert(key.to_owned(), value.to_owned());
            }
        }
    }
    for s in d.settings.iter().filter(|s| !s.secret) {
        if !out.contains_key(&s.key) {
            if let Some(default) = &s.default {
                out.insert(s.key.clone(), default.clone());
            } else if s.required {
                return Err(Failure::usage(format!(
                    "provider '{provider}' needs the setting '{}'",
                    s.key
                ))
                .hint(format!("pass --set {}=VALUE ({})", s.key, s.help)));
            }
        }
    }
    Ok(out)
}

/// Reads `KEY=VALUE` secret lines from stdin (blank lines and `#` comments skipped).
fn secrets_from(
    input: &mut impl BufRead,
    provider: &str,
    d: &Description,
) -> Result<BTreeMap<String, SecretString>> {
    let mut text = Zeroizing::new(String::with_capacity(64 * 1024));
    input
        .take(64 * 1024)
        .read_to_string(&mut text)
        .map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::InvalidData {
                "they are not valid UTF-8".to_owned()
            } else {
                e.kind().to_string()
            };
            Failure::bad_request(format!("cannot read secrets from stdin: {why}"))
        })?;
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(Failure::bad_request(format!(
                "line {} of stdin is not KEY=VALUE",
                i + 1
            )));
        };
        match spec(d, key) {
            Some(s) if s.secret => {
                out.insert(key.to_owned(), SecretString::from(value.to_owned()));
            }
            Some(_) => {
                return Err(Failure::bad_request(format!(
                    "'{key}' (line {}) is not a secret setting: pass it with --set {key}=VALUE",
                    i + 1
                )));
            }
            None => {
                return Err(Failure::bad_request(format!(
                    "provider '{provider}' has no secret '{key}' (line {})",
                    i + 1
                ))
                .hint(format!("its secrets are: {}", known_keys(d, true))));
            }
        }
    }
    Ok(out)
}

/// The terminal prompt for secret `s`.
fn prompt_label(s: &SettingSpec) -> String {
    if s.required {
        format!("{} ({}): ", s.key, s.help)
    } else {
        format!("{} ({}; optional, Enter to skip): ", s.key, s.help)
    }
}

fn prompt_secrets(d: &Description, name: &str) -> Result<BTreeMap<String, SecretString>> {
    use crate::tty::Prompter;
    let mut out = BTreeMap::new();
    let wanted: Vec<&SettingSpec> = d.settings.iter().filter(|s| s.secret).collect();
    if wanted.is_empty() {
        return Ok(out);
    }
    let terminal = crate::tty::Terminal::open().map_err(|_| {
        Failure::new(
            Exit::NeedsInteraction,
            format!("account '{name}' needs secrets ({}) and there is no terminal to ask for them", known_keys(d, true)),
        )
        .hint("run the command in a terminal, or pass KEY=VALUE lines on stdin with --secrets-from-stdin")
    })?;
    for s in wanted {
        let value = terminal.secret(&prompt_label(s)).map_err(|e| {
            Failure::new(
                Exit::NeedsInteraction,
                format!("cannot read '{}': {e}", s.key),
            )
        })?;
        if !value.expose_secret().is_empty() {
            out.insert(s.key.clone(), value);
        }
    }
    Ok(out)
}

pub fn add(
    ctx: &Ctx,
    req: AddRequest,
    input: &mut impl BufRead,
    output: &mut impl Write,
) -> Result<()> {
    check_account_name(&req.name)?;
    let plugin = provider::load(ctx, &req.provider)?;
    let described = plugin
        .describe(&HostServices::new(&req.name))
        .map_err(|e| provider::call_failure(&req.name, e))?;
    let d = &described.description;
    // Settings first: a secret given on the command line is the error that matters most.
    let settings = settings(&req.provider, d, &req.set)?;
    let url = match req.url.clone().or_else(|| d.default_base_url.clone()) {
        Some(url) => url,
        None => {
            return Err(
                Failure::usage(format!("provider '{}' has no default URL", req.provider))
                    .hint("pass --url with the service's API base URL"),
            );
        }
    };
    check_url(&url)?;
    for m in &req.matches {
        Pattern::parse(m).map_err(|e| Failure::usage(e.to_string()))?;
    }
    let (vault, _) = ctx.vault_or_init()?;
    if let Ok(snapshot) = vault.read()
        && snapshot.account(&req.name).is_some()
    {
        {
            return Err(Failure::usage(format!(
                "there is already an account named '{}'",
                req.name
            ))
            .hint(format!(
                "remove it first with `keyhelm account remove {}`",
                req.name
            )));
        }
    }
    let secrets = if req.secrets_from_stdin {
        secrets_from(input, &req.provider, d)?
    } else {
        prompt_secrets(d, &req.name)?
    };
    if let Some(missing) = d
        .settings
        .iter()
        .find(|s| s.secret && s.required && !secrets.contains_key(&s.key))
    {
        return Err(Failure::usage(format!(
            "the secret '{}' is required ({})",
            missing.key, missing.help
        ))
        .hint("give it on the terminal prompt, or as a KEY=VALUE line with --secrets-from-stdin"));
    }
    let account = Account {
        name: req.name.clone(),
        provider: req.provider.clone(),
        url,
        matches: req.matches.clone(),
        settings,
        secrets,
    };
    vault.update(|s| {
        if s.account(&account.name).is_some() {
            return Err(Failure::usage(format!(
                "there is already an account named '{}'",
                account.name
            )));
        }
        s.put_account(account.clone());
        Ok(())
    })?;
    let serves: Vec<String> = provider::patterns(&account)
        .map(|p| p.origin_and_path())
        .collect();
    let text = format!(
        "Added account '{}' ({} at {}).\nIt answers for: {}\nCheck it with `keyhelm login {}`.\n",
        account.name,
        d.display_name,
        account.url,
        serves.join(", "),
        account.name
    );
    crate::out::write_all(output, text.as_bytes())?;
    Ok(())
}

fn read_snapshot(ctx: &Ctx) -> Result<Option<Snapshot>> {
    let Some(vault) = ctx.vault()? else {
        return Ok(None);
    };
    match vault.read() {
        Ok(s) => Ok(Some(s)),
        Err(keyhelm_vault::Error::Missing { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn token_status(token: Option<&CachedToken>) -> String {
    match token {
        None => "no token yet".to_owned(),
        Some(t) => match t.expires_at {
            None => "token cached (no expiry)".to_owned(),
            Some(exp) if provider::is_fresh(t, provider::now()) => {
                format!("token valid until {}", format_time(exp))
            }
            Some(exp) => format!("token expired {}", format_time(exp)),
        },
    }
}

fn account_json(a: &Account, token: Option<&CachedToken>) -> serde_json::Value {
    json!({
        "name": a.name,
        "provider": a.provider,
        "url": a.url,
        "matches": provider::patterns(a).map(|p| p.origin_and_path()).collect::<Vec<_>>(),
        "settings": a.settings,
        "secrets": a.secrets.keys().collect::<Vec<_>>(),
        "token": token.map(|t| json!({
            "username": t.username,
            "obtained_at": t.obtained_at,
            "expires_at": t.expires_at,
            "valid": provider::is_fresh(t, provider::now()),
            "info": t.info,
        })),
    })
}

pub fn list(ctx: &Ctx, json: bool, output: &mut impl Write) -> Result<()> {
    let snapshot = read_snapshot(ctx)?;
    let accounts: Vec<&Account> = snapshot.iter().flat_map(|s| s.accounts()).collect();
    let token = |a: &Account| snapshot.as_ref().and_then(|s| s.token(&a.name));
    let text = if json {
        let items: Vec<_> = accounts.iter().map(|a| account_json(a, token(a))).collect();
        format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({ "accounts": items })).expect("JSON encodes")
        )
    } else if accounts.is_empty() {
        "No accounts. Add one with `keyhelm account add NAME --provider P`.\n".to_owned()
    } else {
        accounts
            .iter()
            .map(|a| {
                format!(
                    "{}  {}  {}  ({})\n",
                    a.name,
                    a.provider,
                    a.url,
                    token_status(token(a))
                )
            })
            .collect()
    };
    crate::out::write_all(output, text.as_bytes())?;
    Ok(())
}

pub fn show(ctx: &Ctx, name: &str, json: bool, output: &mut impl Write) -> Result<()> {
    let snapshot = read_snapshot(ctx)?.ok_or_else(|| {
        Failure::not_found(format!("there is no account named '{name}'"))
            .hint("there is no vault yet")
    })?;
    let a = provider::account(&snapshot, name)?;
    let token = snapshot.token(name);
    let text = if json {
        format!(
            "{}\n",
            serde_json::to_string_pretty(&account_json(a, token)).expect("JSON encodes")
        )
    } else {
        let mut t = format!(
            "account   {}\nprovider  {}\nurl       {}\n",
            a.name, a.provider, a.url
        );
        let serves: Vec<String> = provider::patterns(a).map(|p| p.origin_and_path()).collect();
        t.push_str(&format!("serves    {}\n", serves.join(", ")));
        for (k, v) in &a.settings {
            t.push_str(&format!("setting   {k} = {v}\n"));
        }
        for k in a.secrets.keys() {
            t.push_str(&format!("secret    {k} (set)\n"));
        }
        t.push_str(&format!("token     {}\n", token_status(token)));
        if let Some(user) = token.and_then(|t| t.username.as_deref()) {
            t.push_str(&format!("user      {user}\n"));
        }
        if let Some(info) = token.and_then(|t| t.info.as_object()) {
            for (k, v) in info {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Array(items) => items
                        .iter()
                        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => other.to_string(),
                };
                t.push_str(&format!("info      {k}: {v}\n"));
            }
        }
        t
    };
    crate::out::write_all(output, text.as_bytes())?;
    Ok(())
}

/// The vault, for a command on account `name`: NotFound naming the account when this device
/// has none.
fn vault_of_account(ctx: &Ctx, name: &str) -> Result<Vault> {
    ctx.vault()?
        .ok_or_else(|| Failure::not_found(format!("there is no account named '{name}'")))
}

pub fn remove(ctx: &Ctx, name: &str, output: &mut impl Write) -> Result<()> {
    let vault = vault_of_account(ctx, name)?;
    let had_token = vault.update(|s| {
        provider::account(s, name)?;
        let had_token = s.remove_token(name);
        s.remove_plugin_state(name);
        s.remove_account(name);
        Ok::<_, Failure>(had_token)
    })?;
    let mut text = format!("Removed account '{name}'.\n");
    if had_token {
        text.push_str(
            "Its cached token was forgotten but not revoked at the service; to revoke a session, \
             run `keyhelm logout NAME` before removing an account.\n",
        );
    }
    crate::out::write_all(output, text.as_bytes())?;
    Ok(())
}

/// The token of account `name` for `keyhelm token` and `keyhelm login`: a new login when
/// `force_login`, prompts allowed on a terminal.
fn account_token(ctx: &Ctx, name: &str, force_login: bool) -> Result<CachedToken> {
    let vault = vault_of_account(ctx, name)?;
    let opts = Options {
        interactive: has_terminal(),
        force_login,
    };
    provider::token(ctx, &vault, name, provider::Target::default(), opts)
}

/// `keyhelm token NAME`: a valid access token alone on stdout.
pub fn token(ctx: &Ctx, name: &str, output: &mut impl Write) -> Result<()> {
    let t = account_token(ctx, name, false)?;
    let mut line = Zeroizing::new(Vec::with_capacity(t.secret.expose_secret().len() + 1));
    line.extend_from_slice(t.secret.expose_secret().as_bytes());
    line.push(b'\n');
    crate::out::write_all(output, &line)?;
    Ok(())
}

/// `keyhelm login NAME`: a fresh login, with prompts allowed.
pub fn login(ctx: &Ctx, name: &str, output: &mut impl Write) -> Result<()> {
    let t = account_token(ctx, name, true)?;
    let mut text = format!("Logged in to '{name}'");
    if let Some(user) = &t.username {
        text.push_str(&format!(" as {user}"));
    }
    text.push_str(&match t.expires_at {
        Some(exp) => format!("; the token is valid until {}.\n", format_time(exp)),
        None => ".\n".to_owned(),
    });
    if let Some(scopes) = t.info.get("scopes").and_then(|s| s.as_array()) {
        let scopes: Vec<&str> = scopes.iter().filter_map(|s| s.as_str()).collect();
        text.push_str(&format!("Granted: {}\n", scopes.join(", ")));
    }
    crate::out::write_all(output, text.as_bytes())?;
    Ok(())
}

pub fn logout(ctx: &Ctx, name: &str, output: &mut impl Write) -> Result<()> {
    let vault = vault_of_account(ctx, name)?;
    let message = provider::logout(ctx, &vault, name)?;
    let mut text = format!("Logged out of '{name}'; the cached token is forgotten.\n");
    if let Some(m) = message {
        text.push_str(&format!("{}\n", crate::tty::sanitize(&m)));
    }
    crate::out::write_all(output, text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description() -> Description {
        Description::new("Test")
            .setting(SettingSpec::new("client_id", "the app id"))
            .setting(SettingSpec::new("flag", "a flag").default_value("false"))
            .setting(SettingSpec::new("password", "the password").secret())
    }

    #[test]
    fn settings_validate_against_the_description() {
        let d = description();
        let s = settings("p", &d, &["client_id=abc".into()]).unwrap();
        assert_eq!(s["client_id"], "abc");
        assert_eq!(s["flag"], "false");
        let e = settings("p", &d, &[]).unwrap_err();
        assert_eq!(e.message, "provider 'p' needs the setting 'client_id'");
        let e = settings("p", &d, &["nope=1".into()]).unwrap_err();
        assert_eq!(e.message, "provider 'p' has no setting 'nope'");
        assert_eq!(e.hint.as_deref(), Some("its settings are: client_id, flag"));
        let e = settings("p", &d, &["client_id=a".into(), "password=hunter2".into()]).unwrap_err();
        assert_eq!(
            e.message,
            "'password' is a secret and is never taken from the command line"
        );
        assert!(!format!("{e}").contains("hunter2"));
    }

    #[test]
    fn secrets_from_stdin() {
        let d = description();
        let mut input = std::io::Cursor::new(b"# comment\npassword=p=w\r\n\n".to_vec());
        let s = secrets_from(&mut input, "p", &d).unwrap();
        assert_eq!(s["password"].expose_secret(), "p=w");
        let e = secrets_from(
            &mut std::io::Cursor::new(b"client_id=x\n".to_vec()),
            "p",
            &d,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "'client_id' (line 1) is not a secret setting: pass it with --set client_id=VALUE"
        );
        let e =
            secrets_from(&mut std::io::Cursor::new(b"hunter2\n".to_vec()), "p", &d).unwrap_err();
        assert_eq!(e.message, "line 1 of stdin is not KEY=VALUE");
    }

    /// The optional secret's prompt says Enter skips it; no bundled provider has one.
    #[test]
    fn prompts_name_the_secret_and_whether_it_can_be_skipped() {
        let required = SettingSpec::new("password", "the password").secret();
        assert_eq!(prompt_label(&required), "password (the password): ");
        let optional = SettingSpec::new("otp_seed", "the TOTP seed")
            .secret()
            .optional();
        assert_eq!(
            prompt_label(&optional),
            "otp_seed (the TOTP seed; optional, Enter to skip): "
        );
    }

    #[test]
    fn names_and_urls() {
        check_account_name("work-2.main_x").unwrap();
        for bad in ["", "-x", "a b", "a/b", &"a".repeat(65)] {
            assert!(check_account_name(bad).is_err(), "{bad}");
        }
        check_url("https://api.example.com/v2").unwrap();
        check_url("http://127.0.0.1:8080/intellivoid/v1").unwrap();
        assert!(check_url("http://api.example.com").is_err());
    }
}
