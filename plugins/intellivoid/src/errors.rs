//! What each answer that is not a result means for the user: a kind keyhelm can act on, a
//! message and a hint. Every code of the COA client catalogue (providers.md §3.6) has its
//! own text; none of them holds a secret (the application id is public: it is part of every
//! authentication URL).

use keyhelm_core::msg::ErrorKind;
use keyhelm_core::redact_url;
use keyhelm_core::sdk::Error;

use crate::api::{ApiError, Method};
use crate::settings::{DEFAULT_BASE_URL, readd_hint};

/// Where an answer came from, for the message.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The keyhelm account.
    pub account: &'a str,
    /// The API base URL.
    pub base_url: &'a str,
    /// The application id.
    pub application_id: &'a str,
    /// The method called.
    pub method: Method,
}

/// Codes that mean the saved access token no longer works, so only a new login helps:
/// 19 access does not exist, 25 unknown token, 26 account gone, 27 expired, 29 revoked.
pub fn is_access_gone(code: Option<i64>) -> bool {
    matches!(code, Some(19 | 25 | 26 | 27 | 29))
}

/// The hint that sends the user to log in again.
pub fn login_hint(account: &str) -> String {
    format!("run `keyhelm login {account}` in a terminal and approve the request in the browser")
}

fn url_hint(ctx: &Context<'_>) -> String {
    format!(
        "the account URL {} must be the API base ending in /intellivoid/v1 (default {DEFAULT_BASE_URL}); {}",
        redact_url(ctx.base_url),
        readd_hint(ctx.account, "the right --url")
    )
}

/// The error for an answer that is not a result.
pub fn describe(e: &ApiError, ctx: &Context<'_>) -> Error {
    let method = ctx.method.name();
    match e {
        ApiError::Service {
            status,
            error_type,
            code,
            message,
        } => match (error_type.as_str(), *code) {
            ("SERVER", Some(0)) | ("SERVER", None) if *status == 404 => Error::new(
                ErrorKind::BadSettings,
                format!(
                    "there is no Intellivoid API method {method} at {} (HTTP 404)",
                    redact_url(ctx.base_url)
                ),
            )
            .with_hint(url_hint(ctx)),
            ("SERVER", Some(1)) => Error::new(
                ErrorKind::Internal,
                format!("Intellivoid refused the HTTP method of {method} (HTTP {status}, SERVER error 1)"),
            )
            .with_hint("this is a bug in the intellivoid plugin; please report it"),
            ("SERVER", _) => Error::new(
                ErrorKind::ServiceError,
                format!(
                    "Intellivoid had an internal error while answering {method} (HTTP {status}, SERVER error {})",
                    code.map_or_else(|| "?".to_owned(), |c| c.to_string())
                ),
            )
            .with_hint("try again later"),
            _ => coa(*status, *code, message, ctx),
        },
        ApiError::UserAgentRefused => Error::new(
            ErrorKind::ServiceError,
            format!("Intellivoid refused the User-Agent header of {method} (HTTP 400)"),
        )
        .with_hint(
            "keyhelm sends one on every request: a proxy between keyhelm and Intellivoid may be removing it",
        ),
        ApiError::RateLimited { retry_after } => {
            let err = Error::new(
                ErrorKind::RateLimited,
                format!("Intellivoid answered {method} with too many requests (HTTP 429)"),
            );
            match retry_after {
                Some(secs) => err.with_retry_after(*secs),
                None => err,
            }
        }
        ApiError::Redirect { status, location } => Error::new(
            ErrorKind::ServiceError,
            format!(
                "Intellivoid answered {method} with a redirect (HTTP {status} to {})",
                location.as_deref().unwrap_or("nowhere")
            ),
        )
        .with_hint(url_hint(ctx)),
        ApiError::NotJson {
            status,
            content_type,
        } => {
            let msg = format!(
                "Intellivoid answered {method} with something that is not JSON (HTTP {status}, {content_type})"
            );
            if *status >= 500 {
                Error::new(ErrorKind::ServiceError, msg)
                    .with_hint("Intellivoid or a proxy in front of it has a problem; try again later")
            } else if *status == 404 {
                Error::new(ErrorKind::BadSettings, msg).with_hint(url_hint(ctx))
            } else {
                Error::new(ErrorKind::ServiceError, msg).with_hint(url_hint(ctx))
            }
        }
        ApiError::Unreadable { status, detail } => Error::new(
            ErrorKind::ServiceError,
            format!("Intellivoid's answer to {method} cannot be used: {detail} (HTTP {status})"),
        )
        .with_hint(url_hint(ctx)),
    }
}

/// A malformed success, e.g. a result without its access token.
pub fn malformed(ctx: &Context<'_>, what: &str) -> Error {
    Error::new(
        ErrorKind::ServiceError,
        format!("Intellivoid's answer to {} has {what}", ctx.method.name()),
    )
    .with_hint(url_hint(ctx))
}

fn coa(status: u16, code: Option<i64>, message: &str, ctx: &Context<'_>) -> Error {
    let account = ctx.account;
    let app = ctx.application_id;
    let method = ctx.method.name();
    let Some(code) = code else {
        return Error::new(
            ErrorKind::ServiceError,
            format!(
                "Intellivoid refused {method} without an error code (HTTP {status}: {message})"
            ),
        );
    };
    let (kind, text, hint): (ErrorKind, String, Option<String>) = match code {
        -1 | 21 => (
            ErrorKind::ServiceError,
            format!("Intellivoid had an internal error while answering {method} (code {code})"),
            Some("try again later".to_owned()),
        ),
        1 => (
            ErrorKind::BadSettings,
            "Intellivoid did not receive the application id (code 1)".to_owned(),
            Some(format!(
                "check the application_id with `keyhelm account show {account}`; a proxy may be dropping the request body"
            )),
        ),
        2 => (
            ErrorKind::BadSettings,
            format!("Intellivoid does not know the application id {app} (code 2)"),
            Some(format!(
                "compare it with the Application ID in the Intellivoid developer console; {}",
                readd_hint(account, "--set application_id=<the right id>")
            )),
        ),
        3 => (
            ErrorKind::AuthFailed,
            format!("Intellivoid has suspended the application {app} (code 3)"),
            Some("nobody can log in through a suspended application; its owner must settle it with Intellivoid".to_owned()),
        ),
        4 => (
            ErrorKind::AuthFailed,
            format!("the application {app} is disabled at Intellivoid (code 4)"),
            Some("enable it in the Intellivoid developer console, or use another application".to_owned()),
        ),
        5 => (
            ErrorKind::ServiceError,
            "Intellivoid cannot verify this client's host (code 5)".to_owned(),
            Some("try again later".to_owned()),
        ),
        6 | 16 | 35 => (
            ErrorKind::BadSettings,
            format!(
                "the application {app} does not use the Application Placeholder authentication mode that keyhelm needs (code {code}: {})",
                match code {
                    6 => "Intellivoid asks for a redirect URL",
                    16 => "Intellivoid refused the redirect URL",
                    _ => "Intellivoid does not support this authentication type here",
                }
            ),
            Some("set the application's authentication mode to Application Placeholder in the Intellivoid developer console".to_owned()),
        ),
        19 => (
            ErrorKind::NeedsLogin,
            "Intellivoid has no record of the saved access (code 19)".to_owned(),
            Some(login_hint(account)),
        ),
        20 => (
            ErrorKind::Other,
            "Intellivoid says the login request was already used (code 20)".to_owned(),
            Some(login_hint(account)),
        ),
        22 => (
            ErrorKind::BadSettings,
            "Intellivoid did not receive the application's secret key (code 22)".to_owned(),
            Some(readd_hint(
                account,
                "the application's Secret Key when keyhelm asks for secret_key",
            )),
        ),
        23 => (
            ErrorKind::AuthFailed,
            format!("Intellivoid refused the secret key of the application {app} (code 23)"),
            Some(format!(
                "the account's secret_key is not the application's Secret Key; {}",
                readd_hint(account, "the right key")
            )),
        ),
        24 => (
            ErrorKind::Internal,
            format!("keyhelm sent {method} without an access token (Intellivoid code 24)"),
            Some(format!(
                "this is a bug in the intellivoid plugin; {}",
                login_hint(account)
            )),
        ),
        25 => (
            ErrorKind::NeedsLogin,
            "Intellivoid does not know the saved access token (code 25)".to_owned(),
            Some(login_hint(account)),
        ),
        26 => (
            ErrorKind::NeedsLogin,
            "the Intellivoid account that approved keyhelm no longer exists (code 26)".to_owned(),
            Some(login_hint(account)),
        ),
        27 => (
            ErrorKind::NeedsLogin,
            "the saved Intellivoid access token has expired (code 27)".to_owned(),
            Some(login_hint(account)),
        ),
        28 => (
            ErrorKind::AuthFailed,
            "your Intellivoid account is suspended (code 28)".to_owned(),
            Some("log in at https://accounts.intellivoid.net to see why; keyhelm cannot use a suspended account".to_owned()),
        ),
        29 => (
            ErrorKind::NeedsLogin,
            "keyhelm's access to your Intellivoid account was revoked (code 29)".to_owned(),
            Some(login_hint(account)),
        ),
        30 => (
            ErrorKind::Other,
            format!("Intellivoid refused {method}: the access lacks a permission it needs (code 30)"),
            Some(format!(
                "leave that permission ticked when you approve: {}",
                login_hint(account)
            )),
        ),
        34 => (
            ErrorKind::Other,
            "the login request expired before it was approved (Intellivoid code 34)".to_owned(),
            Some(format!(
                "run `keyhelm login {account}` and approve the request in the browser within 10 minutes"
            )),
        ),
        39 => (
            ErrorKind::Internal,
            format!("keyhelm sent {method} without a request token (Intellivoid code 39)"),
            Some(format!(
                "this is a bug in the intellivoid plugin; {}",
                login_hint(account)
            )),
        ),
        40 => (
            ErrorKind::ServiceError,
            "Intellivoid does not know the login request (code 40)".to_owned(),
            Some(login_hint(account)),
        ),
        41 => (
            ErrorKind::Other,
            "the login request has not been approved yet (Intellivoid code 41)".to_owned(),
            Some(login_hint(account)),
        ),
        51 => (
            ErrorKind::AuthFailed,
            "Intellivoid has locked your account for security reasons (code 51)".to_owned(),
            Some(format!(
                "log in at https://accounts.intellivoid.net and do what it asks (verification, password recovery), then run `keyhelm login {account}`"
            )),
        ),
        _ => (
            if status >= 500 {
                ErrorKind::ServiceError
            } else {
                ErrorKind::Other
            },
            format!("Intellivoid refused {method}: {message} (code {code}, HTTP {status})"),
            None,
        ),
    };
    let err = Error::new(kind, text);
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: Context<'static> = Context {
        account: "work",
        base_url: "https://api.intellivoid.net/intellivoid/v1",
        application_id: "APP42",
        method: Method::ProcessAuthentication,
    };

    fn service(status: u16, code: i64) -> ApiError {
        ApiError::Service {
            status,
            error_type: "COA".into(),
            code: Some(code),
            message: "WHATEVER THE SERVER SAYS".into(),
        }
    }

    const LOGIN: &str =
        "run `keyhelm login work` in a terminal and approve the request in the browser";
    const URL_HINT: &str = "the account URL https://api.intellivoid.net/intellivoid/v1 must be the API base ending in /intellivoid/v1 (default https://api.intellivoid.net/intellivoid/v1); remove the account (`keyhelm account remove work`) and add it again with the right --url";

    /// Every code of the client catalogue (providers.md §3.6), with its HTTP status, has
    /// its own kind, message and hint.
    #[test]
    fn every_documented_code_has_an_actionable_message() {
        let cases: &[(u16, i64, ErrorKind, &str, Option<&str>)] = &[
            (
                500,
                -1,
                ErrorKind::ServiceError,
                "Intellivoid had an internal error while answering process_authentication (code -1)",
                Some("try again later"),
            ),
            (
                401,
                1,
                ErrorKind::BadSettings,
                "Intellivoid did not receive the application id (code 1)",
                Some(
                    "check the application_id with `keyhelm account show work`; a proxy may be dropping the request body",
                ),
            ),
            (
                404,
                2,
                ErrorKind::BadSettings,
                "Intellivoid does not know the application id APP42 (code 2)",
                Some(
                    "compare it with the Application ID in the Intellivoid developer console; remove the account (`keyhelm account remove work`) and add it again with --set application_id=<the right id>",
                ),
            ),
            (
                403,
                3,
                ErrorKind::AuthFailed,
                "Intellivoid has suspended the application APP42 (code 3)",
                Some(
                    "nobody can log in through a suspended application; its owner must settle it with Intellivoid",
                ),
            ),
            (
                403,
                4,
                ErrorKind::AuthFailed,
                "the application APP42 is disabled at Intellivoid (code 4)",
                Some("enable it in the Intellivoid developer console, or use another application"),
            ),
            (
                400,
                5,
                ErrorKind::ServiceError,
                "Intellivoid cannot verify this client's host (code 5)",
                Some("try again later"),
            ),
            (
                400,
                6,
                ErrorKind::BadSettings,
                "the application APP42 does not use the Application Placeholder authentication mode that keyhelm needs (code 6: Intellivoid asks for a redirect URL)",
                Some(
                    "set the application's authentication mode to Application Placeholder in the Intellivoid developer console",
                ),
            ),
            (
                400,
                16,
                ErrorKind::BadSettings,
                "the application APP42 does not use the Application Placeholder authentication mode that keyhelm needs (code 16: Intellivoid refused the redirect URL)",
                Some(
                    "set the application's authentication mode to Application Placeholder in the Intellivoid developer console",
                ),
            ),
            (
                403,
                19,
                ErrorKind::NeedsLogin,
                "Intellivoid has no record of the saved access (code 19)",
                Some(LOGIN),
            ),
            (
                400,
                20,
                ErrorKind::Other,
                "Intellivoid says the login request was already used (code 20)",
                Some(LOGIN),
            ),
            (
                500,
                21,
                ErrorKind::ServiceError,
                "Intellivoid had an internal error while answering process_authentication (code 21)",
                Some("try again later"),
            ),
            (
                401,
                22,
                ErrorKind::BadSettings,
                "Intellivoid did not receive the application's secret key (code 22)",
                Some(
                    "remove the account (`keyhelm account remove work`) and add it again with the application's Secret Key when keyhelm asks for secret_key",
                ),
            ),
            (
                401,
                23,
                ErrorKind::AuthFailed,
                "Intellivoid refused the secret key of the application APP42 (code 23)",
                Some(
                    "the account's secret_key is not the application's Secret Key; remove the account (`keyhelm account remove work`) and add it again with the right key",
                ),
            ),
            (
                401,
                24,
                ErrorKind::Internal,
                "keyhelm sent process_authentication without an access token (Intellivoid code 24)",
                Some(
                    "this is a bug in the intellivoid plugin; run `keyhelm login work` in a terminal and approve the request in the browser",
                ),
            ),
            (
                401,
                25,
                ErrorKind::NeedsLogin,
                "Intellivoid does not know the saved access token (code 25)",
                Some(LOGIN),
            ),
            (
                403,
                26,
                ErrorKind::NeedsLogin,
                "the Intellivoid account that approved keyhelm no longer exists (code 26)",
                Some(LOGIN),
            ),
            (
                403,
                27,
                ErrorKind::NeedsLogin,
                "the saved Intellivoid access token has expired (code 27)",
                Some(LOGIN),
            ),
            (
                403,
                28,
                ErrorKind::AuthFailed,
                "your Intellivoid account is suspended (code 28)",
                Some(
                    "log in at https://accounts.intellivoid.net to see why; keyhelm cannot use a suspended account",
                ),
            ),
            (
                403,
                29,
                ErrorKind::NeedsLogin,
                "keyhelm's access to your Intellivoid account was revoked (code 29)",
                Some(LOGIN),
            ),
            (
                403,
                30,
                ErrorKind::Other,
                "Intellivoid refused process_authentication: the access lacks a permission it needs (code 30)",
                Some(
                    "leave that permission ticked when you approve: run `keyhelm login work` in a terminal and approve the request in the browser",
                ),
            ),
            (
                400,
                34,
                ErrorKind::Other,
                "the login request expired before it was approved (Intellivoid code 34)",
                Some(
                    "run `keyhelm login work` and approve the request in the browser within 10 minutes",
                ),
            ),
            (
                400,
                35,
                ErrorKind::BadSettings,
                "the application APP42 does not use the Application Placeholder authentication mode that keyhelm needs (code 35: Intellivoid does not support this authentication type here)",
                Some(
                    "set the application's authentication mode to Application Placeholder in the Intellivoid developer console",
                ),
            ),
            (
                400,
                39,
                ErrorKind::Internal,
                "keyhelm sent process_authentication without a request token (Intellivoid code 39)",
                Some(
                    "this is a bug in the intellivoid plugin; run `keyhelm login work` in a terminal and approve the request in the browser",
                ),
            ),
            (
                400,
                40,
                ErrorKind::ServiceError,
                "Intellivoid does not know the login request (code 40)",
                Some(LOGIN),
            ),
            (
                400,
                41,
                ErrorKind::Other,
                "the login request has not been approved yet (Intellivoid code 41)",
                Some(LOGIN),
            ),
            (
                403,
                51,
                ErrorKind::AuthFailed,
                "Intellivoid has locked your account for security reasons (code 51)",
                Some(
                    "log in at https://accounts.intellivoid.net and do what it asks (verification, password recovery), then run `keyhelm login work`",
                ),
            ),
            (
                403,
                44,
                ErrorKind::Other,
                "Intellivoid refused process_authentication: WHATEVER THE SERVER SAYS (code 44, HTTP 403)",
                None,
            ),
            (
                503,
                99,
                ErrorKind::ServiceError,
                "Intellivoid refused process_authentication: WHATEVER THE SERVER SAYS (code 99, HTTP 503)",
                None,
            ),
        ];
        for (status, code, kind, message, hint) in cases {
            let e = describe(&service(*status, *code), &CTX);
            assert_eq!(e.kind, *kind, "code {code}");
            assert_eq!(e.message, *message, "code {code}");
            assert_eq!(e.hint.as_deref(), *hint, "code {code}");
        }
    }

    #[test]
    fn gone_codes_are_the_ones_only_a_new_login_fixes() {
        let gone: Vec<i64> = (-1..60).filter(|c| is_access_gone(Some(*c))).collect();
        assert_eq!(gone, [19, 25, 26, 27, 29]);
        assert!(!is_access_gone(None));
    }

    #[test]
    fn server_and_transport_level_answers() {
        let cases: Vec<(ApiError, ErrorKind, &str, Option<&str>)> = vec![
            (
                ApiError::Service {
                    status: 404,
                    error_type: "SERVER".into(),
                    code: Some(0),
                    message: "The requested resource/action is invalid or not found".into(),
                },
                ErrorKind::BadSettings,
                "there is no Intellivoid API method process_authentication at https://api.intellivoid.net/intellivoid/v1 (HTTP 404)",
                Some(URL_HINT),
            ),
            (
                ApiError::Service {
                    status: 400,
                    error_type: "SERVER".into(),
                    code: Some(1),
                    message: "The given version for this API is not supported".into(),
                },
                ErrorKind::Internal,
                "Intellivoid refused the HTTP method of process_authentication (HTTP 400, SERVER error 1)",
                Some("this is a bug in the intellivoid plugin; please report it"),
            ),
            (
                ApiError::Service {
                    status: 500,
                    error_type: "SERVER".into(),
                    code: Some(-1),
                    message: "An unexpected internal server occurred".into(),
                },
                ErrorKind::ServiceError,
                "Intellivoid had an internal error while answering process_authentication (HTTP 500, SERVER error -1)",
                Some("try again later"),
            ),
            (
                ApiError::Service {
                    status: 400,
                    error_type: "COA".into(),
                    code: None,
                    message: "ODD".into(),
                },
                ErrorKind::ServiceError,
                "Intellivoid refused process_authentication without an error code (HTTP 400: ODD)",
                None,
            ),
            (
                ApiError::UserAgentRefused,
                ErrorKind::ServiceError,
                "Intellivoid refused the User-Agent header of process_authentication (HTTP 400)",
                Some(
                    "keyhelm sends one on every request: a proxy between keyhelm and Intellivoid may be removing it",
                ),
            ),
            (
                ApiError::RateLimited { retry_after: None },
                ErrorKind::RateLimited,
                "Intellivoid answered process_authentication with too many requests (HTTP 429)",
                None,
            ),
            (
                ApiError::Redirect {
                    status: 301,
                    location: Some("https://new.example/v1?REDACTED".into()),
                },
                ErrorKind::ServiceError,
                "Intellivoid answered process_authentication with a redirect (HTTP 301 to https://new.example/v1?REDACTED)",
                Some(URL_HINT),
            ),
            (
                ApiError::Redirect {
                    status: 302,
                    location: None,
                },
                ErrorKind::ServiceError,
                "Intellivoid answered process_authentication with a redirect (HTTP 302 to nowhere)",
                Some(URL_HINT),
            ),
            (
                ApiError::NotJson {
                    status: 404,
                    content_type: "text/html".into(),
                },
                ErrorKind::BadSettings,
                "Intellivoid answered process_authentication with something that is not JSON (HTTP 404, text/html)",
                Some(URL_HINT),
            ),
            (
                ApiError::NotJson {
                    status: 502,
                    content_type: "text/html".into(),
                },
                ErrorKind::ServiceError,
                "Intellivoid answered process_authentication with something that is not JSON (HTTP 502, text/html)",
                Some("Intellivoid or a proxy in front of it has a problem; try again later"),
            ),
            (
                ApiError::NotJson {
                    status: 200,
                    content_type: "no content type".into(),
                },
                ErrorKind::ServiceError,
                "Intellivoid answered process_authentication with something that is not JSON (HTTP 200, no content type)",
                Some(URL_HINT),
            ),
            (
                ApiError::Unreadable {
                    status: 200,
                    detail: "the answer has no results",
                },
                ErrorKind::ServiceError,
                "Intellivoid's answer to process_authentication cannot be used: the answer has no results (HTTP 200)",
                Some(URL_HINT),
            ),
        ];
        for (e, kind, message, hint) in cases {
            let d = describe(&e, &CTX);
            assert_eq!(
                (d.kind, d.message.as_str(), d.hint.as_deref()),
                (kind, message, hint)
            );
        }
        let d = describe(
            &ApiError::RateLimited {
                retry_after: Some(9),
            },
            &CTX,
        );
        assert_eq!(d.retry_after, Some(9));
        let d = malformed(&CTX, "no access_token");
        assert_eq!(d.kind, ErrorKind::ServiceError);
        assert_eq!(
            d.message,
            "Intellivoid's answer to process_authentication has no access_token"
        );
        assert_eq!(d.hint.as_deref(), Some(URL_HINT));
    }
}
