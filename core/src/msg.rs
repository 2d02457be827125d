//! The JSON messages that travel through the ABI.
//!
//! Every message is a JSON object with a version field `"v": 1` ([`MESSAGE_VERSION`]).
//! Readers ignore fields they do not know, in both directions, and open enums end in an
//! `Unknown` variant, so either side can add fields without breaking the other. A change
//! that cannot be made that way bumps `v`; a reader refuses a `v` it does not know.
//!
//! Secret values ([`SecretString`]) serialize as plain JSON strings (the peer must see them)
//! but print as `REDACTED` in `Debug` output. Serialize with [`crate::json::to_vec`] so
//! the bytes end up in one exactly-sized buffer that is zeroized when freed.
//!
//! | operation / service | request | answer |
//! |---|---|---|
//! | `describe` | [`DescribeRequest`] | [`DescribeResponse`] |
//! | `get` | [`GetRequest`] | [`GetResponse`] |
//! | `logout` | [`LogoutRequest`] | [`LogoutResponse`] |
//! | host `http` | [`HttpRequest`] | [`HttpResponse`] |
//! | host `prompt` | [`PromptRequest`] | [`PromptResponse`] |
//! | any failure | | [`ErrorMessage`] |

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The message version this crate writes and reads.
pub const MESSAGE_VERSION: u32 = 1;

fn v1() -> u32 {
    MESSAGE_VERSION
}

/// Serializers that write secrets as plain strings (for the peer, never for logs).
mod expose {
    use super::*;
    use serde::Serializer;
    use serde::ser::SerializeMap;

    pub(super) fn secret<S: Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s.expose_secret())
    }

    pub(super) fn opt_secret<S: Serializer>(
        s: &Option<SecretString>,
        ser: S,
    ) -> Result<S::Ok, S::Error> {
        match s {
            Some(s) => ser.serialize_some(s.expose_secret()),
            None => ser.serialize_none(),
        }
    }

    pub(super) fn secret_map<S: Serializer>(
        m: &BTreeMap<String, SecretString>,
        ser: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = ser.serialize_map(Some(m.len()))?;
        for (k, v) in m {
            map.serialize_entry(k, v.expose_secret())?;
        }
        map.end()
    }
}

// ---------------------------------------------------------------------------------------
// describe

/// `describe` request (host to plugin). Carries nothing but the version today.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DescribeRequest {
    /// Message version.
    #[serde(default = "v1")]
    pub v: u32,
}

impl Default for DescribeRequest {
    fn default() -> Self {
        DescribeRequest { v: MESSAGE_VERSION }
    }
}

/// What a provider says about itself (the part the provider writes; the SDK adds the name
/// and version from the plugin table).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Description {
    /// A human name, e.g. "Intralinks".
    #[serde(default)]
    pub display_name: String,
    /// The settings an account of this provider has.
    #[serde(default)]
    pub settings: Vec<SettingSpec>,
    /// URL patterns the provider usually serves, e.g. `https://*.example.com/`. The host
    /// suggests them when an account is added; accounts may override them.
    #[serde(default)]
    pub url_patterns: Vec<String>,
    /// The API base URL used when an account does not set one.
    #[serde(default)]
    pub default_base_url: Option<String>,
}

impl Description {
    /// A description with a display name and nothing else.
    pub fn new(display_name: impl Into<String>) -> Self {
        Description {
            display_name: display_name.into(),
            ..Default::default()
        }
    }

    /// Adds a setting.
    pub fn setting(mut self, s: SettingSpec) -> Self {
        self.settings.push(s);
        self
    }

    /// Adds a URL pattern.
    pub fn url_pattern(mut self, p: impl Into<String>) -> Self {
        self.url_patterns.push(p.into());
        self
    }

    /// Sets the default base URL.
    pub fn default_base_url(mut self, url: impl Into<String>) -> Self {
        self.default_base_url = Some(url.into());
        self
    }
}

/// One setting of an account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct SettingSpec {
    /// The key, `[a-z0-9_-]+`.
    pub key: String,
    /// A secret setting is stored encrypted as a secret, prompted without echo, never
    /// shown, and passed in [`Account::secrets`] rather than [`Account::settings`].
    #[serde(default)]
    pub secret: bool,
    /// The account cannot be used without it.
    #[serde(default)]
    pub required: bool,
    /// The value used when the account does not set one (never for secrets).
    #[serde(default)]
    pub default: Option<String>,
    /// One line of help shown when the setting is asked for.
    #[serde(default)]
    pub help: String,
}

impl SettingSpec {
    /// A required, non-secret setting.
    pub fn new(key: impl Into<String>, help: impl Into<String>) -> Self {
        SettingSpec {
            key: key.into(),
            secret: false,
            required: true,
            default: None,
            help: help.into(),
        }
    }

    /// Marks the setting as secret.
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// Marks the setting as optional.
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    /// Gives the setting a default value (which also makes it optional).
    pub fn default_value(mut self, v: impl Into<String>) -> Self {
        self.default = Some(v.into());
        self.required = false;
        self
    }
}

/// `describe` answer (plugin to host).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DescribeResponse {
    /// Message version.
    pub v: u32,
    /// The provider name; equals the name in the plugin table.
    pub name: String,
    /// The plugin version; equals the version in the plugin table.
    pub version: String,
    /// The rest.
    #[serde(flatten)]
    pub description: Description,
}

impl DescribeResponse {
    /// Wraps a description.
    pub fn new(name: &str, version: &str, description: Description) -> Self {
        DescribeResponse {
            v: MESSAGE_VERSION,
            name: name.to_owned(),
            version: version.to_owned(),
            description,
        }
    }
}

// ---------------------------------------------------------------------------------------
// get / logout

/// The account a request is about: its configuration, as stored in the vault.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Account {
    /// The account's name (unique in the vault), e.g. `work-github`.
    pub name: String,
    /// The API base URL: the account's own, else the provider's default.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Non-secret settings by key (defaults already applied by the host).
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// Secret settings by key.
    #[serde(default, serialize_with = "expose::secret_map")]
    pub secrets: BTreeMap<String, SecretString>,
}

impl Account {
    /// An account with a name and nothing else.
    pub fn new(name: impl Into<String>) -> Self {
        Account {
            name: name.into(),
            ..Default::default()
        }
    }

    /// A non-secret setting.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings.get(key).map(String::as_str)
    }

    /// A secret setting.
    pub fn secret(&self, key: &str) -> Option<&SecretString> {
        self.secrets.get(key)
    }
}

/// What the tool asked for, and how the provider may behave.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CredentialRequest {
    /// e.g. `https`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// Host, with `:port` when the tool gave one.
    #[serde(default)]
    pub host: Option<String>,
    /// Path, when the tool gave one.
    #[serde(default)]
    pub path: Option<String>,
    /// The username the tool asked about, if any.
    #[serde(default)]
    pub username: Option<String>,
    /// Whether the provider may ask the user (prompts, browser approval). When false, a
    /// provider that needs the user fails with [`ErrorKind::NeedsInteraction`].
    #[serde(default)]
    pub interactive: bool,
    /// Ignore cached state and log in afresh.
    #[serde(default)]
    pub force_login: bool,
}

/// `get` request (host to plugin).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GetRequest {
    /// Message version.
    pub v: u32,
    /// The account.
    pub account: Account,
    /// What the tool asked for.
    #[serde(default)]
    pub request: CredentialRequest,
    /// The state this provider asked to persist last time (refresh token, client
    /// registration, ...), exactly as it returned it; `None` the first time.
    #[serde(default, serialize_with = "expose::opt_secret")]
    pub state: Option<SecretString>,
}

impl GetRequest {
    /// A request for `account`.
    pub fn new(account: Account, request: CredentialRequest, state: Option<SecretString>) -> Self {
        GetRequest {
            v: MESSAGE_VERSION,
            account,
            request,
            state,
        }
    }
}

/// What the host should do with the provider's persisted state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StateUpdate {
    /// Keep what is stored.
    #[default]
    Unchanged,
    /// Replace it with this value.
    Replace {
        /// The new state: an opaque string, typically JSON, stored encrypted.
        #[serde(serialize_with = "expose::secret")]
        value: SecretString,
    },
    /// Delete it.
    Clear,
    /// An action this reader does not know (a newer peer). The host keeps the stored state.
    #[serde(other)]
    Unknown,
}

impl StateUpdate {
    /// Replaces the state with `value`.
    pub fn replace(value: impl Into<String>) -> Self {
        StateUpdate::Replace {
            value: SecretString::from(value.into()),
        }
    }
}

/// `get` answer (plugin to host): the credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GetResponse {
    /// Message version.
    pub v: u32,
    /// The secret: a password, token or full credential.
    #[serde(serialize_with = "expose::secret")]
    pub secret: SecretString,
    /// The username to present with it, if the service needs one.
    #[serde(default)]
    pub username: Option<String>,
    /// The HTTP auth scheme when the secret is a whole credential (git's `authtype`), e.g.
    /// `Bearer`. `None` means the secret is a password for Basic auth.
    #[serde(default)]
    pub authtype: Option<String>,
    /// When the secret stops working, in Unix seconds; `None` if unknown or never.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// What to do with the persisted state.
    #[serde(default)]
    pub state: StateUpdate,
    /// Permissions the credential was granted (OAuth scopes), for display.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Other non-secret facts to show (e.g. "user": "alice"), for display.
    #[serde(default)]
    pub info: BTreeMap<String, String>,
}

impl GetResponse {
    /// A credential with nothing but its secret.
    pub fn new(secret: impl Into<String>) -> Self {
        GetResponse {
            v: MESSAGE_VERSION,
            secret: SecretString::from(secret.into()),
            username: None,
            authtype: None,
            expires_at: None,
            state: StateUpdate::Unchanged,
            scopes: Vec::new(),
            info: BTreeMap::new(),
        }
    }

    /// Sets the username.
    pub fn username(mut self, u: impl Into<String>) -> Self {
        self.username = Some(u.into());
        self
    }

    /// Sets the auth scheme.
    pub fn authtype(mut self, a: impl Into<String>) -> Self {
        self.authtype = Some(a.into());
        self
    }

    /// Sets the expiry (Unix seconds).
    pub fn expires_at(mut self, t: i64) -> Self {
        self.expires_at = Some(t);
        self
    }

    /// Sets the state update.
    pub fn state(mut self, s: StateUpdate) -> Self {
        self.state = s;
        self
    }

    /// Adds a granted scope.
    pub fn scope(mut self, s: impl Into<String>) -> Self {
        self.scopes.push(s.into());
        self
    }

    /// Adds a display fact.
    pub fn info(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.info.insert(k.into(), v.into());
        self
    }
}

/// `logout` request (host to plugin).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogoutRequest {
    /// Message version.
    pub v: u32,
    /// The account.
    pub account: Account,
    /// The request context (`interactive` tells whether the provider may prompt).
    #[serde(default)]
    pub request: CredentialRequest,
    /// The persisted state.
    #[serde(default, serialize_with = "expose::opt_secret")]
    pub state: Option<SecretString>,
    /// The cached token, if any, so it can be revoked.
    #[serde(default, serialize_with = "expose::opt_secret")]
    pub token: Option<SecretString>,
}

impl LogoutRequest {
    /// A logout request for `account`.
    pub fn new(
        account: Account,
        request: CredentialRequest,
        state: Option<SecretString>,
        token: Option<SecretString>,
    ) -> Self {
        LogoutRequest {
            v: MESSAGE_VERSION,
            account,
            request,
            state,
            token,
        }
    }
}

/// `logout` answer (plugin to host).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogoutResponse {
    /// Message version.
    pub v: u32,
    /// Whether something was revoked at the service.
    #[serde(default)]
    pub revoked: bool,
    /// What to do with the persisted state (usually [`StateUpdate::Clear`]).
    #[serde(default)]
    pub state: StateUpdate,
    /// A note for the user, e.g. "revoke the app's access at https://...".
    #[serde(default)]
    pub message: Option<String>,
}

impl LogoutResponse {
    /// An answer: whether something was revoked; the state is cleared.
    pub fn new(revoked: bool) -> Self {
        LogoutResponse {
            v: MESSAGE_VERSION,
            revoked,
            state: StateUpdate::Clear,
            message: None,
        }
    }

    /// Adds a note for the user.
    pub fn message(mut self, m: impl Into<String>) -> Self {
        self.message = Some(m.into());
        self
    }
}

// ---------------------------------------------------------------------------------------
// errors

/// What kind of failure this is: what the host can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The account's settings are missing or wrong; the user must edit the account.
    BadSettings,
    /// The service refused the credentials (wrong password, client secret, ...).
    AuthFailed,
    /// The provider needs the user (a prompt, a browser approval) but may not ask.
    NeedsInteraction,
    /// The service said to slow down; see `retry_after`.
    RateLimited,
    /// The service answered with an error it should not have (5xx, malformed answer).
    ServiceError,
    /// The service could not be reached.
    Network,
    /// The saved login was revoked or expired; the user must log in again.
    NeedsLogin,
    /// The host refused a request by policy (e.g. an origin outside the account's list).
    NotAllowed,
    /// The operation or service is not implemented.
    Unsupported,
    /// A bug: a panic, an answer the other side cannot read.
    Internal,
    /// Anything else.
    Other,
    /// A kind this reader does not know (a newer peer).
    #[serde(other)]
    Unknown,
}

impl ErrorKind {
    /// The wire name, e.g. `bad-settings`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadSettings => "bad-settings",
            ErrorKind::AuthFailed => "auth-failed",
            ErrorKind::NeedsInteraction => "needs-interaction",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::ServiceError => "service-error",
            ErrorKind::Network => "network",
            ErrorKind::NeedsLogin => "needs-login",
            ErrorKind::NotAllowed => "not-allowed",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Internal => "internal",
            ErrorKind::Other => "other",
            ErrorKind::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A typed error, in either direction: a plugin's failure, or a host service's. The message
/// and hint are shown to the user and must never contain a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorMessage {
    /// Message version.
    #[serde(default = "v1")]
    pub v: u32,
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What went wrong, for the user.
    pub message: String,
    /// What to do next, for the user.
    #[serde(default)]
    pub hint: Option<String>,
    /// For [`ErrorKind::RateLimited`]: seconds to wait.
    #[serde(default)]
    pub retry_after: Option<u64>,
}

impl ErrorMessage {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ErrorMessage {
            v: MESSAGE_VERSION,
            kind,
            message: message.into(),
            hint: None,
            retry_after: None,
        }
    }

    /// Adds a hint: what the user should do next.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a retry delay.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

impl fmt::Display for ErrorMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorMessage {}

// ---------------------------------------------------------------------------------------
// host services

/// Header names whose values are never printed.
fn is_sensitive_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "authorization"
        || n == "proxy-authorization"
        || n == "cookie"
        || n == "set-cookie"
        || n.contains("token")
        || n.contains("secret")
        || n.contains("key")
}

struct RedactedHeaders<'a>(&'a [(String, String)]);

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_list();
        for (k, v) in self.0 {
            if is_sensitive_header(k) {
                l.entry(&(k, "REDACTED"));
            } else {
                l.entry(&(k, v));
            }
        }
        l.finish()
    }
}

/// A body in `Debug` output: its length only.
struct RedactedBody<'a>(&'a [u8]);

impl fmt::Debug for RedactedBody<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes REDACTED>", self.0.len())
    }
}

/// The wire form of a body: `body` when it is UTF-8, else `body_base64`.
#[derive(Serialize, Deserialize, Default)]
struct WireBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_base64: Option<String>,
}

impl WireBody {
    fn from_bytes(b: &[u8]) -> WireBody {
        if b.is_empty() {
            return WireBody::default();
        }
        match std::str::from_utf8(b) {
            Ok(s) => WireBody {
                body: Some(s.to_owned()),
                body_base64: None,
            },
            Err(_) => WireBody {
                body: None,
                body_base64: Some(base64::engine::general_purpose::STANDARD.encode(b)),
            },
        }
    }

    fn into_bytes(self) -> Result<Zeroizing<Vec<u8>>, String> {
        let WireBody { body, body_base64 } = self;
        let body = body.map(Zeroizing::new);
        let body_base64 = body_base64.map(Zeroizing::new);
        match (body, body_base64) {
            (Some(_), Some(_)) => Err("both `body` and `body_base64` are set".into()),
            (Some(s), None) => Ok(Zeroizing::new(s.as_bytes().to_vec())),
            (None, Some(b)) => base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map(Zeroizing::new)
                .map_err(|_| "`body_base64` is not valid base64".into()),
            (None, None) => Ok(Zeroizing::new(Vec::new())),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct WireHttpRequest {
    v: u32,
    method: String,
    url: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(flatten)]
    body: WireBody,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// An HTTP request a plugin asks the host to make (blocking).
///
/// On the wire: `{"v":1,"method":"POST","url":"https://...","headers":[["accept","application/json"]],
/// "body":"a=b","timeout_ms":10000}`; a body that is not UTF-8 goes in `body_base64`.
/// `Debug` redacts the body and the values of credential-bearing headers.
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// An absolute `https://` URL (or `http://` on loopback).
    pub url: String,
    /// Headers in order; names are case-insensitive.
    pub headers: Vec<(String, String)>,
    /// The body (zeroized on drop).
    pub body: Zeroizing<Vec<u8>>,
    /// A timeout for the whole exchange; the host caps it.
    pub timeout_ms: Option<u64>,
}

impl HttpRequest {
    /// A request with a method and URL.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        HttpRequest {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Zeroizing::new(Vec::new()),
            timeout_ms: None,
        }
    }

    /// A GET request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }

    /// A POST request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new("POST", url)
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &SecretString) -> Self {
        let v = format!("Bearer {}", token.expose_secret());
        self.header("Authorization", v)
    }

    /// Sets a raw body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Zeroizing::new(body.into());
        self
    }

    /// Sets an `application/x-www-form-urlencoded` body.
    pub fn form<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k.as_ref(), v.as_ref());
        }
        let body = Zeroizing::new(s.finish());
        self.header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.as_bytes().to_vec())
    }

    /// Sets a JSON body.
    pub fn json<T: Serialize>(self, value: &T) -> Result<Self, serde_json::Error> {
        let body = crate::json::to_vec(value)?;
        Ok(self
            .header("Content-Type", "application/json")
            .body(body.to_vec()))
    }

    /// Sets the timeout.
    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &crate::redact_url(&self.url))
            .field("headers", &RedactedHeaders(&self.headers))
            .field("body", &RedactedBody(&self.body))
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl Serialize for HttpRequest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let HttpRequest {
            method,
            url,
            headers,
            body,
            timeout_ms,
        } = self;
        WireHttpRequest {
            v: MESSAGE_VERSION,
            method: method.clone(),
            url: url.clone(),
            headers: headers.clone(),
            body: WireBody::from_bytes(body),
            timeout_ms: *timeout_ms,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for HttpRequest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = WireHttpRequest::deserialize(d)?;
        let WireHttpRequest {
            v: _,
            method,
            url,
            headers,
            body,
            timeout_ms,
        } = w;
        let body = body.into_bytes().map_err(serde::de::Error::custom)?;
        Ok(HttpRequest {
            method,
            url,
            headers,
            body,
            timeout_ms,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct WireHttpResponse {
    v: u32,
    status: u16,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(flatten)]
    body: WireBody,
}

/// The host's answer to an [`HttpRequest`]: any status the server sent. `Debug` redacts the
/// body and credential-bearing headers.
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Headers in order (names lower-case).
    pub headers: Vec<(String, String)>,
    /// The body (zeroized on drop).
    pub body: Zeroizing<Vec<u8>>,
}

impl HttpResponse {
    /// A response (used by hosts and tests).
    pub fn new(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Self {
        HttpResponse {
            status,
            headers,
            body: Zeroizing::new(body),
        }
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.body)
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &RedactedHeaders(&self.headers))
            .field("body", &RedactedBody(&self.body))
            .finish()
    }
}

impl Serialize for HttpResponse {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let HttpResponse {
            status,
            headers,
            body,
        } = self;
        WireHttpResponse {
            v: MESSAGE_VERSION,
            status: *status,
            headers: headers.clone(),
            body: WireBody::from_bytes(body),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for HttpResponse {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let WireHttpResponse {
            v: _,
            status,
            headers,
            body,
        } = WireHttpResponse::deserialize(d)?;
        let body = body.into_bytes().map_err(serde::de::Error::custom)?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// What to ask the user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Prompt {
    /// A line of text, echoed (e.g. a username, a 2FA code). Answer: `value`.
    Text {
        /// The question.
        message: String,
        /// Used when the user enters nothing.
        #[serde(default)]
        default: Option<String>,
    },
    /// A secret, not echoed. Answer: `value`.
    Secret {
        /// The question.
        message: String,
    },
    /// Yes or no. Answer: `confirmed`.
    Confirm {
        /// The question.
        message: String,
        /// The answer when the user just presses Enter.
        #[serde(default)]
        default: bool,
    },
    /// Show a message; no answer.
    Message {
        /// The text.
        message: String,
    },
    /// Show a URL to visit (e.g. a device-code approval page) and offer to open it in the
    /// browser. Answer: `opened`.
    OpenUrl {
        /// What to do there, e.g. "Enter the code ABCD-1234 at".
        message: String,
        /// The URL (`https://`).
        url: String,
    },
    /// A kind this reader does not know; hosts answer `unsupported`.
    #[serde(other)]
    Unknown,
}

/// `prompt` request (plugin to host).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PromptRequest {
    /// Message version.
    pub v: u32,
    /// What to ask.
    #[serde(flatten)]
    pub prompt: Prompt,
}

impl PromptRequest {
    /// Wraps a prompt.
    pub fn new(prompt: Prompt) -> Self {
        PromptRequest {
            v: MESSAGE_VERSION,
            prompt,
        }
    }
}

/// `prompt` answer (host to plugin).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PromptResponse {
    /// Message version.
    #[serde(default = "v1")]
    pub v: u32,
    /// The text or secret entered (`text`, `secret`).
    #[serde(default, serialize_with = "expose::opt_secret")]
    pub value: Option<SecretString>,
    /// The answer to a `confirm`.
    #[serde(default)]
    pub confirmed: Option<bool>,
    /// For `open-url`: whether a browser was started.
    #[serde(default)]
    pub opened: Option<bool>,
}

impl PromptResponse {
    /// An empty answer (for `message`).
    pub fn empty() -> Self {
        PromptResponse {
            v: MESSAGE_VERSION,
            ..Default::default()
        }
    }

    /// An entered value.
    pub fn value(v: SecretString) -> Self {
        PromptResponse {
            value: Some(v),
            ..Self::empty()
        }
    }

    /// A yes/no answer.
    pub fn confirmed(yes: bool) -> Self {
        PromptResponse {
            confirmed: Some(yes),
            ..Self::empty()
        }
    }

    /// Whether a browser was opened.
    pub fn opened(yes: bool) -> Self {
        PromptResponse {
            opened: Some(yes),
            ..Self::empty()
        }
    }
}

/// Reads just the version of any message.
#[derive(Debug, Deserialize)]
pub struct Versioned {
    /// The message version (0 when absent).
    #[serde(default)]
    pub v: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_ignored_and_unknown_kinds_are_kept_open() {
        let e: ErrorMessage =
            serde_json::from_str(r#"{"v":1,"kind":"quota-exceeded","message":"m","future":[1,2]}"#)
                .unwrap();
        assert_eq!(e.kind, ErrorKind::Unknown);
        let s: StateUpdate = serde_json::from_str(r#"{"action":"merge","x":1}"#).unwrap();
        assert!(matches!(s, StateUpdate::Unknown));
        let p: PromptRequest =
            serde_json::from_str(r#"{"v":1,"kind":"pick-one","message":"m"}"#).unwrap();
        assert_eq!(p.prompt, Prompt::Unknown);
        let g: GetResponse =
            serde_json::from_str(r#"{"v":1,"secret":"s","new_field":{"a":1}}"#).unwrap();
        assert!(matches!(g.state, StateUpdate::Unchanged));
    }

    /// Asserts that `secrets` are in `message`'s JSON and not in its `Debug` output.
    fn assert_travels_but_never_prints<T: Serialize + fmt::Debug>(message: &T, secrets: &[&str]) {
        let json = String::from_utf8(crate::json::to_vec(message).unwrap().to_vec()).unwrap();
        let dbg = format!("{message:?}");
        for secret in secrets {
            assert!(json.contains(secret), "{secret} not in {json}");
            assert!(!dbg.contains(secret), "{secret} in {dbg}");
        }
    }

    #[test]
    fn secrets_travel_but_never_print() {
        let mut account = Account::new("a");
        account
            .secrets
            .insert("seed".into(), SecretString::from("hunter2"));
        let req = GetRequest::new(
            account,
            CredentialRequest::default(),
            Some("st8".to_owned().into()),
        );
        assert_travels_but_never_prints(&req, &["hunter2", "st8"]);

        let resp = GetResponse::new("tok3n").state(StateUpdate::replace("refresh-s3cret"));
        assert_travels_but_never_prints(&resp, &["tok3n", "refresh-s3cret"]);
    }

    #[test]
    fn http_bodies_round_trip_as_text_or_base64_and_debug_redacts() {
        let req = HttpRequest::post("https://h/x?code=abc")
            .header("Authorization", "Bearer t0ken")
            .header("Accept", "application/json")
            .form(&[("client_secret", "c s&=")]);
        let json = crate::json::to_vec(&req).unwrap();
        let text = std::str::from_utf8(&json).unwrap();
        assert!(
            text.contains(r#""body":"client_secret=c+s%26%3D""#),
            "{text}"
        );
        let back: HttpRequest = serde_json::from_slice(&json).unwrap();
        assert_eq!(&back.body[..], b"client_secret=c+s%26%3D");
        let dbg = format!("{req:?}");
        assert!(!dbg.contains("t0ken") && !dbg.contains("client_secret") && !dbg.contains("abc"));
        assert!(dbg.contains("application/json"));

        let resp = HttpResponse::new(200, vec![], vec![0xff, 0, 1]);
        let json = crate::json::to_vec(&resp).unwrap();
        assert!(std::str::from_utf8(&json).unwrap().contains("body_base64"));
        let back: HttpResponse = serde_json::from_slice(&json).unwrap();
        assert_eq!(&back.body[..], &[0xff, 0, 1]);

        for (bad, why) in [
            (
                r#"{"v":1,"status":200,"body":"a","body_base64":"YQ=="}"#,
                "both `body` and `body_base64` are set",
            ),
            (
                r#"{"v":1,"status":200,"body_base64":"%%"}"#,
                "`body_base64` is not valid base64",
            ),
        ] {
            let e = serde_json::from_str::<HttpResponse>(bad).unwrap_err();
            assert!(e.to_string().starts_with(why), "{e}");
        }
    }

    #[test]
    fn error_kinds_have_stable_wire_names() {
        for k in [
            ErrorKind::BadSettings,
            ErrorKind::AuthFailed,
            ErrorKind::NeedsInteraction,
            ErrorKind::RateLimited,
            ErrorKind::ServiceError,
            ErrorKind::Network,
            ErrorKind::NeedsLogin,
            ErrorKind::NotAllowed,
            ErrorKind::Unsupported,
            ErrorKind::Internal,
            ErrorKind::Other,
        ] {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(serde_json::from_str::<ErrorKind>(&json).unwrap(), k);
        }
        let e = ErrorMessage::new(
            ErrorKind::AuthFailed,
            "the service refused the client secret",
        )
        .with_hint("check the account's client_secret");
        assert_eq!(
            e.to_string(),
            "the service refused the client secret (check the account's client_secret)"
        );
    }
}
