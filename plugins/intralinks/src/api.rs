//! The two Intralinks calls this plugin makes, and what it keeps between calls.
//!
//! * `POST /v2/oauth/token`, `grant_type=client_credentials`: every parameter in an
//!   `application/x-www-form-urlencoded` body (the password never goes in a URL).
//! * `PUT /v2/oauth/revoke`: `token`, `client_id`, `client_secret` in a form body, with the
//!   token as a Bearer header (Intralinks' own SDK does exactly this).

use keyhelm_core::msg::{HttpRequest, HttpResponse, StateUpdate};
use keyhelm_core::secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::errors::{Failure, Scrub, classify, classify_json, media_type};
use crate::settings::{App, Login};

/// The token endpoint.
pub const TOKEN_PATH: &str = "/v2/oauth/token";
/// The revocation endpoint.
pub const REVOKE_PATH: &str = "/v2/oauth/revoke";
/// An access token's documented lifetime ("good for 60 minutes"), used when the answer has
/// no usable `expires_in`.
pub const DOCUMENTED_LIFETIME_SECS: i64 = 3600;
/// Login flags whose meaning is known. Only `NEW` has ever been seen (Intralinks' tutorial);
/// no document lists the others.
pub const KNOWN_FLAGS: &[&str] = &["NEW"];

/// The client_credentials login.
///
/// `endOtherSessions` is always sent, `true` or `false`: the documented default is False,
/// but Intralinks' SDK always sends it, and sending it explicitly means keyhelm never
/// depends on a server-side default (see docs/providers/intralinks.md).
pub fn token_request(app: &App, login: &Login, end_other_sessions: bool) -> HttpRequest {
    HttpRequest::post(format!("{}{TOKEN_PATH}", app.base_url))
        .header("Accept", "application/json")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.expose_secret()),
            ("email", login.email.as_str()),
            ("password", login.password.expose_secret()),
            (
                "endOtherSessions",
                if end_other_sessions { "true" } else { "false" },
            ),
        ])
}

/// The logout: revokes `token` (and, at Intralinks, its pair).
pub fn revoke_request(app: &App, token: &SecretString) -> HttpRequest {
    HttpRequest::new("PUT", format!("{}{REVOKE_PATH}", app.base_url))
        .header("Accept", "application/json")
        .bearer(token)
        .form(&[
            ("token", token.expose_secret()),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.expose_secret()),
        ])
}

/// A successful login.
#[derive(Debug)]
pub struct Grant {
    /// The access token.
    pub access_token: SecretString,
    /// Its lifetime in seconds, when the answer gave a usable one.
    pub expires_in: Option<i64>,
    /// `token_type` (Intralinks says `BearerToken`).
    pub token_type: Option<String>,
    /// The user's email as Intralinks knows it.
    pub email: Option<String>,
    /// The names in `flags`.
    pub flags: Vec<String>,
    /// `scope`, split.
    pub scopes: Vec<String>,
}

#[derive(Deserialize)]
struct WireGrant {
    #[serde(default)]
    access_token: Option<SecretString>,
    #[serde(default)]
    token_type: Option<Value>,
    #[serde(default)]
    expires_in: Option<Value>,
    #[serde(default)]
    email: Option<Value>,
    #[serde(default)]
    flags: Option<Value>,
    #[serde(default)]
    scope: Option<Value>,
}

/// Reads the token endpoint's answer: a [`Grant`], or what went wrong.
pub fn parse_grant(
    resp: &HttpResponse,
    scrub: &Scrub<'_>,
    now_unix: i64,
) -> Result<Grant, Failure> {
    if !resp.is_success() {
        return Err(classify(resp, scrub, now_unix));
    }
    let status = resp.status;
    let wire: WireGrant = match serde_json::from_slice(&resp.body) {
        Ok(w) => w,
        Err(_) => {
            // Valid JSON of another shape, or not JSON at all?
            return Err(
                match serde_json::from_slice::<serde::de::IgnoredAny>(&resp.body) {
                    Ok(_) => Failure::Unreadable { status },
                    Err(_) => Failure::NotJson {
                        status,
                        content_type: media_type(resp, scrub),
                    },
                },
            );
        }
    };
    let WireGrant {
        access_token,
        token_type,
        expires_in,
        email,
        flags,
        scope,
    } = wire;
    let Some(access_token) = access_token else {
        // Some gateways answer 200 with an error envelope.
        let json = serde_json::from_slice::<Value>(&resp.body).unwrap_or_default();
        return Err(classify_json(status, &json, scrub));
    };
    if !usable_token(access_token.expose_secret()) {
        return Err(Failure::UnusableToken);
    }
    Ok(Grant {
        access_token,
        expires_in: expires_in.as_ref().and_then(lifetime),
        token_type: token_type.as_ref().and_then(short_text),
        email: email.as_ref().and_then(short_text),
        flags: flags.as_ref().map(flag_names).unwrap_or_default(),
        scopes: scope.as_ref().map(scope_names).unwrap_or_default(),
    })
}

/// A bearer token is one printable word (RFC 6750's b64token is narrower still; be lenient
/// but never let a space, CR or LF into a header or git's protocol).
fn usable_token(t: &str) -> bool {
    !t.is_empty() && t.len() <= 8192 && t.bytes().all(|b| b.is_ascii_graphic())
}

/// `expires_in` as a number or a numeric string (Apigee sends either), 0 to 10 years.
fn lifetime(v: &Value) -> Option<i64> {
    let n = match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }?;
    (0..=10 * 365 * 86_400).contains(&n).then_some(n)
}

/// A short, printable, non-secret string for display.
fn short_text(v: &Value) -> Option<String> {
    let s = v.as_str()?.trim();
    (!s.is_empty() && s.len() <= 256 && !s.chars().any(char::is_control)).then(|| s.to_owned())
}

/// `flags`: a list of `{"name": ...}` objects (or, leniently, of strings).
fn flag_names(v: &Value) -> Vec<String> {
    let Some(list) = v.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|f| short_text(f.get("name").unwrap_or(f)))
        .filter(|n| n.len() <= 64)
        .collect()
}

/// `scope`: a space-separated string or a list of strings.
fn scope_names(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
        Value::Array(a) => a.iter().filter_map(short_text).collect(),
        _ => Vec::new(),
    }
}

/// What the plugin keeps between calls: the last access token it obtained, so that a later
/// login can end keyhelm's own earlier session (see `lib.rs`) and a logout can revoke it.
/// Stored encrypted in the vault by keyhelm, like the token itself.
#[derive(Debug, Default, Deserialize)]
pub struct State {
    /// The last access token this plugin obtained.
    #[serde(default)]
    pub token: Option<SecretString>,
}

#[derive(Serialize)]
struct WireState<'a> {
    v: u32,
    token: &'a str,
}

impl State {
    /// Reads the saved state. Unreadable state (from another version, say) counts as none.
    pub fn read(saved: Option<&SecretString>) -> State {
        saved
            .and_then(|s| serde_json::from_str::<State>(s.expose_secret()).ok())
            .map(|s| State {
                token: s.token.filter(|t| usable_token(t.expose_secret())),
            })
            .unwrap_or_default()
    }

    /// The update that saves `token`.
    pub fn save(token: &SecretString) -> StateUpdate {
        let wire = WireState {
            v: 1,
            token: token.expose_secret(),
        };
        match serde_json::to_string(&wire) {
            Ok(s) => StateUpdate::replace(s),
            // Serialising two plain fields cannot fail; keeping nothing is safe.
            Err(_) => StateUpdate::Clear,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyhelm_core::msg::Account;

    fn app_and_login() -> (App, Login) {
        let mut a = Account::new("work");
        a.base_url = Some("http://127.0.0.1:9/".into());
        a.settings.insert("client_id".into(), "key-1".into());
        a.settings.insert("email".into(), "joe@example.com".into());
        a.secrets
            .insert("client_secret".into(), SecretString::from("s3 cr&t"));
        a.secrets
            .insert("password".into(), SecretString::from("p=w+d"));
        (
            App::from_account(&a).unwrap(),
            Login::from_account(&a).unwrap(),
        )
    }

    fn ok(body: &str) -> HttpResponse {
        HttpResponse::new(
            200,
            vec![("content-type".into(), "application/json".into())],
            body.as_bytes().to_vec(),
        )
    }

    fn parse(body: &str) -> Result<Grant, Failure> {
        parse_grant(&ok(body), &Scrub::default(), 0)
    }

    #[test]
    fn the_login_is_a_form_body_never_a_query() {
        let (app, login) = app_and_login();
        let req = token_request(&app, &login, false);
        assert_eq!(req.method, "POST");
        assert_eq!(req.url, "http://127.0.0.1:9/v2/oauth/token");
        assert!(!req.url.contains('?'));
        assert_eq!(
            std::str::from_utf8(&req.body).unwrap(),
            "grant_type=client_credentials&client_id=key-1&client_secret=s3+cr%26t\
             &email=joe%40example.com&password=p%3Dw%2Bd&endOtherSessions=false"
        );
        assert!(req.headers.contains(&(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into()
        )));
        assert!(
            req.headers
                .contains(&("Accept".into(), "application/json".into()))
        );
        let req = token_request(&app, &login, true);
        assert!(
            std::str::from_utf8(&req.body)
                .unwrap()
                .ends_with("&endOtherSessions=true")
        );
        let dbg = format!("{req:?}");
        assert!(!dbg.contains("s3") && !dbg.contains("p%3D"), "{dbg}");
    }

    #[test]
    fn the_revocation_is_a_put_with_a_form_and_a_bearer_header() {
        let (app, _) = app_and_login();
        let req = revoke_request(&app, &SecretString::from("tok"));
        assert_eq!(req.method, "PUT");
        assert_eq!(req.url, "http://127.0.0.1:9/v2/oauth/revoke");
        assert_eq!(
            std::str::from_utf8(&req.body).unwrap(),
            "token=tok&client_id=key-1&client_secret=s3+cr%26t"
        );
        assert!(
            req.headers
                .contains(&("Authorization".into(), "Bearer tok".into()))
        );
    }

    #[test]
    fn documented_answers_parse() {
        // With flags (the tutorial) and without (the how-to page).
        let g = parse(
            r#"{"access_token":"XXXX","token_type":"BearerToken","expires_in":3599,"flags":[{"name":"NEW"}],"email":"foo@bar.com"}"#,
        )
        .unwrap();
        assert_eq!(g.access_token.expose_secret(), "XXXX");
        assert_eq!(g.expires_in, Some(3599));
        assert_eq!(g.token_type.as_deref(), Some("BearerToken"));
        assert_eq!(g.email.as_deref(), Some("foo@bar.com"));
        assert_eq!(g.flags, ["NEW"]);
        assert!(g.scopes.is_empty());
        let g = parse(
            r#"{"access_token":"7bSxew8sQbT9oODCAJAjR4sYqHYM","token_type":"BearerToken","expires_in":3599,"email":"joe_user@intralinks.com"}"#,
        )
        .unwrap();
        assert!(g.flags.is_empty());
        assert!(!format!("{g:?}").contains("7bSx"));
    }

    #[test]
    fn optional_fields_are_lenient() {
        let g = parse(r#"{"access_token":"a","expires_in":"3599","flags":[{"name":"NEW"},{"name":"EULA_PENDING"},"PLAIN",{"x":1},3],"scope":"ilservices other","extra":{"n":1}}"#).unwrap();
        assert_eq!(g.expires_in, Some(3599));
        assert_eq!(g.flags, ["NEW", "EULA_PENDING", "PLAIN"]);
        assert_eq!(g.scopes, ["ilservices", "other"]);
        assert_eq!(g.email, None);
        for bad in [r#""soon""#, "-5", "null", "1e30", r#"{"a":1}"#] {
            let g = parse(&format!(r#"{{"access_token":"a","expires_in":{bad}}}"#)).unwrap();
            assert_eq!(g.expires_in, None, "{bad}");
        }
        let g = parse(r#"{"access_token":"a","expires_in":3599.9,"flags":"NEW","scope":["x"]}"#)
            .unwrap();
        assert_eq!(g.expires_in, Some(3599));
        assert!(g.flags.is_empty());
        assert_eq!(g.scopes, ["x"]);
    }

    #[test]
    fn bad_success_answers_are_failures() {
        assert!(matches!(
            parse(r#"{"token_type":"BearerToken"}"#),
            Err(Failure::NoAccessToken { status: 200 })
        ));
        assert!(matches!(
            parse(r#"{"error":{"code":403,"subcode":"018"}}"#),
            Err(Failure::LoggedInElsewhere { status: 200 })
        ));
        for t in [r#""""#, r#""a b""#, r#""a\r\nb""#] {
            assert!(
                matches!(
                    parse(&format!(r#"{{"access_token":{t}}}"#)),
                    Err(Failure::UnusableToken)
                ),
                "{t}"
            );
        }
        assert!(matches!(
            parse(r#"{"access_token":42}"#),
            Err(Failure::Unreadable { status: 200 })
        ));
        assert!(matches!(parse("[1,2]"), Err(Failure::Unreadable { .. })));
        assert!(matches!(
            parse("<html>login</html>"),
            Err(Failure::NotJson { status: 200, .. })
        ));
        assert!(matches!(parse(""), Err(Failure::NotJson { .. })));
    }

    #[test]
    fn state_round_trips_and_tolerates_junk() {
        let saved = match State::save(&SecretString::from("t0k")) {
            StateUpdate::Replace { value } => value,
            other => panic!("{other:?}"),
        };
        assert_eq!(saved.expose_secret(), r#"{"v":1,"token":"t0k"}"#);
        let s = State::read(Some(&saved));
        assert_eq!(s.token.unwrap().expose_secret(), "t0k");
        for junk in [
            "",
            "not json",
            "[]",
            r#"{"token":5}"#,
            r#"{"token":"a b"}"#,
            r#"{"v":2}"#,
        ] {
            assert!(
                State::read(Some(&SecretString::from(junk))).token.is_none(),
                "{junk}"
            );
        }
        assert!(State::read(None).token.is_none());
        let s = State::read(Some(&saved));
        assert!(!format!("{s:?}").contains("t0k"));
    }
}
