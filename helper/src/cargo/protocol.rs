//! cargo's credential-provider protocol, version 1: the messages, exactly as cargo 1.95's
//! `cargo-credential` crate (de)serializes them (research/protocols.md, section C).
//!
//! Every message is one line of JSON.
//!
//! - Hello, provider to cargo, first: `{"v":[1]}`.
//! - Request, cargo to provider: `{"v":1,"registry":{"index-url":…,"name":…,"headers":[…]},
//!   "kind":"get"|"login"|"logout", …, "args":[…]}`. `get` adds `"operation"`
//!   (`read`, `publish`, `yank`, `unyank`, `owners`, with `name`/`vers`/`cksum`); `login` adds
//!   an optional `"token"` and `"login-url"`. Unknown fields are ignored.
//! - Response: `{"Ok":{"kind":"get","token":…,"cache":"never"|"session"|"expires",
//!   "expiration":<unix seconds, with "expires" only>,"operation_independent":true}}`,
//!   `{"Ok":{"kind":"login"}}`, `{"Ok":{"kind":"logout"}}`, or
//!   `{"Err":{"kind":"not-found"|"url-not-supported"|"operation-not-supported"|"other",
//!   "message":…}}`. cargo's book shows a bare `{"token":…}` for `get`; cargo itself reads the
//!   `Ok` wrapper above.
//!
//! The request line and the response line may carry a token: both live in zeroized buffers,
//! the token in a [`SecretString`], and no error message quotes any part of a request.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The hello line: keyhelm speaks version 1.
pub const HELLO: &[u8] = b"{\"v\":[1]}\n";

/// The only protocol version keyhelm speaks.
pub const VERSION: u64 = 1;

/// The registry a request is about.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct RegistryInfo {
    /// The index URL (`sparse+https://…/`, or a git URL).
    pub index_url: String,
    /// The registry's name in cargo's configuration (`crates-io` for crates.io), when known.
    #[serde(default)]
    pub name: Option<String>,
}

/// What cargo is about to do with the token of a `get`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    Read,
    Publish,
    Yank,
    Unyank,
    Owners,
    /// An operation newer than this keyhelm.
    Unknown(String),
}

/// The action a request asks for.
#[derive(Debug)]
#[non_exhaustive]
pub enum Action {
    Get(Operation),
    /// `cargo login`: the token it read from argv or stdin, if any, and the registry's
    /// login page.
    Login {
        token: Option<SecretString>,
        login_url: Option<String>,
    },
    Logout,
    /// A kind newer than this keyhelm.
    Unknown(String),
}

/// One request from cargo.
#[derive(Debug)]
pub struct Request {
    pub registry: RegistryInfo,
    pub action: Action,
    /// The words after the program in `credential-provider`, then those after `--` of
    /// `cargo login`.
    pub args: Vec<String>,
}

/// Why a request line could not be read. Never quotes the request: it may hold a token.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Not JSON, or not the shape of a request.
    #[error("cargo's request is not a valid credential request ({what} at column {column})")]
    Malformed { what: &'static str, column: usize },
    /// A protocol version keyhelm does not speak.
    #[error(
        "cargo's request uses version {found} of the credential-provider protocol; keyhelm \
         speaks version {VERSION}"
    )]
    Version { found: String },
}

fn malformed(e: &serde_json::Error) -> RequestError {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "unreadable input",
        Category::Syntax => "a JSON syntax error",
        Category::Data => "a missing or mistyped field",
        Category::Eof => "an unexpected end",
    };
    RequestError::Malformed {
        what,
        column: e.column(),
    }
}

/// The request as JSON has it: flat, no `flatten` (which would copy the token into serde's
/// internal buffers).
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Raw {
    registry: RegistryInfo,
    kind: String,
    #[serde(default)]
    operation: Option<String>,
    #[serde(default)]
    token: Option<SecretString>,
    #[serde(default)]
    login_url: Option<String>,
    #[serde(default)]
    args: Vec<String>,
}

#[derive(Deserialize)]
struct VersionOnly {
    v: serde_json::Value,
}

/// Parses one request line (without its line end).
pub fn parse_request(line: &str) -> Result<Request, RequestError> {
    // The version first: a request of another version may have another shape.
    let version: VersionOnly = serde_json::from_str(line).map_err(|e| malformed(&e))?;
    if version.v.as_u64() != Some(VERSION) {
        let found = match &version.v {
            serde_json::Value::Number(n) => n.to_string(),
            _ => "(not a number)".to_owned(),
        };
        return Err(RequestError::Version { found });
    }
    let raw: Raw = serde_json::from_str(line).map_err(|e| malformed(&e))?;
    let Raw {
        registry,
        kind,
        operation,
        token,
        login_url,
        args,
    } = raw;
    let action = match kind.as_str() {
        "get" => Action::Get(match operation.as_deref() {
            Some("read") => Operation::Read,
            Some("publish") => Operation::Publish,
            Some("yank") => Operation::Yank,
            Some("unyank") => Operation::Unyank,
            Some("owners") => Operation::Owners,
            Some(other) => Operation::Unknown(other.to_owned()),
            None => Operation::Unknown(String::new()),
        }),
        "login" => Action::Login { token, login_url },
        "logout" => Action::Logout,
        _ => Action::Unknown(kind),
    };
    Ok(Request {
        registry,
        action,
        args,
    })
}

/// How long cargo may keep a token for the rest of its run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cache {
    /// Ask again for every request.
    Never,
    /// Keep it until cargo exits.
    Session,
    /// Keep it until this unix time (cargo stops a minute before).
    Expires(u64),
}

/// The error kinds cargo knows. `NotFound` and `UrlNotSupported` make cargo try its next
/// provider; the others stop it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    UrlNotSupported,
    NotFound,
    OperationNotSupported,
    Other,
}

/// One response to cargo.
pub enum Response {
    Get {
        token: SecretString,
        cache: Cache,
    },
    Login,
    Logout,
    Err {
        kind: ErrorKind,
        message: Option<String>,
    },
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Response::Get { cache, .. } => f
                .debug_struct("Get")
                .field("token", &"REDACTED")
                .field("cache", cache)
                .finish(),
            Response::Login => f.write_str("Login"),
            Response::Logout => f.write_str("Logout"),
            Response::Err { kind, message } => f
                .debug_struct("Err")
                .field("kind", kind)
                .field("message", message)
                .finish(),
        }
    }
}

impl Response {
    pub fn error(kind: ErrorKind) -> Response {
        Response::Err {
            kind,
            message: None,
        }
    }

    pub fn other(message: impl Into<String>) -> Response {
        Response::Err {
            kind: ErrorKind::Other,
            message: Some(message.into()),
        }
    }

    /// The response line, with its line end, in a buffer that is zeroized when dropped.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        #[derive(Serialize)]
        struct GetOk<'a> {
            kind: &'static str,
            token: &'a str,
            cache: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            expiration: Option<u64>,
            operation_independent: bool,
        }
        #[derive(Serialize)]
        struct KindOnly {
            kind: &'static str,
        }
        #[derive(Serialize)]
        struct Failure<'a> {
            kind: ErrorKind,
            #[serde(skip_serializing_if = "Option::is_none")]
            message: Option<&'a str>,
        }
        #[derive(Serialize)]
        enum Wire<T, E> {
            Ok(T),
            Err(E),
        }
        fn write<T: Serialize, E: Serialize>(
            reserve: usize,
            wire: &Wire<T, E>,
        ) -> Zeroizing<Vec<u8>> {
            // Sized for the worst case (every byte escaped as \u00XX) so that the buffer never
            // grows and leaves a copy of the token behind.
            let mut buf = Zeroizing::new(Vec::with_capacity(reserve * 6 + 256));
            serde_json::to_writer(&mut *buf, wire).expect("responses always encode");
            buf.push(b'\n');
            buf
        }
        match self {
            Response::Get { token, cache } => {
                let (cache, expiration) = match cache {
                    Cache::Never => ("never", None),
                    Cache::Session => ("session", None),
                    Cache::Expires(at) => ("expires", Some(*at)),
                };
                let token = token.expose_secret();
                write::<_, ()>(
                    token.len(),
                    &Wire::Ok(GetOk {
                        kind: "get",
                        token,
                        cache,
                        expiration,
                        operation_independent: true,
                    }),
                )
            }
            Response::Login => write::<_, ()>(0, &Wire::Ok(KindOnly { kind: "login" })),
            Response::Logout => write::<_, ()>(0, &Wire::Ok(KindOnly { kind: "logout" })),
            Response::Err { kind, message } => write::<(), _>(
                message.as_ref().map_or(0, String::len),
                &Wire::Err(Failure {
                    kind: *kind,
                    message: message.as_deref(),
                }),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &Response) -> String {
        String::from_utf8(r.encode().to_vec()).unwrap()
    }

    #[test]
    fn responses_have_cargos_exact_shape() {
        let get = Response::Get {
            token: "t0k".into(),
            cache: Cache::Session,
        };
        assert_eq!(
            text(&get),
            "{\"Ok\":{\"kind\":\"get\",\"token\":\"t0k\",\"cache\":\"session\",\"operation_independent\":true}}\n"
        );
        let expiring = Response::Get {
            token: "t\"0k".into(),
            cache: Cache::Expires(1_900_000_000),
        };
        assert_eq!(
            text(&expiring),
            "{\"Ok\":{\"kind\":\"get\",\"token\":\"t\\\"0k\",\"cache\":\"expires\",\"expiration\":1900000000,\"operation_independent\":true}}\n"
        );
        assert_eq!(
            text(&Response::Get {
                token: "x".into(),
                cache: Cache::Never
            }),
            "{\"Ok\":{\"kind\":\"get\",\"token\":\"x\",\"cache\":\"never\",\"operation_independent\":true}}\n"
        );
        assert_eq!(text(&Response::Login), "{\"Ok\":{\"kind\":\"login\"}}\n");
        assert_eq!(text(&Response::Logout), "{\"Ok\":{\"kind\":\"logout\"}}\n");
        assert_eq!(
            text(&Response::error(ErrorKind::NotFound)),
            "{\"Err\":{\"kind\":\"not-found\"}}\n"
        );
        assert_eq!(
            text(&Response::error(ErrorKind::OperationNotSupported)),
            "{\"Err\":{\"kind\":\"operation-not-supported\"}}\n"
        );
        assert_eq!(
            text(&Response::error(ErrorKind::UrlNotSupported)),
            "{\"Err\":{\"kind\":\"url-not-supported\"}}\n"
        );
        assert_eq!(
            text(&Response::other("it \"broke\"\nbadly")),
            "{\"Err\":{\"kind\":\"other\",\"message\":\"it \\\"broke\\\"\\nbadly\"}}\n"
        );
        assert!(!format!("{get:?}").contains("t0k"));
    }

    #[test]
    fn requests_parse_like_cargo_credential() {
        let r = parse_request(
            r#"{"v":1,"registry":{"index-url":"sparse+http://127.0.0.1:9/index/","name":"testreg","headers":["www-authenticate: Cargo"]},"kind":"get","operation":"read","args":["--account","a"],"extra":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(r.registry.index_url, "sparse+http://127.0.0.1:9/index/");
        assert_eq!(r.registry.name.as_deref(), Some("testreg"));
        assert!(matches!(r.action, Action::Get(Operation::Read)));
        assert_eq!(r.args, ["--account", "a"]);

        let r = parse_request(
            r#"{"v":1,"registry":{"index-url":"u"},"kind":"get","operation":"publish","name":"c","vers":"1.0.0","cksum":"ab"}"#,
        )
        .unwrap();
        assert!(matches!(r.action, Action::Get(Operation::Publish)));
        assert!(r.args.is_empty());
        for (op, want) in [
            ("yank", Operation::Yank),
            ("unyank", Operation::Unyank),
            ("owners", Operation::Owners),
            ("transfer", Operation::Unknown("transfer".into())),
        ] {
            let r = parse_request(&format!(
                r#"{{"v":1,"registry":{{"index-url":"u"}},"kind":"get","operation":"{op}","name":"c"}}"#
            ))
            .unwrap();
            match r.action {
                Action::Get(got) => assert_eq!(got, want),
                other => panic!("{other:?}"),
            }
        }

        let r = parse_request(
            r#"{"v":1,"registry":{"index-url":"u"},"kind":"login","token":"s3cret","login-url":"http://r/me"}"#,
        )
        .unwrap();
        match &r.action {
            Action::Login { token, login_url } => {
                assert_eq!(token.as_ref().unwrap().expose_secret(), "s3cret");
                assert_eq!(login_url.as_deref(), Some("http://r/me"));
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{r:?}").contains("s3cret"));

        let r = parse_request(r#"{"v":1,"registry":{"index-url":"u"},"kind":"logout"}"#).unwrap();
        assert!(matches!(r.action, Action::Logout));
        let r = parse_request(r#"{"v":1,"registry":{"index-url":"u"},"kind":"rotate"}"#).unwrap();
        assert!(matches!(r.action, Action::Unknown(ref k) if k == "rotate"));
    }

    #[test]
    fn bad_requests_never_quote_the_request() {
        let e = parse_request(r#"{"v":2,"registry":{"index-url":"u"},"kind":"get"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cargo's request uses version 2 of the credential-provider protocol; keyhelm speaks \
             version 1"
        );
        let e = parse_request(r#"{"v":"one"}"#).unwrap_err();
        assert_eq!(
            e,
            RequestError::Version {
                found: "(not a number)".into()
            }
        );
        let e = parse_request(r#"{"v":1,"registry":{"index-url":"u"},"kind":"login","token":7}"#)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "cargo's request is not a valid credential request (a missing or mistyped field at \
             column 60)"
        );
        let e = parse_request(r#"{"v":1,"kind":"login","token":"s3cret"#).unwrap_err();
        assert!(
            matches!(
                e,
                RequestError::Malformed {
                    what: "an unexpected end",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(!e.to_string().contains("s3cret"));
        let e = parse_request(r#"{"v":1,"kind":"login","token":"s3cret"}"#).unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        let e = parse_request("hello").unwrap_err();
        assert!(
            matches!(
                e,
                RequestError::Malformed {
                    what: "a JSON syntax error",
                    ..
                }
            ),
            "{e:?}"
        );
    }
}
