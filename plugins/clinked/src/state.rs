//! What the plugin asks keyhelm to keep for a Clinked account: the application it registered
//! (`clientId`, `clientSecret`), and for whom and where, so that a changed username or URL
//! leads to a new login instead of tokens for the wrong user.
//!
//! On the wire (stored encrypted in the vault as the account's plugin state):
//! `{"v":1,"client_id":"..","client_secret":"..","username":"jack","base_url":"https://api.clinked.com","registered_at":1700000000}`

use std::fmt;

use keyhelm_core::msg::StateUpdate;
use keyhelm_core::secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

/// The state format this plugin writes.
const STATE_VERSION: u32 = 1;

/// A registered Clinked application.
pub struct AppState {
    /// `clientId`.
    pub client_id: String,
    /// `clientSecret`.
    pub client_secret: SecretString,
    /// The Clinked user who registered it.
    pub username: String,
    /// The API base URL it was registered at.
    pub base_url: String,
    /// When (Unix seconds).
    pub registered_at: i64,
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let AppState {
            client_id,
            client_secret: _,
            username,
            base_url,
            registered_at,
        } = self;
        f.debug_struct("AppState")
            .field("client_id", client_id)
            .field("client_secret", &"REDACTED")
            .field("username", username)
            .field("base_url", base_url)
            .field("registered_at", registered_at)
            .finish()
    }
}

fn expose<S: Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.expose_secret())
}

#[derive(Serialize)]
struct WireOut<'a> {
    v: u32,
    client_id: &'a str,
    #[serde(serialize_with = "expose")]
    client_secret: &'a SecretString,
    username: &'a str,
    base_url: &'a str,
    registered_at: i64,
}

#[derive(Deserialize)]
struct WireIn {
    #[serde(default)]
    v: Option<u32>,
    client_id: String,
    client_secret: SecretString,
    username: String,
    base_url: String,
    #[serde(default)]
    registered_at: i64,
}

/// Why a stored state cannot be used (never quotes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AppState {
    /// A state for a freshly registered application.
    pub fn new(
        client_id: String,
        client_secret: SecretString,
        username: String,
        base_url: String,
        registered_at: i64,
    ) -> AppState {
        AppState {
            client_id,
            client_secret,
            username,
            base_url,
            registered_at,
        }
    }

    /// Reads a stored state.
    pub fn parse(state: &SecretString) -> Result<AppState, Unreadable> {
        let wire: WireIn = serde_json::from_str(state.expose_secret()).map_err(|e| {
            Unreadable(format!(
                "the saved state {}",
                keyhelm_core::json::describe_error(&e)
            ))
        })?;
        let WireIn {
            v,
            client_id,
            client_secret,
            username,
            base_url,
            registered_at,
        } = wire;
        match v {
            Some(STATE_VERSION) | None => {}
            Some(other) => {
                return Err(Unreadable(format!(
                    "the saved state has format {other}, and this plugin reads format {STATE_VERSION}"
                )));
            }
        }
        if client_id.is_empty() || client_secret.expose_secret().is_empty() {
            return Err(Unreadable(
                "the saved state has an empty client id or secret".to_owned(),
            ));
        }
        Ok(AppState {
            client_id,
            client_secret,
            username,
            base_url,
            registered_at,
        })
    }

    /// Whether this application was registered by `username` at `base_url`.
    pub fn belongs_to(&self, username: &str, base_url: &str) -> bool {
        self.username == username && self.base_url.trim_end_matches('/') == base_url
    }

    /// The update that makes keyhelm store this state.
    pub fn to_update(&self) -> StateUpdate {
        let wire = WireOut {
            v: STATE_VERSION,
            client_id: &self.client_id,
            client_secret: &self.client_secret,
            username: &self.username,
            base_url: &self.base_url,
            registered_at: self.registered_at,
        };
        // One exactly-sized buffer, moved (not copied) into the SecretString of the update.
        match keyhelm_core::json::to_vec(&wire) {
            Ok(mut bytes) => match String::from_utf8(std::mem::take(&mut *bytes)) {
                Ok(s) => StateUpdate::replace(s),
                // serde_json writes UTF-8; unreachable, and nothing to keep if it were.
                Err(_) => StateUpdate::Unchanged,
            },
            // Serializing strings and integers cannot fail.
            Err(_) => StateUpdate::Unchanged,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AppState {
        AppState::new(
            "0123abcd".into(),
            SecretString::from("cl1ent-s3cret".to_owned()),
            "jack".into(),
            "https://api.clinked.com".into(),
            1_700_000_000,
        )
    }

    #[test]
    fn round_trips_and_never_prints_the_secret() {
        let StateUpdate::Replace { value } = sample().to_update() else {
            panic!("expected a replacement")
        };
        assert_eq!(
            value.expose_secret(),
            r#"{"v":1,"client_id":"0123abcd","client_secret":"cl1ent-s3cret","username":"jack","base_url":"https://api.clinked.com","registered_at":1700000000}"#
        );
        let back = AppState::parse(&value).unwrap();
        assert_eq!(back.client_secret.expose_secret(), "cl1ent-s3cret");
        assert!(back.belongs_to("jack", "https://api.clinked.com"));
        assert!(!back.belongs_to("jill", "https://api.clinked.com"));
        assert!(!back.belongs_to("jack", "http://127.0.0.1:1"));
        let dbg = format!("{back:?}");
        assert!(!dbg.contains("s3cret") && dbg.contains("0123abcd"), "{dbg}");
    }

    #[test]
    fn unreadable_states_are_explained_without_quoting_them() {
        let cases = [
            (
                "not json s3cret",
                "the saved state is not valid JSON (line 1, column 2)",
            ),
            (
                r#"{"client_id":"a","client_secret":"s3cret"}"#,
                "the saved state lacks the required field `username` (line 1, column 42)",
            ),
            (
                r#"{"v":2,"client_id":"a","client_secret":"s3cret","username":"u","base_url":"b"}"#,
                "the saved state has format 2, and this plugin reads format 1",
            ),
            (
                r#"{"client_id":"","client_secret":"s3cret","username":"u","base_url":"b"}"#,
                "the saved state has an empty client id or secret",
            ),
        ];
        for (state, want) in cases {
            let e = AppState::parse(&SecretString::from(state.to_owned())).unwrap_err();
            assert_eq!(e.to_string(), want);
            assert!(!e.to_string().contains("s3cret"));
        }
    }
}
