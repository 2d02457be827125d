//! Intralinks' answers that are not a token, classified, and the message each one gives the
//! user.
//!
//! Intralinks has at least four error envelopes (providers.md §1.3): Apigee's
//! `{"ErrorCode","Error","Hint"}`, `{"error":{"code","message","subcode"}}`,
//! `{"status":{..},"errors":[..]}` and `{"fault":{"faultstring",..}}`. So [`classify`]
//! branches on the HTTP status first and only then sniffs whichever envelope is there; no
//! field is required. Text that the service sends back is shown only after every secret of
//! the request has been cut out of it ([`Scrub`]), because services echo what they were sent
//! (Intralinks' 401 body repeats the token).

use std::fmt::Write as _;

use keyhelm_core::msg::{ErrorKind, ErrorMessage, HttpResponse};
use keyhelm_core::redact_url;
use keyhelm_core::secrecy::zeroize::{Zeroize, Zeroizing};
use serde_json::Value;

use crate::settings::{EMAIL, END_OTHER_SESSIONS, PASSWORD};

/// Which request an answer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `POST /v2/oauth/token`.
    Login,
    /// `PUT /v2/oauth/revoke`.
    Revoke,
}

impl Op {
    fn what(self) -> &'static str {
        match self {
            Op::Login => "the login",
            Op::Revoke => "the token revocation",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Op::Login => crate::api::TOKEN_PATH,
            Op::Revoke => crate::api::REVOKE_PATH,
        }
    }
}

/// What the service said, reduced to the parts a message may show: scrubbed, printable,
/// short.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    /// `ErrorCode`, OAuth `error`, Apigee `errorcode`.
    pub code: Option<String>,
    /// `subcode` / `subCode` of any envelope.
    pub subcode: Option<String>,
    /// `Error`, `message`, `description`, `error_description`, `faultstring`.
    pub message: Option<String>,
}

impl Detail {
    fn is_empty(&self) -> bool {
        self.code.is_none() && self.subcode.is_none() && self.message.is_none()
    }

    /// `invalid_request: Invalid Authorization Code`, `subcode 3-1: Cannot find ...`.
    fn render(&self) -> String {
        let mut out = String::new();
        if let Some(c) = &self.code {
            out.push_str(c);
        }
        if let Some(s) = &self.subcode {
            if !out.is_empty() {
                out.push_str(", ");
            }
            let _ = write!(out, "subcode {s}");
        }
        if let Some(m) = &self.message {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(m);
        }
        out
    }
}

/// A failed exchange with Intralinks, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// 400 "invalid or null consumer key" (or Apigee's "Invalid client id"): the client_id.
    UnknownClientId { status: u16 },
    /// `invalid_client`: the client_secret does not match the client_id.
    ClientRefused { status: u16 },
    /// `unsupported_grant_type` / `unauthorized_client`: client_credentials not enabled.
    GrantNotEnabled { status: u16 },
    /// 403 subcode 017: wrong email or password, or a locked or problem account.
    BadLogin { status: u16 },
    /// 403 subcode 018: logged in elsewhere, and concurrent logins are not allowed.
    LoggedInElsewhere { status: u16 },
    /// 401 "invalid access token": the token expired or was revoked.
    InvalidToken { status: u16 },
    /// 429 or 503: back off.
    SlowDown {
        status: u16,
        retry_after: Option<u64>,
    },
    /// A body that is not JSON where JSON was due (an HTML page, garbage, nothing).
    NotJson {
        status: u16,
        content_type: Option<String>,
    },
    /// JSON, but not the shape of any answer this plugin knows.
    Unreadable { status: u16 },
    /// A 3xx (the host does not follow redirects); the target without its query.
    Redirected {
        status: u16,
        location: Option<String>,
    },
    /// 404 or 405 with a JSON body.
    NotFound { status: u16 },
    /// Any other 5xx.
    ServerError {
        status: u16,
        detail: Detail,
        content_type: Option<String>,
    },
    /// Any other refusal.
    Refused { status: u16, detail: Detail },
    /// A 2xx without an `access_token`.
    NoAccessToken { status: u16 },
    /// An `access_token` that cannot be a bearer token (empty, spaces, control characters).
    UnusableToken,
}

/// The context a message needs.
#[derive(Debug, Clone)]
pub struct Ctx<'a> {
    /// The keyhelm account's name.
    pub account: &'a str,
    /// The API base URL, already redacted.
    pub base_url: String,
    /// The consumer key (not a secret).
    pub client_id: &'a str,
    /// The login email, when the request had one.
    pub email: Option<&'a str>,
    /// Whether the login asked to end other sessions.
    pub end_other_sessions: bool,
    /// Which request failed.
    pub op: Op,
}

impl Failure {
    /// The message and hint the user sees.
    pub fn to_message(&self, ctx: &Ctx<'_>) -> ErrorMessage {
        let account = ctx.account;
        let url = &ctx.base_url;
        let what = ctx.op.what();
        let check_url = || {
            format!(
                "check the URL of account `{account}` ({url}): it must be the Intralinks API, \
                 such as https://api.intralinks.com or https://test-api.intralinks.com"
            )
        };
        match self {
            Failure::UnknownClientId { status } => ErrorMessage::new(
                ErrorKind::BadSettings,
                format!(
                    "Intralinks does not know the client_id `{}` of account `{account}` (HTTP {status})",
                    ctx.client_id
                ),
            )
            .with_hint(format!(
                "client_id is your app's consumer key (My Apps at developers.intralinks.com); \
                 check it, and that the app belongs to the environment at {url}"
            )),
            Failure::ClientRefused { status } => ErrorMessage::new(
                ErrorKind::AuthFailed,
                format!(
                    "Intralinks refused the client_secret of account `{account}` (HTTP {status}, invalid_client)"
                ),
            )
            .with_hint(format!(
                "client_secret is the consumer secret of the app whose consumer key is client_id \
                 (My Apps at developers.intralinks.com); to change it, remove the account \
                 (`keyhelm account remove {account}`) and add it again"
            )),
            Failure::GrantNotEnabled { status } => ErrorMessage::new(
                ErrorKind::AuthFailed,
                format!(
                    "the Intralinks app of account `{account}` may not log in with an email and \
                     password: the client_credentials grant is not enabled for it (HTTP {status})"
                ),
            )
            .with_hint(
                "ask Intralinks' API team to enable client_credentials for your app \
                 (new apps only get authorization_code)",
            ),
            Failure::BadLogin { status } => ErrorMessage::new(
                ErrorKind::AuthFailed,
                format!(
                    "Intralinks refused the {EMAIL} and {PASSWORD} of account `{account}` \
                     (HTTP {status}, subcode 017): they are wrong, or the Intralinks account is \
                     locked or has a problem"
                ),
            )
            .with_hint(format!(
                "check {EMAIL} ({}) and {PASSWORD}: they are your Intralinks login, not the \
                 developer-portal one; if they are right, sign in to Intralinks in a web browser \
                 to see what is wrong (a locked account, an expired password)",
                ctx.email.unwrap_or("not set")
            )),
            Failure::LoggedInElsewhere { status } => {
                let who = ctx.email.unwrap_or("this user");
                let hint = if ctx.end_other_sessions {
                    "Intralinks refused although keyhelm asked it to end the other sessions; \
                     try again in a few minutes"
                        .to_owned()
                } else {
                    format!(
                        "log out of Intralinks elsewhere (an idle session ends 60 minutes after \
                         its last use) and try again, or add account `{account}` again with \
                         --set {END_OTHER_SESSIONS}=true: keyhelm then ends your other sessions \
                         whenever it logs in, which also logs you out of Intralinks in your web \
                         browser"
                    )
                };
                ErrorMessage::new(
                    ErrorKind::AuthFailed,
                    format!(
                        "Intralinks refused a new session for {who} (HTTP {status}, subcode 018): \
                         the user is logged in elsewhere, and the user or one of their workspaces \
                         does not allow concurrent logins"
                    ),
                )
                .with_hint(hint)
            }
            Failure::InvalidToken { status } => ErrorMessage::new(
                ErrorKind::NeedsLogin,
                format!(
                    "Intralinks no longer accepts the token of account `{account}` (HTTP {status}): \
                     it expired or was revoked"
                ),
            )
            .with_hint(format!("log in again: keyhelm login {account}")),
            Failure::SlowDown {
                status,
                retry_after,
            } => {
                let message = if *status == 429 {
                    format!("Intralinks asked keyhelm to slow down (HTTP {status})")
                } else {
                    format!("Intralinks is unavailable at the moment (HTTP {status})")
                };
                let e = ErrorMessage::new(ErrorKind::RateLimited, message);
                match retry_after {
                    Some(s) => e
                        .with_hint(format!("try again in {}", seconds(*s)))
                        .with_retry_after(*s),
                    None => e.with_hint("try again in a minute"),
                }
            }
            Failure::NotJson {
                status,
                content_type,
            } => {
                let ct = content_type.as_deref().unwrap_or("no content type");
                let kind = if *status == 404 {
                    ErrorKind::BadSettings
                } else {
                    ErrorKind::ServiceError
                };
                let hint = if *status == 404 {
                    check_url()
                } else {
                    format!(
                        "the URL of account `{account}` ({url}) may lead to a web page or a \
                         proxy rather than the Intralinks API; check it, or try again later"
                    )
                };
                ErrorMessage::new(
                    kind,
                    format!(
                        "Intralinks answered {what} with something that is not JSON (HTTP {status}, {ct})"
                    ),
                )
                .with_hint(hint)
            }
            Failure::Unreadable { status } => ErrorMessage::new(
                ErrorKind::ServiceError,
                format!("Intralinks answered {what} with JSON that keyhelm does not understand (HTTP {status})"),
            )
            .with_hint(check_url()),
            Failure::Redirected { status, location } => ErrorMessage::new(
                ErrorKind::BadSettings,
                format!(
                    "Intralinks redirected {what} to {} (HTTP {status})",
                    location.as_deref().unwrap_or("another address")
                ),
            )
            .with_hint(format!(
                "set the URL of account `{account}` to the API's own address; keyhelm does not \
                 follow redirects"
            )),
            Failure::NotFound { status } => ErrorMessage::new(
                ErrorKind::BadSettings,
                format!(
                    "Intralinks has no {} at {url} (HTTP {status})",
                    ctx.op.path()
                ),
            )
            .with_hint(check_url()),
            Failure::ServerError {
                status,
                detail,
                content_type,
            } => {
                let mut extra = String::new();
                if !detail.is_empty() {
                    let _ = write!(extra, ", {}", detail.render());
                } else if let Some(ct) = content_type {
                    let _ = write!(extra, ", {ct}");
                }
                ErrorMessage::new(
                    ErrorKind::ServiceError,
                    format!("Intralinks failed to answer {what} (HTTP {status}{extra})"),
                )
                .with_hint("this is a problem at Intralinks; try again later")
            }
            Failure::Refused { status, detail } => {
                let kind = match status {
                    401 | 403 => ErrorKind::AuthFailed,
                    _ => ErrorKind::Other,
                };
                let extra = if detail.is_empty() {
                    String::new()
                } else {
                    format!(", {}", detail.render())
                };
                ErrorMessage::new(kind, format!("Intralinks refused {what} (HTTP {status}{extra})"))
            }
            Failure::NoAccessToken { status } => ErrorMessage::new(
                ErrorKind::ServiceError,
                format!("Intralinks answered {what} without an access token (HTTP {status})"),
            )
            .with_hint(check_url()),
            Failure::UnusableToken => ErrorMessage::new(
                ErrorKind::ServiceError,
                format!(
                    "Intralinks answered {what} with an access token keyhelm cannot use \
                     (empty, or with spaces or control characters)"
                ),
            ),
        }
    }
}

fn seconds(s: u64) -> String {
    match s {
        1 => "1 second".to_owned(),
        s if s < 120 => format!("{s} seconds"),
        s => format!("{} minutes", s.div_ceil(60)),
    }
}

/// Cuts secrets out of text the service sent back before it may be shown.
#[derive(Default)]
pub struct Scrub<'a> {
    secrets: Vec<&'a str>,
}

impl std::fmt::Debug for Scrub<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scrub({} secrets REDACTED)", self.secrets.len())
    }
}

impl<'a> Scrub<'a> {
    /// A scrubber for these secret values (as sent).
    pub fn new(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        Scrub {
            secrets: secrets.into_iter().filter(|s| !s.is_empty()).collect(),
        }
    }

    /// `text` without any secret (plain or form-encoded), control characters or runs of
    /// white space, and at most `max` characters long.
    pub fn clean(&self, text: &str, max: usize) -> String {
        // Copies that may hold a secret are wiped when dropped or replaced.
        let mut t = Zeroizing::new(text.to_owned());
        let cut = |t: &mut Zeroizing<String>, secret: &str| {
            if t.contains(secret) {
                let replaced = t.replace(secret, "REDACTED");
                t.zeroize();
                **t = replaced;
            }
        };
        for s in &self.secrets {
            cut(&mut t, s);
            let encoded = form_encode(s);
            if encoded.as_str() != *s {
                cut(&mut t, &encoded);
            }
        }
        let mut out = String::new();
        let mut space = false;
        for c in t.chars() {
            if c.is_whitespace() || c.is_control() {
                space = !out.is_empty();
                continue;
            }
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
        if out.chars().count() > max {
            let cut: String = out.chars().take(max).collect();
            format!("{cut}...")
        } else {
            out
        }
    }
}

fn form_encode(s: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(s.len() * 3));
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Classifies an answer that is not a token. `now_unix` turns an HTTP-date `Retry-After`
/// into seconds.
pub fn classify(resp: &HttpResponse, scrub: &Scrub<'_>, now_unix: i64) -> Failure {
    let status = resp.status;
    let content_type = media_type(resp, scrub);
    match status {
        300..=399 => {
            return Failure::Redirected {
                status,
                location: resp
                    .header("location")
                    .map(|l| scrub.clean(&redact_url(l), 200)),
            };
        }
        429 | 503 => {
            return Failure::SlowDown {
                status,
                retry_after: resp
                    .header("retry-after")
                    .and_then(|v| retry_after(v, now_unix)),
            };
        }
        _ => {}
    }
    let json = if resp.body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<Value>(&resp.body).ok()
    };
    match (status, json) {
        (500..=599, json) => Failure::ServerError {
            status,
            detail: json.map(|j| detail(&j, scrub)).unwrap_or_default(),
            content_type,
        },
        (_, None) => Failure::NotJson {
            status,
            content_type,
        },
        (_, Some(json)) => classify_json(status, &json, scrub),
    }
}

/// The media type of the answer, without parameters (`text/html`), for messages.
pub fn media_type(resp: &HttpResponse, scrub: &Scrub<'_>) -> Option<String> {
    let ct = resp.header("content-type")?;
    let media = ct
        .split(';')
        .next()
        .unwrap_or(ct)
        .trim()
        .to_ascii_lowercase();
    (!media.is_empty()).then(|| scrub.clean(&media, 60))
}

/// Classifies a JSON error body (also used on a 2xx body that carries no token).
pub fn classify_json(status: u16, json: &Value, scrub: &Scrub<'_>) -> Failure {
    let d = detail(json, scrub);
    let code = d.code.as_deref().unwrap_or("").to_ascii_lowercase();
    let message = d.message.as_deref().unwrap_or("").to_ascii_lowercase();
    let subcode = d.subcode.as_deref().map(|s| s.trim_start_matches('0'));
    if code == "invalid_client" {
        return Failure::ClientRefused { status };
    }
    if code == "unsupported_grant_type" || code == "unauthorized_client" {
        return Failure::GrantNotEnabled { status };
    }
    if message.contains("consumer key")
        || message.contains("invalid client id")
        || code.contains("invalidclientidentifier")
        || code.contains("invalidapikey")
    {
        return Failure::UnknownClientId { status };
    }
    match subcode {
        Some("17") => return Failure::BadLogin { status },
        Some("18") => return Failure::LoggedInElsewhere { status },
        // "User's current session is invalid" (a session ended by a timeout or another login).
        Some("1-1-3-2") => return Failure::InvalidToken { status },
        _ => {}
    }
    if status == 401
        && (message.contains("invalid access token")
            || code == "invalid_token"
            || code.contains("invalidaccesstoken")
            || code.contains("invalid_access_token")
            || code.contains("access_token_expired")
            || code.contains("accesstokenexpired"))
    {
        return Failure::InvalidToken { status };
    }
    if status == 404 || status == 405 {
        return Failure::NotFound { status };
    }
    if (200..300).contains(&status) {
        return Failure::NoAccessToken { status };
    }
    Failure::Refused { status, detail: d }
}

/// Pulls code, subcode and message out of whichever envelope the body uses.
fn detail(v: &Value, scrub: &Scrub<'_>) -> Detail {
    let text = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let first = |candidates: &[&Value]| candidates.iter().find_map(|v| text(v));
    let err = &v["error"];
    let status = &v["status"];
    let errors0 = &v["errors"][0];
    let fault = &v["fault"];
    let code = first(&[
        &v["ErrorCode"],
        &v["errorCode"],
        if err.is_string() { err } else { &Value::Null },
        &fault["detail"]["errorcode"],
    ]);
    let subcode = first(&[
        &err["subcode"],
        &err["subCode"],
        &status["subcode"],
        &status["subCode"],
        &errors0["subCode"],
        &errors0["subcode"],
    ]);
    let message = first(&[
        &v["Error"],
        &err["message"],
        &err["description"],
        &v["error_description"],
        &status["message"],
        &errors0["message"],
        &fault["faultstring"],
        &v["message"],
    ]);
    // The 401 envelope's "subcode" is a sentence, not a code.
    let (subcode, message) = match subcode {
        Some(s) if s.contains(' ') => (None, message.or(Some(s))),
        s => (s, message),
    };
    Detail {
        code: code.map(|c| scrub.clean(&c, 64)),
        subcode: subcode.map(|s| scrub.clean(&s, 32)),
        message: message.map(|m| scrub.clean(&m, 200)),
    }
}

/// `Retry-After`: delta-seconds, or an HTTP-date (IMF-fixdate) turned into seconds from
/// `now_unix`. At most a day.
pub fn retry_after(value: &str, now_unix: i64) -> Option<u64> {
    const MAX: u64 = 86_400;
    let value = value.trim();
    if let Ok(s) = value.parse::<u64>() {
        return Some(s.min(MAX));
    }
    let at = parse_http_date(value)?;
    Some(
        u64::try_from(at.saturating_sub(now_unix))
            .unwrap_or(0)
            .min(MAX),
    )
}

/// Parses `Sun, 06 Nov 1994 08:49:37 GMT` into Unix seconds.
fn parse_http_date(s: &str) -> Option<i64> {
    let rest = s.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: i64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: i64 = hms.next()?.parse().ok()?;
    let m: i64 = hms.next()?.parse().ok()?;
    let sec: i64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, ct: &str, body: &str) -> HttpResponse {
        let headers = if ct.is_empty() {
            vec![]
        } else {
            vec![("content-type".to_owned(), ct.to_owned())]
        };
        HttpResponse::new(status, headers, body.as_bytes().to_vec())
    }

    fn json(status: u16, body: &str) -> HttpResponse {
        resp(status, "application/json", body)
    }

    fn ctx(op: Op) -> Ctx<'static> {
        Ctx {
            account: "work",
            base_url: "https://api.intralinks.com".to_owned(),
            client_id: "key-1",
            email: Some("joe@example.com"),
            end_other_sessions: false,
            op,
        }
    }

    fn msg(f: &Failure) -> (ErrorKind, String) {
        let m = f.to_message(&ctx(Op::Login));
        (m.kind, m.to_string())
    }

    const NOW: i64 = 1_700_000_000;

    fn none() -> Scrub<'static> {
        Scrub::default()
    }

    #[test]
    fn documented_token_errors_are_classified() {
        // providers.md §1.3, bodies as documented (and as the fake sends them).
        let cases = [
            (
                json(
                    400,
                    r#"{"ErrorCode":"invalid_request","Error":"invalid or null consumer key: XXXX","Hint":"please ensure that you are passing the consumer key like so: 'client_id={consumer_key}'"}"#,
                ),
                Failure::UnknownClientId { status: 400 },
            ),
            (
                json(
                    401,
                    r#"{"ErrorCode":"invalid_request","Error":"Invalid client id : XXXX. ClientId is Invalid"}"#,
                ),
                Failure::UnknownClientId { status: 401 },
            ),
            (
                json(
                    401,
                    r#"{"ErrorCode":"invalid_client","Error":"ClientId is Invalid"}"#,
                ),
                Failure::ClientRefused { status: 401 },
            ),
            (
                json(
                    400,
                    r#"{"ErrorCode":"unsupported_grant_type","Error":"Unsupported grant type : client_credentials"}"#,
                ),
                Failure::GrantNotEnabled { status: 400 },
            ),
            (
                json(
                    403,
                    r#"{"error":{"code":403,"message":"Credential provided is invalid. or there was problem with your account.","subcode":"017"}}"#,
                ),
                Failure::BadLogin { status: 403 },
            ),
            (
                json(
                    403,
                    r#"{"error":{"code":403,"message":"Your session has been logged out as the same user is logged in elsewhere.","subcode":"018","errorid":""}}"#,
                ),
                Failure::LoggedInElsewhere { status: 403 },
            ),
            (
                json(
                    401,
                    r#"{"status":"Unauthorized","error":{"code":401,"description":"invalid access token: Bearer XXXX","subcode":"the passed access token is either not valid or is formatted incorrectly in the request"}}"#,
                ),
                Failure::InvalidToken { status: 401 },
            ),
        ];
        for (r, want) in cases {
            assert_eq!(classify(&r, &none(), NOW), want);
        }
    }

    #[test]
    fn other_envelopes_and_spellings_are_sniffed() {
        // subCode spelling, a numeric subcode, the status/errors envelope, Apigee faults.
        let cases = [
            (
                403,
                r#"{"error":{"code":403,"subCode":18}}"#,
                Failure::LoggedInElsewhere { status: 403 },
            ),
            (
                403,
                r#"{"status":{"code":403,"subcode":"017","message":"m"},"errors":[]}"#,
                Failure::BadLogin { status: 403 },
            ),
            (
                401,
                r#"{"fault":{"faultstring":"Invalid ApiKey","detail":{"errorcode":"oauth.v2.InvalidApiKey"}}}"#,
                Failure::UnknownClientId { status: 401 },
            ),
            (
                401,
                r#"{"fault":{"faultstring":"Access Token expired","detail":{"errorcode":"keymanagement.service.access_token_expired"}}}"#,
                Failure::InvalidToken { status: 401 },
            ),
            (
                401,
                r#"{"fault":{"faultstring":"Quota violation","detail":{"errorcode":"policies.ratelimit.QuotaViolation"}}}"#,
                Failure::Refused {
                    status: 401,
                    detail: Detail {
                        code: Some("policies.ratelimit.QuotaViolation".into()),
                        subcode: None,
                        message: Some("Quota violation".into()),
                    },
                },
            ),
            (
                400,
                r#"{"error":"unauthorized_client"}"#,
                Failure::GrantNotEnabled { status: 400 },
            ),
            // A JSON 404 (not the HTML page).
            (
                404,
                r#"{"message":"no route"}"#,
                Failure::NotFound { status: 404 },
            ),
        ];
        for (status, body, want) in cases {
            assert_eq!(classify(&json(status, body), &none(), NOW), want, "{body}");
        }
        let r = json(
            400,
            r#"{"status":{"code":400,"subcode":"3-1","message":"Cannot find entity in repository","errorId":"X"},"errors":[{"code":400,"subCode":"3-1","message":"Cannot find entity in repository"}]}"#,
        );
        assert_eq!(
            msg(&classify(&r, &none(), NOW)),
            (
                ErrorKind::Other,
                "Intralinks refused the login (HTTP 400, subcode 3-1: Cannot find entity in repository)"
                    .into()
            )
        );
    }

    #[test]
    fn html_garbage_and_empty_bodies_are_not_json() {
        let html = "<!DOCTYPE html><html><body>Your request cannot be completed, please retry</body></html>";
        let f = classify(&resp(404, "Text/HTML; charset=UTF-8", html), &none(), NOW);
        assert_eq!(
            f,
            Failure::NotJson {
                status: 404,
                content_type: Some("text/html".into())
            }
        );
        assert_eq!(
            msg(&f),
            (
                ErrorKind::BadSettings,
                "Intralinks answered the login with something that is not JSON (HTTP 404, text/html) \
                 (check the URL of account `work` (https://api.intralinks.com): it must be the \
                 Intralinks API, such as https://api.intralinks.com or https://test-api.intralinks.com)"
                    .into()
            )
        );
        let f = classify(&resp(400, "", "\x00\x01 garbage"), &none(), NOW);
        assert_eq!(
            msg(&f),
            (
                ErrorKind::ServiceError,
                "Intralinks answered the login with something that is not JSON (HTTP 400, no content type) \
                 (the URL of account `work` (https://api.intralinks.com) may lead to a web page or a \
                 proxy rather than the Intralinks API; check it, or try again later)"
                    .into()
            )
        );
        let f = classify(&resp(401, "application/json", "  "), &none(), NOW);
        assert!(matches!(f, Failure::NotJson { status: 401, .. }), "{f:?}");
    }

    #[test]
    fn slow_down_server_errors_and_redirects() {
        let mut r = resp(429, "text/plain", "slow down");
        r.headers.push(("retry-after".into(), "30".into()));
        let f = classify(&r, &none(), NOW);
        assert_eq!(
            f,
            Failure::SlowDown {
                status: 429,
                retry_after: Some(30)
            }
        );
        let m = f.to_message(&ctx(Op::Login));
        assert_eq!(m.kind, ErrorKind::RateLimited);
        assert_eq!(m.retry_after, Some(30));
        assert_eq!(
            m.to_string(),
            "Intralinks asked keyhelm to slow down (HTTP 429) (try again in 30 seconds)"
        );

        let f = classify(&resp(503, "text/html", "<html>down</html>"), &none(), NOW);
        assert_eq!(
            msg(&f),
            (
                ErrorKind::RateLimited,
                "Intralinks is unavailable at the moment (HTTP 503) (try again in a minute)".into()
            )
        );

        let f = classify(
            &resp(502, "text/html", "<html>bad gateway</html>"),
            &none(),
            NOW,
        );
        assert_eq!(
            msg(&f),
            (
                ErrorKind::ServiceError,
                "Intralinks failed to answer the login (HTTP 502, text/html) \
                 (this is a problem at Intralinks; try again later)"
                    .into()
            )
        );
        let f = classify(
            &json(500, r#"{"fault":{"faultstring":"Internal error"}}"#),
            &none(),
            NOW,
        );
        assert_eq!(
            msg(&f).1,
            "Intralinks failed to answer the login (HTTP 500, Internal error) \
             (this is a problem at Intralinks; try again later)"
        );

        let mut r = resp(302, "", "");
        r.headers.push((
            "location".into(),
            "https://login.intralinks.com/sso?ticket=s3cret".into(),
        ));
        let f = classify(&r, &none(), NOW);
        assert_eq!(
            msg(&f),
            (
                ErrorKind::BadSettings,
                "Intralinks redirected the login to https://login.intralinks.com/sso?REDACTED (HTTP 302) \
                 (set the URL of account `work` to the API's own address; keyhelm does not follow redirects)"
                    .into()
            )
        );
    }

    #[test]
    fn every_message_reads_right() {
        let cases = [
            (
                Failure::UnknownClientId { status: 400 },
                ErrorKind::BadSettings,
                "Intralinks does not know the client_id `key-1` of account `work` (HTTP 400) \
                 (client_id is your app's consumer key (My Apps at developers.intralinks.com); \
                 check it, and that the app belongs to the environment at https://api.intralinks.com)",
            ),
            (
                Failure::ClientRefused { status: 401 },
                ErrorKind::AuthFailed,
                "Intralinks refused the client_secret of account `work` (HTTP 401, invalid_client) \
                 (client_secret is the consumer secret of the app whose consumer key is client_id \
                 (My Apps at developers.intralinks.com); to change it, remove the account \
                 (`keyhelm account remove work`) and add it again)",
            ),
            (
                Failure::GrantNotEnabled { status: 400 },
                ErrorKind::AuthFailed,
                "the Intralinks app of account `work` may not log in with an email and password: \
                 the client_credentials grant is not enabled for it (HTTP 400) \
                 (ask Intralinks' API team to enable client_credentials for your app \
                 (new apps only get authorization_code))",
            ),
            (
                Failure::BadLogin { status: 403 },
                ErrorKind::AuthFailed,
                "Intralinks refused the email and password of account `work` (HTTP 403, subcode 017): \
                 they are wrong, or the Intralinks account is locked or has a problem \
                 (check email (joe@example.com) and password: they are your Intralinks login, not \
                 the developer-portal one; if they are right, sign in to Intralinks in a web browser \
                 to see what is wrong (a locked account, an expired password))",
            ),
            (
                Failure::LoggedInElsewhere { status: 403 },
                ErrorKind::AuthFailed,
                "Intralinks refused a new session for joe@example.com (HTTP 403, subcode 018): \
                 the user is logged in elsewhere, and the user or one of their workspaces does not \
                 allow concurrent logins (log out of Intralinks elsewhere (an idle session ends 60 \
                 minutes after its last use) and try again, or add account `work` again with \
                 --set end_other_sessions=true: keyhelm then ends your other sessions whenever it \
                 logs in, which also logs you out of Intralinks in your web browser)",
            ),
            (
                Failure::InvalidToken { status: 401 },
                ErrorKind::NeedsLogin,
                "Intralinks no longer accepts the token of account `work` (HTTP 401): it expired \
                 or was revoked (log in again: keyhelm login work)",
            ),
            (
                Failure::Unreadable { status: 200 },
                ErrorKind::ServiceError,
                "Intralinks answered the login with JSON that keyhelm does not understand (HTTP 200) \
                 (check the URL of account `work` (https://api.intralinks.com): it must be the \
                 Intralinks API, such as https://api.intralinks.com or https://test-api.intralinks.com)",
            ),
            (
                Failure::NotFound { status: 404 },
                ErrorKind::BadSettings,
                "Intralinks has no /v2/oauth/token at https://api.intralinks.com (HTTP 404) \
                 (check the URL of account `work` (https://api.intralinks.com): it must be the \
                 Intralinks API, such as https://api.intralinks.com or https://test-api.intralinks.com)",
            ),
            (
                Failure::Refused {
                    status: 403,
                    detail: Detail::default(),
                },
                ErrorKind::AuthFailed,
                "Intralinks refused the login (HTTP 403)",
            ),
            (
                Failure::Redirected {
                    status: 307,
                    location: None,
                },
                ErrorKind::BadSettings,
                "Intralinks redirected the login to another address (HTTP 307) \
                 (set the URL of account `work` to the API's own address; keyhelm does not \
                 follow redirects)",
            ),
            (
                Failure::ServerError {
                    status: 500,
                    detail: Detail::default(),
                    content_type: None,
                },
                ErrorKind::ServiceError,
                "Intralinks failed to answer the login (HTTP 500) \
                 (this is a problem at Intralinks; try again later)",
            ),
            (
                Failure::SlowDown {
                    status: 429,
                    retry_after: Some(600),
                },
                ErrorKind::RateLimited,
                "Intralinks asked keyhelm to slow down (HTTP 429) (try again in 10 minutes)",
            ),
            (
                Failure::NoAccessToken { status: 200 },
                ErrorKind::ServiceError,
                "Intralinks answered the login without an access token (HTTP 200) \
                 (check the URL of account `work` (https://api.intralinks.com): it must be the \
                 Intralinks API, such as https://api.intralinks.com or https://test-api.intralinks.com)",
            ),
            (
                Failure::UnusableToken,
                ErrorKind::ServiceError,
                "Intralinks answered the login with an access token keyhelm cannot use \
                 (empty, or with spaces or control characters)",
            ),
        ];
        for (f, kind, text) in cases {
            assert_eq!(msg(&f), (kind, text.to_owned()), "{f:?}");
        }
        // 018 when the login already asked to end the other sessions.
        let mut c = ctx(Op::Login);
        c.end_other_sessions = true;
        assert_eq!(
            Failure::LoggedInElsewhere { status: 403 }
                .to_message(&c)
                .hint
                .as_deref(),
            Some(
                "Intralinks refused although keyhelm asked it to end the other sessions; \
                 try again in a few minutes"
            )
        );
        // The revocation names itself.
        assert_eq!(
            Failure::NotFound { status: 404 }
                .to_message(&ctx(Op::Revoke))
                .message,
            "Intralinks has no /v2/oauth/revoke at https://api.intralinks.com (HTTP 404)"
        );
        assert_eq!(
            Failure::Refused {
                status: 400,
                detail: Detail::default()
            }
            .to_message(&ctx(Op::Revoke))
            .message,
            "Intralinks refused the token revocation (HTTP 400)"
        );
    }

    #[test]
    fn echoed_secrets_never_reach_a_message() {
        let scrub = Scrub::new(["t0ken-XYZ", "p@ss word&"]);
        let r = json(
            400,
            r#"{"ErrorCode":"t0ken-XYZ","Error":"bad password p@ss word& (p%40ss+word%26) for\ntoken t0ken-XYZ"}"#,
        );
        let f = classify(&r, &scrub, NOW);
        let text = msg(&f).1;
        assert_eq!(
            text,
            "Intralinks refused the login (HTTP 400, REDACTED: bad password REDACTED (REDACTED) \
             for token REDACTED)"
        );
        // The 401 envelope repeats the bearer token in its description.
        let r = json(
            401,
            r#"{"status":"Unauthorized","error":{"code":401,"description":"invalid access token: Bearer t0ken-XYZ","subcode":"x"}}"#,
        );
        let f = classify(&r, &scrub, NOW);
        assert_eq!(f, Failure::InvalidToken { status: 401 });
        let r = json(418, r#"{"message":"Bearer t0ken-XYZ is a teapot"}"#);
        assert_eq!(
            msg(&classify(&r, &scrub, NOW)).1,
            "Intralinks refused the login (HTTP 418, Bearer REDACTED is a teapot)"
        );
        assert_eq!(format!("{scrub:?}"), "Scrub(2 secrets REDACTED)");
    }

    #[test]
    fn long_texts_are_cut() {
        let long = "x".repeat(500);
        let r = json(400, &format!(r#"{{"Error":"{long}"}}"#));
        let Failure::Refused { detail, .. } = classify(&r, &none(), NOW) else {
            panic!("not refused")
        };
        assert_eq!(detail.message.unwrap().len(), 203);
    }

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        assert_eq!(retry_after("120", NOW), Some(120));
        assert_eq!(retry_after(" 5 ", NOW), Some(5));
        assert_eq!(retry_after("999999", NOW), Some(86_400));
        // 1_700_000_000 is Tue, 14 Nov 2023 22:13:20 GMT.
        assert_eq!(retry_after("Tue, 14 Nov 2023 22:13:50 GMT", NOW), Some(30));
        assert_eq!(retry_after("Tue, 14 Nov 2023 22:00:00 GMT", NOW), Some(0));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777),
            Some(0)
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT"),
            Some(1_709_164_800)
        );
        for bad in [
            "soon",
            "-1",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "",
        ] {
            assert_eq!(retry_after(bad, NOW), None, "{bad}");
        }
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(seconds(1), "1 second");
        assert_eq!(seconds(90), "90 seconds");
        assert_eq!(seconds(600), "10 minutes");
        assert_eq!(seconds(601), "11 minutes");
    }
}
