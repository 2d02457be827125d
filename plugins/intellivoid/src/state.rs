//! What the plugin asks keyhelm to keep between calls (encrypted in the vault): the access
//! token, since renewal means using it again (there is no refresh grant), and what is known
//! about it.
//!
//! On the wire: `{"v":1,"application_id":"APP…","access_token":"…","expires_at":1700000000,
//! "granted":["READ_USERNAME",…],"requested":[…],"username":"alice"}`.

use std::fmt;

use keyhelm_core::secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The state version this plugin writes.
pub const STATE_VERSION: u32 = 1;

/// The saved login. `Debug` does not show the token.
pub struct Saved {
    /// The application that issued the token; a state of another application is ignored.
    pub application_id: String,
    /// The access token.
    pub access_token: SecretString,
    /// When it expires (Unix seconds), as last known.
    pub expires_at: Option<i64>,
    /// The permissions the user granted.
    pub granted: Vec<String>,
    /// The permissions the application asked for.
    pub requested: Vec<String>,
    /// The user's name, when known.
    pub username: Option<String>,
}

impl fmt::Debug for Saved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Saved {
            application_id,
            access_token: _,
            expires_at,
            granted,
            requested,
            username,
        } = self;
        f.debug_struct("Saved")
            .field("application_id", application_id)
            .field("access_token", &"REDACTED")
            .field("expires_at", expires_at)
            .field("granted", granted)
            .field("requested", requested)
            .field("username", username)
            .finish()
    }
}

#[derive(Serialize)]
struct WireOut<'a> {
    v: u32,
    application_id: &'a str,
    access_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    granted: &'a [String],
    requested: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
}

#[derive(Deserialize)]
struct WireIn {
    v: u32,
    application_id: String,
    access_token: SecretString,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    granted: Vec<String>,
    #[serde(default)]
    requested: Vec<String>,
    #[serde(default)]
    username: Option<String>,
}

/// Why a stored state is not used (it is then replaced by the next login).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unusable {
    /// Not the JSON this plugin writes.
    Unreadable,
    /// Written by a newer plugin.
    NewerVersion,
    /// Another application issued the token (the account's application_id changed).
    OtherApplication,
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unusable::Unreadable => "the saved state cannot be read",
            Unusable::NewerVersion => "the saved state was written by a newer plugin",
            Unusable::OtherApplication => "the saved token belongs to another application",
        })
    }
}

impl Saved {
    /// Reads a stored state for the application `application_id`. Error messages never
    /// quote the state.
    pub fn parse(text: &SecretString, application_id: &str) -> Result<Saved, Unusable> {
        let w: WireIn =
            serde_json::from_str(text.expose_secret()).map_err(|_| Unusable::Unreadable)?;
        let WireIn {
            v,
            application_id: app,
            access_token,
            expires_at,
            granted,
            requested,
            username,
        } = w;
        if v > STATE_VERSION {
            return Err(Unusable::NewerVersion);
        }
        if app != application_id {
            return Err(Unusable::OtherApplication);
        }
        if access_token.expose_secret().is_empty() {
            return Err(Unusable::Unreadable);
        }
        Ok(Saved {
            application_id: app,
            access_token,
            expires_at,
            granted,
            requested,
            username,
        })
    }

    /// The state to store.
    pub fn to_secret(&self) -> SecretString {
        let Saved {
            application_id,
            access_token,
            expires_at,
            granted,
            requested,
            username,
        } = self;
        let wire = WireOut {
            v: STATE_VERSION,
            application_id,
            access_token: access_token.expose_secret(),
            expires_at: *expires_at,
            granted,
            requested,
            username: username.as_deref(),
        };
        // Serializing strings and integers cannot fail.
        SecretString::from(serde_json::to_string(&wire).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved() -> Saved {
        Saved {
            application_id: "APP1".into(),
            access_token: SecretString::from("t0ken"),
            expires_at: Some(1_700_000_000),
            granted: vec!["READ_USERNAME".into()],
            requested: vec!["READ_USERNAME".into(), "READ_EMAIL_ADDRESS".into()],
            username: Some("alice".into()),
        }
    }

    #[test]
    fn round_trip() {
        let s = saved().to_secret();
        assert_eq!(
            s.expose_secret(),
            r#"{"v":1,"application_id":"APP1","access_token":"t0ken","expires_at":1700000000,"granted":["READ_USERNAME"],"requested":["READ_USERNAME","READ_EMAIL_ADDRESS"],"username":"alice"}"#
        );
        let back = Saved::parse(&s, "APP1").unwrap();
        assert_eq!(back.access_token.expose_secret(), "t0ken");
        assert_eq!(back.expires_at, Some(1_700_000_000));
        assert_eq!(back.granted, ["READ_USERNAME"]);
        assert_eq!(back.requested.len(), 2);
        assert_eq!(back.username.as_deref(), Some("alice"));
        assert!(!format!("{back:?}").contains("t0ken"));
    }

    #[test]
    fn unusable_states() {
        let s = |t: &str| SecretString::from(t.to_owned());
        assert_eq!(
            Saved::parse(&saved().to_secret(), "APP2").unwrap_err(),
            Unusable::OtherApplication
        );
        assert_eq!(
            Saved::parse(&s("not json t0ken"), "APP1").unwrap_err(),
            Unusable::Unreadable
        );
        assert_eq!(
            Saved::parse(
                &s(r#"{"v":1,"application_id":"APP1","access_token":""}"#),
                "APP1"
            )
            .unwrap_err(),
            Unusable::Unreadable
        );
        assert_eq!(
            Saved::parse(
                &s(r#"{"v":2,"application_id":"APP1","access_token":"t"}"#),
                "APP1"
            )
            .unwrap_err(),
            Unusable::NewerVersion
        );
        // Unknown fields are ignored, missing optional ones default.
        let ok = Saved::parse(
            &s(r#"{"v":1,"application_id":"APP1","access_token":"t","future":{"x":1}}"#),
            "APP1",
        )
        .unwrap();
        assert!(ok.granted.is_empty() && ok.expires_at.is_none() && ok.username.is_none());
        for u in [
            Unusable::Unreadable,
            Unusable::NewerVersion,
            Unusable::OtherApplication,
        ] {
            assert!(!u.to_string().contains("t0ken"));
        }
        assert_eq!(
            [
                Unusable::Unreadable,
                Unusable::NewerVersion,
                Unusable::OtherApplication,
            ]
            .map(|u| u.to_string()),
            [
                "the saved state cannot be read",
                "the saved state was written by a newer plugin",
                "the saved token belongs to another application",
            ]
        );
    }
}
