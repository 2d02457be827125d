//! The account's settings, read and checked once per call.
//!
//! The setting names are a user contract (`docs/providers/intralinks.md`): `client_id`,
//! `email`, `end_other_sessions`; secrets `client_secret`, `password`.

use keyhelm_core::msg::{Account, ErrorKind, ErrorMessage};
use keyhelm_core::redact_url;
use keyhelm_core::sdk::{Description, SettingSpec};
use keyhelm_core::secrecy::{ExposeSecret, SecretString};

/// The production API, used when the account sets no URL.
pub const DEFAULT_BASE_URL: &str = "https://api.intralinks.com";

/// Setting: the app's consumer key.
pub const CLIENT_ID: &str = "client_id";
/// Setting: the user's Intralinks login email.
pub const EMAIL: &str = "email";
/// Setting: send `endOtherSessions=true` on every login (default false).
pub const END_OTHER_SESSIONS: &str = "end_other_sessions";
/// Secret: the app's consumer secret.
pub const CLIENT_SECRET: &str = "client_secret";
/// Secret: the user's Intralinks password.
pub const PASSWORD: &str = "password";

/// What `describe` says.
pub fn description() -> Description {
    Description::new("Intralinks")
        .setting(SettingSpec::new(
            CLIENT_ID,
            "your app's consumer key (My Apps at developers.intralinks.com)",
        ))
        .setting(SettingSpec::new(
            EMAIL,
            "your Intralinks login email (not the developer-portal login)",
        ))
        .setting(
            SettingSpec::new(
                END_OTHER_SESSIONS,
                "true: end your other Intralinks sessions when keyhelm logs in \
                 (this logs you out in your web browser too)",
            )
            .default_value("false"),
        )
        .setting(SettingSpec::new(CLIENT_SECRET, "your app's consumer secret").secret())
        .setting(SettingSpec::new(PASSWORD, "your Intralinks password").secret())
        .url_pattern(format!("{DEFAULT_BASE_URL}/*"))
        .default_base_url(DEFAULT_BASE_URL)
}

/// The app (consumer key and secret) and where the API is: what every call needs.
#[derive(Debug)]
pub struct App {
    /// The account's name, for messages.
    pub account: String,
    /// The API base URL without a trailing `/` (nor `/v2`).
    pub base_url: String,
    /// The consumer key.
    pub client_id: String,
    /// The consumer secret.
    pub client_secret: SecretString,
}

/// The user's login: what `get` needs on top of the [`App`].
#[derive(Debug)]
pub struct Login {
    /// The Intralinks login email.
    pub email: String,
    /// The Intralinks password.
    pub password: SecretString,
    /// Send `endOtherSessions=true`.
    pub end_other_sessions: bool,
}

impl App {
    /// Reads the app settings of `account`.
    pub fn from_account(account: &Account) -> Result<App, ErrorMessage> {
        let base_url = base_url(account)?;
        let client_id = required(account, CLIENT_ID)?;
        if client_id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad(
                format!(
                    "the {CLIENT_ID} of account `{}` contains spaces",
                    account.name
                ),
                format!("{CLIENT_ID} is the app's consumer key, one word"),
            ));
        }
        let client_secret = required_secret(account, CLIENT_SECRET)?;
        Ok(App {
            account: account.name.clone(),
            base_url,
            client_id: client_id.to_owned(),
            client_secret,
        })
    }

    /// The base URL for messages (no query, no user info).
    pub fn shown_url(&self) -> String {
        redact_url(&self.base_url)
    }
}

impl Login {
    /// Reads the login settings of `account`.
    pub fn from_account(account: &Account) -> Result<Login, ErrorMessage> {
        let email = required(account, EMAIL)?;
        if !email.contains('@') || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(
                format!(
                    "the {EMAIL} of account `{}` is not an email address: `{}`",
                    account.name,
                    shorten(email)
                ),
                format!("{EMAIL} is the address you log in to Intralinks with"),
            ));
        }
        let end_other_sessions = match account.setting(END_OTHER_SESSIONS).map(str::trim) {
            None | Some("") => false,
            Some(v) => parse_bool(v).ok_or_else(|| {
                bad(
                    format!(
                        "the {END_OTHER_SESSIONS} of account `{}` must be true or false, not `{}`",
                        account.name,
                        shorten(v)
                    ),
                    format!("set {END_OTHER_SESSIONS}=true or {END_OTHER_SESSIONS}=false"),
                )
            })?,
        };
        let password = required_secret(account, PASSWORD)?;
        Ok(Login {
            email: email.to_owned(),
            password,
            end_other_sessions,
        })
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// The API base URL: the account's, else production. Checked for shape (the host checks the
/// scheme and origin policy); trailing `/` and a trailing `/v2` are dropped, since every
/// path this plugin uses starts with `/v2/` and some clients write the base with it.
fn base_url(account: &Account) -> Result<String, ErrorMessage> {
    let raw = account
        .base_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .unwrap_or(DEFAULT_BASE_URL);
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"));
    let host = rest.map(|r| r.split('/').next().unwrap_or(""));
    let ok = host.is_some_and(|h| !h.is_empty() && !h.contains('@'))
        && !raw.contains(['?', '#'])
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(bad(
            format!(
                "the URL of account `{}` is not an http(s) address of the Intralinks API: `{}`",
                account.name,
                shorten(&redact_url(raw))
            ),
            format!(
                "use the API's base address, {DEFAULT_BASE_URL} (production) or \
                 https://test-api.intralinks.com (test), with no path, query or user name"
            ),
        ));
    }
    let mut url = raw.trim_end_matches('/');
    if let Some(stripped) = url.strip_suffix("/v2") {
        url = stripped.trim_end_matches('/');
    }
    Ok(url.to_owned())
}

fn required<'a>(account: &'a Account, key: &str) -> Result<&'a str, ErrorMessage> {
    match account.setting(key).map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(missing(account, key, false)),
    }
}

fn required_secret(account: &Account, key: &str) -> Result<SecretString, ErrorMessage> {
    match account.secret(key) {
        Some(v) if !v.expose_secret().is_empty() => Ok(v.clone()),
        _ => Err(missing(account, key, true)),
    }
}

fn missing(account: &Account, key: &str, secret: bool) -> ErrorMessage {
    let what = if secret { "secret" } else { "setting" };
    bad(
        format!("account `{}` has no {what} `{key}`", account.name),
        format!(
            "an Intralinks account needs the settings {CLIENT_ID} and {EMAIL} and the secrets \
             {CLIENT_SECRET} and {PASSWORD}; add the account again with all of them"
        ),
    )
}

fn bad(message: String, hint: String) -> ErrorMessage {
    ErrorMessage::new(ErrorKind::BadSettings, message).with_hint(hint)
}

/// A non-secret value cut to a length fit for a message.
fn shorten(v: &str) -> String {
    const MAX: usize = 80;
    if v.chars().count() <= MAX {
        v.to_owned()
    } else {
        let cut: String = v.chars().take(MAX).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        let mut a = Account::new("work");
        a.settings.insert(CLIENT_ID.into(), "key-1".into());
        a.settings.insert(EMAIL.into(), "joe@example.com".into());
        a.secrets
            .insert(CLIENT_SECRET.into(), SecretString::from("s3cret"));
        a.secrets
            .insert(PASSWORD.into(), SecretString::from("hunter2"));
        a
    }

    #[test]
    fn describe_names_the_settings_of_the_user_contract() {
        let d = description();
        let keys: Vec<_> = d
            .settings
            .iter()
            .map(|s| (s.key.as_str(), s.secret, s.required, s.default.as_deref()))
            .collect();
        assert_eq!(
            keys,
            [
                ("client_id", false, true, None),
                ("email", false, true, None),
                ("end_other_sessions", false, false, Some("false")),
                ("client_secret", true, true, None),
                ("password", true, true, None),
            ]
        );
        assert_eq!(
            d.default_base_url.as_deref(),
            Some("https://api.intralinks.com")
        );
        assert_eq!(d.url_patterns, ["https://api.intralinks.com/*"]);
        assert_eq!(d.display_name, "Intralinks");
    }

    #[test]
    fn a_complete_account_reads_with_defaults() {
        let a = account();
        let app = App::from_account(&a).unwrap();
        assert_eq!(app.base_url, "https://api.intralinks.com");
        assert_eq!(app.client_id, "key-1");
        assert_eq!(app.client_secret.expose_secret(), "s3cret");
        let login = Login::from_account(&a).unwrap();
        assert_eq!(login.email, "joe@example.com");
        assert!(!login.end_other_sessions);
        assert_eq!(login.password.expose_secret(), "hunter2");
        let dbg = format!("{app:?} {login:?}");
        assert!(!dbg.contains("s3cret") && !dbg.contains("hunter2"), "{dbg}");
    }

    #[test]
    fn end_other_sessions_takes_booleans_and_refuses_the_rest() {
        let mut a = account();
        for (v, want) in [
            ("true", true),
            ("True", true),
            (" yes ", true),
            ("1", true),
            ("false", false),
            ("FALSE", false),
            ("off", false),
            ("", false),
        ] {
            a.settings.insert(END_OTHER_SESSIONS.into(), v.into());
            assert_eq!(
                Login::from_account(&a).unwrap().end_other_sessions,
                want,
                "{v}"
            );
        }
        a.settings.insert(END_OTHER_SESSIONS.into(), "maybe".into());
        let e = Login::from_account(&a).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadSettings);
        assert_eq!(
            e.to_string(),
            "the end_other_sessions of account `work` must be true or false, not `maybe` \
             (set end_other_sessions=true or end_other_sessions=false)"
        );
    }

    #[test]
    fn base_urls_are_normalised_or_refused() {
        let mut a = account();
        for (given, want) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            (
                "https://test-api.intralinks.com/",
                "https://test-api.intralinks.com",
            ),
            (
                "https://test-api.intralinks.com/v2/",
                "https://test-api.intralinks.com",
            ),
            (
                "https://proxy.example/intralinks",
                "https://proxy.example/intralinks",
            ),
            ("  ", "https://api.intralinks.com"),
        ] {
            a.base_url = Some(given.into());
            assert_eq!(App::from_account(&a).unwrap().base_url, want, "{given}");
        }
        for given in [
            "api.intralinks.com",
            "ftp://api.intralinks.com",
            "https://",
            "https://u:pw@api.intralinks.com",
            "https://api.intralinks.com/?x=1",
            "https://api intralinks.com",
        ] {
            a.base_url = Some(given.into());
            let e = App::from_account(&a).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadSettings, "{given}");
            assert!(!e.to_string().contains("pw@"), "{e}");
        }
        a.base_url = Some("https://u:pw@api.intralinks.com/".into());
        assert_eq!(
            App::from_account(&a).unwrap_err().to_string(),
            "the URL of account `work` is not an http(s) address of the Intralinks API: \
             `https://api.intralinks.com/` (use the API's base address, \
             https://api.intralinks.com (production) or https://test-api.intralinks.com (test), \
             with no path, query or user name)"
        );
    }

    #[test]
    fn missing_or_malformed_settings_name_the_setting_never_a_secret() {
        let hint = "(an Intralinks account needs the settings client_id and email and the \
                    secrets client_secret and password; add the account again with all of them)";
        let mut a = account();
        a.settings.remove(CLIENT_ID);
        let e = App::from_account(&a).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadSettings);
        assert_eq!(
            e.to_string(),
            format!("account `work` has no setting `client_id` {hint}")
        );

        let mut a = account();
        a.secrets
            .insert(PASSWORD.into(), SecretString::from(String::new()));
        assert_eq!(
            Login::from_account(&a).unwrap_err().to_string(),
            format!("account `work` has no secret `password` {hint}")
        );

        let mut a = account();
        a.secrets.remove(CLIENT_SECRET);
        assert_eq!(
            App::from_account(&a).unwrap_err().to_string(),
            format!("account `work` has no secret `client_secret` {hint}")
        );

        let mut a = account();
        a.settings.insert(EMAIL.into(), "joe".into());
        assert_eq!(
            Login::from_account(&a).unwrap_err().to_string(),
            "the email of account `work` is not an email address: `joe` \
             (email is the address you log in to Intralinks with)"
        );

        let mut a = account();
        a.settings.insert(CLIENT_ID.into(), "key 1".into());
        assert_eq!(
            App::from_account(&a).unwrap_err().to_string(),
            "the client_id of account `work` contains spaces \
             (client_id is the app's consumer key, one word)"
        );
    }
}
