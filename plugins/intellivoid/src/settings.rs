//! The account's settings, checked before anything goes over the network.

use std::fmt;
use std::time::Duration;

use keyhelm_core::msg::{Account, ErrorKind, SettingSpec};
use keyhelm_core::redact_url;
use keyhelm_core::sdk::Error;
use keyhelm_core::secrecy::{ExposeSecret, SecretString};

/// The real service's API base.
pub const DEFAULT_BASE_URL: &str = "https://api.intellivoid.net/intellivoid/v1";
/// How often the plugin asks whether the login was approved, by default.
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 3000;
/// The smallest accepted `poll_interval_ms` (meant for tests against a local fake).
pub const MIN_POLL_INTERVAL_MS: u64 = 10;
/// The largest accepted `poll_interval_ms`.
pub const MAX_POLL_INTERVAL_MS: u64 = 60_000;

/// Setting keys.
pub const APPLICATION_ID: &str = "application_id";
/// Secret setting key.
pub const SECRET_KEY: &str = "secret_key";
/// Setting key.
pub const POLL_INTERVAL_MS: &str = "poll_interval_ms";

/// The settings the provider describes to keyhelm.
pub fn specs() -> Vec<SettingSpec> {
    vec![
        SettingSpec::new(
            APPLICATION_ID,
            "the Application ID (APP...) of your Intellivoid application, which must use \
             the Application Placeholder authentication mode",
        ),
        SettingSpec::new(SECRET_KEY, "the Secret Key of that Intellivoid application").secret(),
        SettingSpec::new(
            POLL_INTERVAL_MS,
            "milliseconds between two checks whether the login was approved (2000 to 5000 \
             is polite; smaller values are for tests against a local server)",
        )
        .default_value(DEFAULT_POLL_INTERVAL_MS.to_string()),
    ]
}

/// An account's checked settings. `Debug` does not show the secret key.
pub struct Settings {
    /// The account's name (for hints).
    pub account: String,
    /// The API base, without a trailing `/`.
    pub base_url: String,
    /// The application id (public: it is part of every authentication URL).
    pub application_id: String,
    /// The application's secret key.
    pub secret_key: SecretString,
    /// The pause between two polls.
    pub poll_interval: Duration,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Settings {
            account,
            base_url,
            application_id,
            secret_key: _,
            poll_interval,
        } = self;
        f.debug_struct("Settings")
            .field("account", account)
            .field("base_url", &redact_url(base_url))
            .field("application_id", application_id)
            .field("secret_key", &"REDACTED")
            .field("poll_interval", poll_interval)
            .finish()
    }
}

impl Settings {
    /// Reads and checks the settings of `account`.
    pub fn from_account(account: &Account) -> Result<Settings, Error> {
        let name = account.name.clone();
        let base_url = base_url(&name, account.base_url.as_deref())?;

        let application_id = account
            .setting(APPLICATION_ID)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::BadSettings,
                    "the account has no application_id setting",
                )
                .with_hint(readd_hint(
                    &name,
                    "--set application_id=<the Application ID from the Intellivoid developer console>",
                ))
            })?;
        if application_id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Error::new(
                ErrorKind::BadSettings,
                "the application_id setting contains spaces or control characters",
            )
            .with_hint(readd_hint(
                &name,
                "--set application_id=<the Application ID, copied exactly>",
            )));
        }

        let secret_key = account
            .secret(SECRET_KEY)
            .filter(|s| !s.expose_secret().trim().is_empty())
            .cloned()
            .ok_or_else(|| {
                Error::new(ErrorKind::BadSettings, "the account has no secret_key").with_hint(
                    readd_hint(
                        &name,
                        "the application's Secret Key when keyhelm asks for secret_key",
                    ),
                )
            })?;

        let poll_interval = match account.setting(POLL_INTERVAL_MS).map(str::trim) {
            None | Some("") => Duration::from_millis(DEFAULT_POLL_INTERVAL_MS),
            Some(raw) => match raw.parse::<u64>() {
                Ok(ms) if (MIN_POLL_INTERVAL_MS..=MAX_POLL_INTERVAL_MS).contains(&ms) => {
                    Duration::from_millis(ms)
                }
                _ => {
                    let shown: String = raw.chars().take(32).filter(|c| !c.is_control()).collect();
                    return Err(Error::new(
                        ErrorKind::BadSettings,
                        format!(
                            "poll_interval_ms must be a number of milliseconds from \
                             {MIN_POLL_INTERVAL_MS} to {MAX_POLL_INTERVAL_MS}, not `{shown}`"
                        ),
                    )
                    .with_hint(readd_hint(
                        &name,
                        "--set poll_interval_ms=3000, or without it",
                    )));
                }
            },
        };

        Ok(Settings {
            account: name,
            base_url,
            application_id: application_id.to_owned(),
            secret_key,
            poll_interval,
        })
    }
}

/// "remove the account and add it again with ...": the way to change an account's settings.
pub fn readd_hint(account: &str, with: &str) -> String {
    format!("remove the account (`keyhelm account remove {account}`) and add it again with {with}")
}

fn base_url(account: &str, url: Option<&str>) -> Result<String, Error> {
    let url = url.map(str::trim).filter(|u| !u.is_empty());
    let url = url.unwrap_or(DEFAULT_BASE_URL);
    let lower = url.to_ascii_lowercase();
    let http = lower.starts_with("https://") || lower.starts_with("http://");
    if !http || url.contains(['?', '#']) || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::new(
            ErrorKind::BadSettings,
            format!(
                "the account URL `{}` is not an https URL without a query",
                redact_url(url)
            ),
        )
        .with_hint(readd_hint(
            account,
            &format!("--url {DEFAULT_BASE_URL} (the API base, ending in /intellivoid/v1)"),
        )));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(settings: &[(&str, &str)], secret: Option<&str>) -> Account {
        let mut a = Account::new("work");
        for (k, v) in settings {
            a.settings.insert((*k).to_owned(), (*v).to_owned());
        }
        if let Some(s) = secret {
            a.secrets.insert(SECRET_KEY.into(), SecretString::from(s));
        }
        a
    }

    #[test]
    fn defaults_and_trimming() {
        let mut a = account(&[(APPLICATION_ID, " APP123 ")], Some("s3cret"));
        let s = Settings::from_account(&a).unwrap();
        assert_eq!(s.base_url, DEFAULT_BASE_URL);
        assert_eq!(s.application_id, "APP123");
        assert_eq!(s.poll_interval, Duration::from_millis(3000));
        assert_eq!(s.secret_key.expose_secret(), "s3cret");

        a.base_url = Some("http://127.0.0.1:8080/intellivoid/v1/".into());
        a.settings.insert(POLL_INTERVAL_MS.into(), "25".into());
        let s = Settings::from_account(&a).unwrap();
        assert_eq!(s.base_url, "http://127.0.0.1:8080/intellivoid/v1");
        assert_eq!(s.poll_interval, Duration::from_millis(25));
    }

    #[test]
    fn debug_hides_the_secret_key() {
        let a = account(&[(APPLICATION_ID, "APP1")], Some("hunter2"));
        let dbg = format!("{:?}", Settings::from_account(&a).unwrap());
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("REDACTED") && dbg.contains("APP1"), "{dbg}");
    }

    #[test]
    fn missing_or_bad_settings_are_clear_errors() {
        let mut cases = vec![
            (
                account(&[], Some("s")),
                "the account has no application_id setting".to_owned(),
                "remove the account (`keyhelm account remove work`) and add it again with \
                 --set application_id=<the Application ID from the Intellivoid developer console>",
            ),
            (
                account(&[(APPLICATION_ID, "APP 1")], Some("s")),
                "the application_id setting contains spaces or control characters".to_owned(),
                "remove the account (`keyhelm account remove work`) and add it again with \
                 --set application_id=<the Application ID, copied exactly>",
            ),
        ];
        for secret in [None, Some(""), Some("  ")] {
            cases.push((
                account(&[(APPLICATION_ID, "APP1")], secret),
                "the account has no secret_key".to_owned(),
                "remove the account (`keyhelm account remove work`) and add it again with \
                 the application's Secret Key when keyhelm asks for secret_key",
            ));
        }
        for bad in ["0", "abc", "60001", "-5"] {
            cases.push((
                account(
                    &[(APPLICATION_ID, "APP1"), (POLL_INTERVAL_MS, bad)],
                    Some("s"),
                ),
                format!(
                    "poll_interval_ms must be a number of milliseconds from 10 to 60000, not `{bad}`"
                ),
                "remove the account (`keyhelm account remove work`) and add it again with \
                 --set poll_interval_ms=3000, or without it",
            ));
        }
        for (a, message, hint) in cases {
            let e = Settings::from_account(&a).unwrap_err();
            assert_eq!(
                (e.kind, e.message.as_str(), e.hint.as_deref()),
                (ErrorKind::BadSettings, message.as_str(), Some(hint)),
                "{a:?}"
            );
        }
    }

    #[test]
    fn base_urls_must_be_plain_http_urls() {
        for bad in [
            "ftp://x/intellivoid/v1",
            "api.intellivoid.net",
            "https://h/intellivoid/v1?key=abc",
            "https://h/a b",
        ] {
            let mut a = account(&[(APPLICATION_ID, "APP1")], Some("s"));
            a.base_url = Some(bad.into());
            let e = Settings::from_account(&a).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadSettings);
            assert!(
                e.message.starts_with("the account URL `") && !e.message.contains("key=abc"),
                "{}",
                e.message
            );
            assert!(e.message.ends_with("` is not an https URL without a query"));
            assert_eq!(
                e.hint.as_deref(),
                Some(
                    "remove the account (`keyhelm account remove work`) and add it again with \
                     --url https://api.intellivoid.net/intellivoid/v1 (the API base, ending in \
                     /intellivoid/v1)"
                )
            );
        }
    }

    #[test]
    fn specs_describe_the_settings() {
        let specs = specs();
        let keys: Vec<_> = specs
            .iter()
            .map(|s| (s.key.as_str(), s.secret, s.required, s.default.as_deref()))
            .collect();
        assert_eq!(
            keys,
            [
                ("application_id", false, true, None),
                ("secret_key", true, true, None),
                ("poll_interval_ms", false, false, Some("3000")),
            ]
        );
    }
}
