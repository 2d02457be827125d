//! Clinked's OAuth API: the three requests keyhelm makes, and what their answers mean.
//!
//! The requests (research/providers.md §2.2):
//! 1. the password grant, `GET /oauth/token?grant_type=password&client_id=clinked-mobile&
//!    username=..&password=..[&code=..]`, as documented (the password travels in the query,
//!    so every URL is shown redacted and zeroized after use);
//! 2. `POST /v2/applications` with the user's token and a JSON body, once: it answers the
//!    new application's `clientId` and `clientSecret`;
//! 3. the client-credentials grant with scope `read write`, for every later token. It is
//!    sent as `POST /oauth/token` with a form body, so the client secret stays out of URLs
//!    (and out of server access logs); Spring's token endpoint reads parameters from the
//!    query and the form alike, and a third-party client uses exactly this form.
//!
//! Answers are classified by HTTP status first, then by the body, which is read leniently:
//! unknown fields are ignored, `expires_in` and `scope` are optional, and a body that is not
//! JSON becomes a clear error instead of a parse failure.

use std::fmt::Write as _;

use keyhelm_core::msg::{ErrorKind, HttpRequest, HttpResponse};
use keyhelm_core::redact_url;
use keyhelm_core::sdk::Error;
use keyhelm_core::secrecy::zeroize::Zeroizing;
use keyhelm_core::secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::state::AppState;

/// Clinked's documented API address.
pub const DEFAULT_BASE_URL: &str = "https://api.clinked.com";
/// The static public client of the password grant.
pub const MOBILE_CLIENT_ID: &str = "clinked-mobile";
/// The scope asked for with the client-credentials grant.
pub const SCOPE: &str = "read write";
/// "Access token is temporary and available only for 30 minutes" (Clinked API v2 docs):
/// the lifetime used when an answer has no `expires_in`.
pub const DEFAULT_LIFETIME_SECS: i64 = 30 * 60;
/// Sent on every request: Clinked's docs require a User-Agent that identifies the client.
pub const USER_AGENT: &str = concat!("keyhelm-clinked/", env!("CARGO_PKG_VERSION"));

/// The token endpoint's path.
pub const TOKEN_PATH: &str = "/oauth/token";
/// The application registration's path.
pub const APPLICATIONS_PATH: &str = "/v2/applications";

/// Who and what a request is about, for messages.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    /// The keyhelm account's name.
    pub account: &'a str,
    /// The Clinked username.
    pub username: &'a str,
    /// The API base URL, without a trailing slash.
    pub base: &'a str,
}

impl Who<'static> {
    /// The account the unit tests of this crate use.
    #[cfg(test)]
    pub(crate) const TEST: Who<'static> = Who {
        account: "work",
        username: "jack",
        base: "https://api.clinked.com",
    };
}

impl Who<'_> {
    /// "run `keyhelm login NAME` ..." hints name the account.
    pub fn login_command(&self) -> String {
        format!("keyhelm login {}", self.account)
    }

    fn check_url_hint(&self) -> String {
        format!(
            "check the account's URL: {} should be Clinked's API (the default is {DEFAULT_BASE_URL})",
            redact_url(self.base)
        )
    }
}

/// The API base URL: the account's (`--url`), else Clinked's, without a trailing slash.
pub fn base_url(configured: Option<&str>) -> Result<String, Error> {
    let raw = configured
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_BASE_URL);
    let lower = raw.to_ascii_lowercase();
    let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
    let has_host = raw
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
    let clean =
        !raw.contains(['?', '#']) && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
    if !(scheme_ok && has_host && clean) {
        return Err(Error::new(
            ErrorKind::BadSettings,
            format!(
                "the account's URL {:?} is not an https:// address without a query",
                redact_url(raw)
            ),
        )
        .with_hint(format!(
            "set the account's URL to Clinked's API, e.g. {DEFAULT_BASE_URL}"
        )));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

// ---------------------------------------------------------------------------------------
// requests

/// Appends `s` percent-encoded (everything but RFC 3986's unreserved characters).
fn push_encoded(out: &mut String, s: &str) {
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// `k=v&k=v`, percent-encoded, in one buffer allocated at its final size (a growing buffer
/// would leave copies of the password behind) and zeroized on drop.
fn encode_pairs(prefix: &str, pairs: &[(&str, &str)]) -> Zeroizing<String> {
    let cap = prefix.len()
        + pairs
            .iter()
            .map(|(k, v)| 2 + 3 * (k.len() + v.len()))
            .sum::<usize>();
    let mut out = Zeroizing::new(String::with_capacity(cap));
    out.push_str(prefix);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        push_encoded(&mut out, k);
        out.push('=');
        push_encoded(&mut out, v);
    }
    debug_assert!(out.len() <= cap);
    out
}

fn common_headers(req: HttpRequest) -> HttpRequest {
    req.header("Accept", "application/json")
        .header("User-Agent", USER_AGENT)
}

/// Step 1: the password grant (with the 2FA `code` when there is one).
pub fn password_grant(
    base: &str,
    username: &str,
    password: &SecretString,
    code: Option<&str>,
) -> HttpRequest {
    let mut pairs = vec![
        ("grant_type", "password"),
        ("client_id", MOBILE_CLIENT_ID),
        ("username", username),
        ("password", password.expose_secret()),
    ];
    if let Some(code) = code {
        pairs.push(("code", code));
    }
    let mut url = encode_pairs(&format!("{base}{TOKEN_PATH}?"), &pairs);
    // Moves the buffer into the request (no copy); `send` zeroizes it after the call.
    common_headers(HttpRequest::get(std::mem::take(&mut *url)))
}

/// Step 2: registers keyhelm as an application of the user who owns `user_token`.
pub fn register_app(base: &str, user_token: &SecretString, account: &str) -> HttpRequest {
    let body = serde_json::json!({
        "name": format!("keyhelm ({account})"),
        "description": format!("keyhelm credential helper, account {account}"),
        "platform": "OTHER",
        "deviceType": "Other",
        "deviceModel": "keyhelm",
        "appVersion": env!("CARGO_PKG_VERSION"),
        "deviceOs": "OTHER",
        "bundleId": "io.github.keyhelm",
        "deviceToken": null,
    });
    let req = HttpRequest::post(format!("{base}{APPLICATIONS_PATH}"))
        .header("Authorization", bearer_value(user_token));
    // The body holds no secret; serializing a `json!` value cannot fail.
    let body = serde_json::to_vec(&body).unwrap_or_default();
    common_headers(req)
        .header("Content-Type", "application/json")
        .body(body)
}

/// Step 3: the client-credentials grant of the registered application.
pub fn app_grant(base: &str, app: &AppState) -> HttpRequest {
    let mut form = encode_pairs(
        "",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id),
            ("client_secret", app.client_secret.expose_secret()),
            ("scope", SCOPE),
        ],
    );
    let body = std::mem::take(&mut *form).into_bytes();
    common_headers(HttpRequest::post(format!("{base}{TOKEN_PATH}")))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
}

/// `Bearer <token>`, built at its final size (zeroized with the request's headers).
fn bearer_value(token: &SecretString) -> String {
    let t = token.expose_secret();
    let mut v = String::with_capacity(7 + t.len());
    v.push_str("Bearer ");
    v.push_str(t);
    v
}

// ---------------------------------------------------------------------------------------
// answers

/// An access token and what came with it.
pub struct Token {
    /// The token.
    pub access_token: SecretString,
    /// Seconds until it expires, when the service said.
    pub expires_in: Option<i64>,
    /// The granted scopes, e.g. `read`, `write`.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"REDACTED")
            .field("expires_in", &self.expires_in)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl Token {
    /// The expiry in Unix seconds: `expires_in` from now, else the documented 30 minutes.
    pub fn expires_at(&self, now: i64) -> i64 {
        now.saturating_add(self.expires_in.unwrap_or(DEFAULT_LIFETIME_SECS))
    }
}

#[derive(Deserialize)]
struct WireToken {
    #[serde(default)]
    access_token: Option<SecretString>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    scope: Option<serde_json::Value>,
    #[serde(default)]
    token_type: Option<serde_json::Value>,
}

/// What went wrong, as the body of an error answer says (Spring's
/// `{"error","error_description"}`; Spring Boot's `{"status","error","message"}` has no
/// OAuth code, so only `error_description`/`message` are read from it).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The HTTP status.
    pub status: u16,
    /// The OAuth error code (`invalid_grant`, `missing_2fa`, ...), sanitized.
    pub code: Option<String>,
    /// The service's description, when it is safe to show.
    pub description: Option<String>,
}

impl Problem {
    /// `HTTP 400, invalid_grant: Bad credentials` (the parts that are known).
    pub fn summary(&self) -> String {
        let mut s = format!("HTTP {}", self.status);
        if let Some(code) = &self.code {
            s.push_str(", ");
            s.push_str(code);
        }
        if let Some(d) = &self.description {
            s.push_str(if self.code.is_some() { ": " } else { ", " });
            s.push_str(d);
        }
        s
    }
}

/// An OAuth error code as shown: `[A-Za-z0-9_.-]`, at most 64 characters.
fn sanitize_code(s: &str) -> Option<String> {
    let s: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .take(64)
        .collect();
    (!s.is_empty()).then_some(s)
}

/// The service's description, shown only when it repeats none of the secrets the request
/// carried (Spring echoes presented tokens in some descriptions), without control
/// characters, at most 160 characters.
fn safe_description(s: &str, secrets: &[&str]) -> Option<String> {
    if secrets.iter().any(|x| !x.is_empty() && s.contains(x)) {
        return None;
    }
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(160).collect();
    if s.chars().filter(|c| !c.is_control()).count() > 160 {
        out.push_str("...");
    }
    let out = out.trim().to_owned();
    (!out.is_empty()).then_some(out)
}

/// The media type of an answer, without parameters: `text/html`.
fn media_type(resp: &HttpResponse) -> String {
    resp.header("content-type")
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "no content type".to_owned())
}

/// Whether the body is a JSON object.
fn is_json_object(resp: &HttpResponse) -> bool {
    resp.body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(&resp.body).is_ok()
}

/// The "this is not JSON" error: an HTML error page, a proxy's login page, garbage.
fn not_json(resp: &HttpResponse, what: &str, who: Who<'_>) -> Error {
    let shape = if resp.body.is_empty() {
        "an empty answer".to_owned()
    } else {
        "something that is not JSON".to_owned()
    };
    Error::new(
        ErrorKind::ServiceError,
        format!(
            "the service answered the {what} with {shape} (HTTP {}, {})",
            resp.status,
            media_type(resp)
        ),
    )
    .with_hint(who.check_url_hint())
}

/// Errors decided by the status alone: rate limiting and server errors.
fn by_status(resp: &HttpResponse, what: &str) -> Option<Error> {
    match resp.status {
        429 => {
            let mut e = Error::new(
                ErrorKind::RateLimited,
                format!(
                    "Clinked is rate-limiting requests from this address (HTTP 429 on the {what}; \
                     it allows 2000 requests per 5 minutes per IP address)"
                ),
            );
            match retry_after(resp) {
                Some(secs) => {
                    e = e
                        .with_retry_after(secs)
                        .with_hint(format!("wait {secs} seconds, then try again"));
                }
                None => e = e.with_hint("wait a few minutes, then try again"),
            }
            Some(e)
        }
        500..=599 => Some(
            Error::new(
                ErrorKind::ServiceError,
                format!("Clinked failed to answer the {what} (HTTP {})", resp.status),
            )
            .with_hint("the service has a problem; try again in a few minutes"),
        ),
        _ => None,
    }
}

/// `Retry-After` in seconds, when it is given as a number.
fn retry_after(resp: &HttpResponse) -> Option<u64> {
    resp.header("retry-after")?.trim().parse().ok()
}

/// Reads an error answer's body (the caller checked that it is a JSON object).
fn problem(resp: &HttpResponse, secrets: &[&str]) -> Problem {
    #[derive(Deserialize, Default)]
    struct Wire {
        #[serde(default)]
        error: Option<serde_json::Value>,
        #[serde(default)]
        error_description: Option<serde_json::Value>,
        #[serde(default)]
        message: Option<serde_json::Value>,
        #[serde(default)]
        status: Option<serde_json::Value>,
    }
    let wire: Wire = serde_json::from_slice(&resp.body).unwrap_or_default();
    // Spring Boot's error body carries `status` and a reason phrase in `error`: not a code.
    let spring_boot = wire.status.is_some();
    let code = match &wire.error {
        Some(serde_json::Value::String(s)) if !spring_boot => sanitize_code(s),
        _ => None,
    };
    let description = [wire.error_description, wire.message]
        .into_iter()
        .flatten()
        .find_map(|v| match v {
            serde_json::Value::String(s) => safe_description(&s, secrets),
            _ => None,
        });
    Problem {
        status: resp.status,
        code,
        description,
    }
}

/// Reads a 2xx token answer.
fn token(resp: &HttpResponse, what: &str, who: Who<'_>) -> Result<Token, Error> {
    if !is_json_object(resp) {
        return Err(not_json(resp, what, who));
    }
    let malformed = |detail: &str| {
        Error::new(
            ErrorKind::ServiceError,
            format!("Clinked's answer to the {what} {detail}"),
        )
        .with_hint("Clinked may have changed its API; please report this to keyhelm")
    };
    let wire: WireToken = serde_json::from_slice(&resp.body).map_err(|e| {
        malformed(&format!(
            "is not in the expected form: it {}",
            keyhelm_core::json::describe_error(&e)
        ))
    })?;
    let Some(access_token) = wire
        .access_token
        .filter(|t| !t.expose_secret().trim().is_empty())
    else {
        return Err(malformed("has no access_token"));
    };
    if let Some(t) = wire.token_type.as_ref().and_then(|v| v.as_str())
        && !t.eq_ignore_ascii_case("bearer")
    {
        let shown = sanitize_code(t).unwrap_or_else(|| "?".to_owned());
        return Err(malformed(&format!(
            "is a token of type {shown:?}, not a bearer token"
        )));
    }
    let expires_in = wire.expires_in.as_ref().and_then(|v| match v {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    // Clamp nonsense: negative means "already expired"; more than a year is not believed.
    let expires_in = expires_in.map(|s| s.clamp(0, 365 * 24 * 3600));
    let scopes = match &wire.scope {
        Some(serde_json::Value::String(s)) => s
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    Ok(Token {
        access_token,
        expires_in,
        scopes,
    })
}

/// How Clinked sends the second factor it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeChannel {
    /// An authenticator app (`missing_2fa`).
    Authenticator,
    /// An SMS Clinked just sent (`missing_2fa_sms`).
    Sms,
}

/// A token grant's answer, after the checks both grants share.
enum TokenAnswer {
    /// A token.
    Token(Token),
    /// A final error: a status that says it all, an unusable token, or an answer that is not
    /// a JSON object.
    Failed(Error),
    /// An error the grant reads from the body itself.
    Problem(Problem),
}

/// The checks both token grants start with, in their order: a 2xx is a token (or an error
/// when it cannot be used), then [`by_status`], then a body that is not a JSON object. `what`
/// names the request in messages; `secrets` are never repeated in them.
fn read_token_answer(
    resp: &HttpResponse,
    what: &str,
    who: Who<'_>,
    secrets: &[&str],
) -> TokenAnswer {
    if resp.is_success() {
        return match token(resp, what, who) {
            Ok(t) => TokenAnswer::Token(t),
            Err(e) => TokenAnswer::Failed(e),
        };
    }
    if let Some(e) = by_status(resp, what) {
        return TokenAnswer::Failed(e);
    }
    if !is_json_object(resp) {
        return TokenAnswer::Failed(not_json(resp, what, who));
    }
    TokenAnswer::Problem(problem(resp, secrets))
}

/// What the password grant's answer means.
#[derive(Debug)]
pub enum PasswordAnswer {
    /// Logged in.
    Token(Token),
    /// A two-factor code is required (`missing_2fa`, `missing_2fa_sms`).
    NeedsCode(CodeChannel),
    /// The code sent was wrong (`invalid_2fa`).
    WrongCode,
    /// Anything else: a final error.
    Failed(Error),
}

/// Classifies the password grant's answer. `secrets`: what the request carried (the
/// password, the code), never to be repeated in a message.
pub fn read_password_answer(resp: &HttpResponse, who: Who<'_>, secrets: &[&str]) -> PasswordAnswer {
    let p = match read_token_answer(resp, "password login", who, secrets) {
        TokenAnswer::Token(t) => return PasswordAnswer::Token(t),
        TokenAnswer::Failed(e) => return PasswordAnswer::Failed(e),
        TokenAnswer::Problem(p) => p,
    };
    let user = who.username;
    match (p.status, p.code.as_deref()) {
        (_, Some("missing_2fa")) => PasswordAnswer::NeedsCode(CodeChannel::Authenticator),
        (_, Some("missing_2fa_sms")) => PasswordAnswer::NeedsCode(CodeChannel::Sms),
        (_, Some("invalid_2fa")) => PasswordAnswer::WrongCode,
        (_, Some("error_2fa_sms")) => PasswordAnswer::Failed(
            Error::new(
                ErrorKind::ServiceError,
                format!("Clinked could not send a two-factor code to {user} by SMS"),
            )
            .with_hint(format!(
                "try `{}` again in a few minutes, or check the phone number in your Clinked profile",
                who.login_command()
            )),
        ),
        (400, Some("invalid_grant")) => {
            let why = p.description.clone().unwrap_or_else(|| "invalid_grant".to_owned());
            let lower = why.to_ascii_lowercase();
            let hint = if ["locked", "disabled", "expired"]
                .iter()
                .any(|w| lower.contains(w))
            {
                "ask your Clinked administrator to check the account".to_owned()
            } else {
                format!(
                    "check the username and password; to change the stored password, run \
                     `keyhelm account remove {}` and add the account again",
                    who.account
                )
            };
            PasswordAnswer::Failed(
                Error::new(
                    ErrorKind::AuthFailed,
                    format!("Clinked refused to log in {user}: {why}"),
                )
                .with_hint(hint),
            )
        }
        (401, _) => PasswordAnswer::Failed(
            Error::new(
                ErrorKind::ServiceError,
                format!(
                    "the service refused keyhelm's login client `{MOBILE_CLIENT_ID}` ({})",
                    p.summary()
                ),
            )
            .with_hint(who.check_url_hint()),
        ),
        (404 | 405, _) => PasswordAnswer::Failed(no_endpoint(TOKEN_PATH, &p, who)),
        _ => PasswordAnswer::Failed(
            Error::new(
                ErrorKind::ServiceError,
                format!("Clinked refused the password login of {user} ({})", p.summary()),
            )
            .with_hint(who.check_url_hint()),
        ),
    }
}

fn no_endpoint(path: &str, p: &Problem, who: Who<'_>) -> Error {
    Error::new(
        ErrorKind::ServiceError,
        format!(
            "there is no Clinked endpoint at {}{path} (HTTP {})",
            redact_url(who.base),
            p.status
        ),
    )
    .with_hint(who.check_url_hint())
}

/// The registered application's credentials, from `POST /v2/applications`.
pub struct Registered {
    /// `clientId`.
    pub client_id: String,
    /// `clientSecret`.
    pub client_secret: SecretString,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("client_id", &self.client_id)
            .field("client_secret", &"REDACTED")
            .finish()
    }
}

/// Classifies the application registration's answer. `secrets`: the user token.
pub fn read_register_answer(
    resp: &HttpResponse,
    who: Who<'_>,
    secrets: &[&str],
) -> Result<Registered, Error> {
    const WHAT: &str = "application registration";
    if let Some(e) = by_status(resp, WHAT) {
        return Err(e);
    }
    if !is_json_object(resp) {
        return Err(not_json(resp, WHAT, who));
    }
    if resp.is_success() {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(default, rename = "clientId")]
            client_id: Option<serde_json::Value>,
            #[serde(default, rename = "clientSecret")]
            client_secret: Option<SecretString>,
        }
        let missing = || {
            Error::new(
                ErrorKind::ServiceError,
                format!("Clinked's answer to the {WHAT} has no clientId and clientSecret"),
            )
            .with_hint("Clinked may have changed its API; please report this to keyhelm")
        };
        let wire: Wire = serde_json::from_slice(&resp.body).map_err(|_| missing())?;
        let client_id = match wire.client_id {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => return Err(missing()),
        };
        let Some(client_secret) = wire.client_secret.filter(|s| !s.expose_secret().is_empty())
        else {
            return Err(missing());
        };
        return Ok(Registered {
            client_id,
            client_secret,
        });
    }
    let p = problem(resp, secrets);
    let user = who.username;
    Err(match p.status {
        401 => Error::new(
            ErrorKind::ServiceError,
            format!(
                "Clinked refused the token it had just issued to {user} when keyhelm registered its application ({})",
                p.summary()
            ),
        )
        .with_hint(format!("try `{}` again", who.login_command())),
        403 => Error::new(
            ErrorKind::Other,
            format!(
                "Clinked does not let {user} register an application for keyhelm ({})",
                p.summary()
            ),
        )
        .with_hint("API access may be turned off for this user or organisation; ask your Clinked administrator"),
        404 | 405 => no_endpoint(APPLICATIONS_PATH, &p, who),
        _ => Error::new(
            ErrorKind::ServiceError,
            format!("Clinked refused to register keyhelm's application ({})", p.summary()),
        )
        .with_hint("Clinked may have changed its API; please report this to keyhelm"),
    })
}

/// What the client-credentials grant's answer means.
#[derive(Debug)]
pub enum AppTokenAnswer {
    /// A token.
    Token(Token),
    /// 401: the application was revoked, or its client secret is wrong.
    Rejected(Problem),
    /// Anything else: a final error.
    Failed(Error),
}

/// Classifies the client-credentials grant's answer. `secrets`: the client secret.
pub fn read_app_token_answer(
    resp: &HttpResponse,
    who: Who<'_>,
    secrets: &[&str],
) -> AppTokenAnswer {
    let p = match read_token_answer(resp, "token request", who, secrets) {
        TokenAnswer::Token(t) => return AppTokenAnswer::Token(t),
        TokenAnswer::Failed(e) => return AppTokenAnswer::Failed(e),
        TokenAnswer::Problem(p) => p,
    };
    match (p.status, p.code.as_deref()) {
        (401, _) => AppTokenAnswer::Rejected(p),
        (404 | 405, _) => AppTokenAnswer::Failed(no_endpoint(TOKEN_PATH, &p, who)),
        (_, Some("invalid_scope")) => AppTokenAnswer::Failed(
            Error::new(
                ErrorKind::ServiceError,
                format!(
                    "Clinked refused the scope \"{SCOPE}\" for keyhelm's application ({})",
                    p.summary()
                ),
            )
            .with_hint("Clinked may have changed its API; please report this to keyhelm"),
        ),
        _ => AppTokenAnswer::Failed(
            Error::new(
                ErrorKind::ServiceError,
                format!(
                    "Clinked refused the token request of keyhelm's application ({})",
                    p.summary()
                ),
            )
            .with_hint(format!(
                "`{}` logs in again and registers a new application",
                who.login_command()
            )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHO: Who<'static> = Who::TEST;

    fn json(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(
            status,
            vec![(
                "content-type".into(),
                "application/json;charset=UTF-8".into(),
            )],
            body.as_bytes().to_vec(),
        )
    }

    fn failed(a: PasswordAnswer) -> Error {
        match a {
            PasswordAnswer::Failed(e) => e,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn base_urls_default_trim_and_refuse_nonsense() {
        assert_eq!(base_url(None).unwrap(), "https://api.clinked.com");
        assert_eq!(base_url(Some("  ")).unwrap(), "https://api.clinked.com");
        assert_eq!(
            base_url(Some("http://127.0.0.1:8080/")).unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            base_url(Some("https://api-p1.clinked.com/")).unwrap(),
            "https://api-p1.clinked.com"
        );
        for bad in [
            "api.clinked.com",
            "ftp://x",
            "https://",
            "https:///path",
            "https://h/x?token=s3cret",
            "https://h/a b",
        ] {
            let e = base_url(Some(bad)).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadSettings, "{bad}");
            assert!(!e.to_string().contains("s3cret"), "{e}");
        }
        assert_eq!(
            base_url(Some("https://h/x?token=s3cret"))
                .unwrap_err()
                .to_string(),
            "the account's URL \"https://h/x?REDACTED\" is not an https:// address without a query \
             (set the account's URL to Clinked's API, e.g. https://api.clinked.com)"
        );
    }

    #[test]
    fn the_password_grant_is_a_get_with_an_encoded_query_and_a_user_agent() {
        let pw = SecretString::from("p&ss w=rd/é".to_owned());
        let req = password_grant("https://h", "jack@example.com", &pw, Some("123 456"));
        assert_eq!(req.method, "GET");
        assert_eq!(
            req.url,
            "https://h/oauth/token?grant_type=password&client_id=clinked-mobile\
             &username=jack%40example.com&password=p%26ss%20w%3Drd%2F%C3%A9&code=123%20456"
        );
        assert!(
            req.headers
                .contains(&("User-Agent".into(), USER_AGENT.into()))
        );
        assert!(USER_AGENT.starts_with("keyhelm-clinked/0."));
        assert!(req.body.is_empty());
        // Debug output hides the query (and with it the password).
        let dbg = format!("{req:?}");
        assert!(!dbg.contains("p%26ss") && dbg.contains("REDACTED"), "{dbg}");
        let no_code = password_grant("https://h", "j", &pw, None);
        assert!(!no_code.url.contains("code="));
    }

    #[test]
    fn the_app_grant_sends_the_secret_in_a_form_body_not_the_url() {
        let app = AppState::new(
            "cid".into(),
            SecretString::from("c+s&x".to_owned()),
            "jack".into(),
            "https://h".into(),
            1,
        );
        let req = app_grant("https://h", &app);
        assert_eq!(
            (req.method.as_str(), req.url.as_str()),
            ("POST", "https://h/oauth/token")
        );
        assert_eq!(
            std::str::from_utf8(&req.body).unwrap(),
            "grant_type=client_credentials&client_id=cid&client_secret=c%2Bs%26x&scope=read%20write"
        );
        assert!(req.headers.contains(&(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into()
        )));
    }

    #[test]
    fn the_registration_is_a_json_post_with_the_user_token() {
        let tok = SecretString::from("user-tok".to_owned());
        let req = register_app("https://h", &tok, "work");
        assert_eq!(req.url, "https://h/v2/applications");
        assert!(
            req.headers
                .contains(&("Authorization".into(), "Bearer user-tok".into()))
        );
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["name"], "keyhelm (work)");
        for field in [
            "description",
            "platform",
            "deviceType",
            "deviceModel",
            "appVersion",
            "deviceOs",
            "bundleId",
        ] {
            assert!(body[field].is_string(), "{field}");
        }
        assert!(body["deviceToken"].is_null());
    }

    #[test]
    fn tokens_read_with_or_without_expires_in() {
        let a = read_password_answer(
            &json(
                200,
                r#"{"access_token":"t1","token_type":"bearer","refresh_token":"r","scope":"read write"}"#,
            ),
            WHO,
            &[],
        );
        let PasswordAnswer::Token(t) = a else {
            panic!("{a:?}")
        };
        assert_eq!(t.access_token.expose_secret(), "t1");
        assert_eq!(t.expires_in, None);
        assert_eq!(t.expires_at(1000), 1000 + 1800);
        assert_eq!(t.scopes, ["read", "write"]);
        assert!(!format!("{t:?}").contains("t1"));

        for (expires_in, want) in [("1799", 1799), ("\"60\"", 60), ("12.7", 12), ("-5", 0)] {
            let body = format!(r#"{{"access_token":"t","expires_in":{expires_in}}}"#);
            let AppTokenAnswer::Token(t) = read_app_token_answer(&json(200, &body), WHO, &[])
            else {
                panic!("{body}")
            };
            assert_eq!(t.expires_in, Some(want), "{body}");
        }
    }

    #[test]
    fn malformed_token_answers_are_service_errors_that_quote_nothing() {
        for (body, want) in [
            (
                r#"{"token_type":"bearer"}"#,
                "Clinked's answer to the password login has no access_token",
            ),
            (
                r#"{"access_token":"  "}"#,
                "Clinked's answer to the password login has no access_token",
            ),
            (
                r#"{"access_token":"s3cret","token_type":"mac"}"#,
                "Clinked's answer to the password login is a token of type \"mac\", not a bearer token",
            ),
            (
                r#"{"access_token":17}"#,
                "Clinked's answer to the password login is not in the expected form: it has a value of the wrong type or shape (line 1, column 18)",
            ),
        ] {
            let e = failed(read_password_answer(&json(200, body), WHO, &[]));
            assert_eq!(e.kind, ErrorKind::ServiceError);
            assert_eq!(e.message, want);
            assert_eq!(
                e.hint.as_deref(),
                Some("Clinked may have changed its API; please report this to keyhelm")
            );
            assert!(!e.to_string().contains("s3cret"));
        }
    }

    #[test]
    fn html_and_garbage_answers_say_so() {
        let html = HttpResponse::new(
            404,
            vec![("content-type".into(), "text/html; charset=utf-8".into())],
            b"<html>Not Found</html>".to_vec(),
        );
        let e = failed(read_password_answer(&html, WHO, &[]));
        assert_eq!(e.kind, ErrorKind::ServiceError);
        assert_eq!(
            e.to_string(),
            "the service answered the password login with something that is not JSON \
             (HTTP 404, text/html) (check the account's URL: https://api.clinked.com should be \
             Clinked's API (the default is https://api.clinked.com))"
        );
        let ok_html = HttpResponse::new(200, vec![], b"<html>portal</html>".to_vec());
        let e = read_register_answer(&ok_html, WHO, &[]).unwrap_err();
        assert_eq!(
            e.message,
            "the service answered the application registration with something that is not JSON (HTTP 200, no content type)"
        );
        let empty = HttpResponse::new(401, vec![], Vec::new());
        let AppTokenAnswer::Failed(e) = read_app_token_answer(&empty, WHO, &[]) else {
            panic!()
        };
        assert_eq!(
            e.message,
            "the service answered the token request with an empty answer (HTTP 401, no content type)"
        );
        // A JSON array or string is not an answer either.
        let e = failed(read_password_answer(&json(400, r#"["x"]"#), WHO, &[]));
        assert!(
            e.message.contains("not JSON (HTTP 400, application/json)"),
            "{e}"
        );
    }

    #[test]
    fn two_factor_answers_are_recognised() {
        let body = |code: &str| format!(r#"{{"error":"{code}","error_description":"whatever"}}"#);
        assert!(matches!(
            read_password_answer(&json(400, &body("missing_2fa")), WHO, &[]),
            PasswordAnswer::NeedsCode(CodeChannel::Authenticator)
        ));
        assert!(matches!(
            read_password_answer(&json(400, &body("missing_2fa_sms")), WHO, &[]),
            PasswordAnswer::NeedsCode(CodeChannel::Sms)
        ));
        // The status is assumed (400), so the code decides whatever the status.
        assert!(matches!(
            read_password_answer(&json(401, &body("invalid_2fa")), WHO, &[]),
            PasswordAnswer::WrongCode
        ));
        let e = failed(read_password_answer(
            &json(400, &body("error_2fa_sms")),
            WHO,
            &[],
        ));
        assert_eq!(e.kind, ErrorKind::ServiceError);
        assert_eq!(
            e.to_string(),
            "Clinked could not send a two-factor code to jack by SMS (try `keyhelm login work` \
             again in a few minutes, or check the phone number in your Clinked profile)"
        );
    }

    #[test]
    fn bad_credentials_and_locked_accounts_are_auth_failures() {
        let e = failed(read_password_answer(
            &json(
                400,
                r#"{"error":"invalid_grant","error_description":"Bad credentials"}"#,
            ),
            WHO,
            &["pw"],
        ));
        assert_eq!(e.kind, ErrorKind::AuthFailed);
        assert_eq!(
            e.to_string(),
            "Clinked refused to log in jack: Bad credentials (check the username and password; to \
             change the stored password, run `keyhelm account remove work` and add the account \
             again)"
        );
        let e = failed(read_password_answer(
            &json(
                400,
                r#"{"error":"invalid_grant","error_description":"User account is locked"}"#,
            ),
            WHO,
            &["pw"],
        ));
        assert_eq!(
            e.to_string(),
            "Clinked refused to log in jack: User account is locked (ask your Clinked administrator to check the account)"
        );
        // A description that repeats the password is not shown.
        let e = failed(read_password_answer(
            &json(
                400,
                r#"{"error":"invalid_grant","error_description":"Bad password hunter2"}"#,
            ),
            WHO,
            &["hunter2", "123456"],
        ));
        assert_eq!(e.message, "Clinked refused to log in jack: invalid_grant");
    }

    #[test]
    fn other_password_errors_name_the_status_and_code() {
        let cases = [
            (
                401,
                r#"{"error":"invalid_client","error_description":"Bad client credentials"}"#,
                "the service refused keyhelm's login client `clinked-mobile` (HTTP 401, invalid_client: Bad client credentials)",
            ),
            (
                404,
                r#"{"timestamp":1,"status":404,"error":"Not Found","message":"No message available","path":"/x"}"#,
                "there is no Clinked endpoint at https://api.clinked.com/oauth/token (HTTP 404)",
            ),
            (
                400,
                r#"{"error":"unsupported_grant_type\n<b>","error_description":"Unsupported grant type\u001b[2J"}"#,
                "Clinked refused the password login of jack (HTTP 400, unsupported_grant_typeb: Unsupported grant type[2J)",
            ),
        ];
        for (status, body, message) in cases {
            let e = failed(read_password_answer(&json(status, body), WHO, &[]));
            assert_eq!(e.message, message, "{body}");
        }
    }

    #[test]
    fn rate_limits_and_server_errors_are_decided_by_status() {
        let mut resp = json(429, r#"{"error":"too_many_requests"}"#);
        let e = failed(read_password_answer(&resp, WHO, &[]));
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(e.retry_after, None);
        assert_eq!(
            e.to_string(),
            "Clinked is rate-limiting requests from this address (HTTP 429 on the password login; \
             it allows 2000 requests per 5 minutes per IP address) (wait a few minutes, then try again)"
        );
        resp.headers.push(("retry-after".into(), "120".into()));
        let AppTokenAnswer::Failed(e) = read_app_token_answer(&resp, WHO, &[]) else {
            panic!()
        };
        assert_eq!((e.kind, e.retry_after), (ErrorKind::RateLimited, Some(120)));
        assert_eq!(e.hint.as_deref(), Some("wait 120 seconds, then try again"));

        let html = HttpResponse::new(503, vec![], b"<html>down</html>".to_vec());
        let e = read_register_answer(&html, WHO, &[]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ServiceError);
        assert_eq!(
            e.to_string(),
            "Clinked failed to answer the application registration (HTTP 503) \
             (the service has a problem; try again in a few minutes)"
        );
    }

    #[test]
    fn registrations_read_client_credentials_or_explain() {
        let ok = json(
            200,
            r#"{"id":7,"name":"keyhelm","clientId":"abc","clientSecret":"s3cret","extra":[1]}"#,
        );
        let r = read_register_answer(&ok, WHO, &[]).unwrap();
        assert_eq!(r.client_id, "abc");
        assert_eq!(r.client_secret.expose_secret(), "s3cret");
        assert!(!format!("{r:?}").contains("s3cret"));
        // 201 is fine too (the real status is unknown).
        assert!(
            read_register_answer(
                &json(201, r#"{"clientId":"a","clientSecret":"b"}"#),
                WHO,
                &[]
            )
            .is_ok()
        );

        let e = read_register_answer(&json(200, r#"{"id":7}"#), WHO, &[]).unwrap_err();
        assert_eq!(
            e.message,
            "Clinked's answer to the application registration has no clientId and clientSecret"
        );
        let e = read_register_answer(
            &json(
                403,
                r#"{"error":"access_denied","error_description":"Access is denied"}"#,
            ),
            WHO,
            &[],
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Other);
        assert_eq!(
            e.to_string(),
            "Clinked does not let jack register an application for keyhelm (HTTP 403, \
             access_denied: Access is denied) (API access may be turned off for this user or \
             organisation; ask your Clinked administrator)"
        );
        let e = read_register_answer(
            &json(
                401,
                r#"{"error":"invalid_token","error_description":"Invalid access token: u-tok"}"#,
            ),
            WHO,
            &["u-tok"],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Clinked refused the token it had just issued to jack when keyhelm registered its \
             application (HTTP 401, invalid_token) (try `keyhelm login work` again)"
        );
        let e = read_register_answer(
            &json(400, r#"{"timestamp":1,"status":400,"error":"Bad Request","message":"Required request body is missing"}"#),
            WHO,
            &[],
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "Clinked refused to register keyhelm's application (HTTP 400, Required request body is missing)"
        );
    }

    #[test]
    fn app_token_401_means_rejected_and_other_errors_explain() {
        let AppTokenAnswer::Rejected(p) = read_app_token_answer(
            &json(
                401,
                r#"{"error":"invalid_client","error_description":"Bad client credentials"}"#,
            ),
            WHO,
            &[],
        ) else {
            panic!()
        };
        assert_eq!(p.code.as_deref(), Some("invalid_client"));
        let AppTokenAnswer::Failed(e) = read_app_token_answer(
            &json(
                400,
                r#"{"error":"invalid_scope","error_description":"Invalid scope: read write"}"#,
            ),
            WHO,
            &[],
        ) else {
            panic!()
        };
        assert_eq!(
            e.message,
            "Clinked refused the scope \"read write\" for keyhelm's application (HTTP 400, invalid_scope: Invalid scope: read write)"
        );
        let AppTokenAnswer::Failed(e) =
            read_app_token_answer(&json(400, r#"{"error":"invalid_grant"}"#), WHO, &[])
        else {
            panic!()
        };
        assert_eq!(
            e.to_string(),
            "Clinked refused the token request of keyhelm's application (HTTP 400, invalid_grant) \
             (`keyhelm login work` logs in again and registers a new application)"
        );
    }

    #[test]
    fn descriptions_are_cut_and_cleaned() {
        let long = "x".repeat(300);
        assert_eq!(safe_description(&long, &[]).unwrap().len(), 163);
        assert_eq!(safe_description(" \n ", &[]), None);
        assert_eq!(safe_description("has t0k", &["t0k"]), None);
        assert_eq!(safe_description("fine", &[""]), Some("fine".into()));
        assert_eq!(sanitize_code("<>"), None);
    }
}
