//! The COA v1 API: requests (form parameters, a User-Agent on each), and answers classified
//! by HTTP status first, then by body.
//!
//! The service's envelope is `{"success":true,"response_code":200,"results":{…}}` on success
//! and `{"success":false,"response_code":<http>,"error":{"error_code":N,"type":"COA",
//! "message":"…"}}` on failure, except for one quirk: a missing User-Agent gets HTTP 400 with
//! `"success":true`. So the status decides, and `success` is never trusted alone.

use std::fmt;

use keyhelm_core::msg::{HttpRequest, HttpResponse};
use keyhelm_core::redact_url;
use keyhelm_core::secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::settings::Settings;

/// Sent on every request: the service refuses requests without one.
pub const USER_AGENT: &str = concat!("keyhelm-intellivoid/", env!("CARGO_PKG_VERSION"));

/// Each request's timeout.
pub const TIMEOUT_MS: u64 = 30_000;

/// The API methods the plugin calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// `coa/auth/request_authentication`: starts a login.
    RequestAuthentication,
    /// `coa/auth/process_authentication`: the poll.
    ProcessAuthentication,
    /// `coa/auth/get_access_token`: reads a token's permissions and expiry (no slide).
    GetAccessToken,
    /// `accounts/get_user`: the user's name (slides the token's expiry).
    GetUser,
    /// `accounts/get_email` (slides the token's expiry).
    GetEmail,
    /// `accounts/get_personal_information` (slides the token's expiry).
    GetPersonalInformation,
}

impl Method {
    /// The path after the API base.
    pub fn path(self) -> &'static str {
        match self {
            Method::RequestAuthentication => "coa/auth/request_authentication",
            Method::ProcessAuthentication => "coa/auth/process_authentication",
            Method::GetAccessToken => "coa/auth/get_access_token",
            Method::GetUser => "accounts/get_user",
            Method::GetEmail => "accounts/get_email",
            Method::GetPersonalInformation => "accounts/get_personal_information",
        }
    }

    /// The method's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Method::RequestAuthentication => "request_authentication",
            Method::ProcessAuthentication => "process_authentication",
            Method::GetAccessToken => "get_access_token",
            Method::GetUser => "get_user",
            Method::GetEmail => "get_email",
            Method::GetPersonalInformation => "get_personal_information",
        }
    }
}

/// A POST with form parameters: the application id and secret key, then `extra`. Form
/// parameters, never JSON (the service ignores JSON bodies); the secret never goes into the
/// URL.
pub fn build(settings: &Settings, method: Method, extra: &[(&str, &str)]) -> HttpRequest {
    let mut form: Vec<(&str, &str)> = vec![
        ("application_id", settings.application_id.as_str()),
        ("secret_key", settings.secret_key.expose_secret()),
    ];
    form.extend_from_slice(extra);
    HttpRequest::post(format!("{}/{}", settings.base_url, method.path()))
        .header("User-Agent", USER_AGENT)
        .header("Accept", "application/json")
        .timeout_ms(TIMEOUT_MS)
        .form(&form)
}

/// Why an answer is not a result. Holds nothing secret: the service's error text is a fixed
/// upper-case phrase, and it is cleaned and shortened before it is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiError {
    /// An error envelope.
    Service {
        /// HTTP status.
        status: u16,
        /// `error.type`: `COA`, `SERVER`, `CLIENT`, `SETTINGS` (empty when absent).
        error_type: String,
        /// `error.error_code`, when readable.
        code: Option<i64>,
        /// `error.message` (cleaned, at most 120 characters).
        message: String,
    },
    /// The pre-routing refusal of a missing or invalid User-Agent (HTTP 400 with
    /// `success: true`).
    UserAgentRefused,
    /// HTTP 429.
    RateLimited {
        /// Seconds from `Retry-After`, when given.
        retry_after: Option<u64>,
    },
    /// A 3xx (the host does not follow redirects).
    Redirect {
        /// HTTP status.
        status: u16,
        /// The `Location`, redacted.
        location: Option<String>,
    },
    /// The body is not JSON (an HTML error page, a proxy's answer, garbage).
    NotJson {
        /// HTTP status.
        status: u16,
        /// The content type, without parameters (`no content type` when absent).
        content_type: String,
    },
    /// JSON, but neither a result nor an error the plugin can read.
    Unreadable {
        /// HTTP status.
        status: u16,
        /// What is wrong with it.
        detail: &'static str,
    },
}

impl ApiError {
    /// The COA error code, for errors that carry one.
    pub fn code(&self) -> Option<i64> {
        match self {
            ApiError::Service { code, .. } => *code,
            _ => None,
        }
    }

    /// The HTTP status, when the error carries one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Service { status, .. }
            | ApiError::Redirect { status, .. }
            | ApiError::NotJson { status, .. }
            | ApiError::Unreadable { status, .. } => Some(*status),
            ApiError::UserAgentRefused => Some(400),
            ApiError::RateLimited { .. } => Some(429),
        }
    }

    /// A 5xx or an internal-error code: worth another try during a long poll.
    pub fn is_transient(&self) -> bool {
        self.status().is_some_and(|s| s >= 500)
            || matches!(self.code(), Some(-1) | Some(21))
            || matches!(self, ApiError::RateLimited { .. })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Service {
                status,
                error_type,
                code,
                message,
            } => {
                let code = code.map_or_else(|| "?".to_owned(), |c| c.to_string());
                write!(
                    f,
                    "HTTP {status}, {error_type} error {code}: {message}",
                    error_type = if error_type.is_empty() {
                        "untyped"
                    } else {
                        error_type
                    }
                )
            }
            ApiError::UserAgentRefused => f.write_str("HTTP 400, the User-Agent was refused"),
            ApiError::RateLimited { .. } => f.write_str("HTTP 429, too many requests"),
            ApiError::Redirect { status, location } => write!(
                f,
                "HTTP {status}, a redirect to {}",
                location.as_deref().unwrap_or("nowhere")
            ),
            ApiError::NotJson {
                status,
                content_type,
            } => write!(f, "HTTP {status}, not JSON ({content_type})"),
            ApiError::Unreadable { status, detail } => write!(f, "HTTP {status}, {detail}"),
        }
    }
}

impl std::error::Error for ApiError {}

/// Keeps at most 120 characters of a server's text, without control characters.
fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// An integer that may come as a JSON number or a numeric string.
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A success's `results` object. It may hold an access token, so its strings are zeroized
/// when it is dropped, and `Debug` does not show it.
#[derive(PartialEq)]
pub struct Results(Value);

impl Results {
    /// Wraps a value.
    pub fn new(value: Value) -> Results {
        Results(value)
    }
}

impl std::ops::Deref for Results {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.0
    }
}

impl fmt::Debug for Results {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Results(REDACTED)")
    }
}

impl Drop for Results {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// Zeroizes every string in `v`.
fn wipe(v: &mut Value) {
    use keyhelm_core::secrecy::zeroize::Zeroize;
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(map) => map.values_mut().for_each(wipe),
        _ => {}
    }
}

/// Classifies an answer: the results object of a success, or why there is none.
pub fn classify(resp: &HttpResponse) -> Result<Results, ApiError> {
    let status = resp.status;
    if (300..400).contains(&status) {
        return Err(ApiError::Redirect {
            status,
            location: resp.header("location").map(redact_url),
        });
    }
    if status == 429 {
        return Err(ApiError::RateLimited {
            retry_after: resp
                .header("retry-after")
                .and_then(|s| s.trim().parse().ok()),
        });
    }
    let not_json = || ApiError::NotJson {
        status,
        content_type: resp
            .header("content-type")
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty())
            .map_or_else(|| "no content type".to_owned(), |c| clean(&c)),
    };
    // The whole answer is wiped when this function returns, whatever it returns.
    let body = Results(resp.json().map_err(|_| not_json())?);
    let Some(obj) = body.as_object() else {
        return Err(ApiError::Unreadable {
            status,
            detail: "the answer is JSON but not an object",
        });
    };
    let error = obj.get("error").and_then(Value::as_object).map(|e| {
        let error_type = e.get("type").and_then(Value::as_str).map(clean);
        let code = e.get("error_code").and_then(int);
        let message = e.get("message").and_then(Value::as_str).map(clean);
        (
            error_type.unwrap_or_default(),
            code,
            message.unwrap_or_default(),
        )
    });
    if (200..300).contains(&status) {
        if let Some((error_type, code, message)) = error {
            return Err(ApiError::Service {
                status,
                error_type,
                code,
                message,
            });
        }
        if obj.get("success").and_then(Value::as_bool) == Some(false) {
            return Err(ApiError::Unreadable {
                status,
                detail: "the answer says it failed but has no error",
            });
        }
        return match obj.get("results") {
            Some(results) if results.is_object() => Ok(Results(results.clone())),
            _ => Err(ApiError::Unreadable {
                status,
                detail: "the answer has no results",
            }),
        };
    }
    // Not 2xx: an error whatever `success` says.
    match error {
        Some((error_type, Some(0), _)) if status == 400 && error_type == "CLIENT" => {
            Err(ApiError::UserAgentRefused)
        }
        Some((error_type, code, message)) => Err(ApiError::Service {
            status,
            error_type,
            code,
            message,
        }),
        None => Err(ApiError::Unreadable {
            status,
            detail: "the error answer has no error object",
        }),
    }
}

/// A permission list; strings only, anything else skipped.
fn permissions(v: Option<&Value>) -> Option<Vec<String>> {
    let list = v?.as_array()?;
    Some(
        list.iter()
            .filter_map(Value::as_str)
            .map(clean)
            .filter(|p| !p.is_empty())
            .collect(),
    )
}

/// The `request_authentication` result.
pub struct AuthRequest {
    /// The request token (a bearer of nothing by itself, but kept out of logs).
    pub request_token: SecretString,
    /// Where the user approves; shown exactly as the service gave it.
    pub authentication_url: String,
    /// When the request token expires (service clock), if given.
    pub expires_timestamp: Option<i64>,
    /// The permissions the application asks for.
    pub requested_permissions: Vec<String>,
    /// `ACTIVE`, `BLOCKED`, `EXPIRED`, `UNKNOWN`, when given.
    pub status: Option<String>,
}

impl fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let AuthRequest {
            request_token: _,
            authentication_url,
            expires_timestamp,
            requested_permissions,
            status,
        } = self;
        f.debug_struct("AuthRequest")
            .field("request_token", &"REDACTED")
            .field("authentication_url", &redact_url(authentication_url))
            .field("expires_timestamp", expires_timestamp)
            .field("requested_permissions", requested_permissions)
            .field("status", status)
            .finish()
    }
}

/// Whether a URL may be shown to the user to open: `https://`, or `http://` to loopback,
/// with no spaces or control characters.
pub fn is_usable_url(url: &str) -> bool {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return lower.len() > "https://".len();
    }
    let Some(rest) = lower.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl AuthRequest {
    /// Reads the result; `Err` names what is missing.
    pub fn parse(results: &Value) -> Result<AuthRequest, &'static str> {
        let request_token = results
            .get("request_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or("no request_token")?;
        let authentication_url = results
            .get("authentication_url")
            .and_then(Value::as_str)
            .ok_or("no authentication_url")?;
        if !is_usable_url(authentication_url) {
            return Err("an authentication_url that is not an https URL");
        }
        Ok(AuthRequest {
            request_token: SecretString::from(request_token.to_owned()),
            authentication_url: authentication_url.to_owned(),
            expires_timestamp: results.get("expires_timestamp").and_then(int),
            // The documentation's structure table misspells it; the server and the
            // examples say `requested_permissions`.
            requested_permissions: permissions(
                results
                    .get("requested_permissions")
                    .or_else(|| results.get("request_permissions")),
            )
            .unwrap_or_default(),
            status: results.get("status").and_then(Value::as_str).map(clean),
        })
    }
}

/// The `process_authentication` result once the user approved.
pub struct Approval {
    /// The access token.
    pub access_token: SecretString,
    /// What the user granted (may be fewer than requested).
    pub granted_permissions: Vec<String>,
    /// When the token expires (service clock), if given.
    pub expires_timestamp: Option<i64>,
}

impl fmt::Debug for Approval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Approval {
            access_token: _,
            granted_permissions,
            expires_timestamp,
        } = self;
        f.debug_struct("Approval")
            .field("access_token", &"REDACTED")
            .field("granted_permissions", granted_permissions)
            .field("expires_timestamp", expires_timestamp)
            .finish()
    }
}

impl Approval {
    /// Reads the result; `Err` names what is missing.
    pub fn parse(results: &Value) -> Result<Approval, &'static str> {
        let access_token = results
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or("no access_token")?;
        if access_token
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err("an access_token with spaces or control characters");
        }
        Ok(Approval {
            access_token: SecretString::from(access_token.to_owned()),
            granted_permissions: permissions(results.get("granted_permissions"))
                .unwrap_or_default(),
            expires_timestamp: results.get("expires_timestamp").and_then(int),
        })
    }
}

/// The `get_access_token` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessInfo {
    /// The granted permissions, when given.
    pub granted_permissions: Option<Vec<String>>,
    /// When the token expires (service clock), when given.
    pub expires_timestamp: Option<i64>,
}

impl AccessInfo {
    /// Reads the result.
    pub fn parse(results: &Value) -> AccessInfo {
        AccessInfo {
            granted_permissions: permissions(results.get("granted_permissions")),
            expires_timestamp: results.get("expires_timestamp").and_then(int),
        }
    }
}

/// The user name from a `get_user` result.
pub fn username(results: &Value) -> Option<String> {
    results
        .get("username")
        .and_then(Value::as_str)
        .map(clean)
        .filter(|u| !u.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyhelm_core::msg::Account;

    fn resp(status: u16, content_type: &str, body: &str) -> HttpResponse {
        HttpResponse::new(
            status,
            vec![("content-type".into(), content_type.into())],
            body.as_bytes().to_vec(),
        )
    }

    fn json(status: u16, body: &str) -> HttpResponse {
        resp(status, "application/json", body)
    }

    #[test]
    fn requests_are_forms_with_a_user_agent_and_no_secret_in_the_url() {
        let mut a = Account::new("work");
        a.base_url = Some("http://127.0.0.1:9/intellivoid/v1".into());
        a.settings.insert("application_id".into(), "APP1".into());
        a.secrets
            .insert("secret_key".into(), SecretString::from("s&cret=1"));
        let s = Settings::from_account(&a).unwrap();
        let r = build(
            &s,
            Method::ProcessAuthentication,
            &[("request_token", "rt")],
        );
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.url,
            "http://127.0.0.1:9/intellivoid/v1/coa/auth/process_authentication"
        );
        assert_eq!(
            std::str::from_utf8(&r.body).unwrap(),
            "application_id=APP1&secret_key=s%26cret%3D1&request_token=rt"
        );
        let header = |name: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("user-agent"), Some(USER_AGENT));
        assert!(USER_AGENT.starts_with("keyhelm-intellivoid/"));
        assert_eq!(
            header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert!(!format!("{r:?}").contains("s&cret"));
    }

    #[test]
    fn method_paths() {
        for (m, path) in [
            (
                Method::RequestAuthentication,
                "coa/auth/request_authentication",
            ),
            (
                Method::ProcessAuthentication,
                "coa/auth/process_authentication",
            ),
            (Method::GetAccessToken, "coa/auth/get_access_token"),
            (Method::GetUser, "accounts/get_user"),
            (Method::GetEmail, "accounts/get_email"),
            (
                Method::GetPersonalInformation,
                "accounts/get_personal_information",
            ),
        ] {
            assert_eq!(m.path(), path);
            assert!(path.ends_with(m.name()));
        }
    }

    #[test]
    fn success_gives_the_results() {
        let r = classify(&json(
            200,
            r#"{"success":true,"response_code":200,"results":{"a":1},"extra":[1]}"#,
        ))
        .unwrap();
        assert_eq!(r["a"], 1);
        assert_eq!(format!("{r:?}"), "Results(REDACTED)");
        let mut v = serde_json::json!({"t": "s3cret", "l": ["x"], "n": 1});
        wipe(&mut v);
        assert_eq!(v, serde_json::json!({"t": "", "l": [""], "n": 1}));
    }

    #[test]
    fn the_user_agent_quirk_is_an_error_despite_success_true() {
        let body = r#"{"success":true,"response_code":400,"error":{"error_code":0,"type":"CLIENT","message":"The given user-agent header is invalid/missing"}}"#;
        assert_eq!(classify(&json(400, body)), Err(ApiError::UserAgentRefused));
        assert_eq!(
            ApiError::UserAgentRefused.to_string(),
            "HTTP 400, the User-Agent was refused"
        );
        // success:true on any non-2xx status is still an error.
        let body = r#"{"success":true,"response_code":403,"error":{"error_code":29,"type":"COA","message":"ACCESS DENIED, USER DISABLED ACCESS"}}"#;
        assert_eq!(classify(&json(403, body)).unwrap_err().code(), Some(29));
        let body = r#"{"success":true,"response_code":500}"#;
        assert_eq!(
            classify(&json(500, body)),
            Err(ApiError::Unreadable {
                status: 500,
                detail: "the error answer has no error object"
            })
        );
    }

    #[test]
    fn coa_errors_keep_status_type_code_and_message() {
        let body = r#"{"success":false,"response_code":400,"error":{"error_code":41,"message":"AWAITING AUTHENTICATION","type":"COA"}}"#;
        assert_eq!(
            classify(&json(400, body)),
            Err(ApiError::Service {
                status: 400,
                error_type: "COA".into(),
                code: Some(41),
                message: "AWAITING AUTHENTICATION".into()
            })
        );
        // A code as a string, a missing type, control characters in the text.
        let body = r#"{"error":{"error_code":"34","message":"REQUEST\nTOKEN EXPIRED"}}"#;
        let e = classify(&json(400, body)).unwrap_err();
        assert_eq!(
            e,
            ApiError::Service {
                status: 400,
                error_type: String::new(),
                code: Some(34),
                message: "REQUESTTOKEN EXPIRED".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "HTTP 400, untyped error 34: REQUESTTOKEN EXPIRED"
        );
        // An error envelope with a 200.
        let body = r#"{"success":false,"response_code":200,"error":{"error_code":5,"type":"COA","message":"X"}}"#;
        assert_eq!(classify(&json(200, body)).unwrap_err().code(), Some(5));
    }

    #[test]
    fn html_and_garbage_are_not_json() {
        let e = classify(&resp(
            404,
            "text/html; charset=utf-8",
            "<html><body>Not Found</body></html>",
        ))
        .unwrap_err();
        assert_eq!(
            e,
            ApiError::NotJson {
                status: 404,
                content_type: "text/html".into()
            }
        );
        assert_eq!(e.to_string(), "HTTP 404, not JSON (text/html)");
        let e = classify(&HttpResponse::new(502, vec![], b"\xff\x00".to_vec())).unwrap_err();
        assert_eq!(
            e,
            ApiError::NotJson {
                status: 502,
                content_type: "no content type".into()
            }
        );
        assert!(e.is_transient());
        let e = classify(&json(200, "")).unwrap_err();
        assert!(matches!(e, ApiError::NotJson { status: 200, .. }));
        assert_eq!(
            classify(&json(200, "[1,2]")),
            Err(ApiError::Unreadable {
                status: 200,
                detail: "the answer is JSON but not an object"
            })
        );
        assert_eq!(
            classify(&json(200, r#"{"success":true}"#)),
            Err(ApiError::Unreadable {
                status: 200,
                detail: "the answer has no results"
            })
        );
        assert_eq!(
            classify(&json(200, r#"{"success":false}"#)),
            Err(ApiError::Unreadable {
                status: 200,
                detail: "the answer says it failed but has no error"
            })
        );
    }

    #[test]
    fn redirects_and_rate_limits() {
        let r = HttpResponse::new(
            302,
            vec![(
                "location".into(),
                "https://elsewhere.example/x?token=abc".into(),
            )],
            vec![],
        );
        let e = classify(&r).unwrap_err();
        assert_eq!(
            e,
            ApiError::Redirect {
                status: 302,
                location: Some("https://elsewhere.example/x?REDACTED".into())
            }
        );
        assert_eq!(
            e.to_string(),
            "HTTP 302, a redirect to https://elsewhere.example/x?REDACTED"
        );
        let e = classify(&HttpResponse::new(301, vec![], vec![])).unwrap_err();
        assert_eq!(e.to_string(), "HTTP 301, a redirect to nowhere");
        let r = HttpResponse::new(429, vec![("retry-after".into(), "7".into())], vec![]);
        assert_eq!(
            classify(&r),
            Err(ApiError::RateLimited {
                retry_after: Some(7)
            })
        );
    }

    #[test]
    fn auth_request_results() {
        let v: Value = serde_json::from_str(
            r#"{"request_token":"db40","requested_permissions":["READ_USERNAME",3,"READ_EMAIL_ADDRESS"],
                "status":"ACTIVE","authentication_url":"https://accounts.intellivoid.net/auth/login?auth=application&request_token=db40",
                "expires_timestamp":1607651404}"#,
        )
        .unwrap();
        let a = AuthRequest::parse(&v).unwrap();
        assert_eq!(a.request_token.expose_secret(), "db40");
        assert_eq!(
            a.authentication_url,
            "https://accounts.intellivoid.net/auth/login?auth=application&request_token=db40"
        );
        assert_eq!(a.expires_timestamp, Some(1_607_651_404));
        assert_eq!(
            a.requested_permissions,
            ["READ_USERNAME", "READ_EMAIL_ADDRESS"]
        );
        assert_eq!(a.status.as_deref(), Some("ACTIVE"));
        let dbg = format!("{a:?}");
        assert!(!dbg.contains("db40"), "{dbg}");

        let v: Value = serde_json::from_str(
            r#"{"request_token":"t","request_permissions":["READ_TODO"],"authentication_url":"http://127.0.0.1:5/auth/login?x=1"}"#,
        )
        .unwrap();
        let a = AuthRequest::parse(&v).unwrap();
        assert_eq!(a.requested_permissions, ["READ_TODO"]);
        assert_eq!(a.expires_timestamp, None);

        for (body, why) in [
            (r#"{"authentication_url":"https://a/"}"#, "no request_token"),
            (
                r#"{"request_token":"","authentication_url":"https://a/"}"#,
                "no request_token",
            ),
            (r#"{"request_token":"t"}"#, "no authentication_url"),
            (
                r#"{"request_token":"t","authentication_url":"javascript:alert(1)"}"#,
                "an authentication_url that is not an https URL",
            ),
            (
                r#"{"request_token":"t","authentication_url":"http://evil.example/login"}"#,
                "an authentication_url that is not an https URL",
            ),
        ] {
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(AuthRequest::parse(&v).unwrap_err(), why, "{body}");
        }
    }

    #[test]
    fn usable_urls() {
        for ok in [
            "https://accounts.intellivoid.net/auth/login?auth=application",
            "http://127.0.0.1:4000/auth/login",
            "http://localhost/x",
            "http://[::1]:80/",
        ] {
            assert!(is_usable_url(ok), "{ok}");
        }
        for bad in [
            "https://",
            "http://example.com/",
            "http://127.0.0.1.evil.example/",
            "https://a/b c",
            "ftp://x/",
            "",
        ] {
            assert!(!is_usable_url(bad), "{bad}");
        }
    }

    #[test]
    fn approval_access_info_and_user_results() {
        let v: Value = serde_json::from_str(
            r#"{"access_token":"537fc7","granted_permissions":["READ_USERNAME"],"expires_timestamp":1608439904}"#,
        )
        .unwrap();
        let a = Approval::parse(&v).unwrap();
        assert_eq!(a.access_token.expose_secret(), "537fc7");
        assert_eq!(a.granted_permissions, ["READ_USERNAME"]);
        assert_eq!(a.expires_timestamp, Some(1_608_439_904));
        assert!(!format!("{a:?}").contains("537fc7"));
        for (body, why) in [
            (r#"{"granted_permissions":[]}"#, "no access_token"),
            (
                r#"{"access_token":"a b"}"#,
                "an access_token with spaces or control characters",
            ),
        ] {
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(Approval::parse(&v).unwrap_err(), why);
        }

        let v: Value = serde_json::from_str(
            r#"{"granted_permissions":["READ_USERNAME","GET_USER_DISPLAY"],"expires_timestamp":"1700000000"}"#,
        )
        .unwrap();
        assert_eq!(
            AccessInfo::parse(&v),
            AccessInfo {
                granted_permissions: Some(vec!["READ_USERNAME".into(), "GET_USER_DISPLAY".into()]),
                expires_timestamp: Some(1_700_000_000)
            }
        );
        assert_eq!(
            AccessInfo::parse(&serde_json::json!({})),
            AccessInfo {
                granted_permissions: None,
                expires_timestamp: None
            }
        );

        let v: Value =
            serde_json::from_str(r#"{"id":"b5de","username":"admin","avatar":{}}"#).unwrap();
        assert_eq!(username(&v).as_deref(), Some("admin"));
        assert_eq!(username(&serde_json::json!({"username": ""})), None);
        assert_eq!(username(&serde_json::json!({"username": null})), None);
    }
}
