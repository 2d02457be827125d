//! git's credential helper wire format: `key=value` lines, read and written in one place.
//!
//! Reading follows git's own rules and the lessons of CVE-2020-5260 and CVE-2024-52006:
//! lines are split on LF only, at most one trailing CR is stripped, a NUL or a bare CR
//! anywhere rejects the whole request, a line longer than [`MAX_LINE`] rejects it (the line
//! buffer grows to the limit, so a long line can never be split into two attributes), a line
//! without `=` rejects it, and the request ends at the first blank line or at EOF. Unknown keys
//! and unknown capabilities are ignored. Errors name the line and, for known keys, the key;
//! never a value.
//!
//! Writing refuses any value that holds LF, CR or NUL, so a stored or issued secret can never
//! inject an attribute into git's input.

use std::fmt;
use std::io::{BufRead, Read};

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// The longest line accepted, without its line feed.
pub const MAX_LINE: usize = 64 * 1024;
/// The most bytes a request may hold in total.
pub const MAX_REQUEST: usize = 1024 * 1024;

/// One request from git (or a script speaking git's protocol).
///
/// `None` means the attribute was absent, which is different from `Some("")`.
#[derive(Default, Debug)]
pub struct Request {
    pub protocol: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// Unix seconds; `None` when absent, zero or out of range (git's "no expiry").
    pub password_expiry_utc: Option<u64>,
    pub oauth_refresh_token: Option<SecretString>,
    pub authtype: Option<String>,
    pub credential: Option<SecretString>,
    pub ephemeral: bool,
    /// The requester announced `capability[]=authtype`.
    pub capability_authtype: bool,
    /// `wwwauth[]` values, in order.
    pub wwwauth: Vec<String>,
}

impl Request {
    /// `authtype` and `credential` as the requester may use them: only with the capability.
    pub fn gated_credential(&self) -> Option<(&Option<String>, &SecretString)> {
        if !self.capability_authtype {
            return None;
        }
        self.credential.as_ref().map(|c| (&self.authtype, c))
    }
}

/// Why a request was rejected. Never carries a value.
#[derive(Debug, PartialEq, Eq)]
pub enum ProtocolError {
    LineTooLong {
        line: usize,
    },
    RequestTooLarge,
    MissingEquals {
        line: usize,
    },
    Nul {
        line: usize,
    },
    CarriageReturn {
        line: usize,
        key: Option<&'static str>,
    },
    NotUtf8 {
        line: usize,
        key: &'static str,
    },
    Read(String),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::LineTooLong { line } => {
                write!(
                    f,
                    "line {line} of the request is longer than {MAX_LINE} bytes"
                )
            }
            ProtocolError::RequestTooLarge => {
                write!(f, "the request is larger than {MAX_REQUEST} bytes")
            }
            ProtocolError::MissingEquals { line } => {
                write!(f, "line {line} of the request is not a key=value attribute")
            }
            ProtocolError::Nul { line } => {
                write!(f, "line {line} of the request contains a NUL byte")
            }
            ProtocolError::CarriageReturn {
                line,
                key: Some(key),
            } => {
                write!(
                    f,
                    "the value of '{key}' on line {line} contains a carriage return"
                )
            }
            ProtocolError::CarriageReturn { line, key: None } => {
                write!(f, "line {line} of the request contains a carriage return")
            }
            ProtocolError::NotUtf8 { line, key } => {
                write!(f, "the value of '{key}' on line {line} is not valid UTF-8")
            }
            ProtocolError::Read(e) => write!(f, "cannot read the request: {e}"),
        }
    }
}

/// The keys keyhelm understands, as static names for error messages.
const KNOWN: [&str; 12] = [
    "protocol",
    "host",
    "path",
    "username",
    "password",
    "password_expiry_utc",
    "oauth_refresh_token",
    "authtype",
    "credential",
    "ephemeral",
    "capability[]",
    "wwwauth[]",
];

/// Reads one request: up to the first blank line or EOF.
pub fn read_request(input: &mut impl BufRead) -> Result<Request, ProtocolError> {
    let mut req = Request::default();
    // Reserved up front so that growing never leaves copies of secrets behind.
    let mut line = Zeroizing::new(Vec::with_capacity(MAX_LINE + 2));
    let mut total = 0usize;
    let mut number = 0usize;
    loop {
        line.clear();
        number += 1;
        let n = input
            .by_ref()
            .take(MAX_LINE as u64 + 2)
            .read_until(b'\n', &mut line)
            .map_err(|e| ProtocolError::Read(e.kind().to_string()))?;
        if n == 0 {
            break;
        }
        total += n;
        if total > MAX_REQUEST {
            return Err(ProtocolError::RequestTooLarge);
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if n == MAX_LINE + 2 {
            return Err(ProtocolError::LineTooLong { line: number });
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.len() > MAX_LINE {
            return Err(ProtocolError::LineTooLong { line: number });
        }
        if line.is_empty() {
            break;
        }
        if line.contains(&0) {
            return Err(ProtocolError::Nul { line: number });
        }
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            return Err(ProtocolError::MissingEquals { line: number });
        };
        let (key, value) = (&line[..eq], &line[eq + 1..]);
        let known = KNOWN.iter().copied().find(|k| k.as_bytes() == key);
        if value.contains(&b'\r') || key.contains(&b'\r') {
            return Err(ProtocolError::CarriageReturn {
                line: number,
                key: known,
            });
        }
        let Some(key) = known else {
            continue; // Unknown keys (state[], continue, url, future ones) are ignored.
        };
        let text = || -> Result<String, ProtocolError> {
            String::from_utf8(value.to_vec())
                .map_err(|_| ProtocolError::NotUtf8 { line: number, key })
        };
        let secret = || text().map(SecretString::from);
        match key {
            "protocol" => req.protocol = Some(text()?),
            "host" => req.host = Some(text()?),
            "path" => req.path = Some(text()?),
            "username" => req.username = Some(text()?),
            "password" => req.password = Some(secret()?),
            "password_expiry_utc" => req.password_expiry_utc = parse_expiry(value),
            "oauth_refresh_token" => req.oauth_refresh_token = Some(secret()?),
            "authtype" => req.authtype = Some(text()?),
            "credential" => req.credential = Some(secret()?),
            "ephemeral" => req.ephemeral = parse_bool(value),
            "capability[]" => {
                if value == b"authtype" {
                    req.capability_authtype = true;
                }
            }
            "wwwauth[]" => req.wwwauth.push(text()?),
            _ => unreachable!("every known key is handled"),
        }
    }
    Ok(req)
}

/// git's rule: base-10 digits; zero, garbage or overflow mean "no expiry".
fn parse_expiry(value: &[u8]) -> Option<u64> {
    let digits = value.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&value[..digits])
        .ok()?
        .parse::<u64>()
        .ok()
        .filter(|&t| t != 0)
}

/// git-config booleans. Anything that is not clearly false counts as true, which for
/// `ephemeral` is the safe reading (the credential is not persisted).
fn parse_bool(value: &[u8]) -> bool {
    let v = String::from_utf8_lossy(value).to_ascii_lowercase();
    !matches!(v.as_str(), "0" | "false" | "no" | "off" | "")
}

/// An answer to `get`, written in git's order: capability, authtype, credential, username,
/// password, expiry, refresh token.
#[derive(Default, Debug)]
pub struct Response {
    pub authtype: Option<String>,
    pub credential: Option<SecretString>,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub password_expiry_utc: Option<u64>,
    pub oauth_refresh_token: Option<SecretString>,
}

/// A value that cannot be written without breaking the framing.
#[derive(Debug, PartialEq, Eq)]
pub struct UnsafeValue {
    pub key: &'static str,
}

impl fmt::Display for UnsafeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the stored value of '{}' contains a line break or NUL and cannot be sent",
            self.key
        )
    }
}

impl Response {
    /// Encodes the response. `credential` and `authtype` are included (with the capability
    /// line first) only when `capability_authtype` is set.
    pub fn encode(&self, capability_authtype: bool) -> Result<Zeroizing<Vec<u8>>, UnsafeValue> {
        let mut out = Zeroizing::new(Vec::with_capacity(256));
        let mut put = |key: &'static str, value: &str| -> Result<(), UnsafeValue> {
            if value.bytes().any(|b| matches!(b, b'\n' | b'\r' | 0)) {
                return Err(UnsafeValue { key });
            }
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
            out.extend_from_slice(value.as_bytes());
            out.push(b'\n');
            Ok(())
        };
        if capability_authtype && self.credential.is_some() {
            put("capability[]", "authtype")?;
            if let Some(authtype) = &self.authtype {
                put("authtype", authtype)?;
            }
            if let Some(credential) = &self.credential {
                put("credential", credential.expose_secret())?;
            }
        }
        if let Some(username) = &self.username {
            put("username", username)?;
        }
        if let Some(password) = &self.password {
            put("password", password.expose_secret())?;
        }
        if let Some(expiry) = self.password_expiry_utc {
            put("password_expiry_utc", &expiry.to_string())?;
        }
        if let Some(token) = &self.oauth_refresh_token {
            put("oauth_refresh_token", token.expose_secret())?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> Result<Request, ProtocolError> {
        read_request(&mut std::io::Cursor::new(input))
    }

    #[test]
    fn reads_known_keys_and_ignores_unknown_ones() {
        let req = parse(
            b"capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=example.com:8443\n\
              path=org/repo.git\nusername=u\npassword=p=q\npassword_expiry_utc=1700000000\n\
              oauth_refresh_token=r\nstate[]=x:y\nfrobnicate=1\nurl=https://evil/\nwwwauth[]=Basic\n\n\
              host=after-blank-line\n",
        )
        .unwrap();
        assert_eq!(req.protocol.as_deref(), Some("https"));
        assert_eq!(req.host.as_deref(), Some("example.com:8443"));
        assert_eq!(req.path.as_deref(), Some("org/repo.git"));
        assert_eq!(req.username.as_deref(), Some("u"));
        assert_eq!(req.password.as_ref().unwrap().expose_secret(), "p=q");
        assert_eq!(req.password_expiry_utc, Some(1_700_000_000));
        assert_eq!(
            req.oauth_refresh_token.as_ref().unwrap().expose_secret(),
            "r"
        );
        assert!(req.capability_authtype);
        assert_eq!(req.wwwauth, ["Basic"]);
    }

    #[test]
    fn empty_and_absent_are_different() {
        let req = parse(b"protocol=https\nhost=sso.tld\nusername=\npassword=\n").unwrap();
        assert_eq!(req.username.as_deref(), Some(""));
        assert_eq!(req.password.as_ref().unwrap().expose_secret(), "");
        assert_eq!(req.path, None);
    }

    #[test]
    fn crlf_lines_are_accepted_and_eof_ends_the_request() {
        let req = parse(b"protocol=https\r\nhost=h\r\nusername=u").unwrap();
        assert_eq!(req.host.as_deref(), Some("h"));
        assert_eq!(req.username.as_deref(), Some("u"));
    }

    #[test]
    fn bare_cr_and_nul_reject_the_request() {
        assert_eq!(
            parse(b"protocol=https\nhost=a\rhost=b\n").unwrap_err(),
            ProtocolError::CarriageReturn {
                line: 2,
                key: Some("host")
            }
        );
        assert_eq!(
            parse(b"protocol=https\npassword=a\r\r\n").unwrap_err(),
            ProtocolError::CarriageReturn {
                line: 2,
                key: Some("password")
            }
        );
        assert_eq!(
            parse(b"x-unknown=a\rb\n").unwrap_err(),
            ProtocolError::CarriageReturn { line: 1, key: None }
        );
        assert_eq!(
            parse(b"host=a\0b\n").unwrap_err(),
            ProtocolError::Nul { line: 1 }
        );
    }

    #[test]
    fn a_line_without_equals_rejects_and_the_message_hides_it() {
        let err = parse(b"protocol=https\nhunter2\n").unwrap_err();
        assert_eq!(err, ProtocolError::MissingEquals { line: 2 });
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn long_lines_are_never_split() {
        // git's t0303 case: a 1 KiB buffer would read `host=victim...` as its own line.
        let mut input = b"protocol=https\nhost=badguy.example.com\nwwwauth[]=basic realm=".to_vec();
        input.extend(std::iter::repeat_n(b'a', 1001));
        input.extend_from_slice(b"host=victim.example.com\n");
        let req = parse(&input).unwrap();
        assert_eq!(req.host.as_deref(), Some("badguy.example.com"));

        let mut at_limit = b"wwwauth[]=".to_vec();
        at_limit.extend(std::iter::repeat_n(b'a', MAX_LINE - at_limit.len()));
        at_limit.push(b'\n');
        parse(&at_limit).unwrap();

        let mut over = b"wwwauth[]=".to_vec();
        over.extend(std::iter::repeat_n(b'a', MAX_LINE));
        over.extend_from_slice(b"\nhost=x\n");
        assert_eq!(
            parse(&over).unwrap_err(),
            ProtocolError::LineTooLong { line: 1 }
        );
        // Without a final line feed too.
        over.truncate(MAX_LINE + 5);
        assert_eq!(
            parse(&over).unwrap_err(),
            ProtocolError::LineTooLong { line: 1 }
        );
    }

    #[test]
    fn huge_requests_are_rejected() {
        let line = format!("wwwauth[]={}\n", "a".repeat(1000));
        let input = line.repeat(MAX_REQUEST / line.len() + 2);
        assert_eq!(
            parse(input.as_bytes()).unwrap_err(),
            ProtocolError::RequestTooLarge
        );
    }

    #[test]
    fn invalid_utf8_in_a_known_key_is_rejected_and_ignored_elsewhere() {
        assert_eq!(
            parse(b"username=\xff\n").unwrap_err(),
            ProtocolError::NotUtf8 {
                line: 1,
                key: "username"
            }
        );
        parse(b"x-other=\xff\nprotocol=https\n").unwrap();
    }

    #[test]
    fn expiry_follows_git() {
        assert_eq!(parse_expiry(b"1700000000"), Some(1_700_000_000));
        assert_eq!(parse_expiry(b"0"), None);
        assert_eq!(parse_expiry(b"abc"), None);
        assert_eq!(parse_expiry(b"99999999999999999999999"), None);
        assert_eq!(parse_expiry(b"12x"), Some(12));
    }

    #[test]
    fn ephemeral_booleans() {
        for v in ["1", "true", "yes", "on", "TRUE", "weird"] {
            assert!(parse_bool(v.as_bytes()), "{v}");
        }
        for v in ["0", "false", "no", "off", "Off", ""] {
            assert!(!parse_bool(v.as_bytes()), "{v}");
        }
    }

    #[test]
    fn encode_orders_keys_and_gates_authtype() {
        let resp = Response {
            authtype: Some("Bearer".into()),
            credential: Some("tok".into()),
            username: Some("u".into()),
            password: Some("p".into()),
            password_expiry_utc: Some(42),
            oauth_refresh_token: Some("r".into()),
        };
        assert_eq!(
            &resp.encode(true).unwrap()[..],
            b"capability[]=authtype\nauthtype=Bearer\ncredential=tok\nusername=u\npassword=p\n\
              password_expiry_utc=42\noauth_refresh_token=r\n"
        );
        assert_eq!(
            &resp.encode(false).unwrap()[..],
            b"username=u\npassword=p\npassword_expiry_utc=42\noauth_refresh_token=r\n"
        );
    }

    #[test]
    fn encode_refuses_values_that_would_inject_lines() {
        for bad in ["a\nhost=evil", "a\rb", "a\0b"] {
            let resp = Response {
                password: Some(bad.into()),
                ..Response::default()
            };
            assert_eq!(
                resp.encode(false).unwrap_err(),
                UnsafeValue { key: "password" }
            );
        }
        assert_eq!(
            UnsafeValue { key: "password" }.to_string(),
            "the stored value of 'password' contains a line break or NUL and cannot be sent"
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let req =
            parse(b"password=hunter2\noauth_refresh_token=r3fr3sh\ncredential=c0d3\n").unwrap();
        let shown = format!("{req:?}");
        for secret in ["hunter2", "r3fr3sh", "c0d3"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
