//! The JSON docker's credential helpers read and write, in one place.
//!
//! - `store` reads `{"ServerURL": "...", "Username": "...", "Secret": "..."}`. Like Go's
//!   `encoding/json`, which the reference helpers use: field names match exactly or else
//!   case-insensitively, unknown fields are ignored, `null` leaves a field empty, and the
//!   last of two equal fields wins. docker's encoder escapes `<` and `>` (`"\u003ctoken\u003e"`),
//!   which decodes to `<token>` as it should. Unlike Go, trailing bytes after the object are an
//!   error.
//! - `get` writes `{"ServerURL":"...","Username":"...","Secret":"..."}` and a newline.
//! - `list` writes `{"<ServerURL>":"<Username>",...}` and a newline, keys sorted (as Go
//!   writes a map).
//!
//! The secret is copied from the input straight into a [`SecretString`], and the output is
//! built in a buffer sized up front and wiped when dropped. Errors name a line and column,
//! never a value.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use zeroize::Zeroizing;

/// A `store` request.
#[derive(Debug)]
pub struct StoreRequest {
    pub server_url: String,
    pub username: String,
    pub secret: SecretString,
}

/// Why a `store` request was refused.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// Not JSON at all.
    Syntax { line: usize, column: usize },
    /// JSON, but not an object of strings.
    Shape { line: usize, column: usize },
    /// `ServerURL` is missing or empty (docker's `no credentials server URL`).
    MissingServerUrl,
    /// `Username` is missing or empty (docker's `no credentials username`).
    MissingUsername,
    /// A line break or another control character in `ServerURL` or `Username`.
    ControlCharacter { field: &'static str },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Syntax { line, column } => write!(
                f,
                "the store request is not valid JSON (line {line}, column {column})"
            ),
            StoreError::Shape { line, column } => write!(
                f,
                "the store request must be a JSON object whose ServerURL, Username and Secret \
                 are strings (line {line}, column {column})"
            ),
            StoreError::MissingServerUrl => f.write_str(super::MISSING_SERVER_URL),
            StoreError::MissingUsername => f.write_str(super::MISSING_USERNAME),
            StoreError::ControlCharacter { field } => write!(
                f,
                "the {field} of the store request contains a line break or another control \
                 character"
            ),
        }
    }
}

/// Parses a `store` request and checks it as the reference helpers do (a server URL and a
/// user name are required; the secret may be empty). Surrounding white space is trimmed
/// from the server URL, as `get` and `erase` trim theirs.
pub fn parse_store(bytes: &[u8]) -> Result<StoreRequest, StoreError> {
    let raw: Raw = serde_json::from_slice(bytes).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        match e.classify() {
            serde_json::error::Category::Data => StoreError::Shape { line, column },
            _ => StoreError::Syntax { line, column },
        }
    })?;
    let Raw {
        server_url,
        username,
        secret,
    } = raw;
    let server_url = server_url.unwrap_or_default().trim().to_owned();
    let username = username.unwrap_or_default();
    if server_url.is_empty() {
        return Err(StoreError::MissingServerUrl);
    }
    if username.is_empty() {
        return Err(StoreError::MissingUsername);
    }
    if server_url.chars().any(char::is_control) {
        return Err(StoreError::ControlCharacter { field: "ServerURL" });
    }
    if username.chars().any(char::is_control) {
        return Err(StoreError::ControlCharacter { field: "Username" });
    }
    Ok(StoreRequest {
        server_url,
        username,
        secret: secret.unwrap_or_else(|| SecretString::from("")),
    })
}

/// The three fields as decoded, before the checks.
#[derive(Default)]
struct Raw {
    server_url: Option<String>,
    username: Option<String>,
    secret: Option<SecretString>,
}

#[derive(Clone, Copy)]
enum Field {
    ServerUrl,
    Username,
    Secret,
    Other,
}

impl Field {
    /// Go's rule: an exact name first, otherwise a case-insensitive one.
    fn of(key: &str) -> Field {
        const NAMES: [(&str, Field); 3] = [
            ("ServerURL", Field::ServerUrl),
            ("Username", Field::Username),
            ("Secret", Field::Secret),
        ];
        NAMES
            .iter()
            .find(|(name, _)| *name == key)
            .or_else(|| {
                NAMES
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(key))
            })
            .map_or(Field::Other, |(_, field)| *field)
    }
}

impl<'de> de::Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Raw, D::Error> {
        struct RawVisitor;
        impl<'de> Visitor<'de> for RawVisitor {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            // Go decodes `null` into a struct as "nothing set".
            fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
                Ok(Raw::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                let mut raw = Raw::default();
                while let Some(key) = map.next_key::<String>()? {
                    match Field::of(&key) {
                        Field::ServerUrl => {
                            if let Some(v) = map.next_value::<Option<String>>()? {
                                raw.server_url = Some(v);
                            }
                        }
                        Field::Username => {
                            if let Some(v) = map.next_value::<Option<String>>()? {
                                raw.username = Some(v);
                            }
                        }
                        Field::Secret => {
                            if let Some(SecretValue(v)) = map.next_value::<Option<SecretValue>>()? {
                                raw.secret = Some(v);
                            }
                        }
                        Field::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(raw)
            }
        }
        deserializer.deserialize_any(RawVisitor)
    }
}

/// A JSON string decoded straight into a [`SecretString`].
struct SecretValue(SecretString);

impl<'de> de::Deserialize<'de> for SecretValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SecretValue, D::Error> {
        struct SecretVisitor;
        impl Visitor<'_> for SecretVisitor {
            type Value = SecretValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretValue, E> {
                Ok(SecretValue(SecretString::from(v)))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<SecretValue, E> {
                let v = Zeroizing::new(v);
                Ok(SecretValue(SecretString::from(v.as_str())))
            }
        }
        deserializer.deserialize_str(SecretVisitor)
    }
}

/// Appends `s` as a JSON string literal.
fn push_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let b = c as usize;
                out.extend_from_slice(b"\\u00");
                out.extend_from_slice(&[HEX[b >> 4], HEX[b & 0xf]]);
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// The largest a string can grow when escaped (`\u00XX` for a control byte).
fn escaped_len(s: &str) -> usize {
    s.len() * 6 + 2
}

/// The room the answer to `get` needs at most.
fn get_capacity(server_url: &str, username: &str, secret: &str) -> usize {
    64 + escaped_len(server_url) + escaped_len(username) + escaped_len(secret)
}

/// The answer to `get`.
pub fn encode_get(server_url: &str, username: &str, secret: &SecretString) -> Zeroizing<Vec<u8>> {
    let secret = secret.expose_secret();
    // Sized for the worst case, so the buffer never moves and leaves no copy behind.
    let mut out = Zeroizing::new(Vec::with_capacity(get_capacity(
        server_url, username, secret,
    )));
    out.extend_from_slice(b"{\"ServerURL\":");
    push_string(&mut out, server_url);
    out.extend_from_slice(b",\"Username\":");
    push_string(&mut out, username);
    out.extend_from_slice(b",\"Secret\":");
    push_string(&mut out, secret);
    out.extend_from_slice(b"}\n");
    out
}

/// The answer to `list`.
pub fn encode_list(entries: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = b"{".to_vec();
    for (i, (url, user)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_string(&mut out, url);
        out.push(b':');
        push_string(&mut out, user);
    }
    out.extend_from_slice(b"}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(text: &str) -> Result<StoreRequest, StoreError> {
        parse_store(text.as_bytes())
    }

    #[test]
    fn reads_what_docker_sends() {
        // docker/cli's encoder: Go's json.Encoder, HTML-escaping on, a trailing newline.
        let req = store(
            "{\"ServerURL\":\"https://index.docker.io/v1/\",\"Username\":\"\\u003ctoken\\u003e\",\
             \"Secret\":\"ey\\u0026J\"}\n",
        )
        .unwrap();
        assert_eq!(req.server_url, "https://index.docker.io/v1/");
        assert_eq!(req.username, "<token>");
        assert_eq!(req.secret.expose_secret(), "ey&J");
    }

    #[test]
    fn follows_gos_field_rules() {
        let req = store(
            r#"{"serverurl":"a.tld","USERNAME":"u","secret":"s","Extra":{"x":[1]},"Username":"v"}"#,
        )
        .unwrap();
        assert_eq!(
            (req.server_url.as_str(), req.username.as_str()),
            ("a.tld", "v")
        );
        assert_eq!(req.secret.expose_secret(), "s");
        let req = store(r#"{"ServerURL":"a.tld","Username":"u","Secret":null}"#).unwrap();
        assert_eq!(req.secret.expose_secret(), "");
        let req = store(r#"{"ServerURL":"  a.tld ","Username":"u"}"#).unwrap();
        assert_eq!(req.server_url, "a.tld");
    }

    #[test]
    fn refuses_requests_the_reference_refuses() {
        assert_eq!(
            store(r#"{"ServerURL":"","Username":"u","Secret":"s"}"#).unwrap_err(),
            StoreError::MissingServerUrl
        );
        assert_eq!(
            store(r#"{"Username":"u","Secret":"s"}"#).unwrap_err(),
            StoreError::MissingServerUrl
        );
        assert_eq!(store("null").unwrap_err(), StoreError::MissingServerUrl);
        assert_eq!(
            store(r#"{"ServerURL":"a.tld","Username":"","Secret":"s"}"#).unwrap_err(),
            StoreError::MissingUsername
        );
        assert_eq!(
            store(r#"{"ServerURL":"a\nb","Username":"u"}"#).unwrap_err(),
            StoreError::ControlCharacter { field: "ServerURL" }
        );
        assert_eq!(
            store(r#"{"ServerURL":"a","Username":"u\u0000"}"#).unwrap_err(),
            StoreError::ControlCharacter { field: "Username" }
        );
    }

    #[test]
    fn errors_give_a_place_never_a_value() {
        let cases = [
            (
                r#"{"ServerURL":"a","Username":"u","Secret":"hunter2""#,
                "not valid JSON",
            ),
            (
                r#"{"ServerURL":"a","Username":"u","Secret":hunter2}"#,
                "not valid JSON",
            ),
            (
                r#"{"ServerURL":"a","Username":"u","Secret":"hunter2"} x"#,
                "not valid JSON",
            ),
            (
                r#"{"ServerURL":"a","Username":"u","Secret":12345678}"#,
                "must be a JSON object",
            ),
            (
                r#"{"ServerURL":"a","Username":"u","Secret":["hunter2"]}"#,
                "must be a JSON object",
            ),
            (r#""hunter2""#, "must be a JSON object"),
            ("[\"hunter2\"]", "must be a JSON object"),
            ("", "not valid JSON"),
        ];
        for (input, expected) in cases {
            let message = store(input).unwrap_err().to_string();
            assert!(message.contains(expected), "{input}: {message}");
            assert!(message.contains("line 1, column "), "{input}: {message}");
            for secret in ["hunter2", "12345678"] {
                assert!(!message.contains(secret), "{input}: {message}");
            }
        }
        let shown = format!(
            "{:?}",
            store(r#"{"ServerURL":"a","Username":"u","Secret":"hunter2"}"#)
        );
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn writes_json_docker_decodes() {
        let out = encode_get("ghcr.io", "<token>", &SecretString::from("a\"b\\c\n\u{1}é"));
        assert_eq!(
            String::from_utf8(out.to_vec()).unwrap(),
            "{\"ServerURL\":\"ghcr.io\",\"Username\":\"<token>\",\"Secret\":\"a\\\"b\\\\c\\n\\u0001é\"}\n"
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["Secret"], "a\"b\\c\n\u{1}é");
        let mut entries = BTreeMap::new();
        assert_eq!(encode_list(&entries), b"{}\n");
        entries.insert(
            "https://index.docker.io/v1/".to_owned(),
            "<token>".to_owned(),
        );
        entries.insert("ghcr.io".to_owned(), "u".to_owned());
        assert_eq!(
            String::from_utf8(encode_list(&entries)).unwrap(),
            "{\"ghcr.io\":\"u\",\"https://index.docker.io/v1/\":\"<token>\"}\n"
        );
    }

    #[test]
    fn the_answer_buffer_is_sized_for_the_worst_case() {
        let (url, user, secret) = ("\u{2}".repeat(100), "\u{3}", "\u{1}".repeat(1000));
        let out = encode_get(&url, user, &SecretString::from(secret.as_str()));
        // The keys and punctuation, three pairs of quotes, and six bytes per control character.
        assert_eq!(out.len(), 13 + 12 + 10 + 2 + 3 * 2 + 6 * (100 + 1 + 1000));
        assert!(out.len() <= get_capacity(&url, user, &secret));
    }
}
