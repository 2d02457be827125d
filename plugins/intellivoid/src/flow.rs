//! The login (COA placeholder mode) and the renewal of a saved access token.
//!
//! Login: `request_authentication` → one `process_authentication` at once (it checks the
//! secret key and the application before the user is bothered) → show the
//! `authentication_url` → poll `process_authentication` every `poll_interval_ms` while it
//! answers 41, until it answers the token, 34, or the request token's lifetime has passed →
//! `get_user` when the grant allows it (the user's name) → `get_access_token` (the expiry,
//! which `get_user` has just moved).
//!
//! Renewal: there is no refresh grant; an access token lives as long as it is used. So the
//! saved token is used: an `accounts/*` method the grant allows (which slides its expiry and
//! says 29 when it was revoked, 27 when it expired), then `get_access_token` for the new
//! expiry. When the token is gone, a new login follows, which needs the user.

use std::time::Duration;

use keyhelm_core::msg::{ErrorKind, GetRequest, GetResponse, StateUpdate};
use keyhelm_core::sdk::{Error, Host, Result};
use keyhelm_core::secrecy::ExposeSecret;

use crate::api::{self, AccessInfo, ApiError, Approval, AuthRequest, Method, Results};
use crate::errors::{self, Context, is_access_gone, login_hint};
use crate::settings::Settings;
use crate::state::Saved;

/// The documented request-token lifetime, used when the answer gives none or one that the
/// local clock cannot make sense of.
pub const REQUEST_TTL_SECS: i64 = 600;
/// Seconds the local deadline waits past the request token's expiry (clocks differ a little;
/// the service's 34 is the authority).
pub const DEADLINE_GRACE_SECS: i64 = 2;
/// Consecutive network failures or 5xx answers tolerated while polling.
pub const MAX_TRANSIENT_FAILURES: u32 = 3;
/// The expiry assumed after a use whose new expiry could not be read: the shorter of the
/// two slides found in the service's source (12 h; the documentation says 48 h).
pub const FALLBACK_LIFETIME_SECS: i64 = 43_200;

const READ_USERNAME: &str = "READ_USERNAME";
const GET_USER_DISPLAY: &str = "GET_USER_DISPLAY";
const READ_EMAIL_ADDRESS: &str = "READ_EMAIL_ADDRESS";
const READ_PERSONAL_INFORMATION: &str = "READ_PERSONAL_INFORMATION";

/// The API, through the host, for one account.
struct Client<'a, 'h> {
    host: &'a Host<'h>,
    settings: &'a Settings,
}

impl Client<'_, '_> {
    fn ctx(&self, method: Method) -> Context<'_> {
        Context {
            account: &self.settings.account,
            base_url: &self.settings.base_url,
            application_id: &self.settings.application_id,
            method,
        }
    }

    /// One call. `Err`: no answer (refused by the host, network); `Ok(Err)`: the service
    /// answered with something that is not a result.
    fn call(
        &self,
        method: Method,
        extra: &[(&str, &str)],
    ) -> Result<std::result::Result<Results, ApiError>> {
        let req = api::build(self.settings, method, extra);
        let resp = self.host.http(&req)?;
        let out = api::classify(&resp);
        match &out {
            Ok(_) => self
                .host
                .debug(&format!("intellivoid: {} succeeded", method.name())),
            Err(e) => self
                .host
                .debug(&format!("intellivoid: {} answered {e}", method.name())),
        }
        Ok(out)
    }

    fn fail(&self, method: Method, e: &ApiError) -> Error {
        errors::describe(e, &self.ctx(method))
    }

    /// Shows a line to the user; a failure to show it is not worth failing the login.
    fn say(&self, text: &str) {
        if let Err(e) = self.host.message(text) {
            self.host
                .debug(&format!("intellivoid: could not show a message: {e}"));
        }
    }
}

/// `get`: renew the saved access when there is one (and no fresh login was asked for),
/// else log in.
pub fn get(host: &Host<'_>, req: &GetRequest) -> Result<GetResponse> {
    let settings = Settings::from_account(&req.account)?;
    let client = Client {
        host,
        settings: &settings,
    };
    let saved = match (&req.state, req.request.force_login) {
        (Some(text), false) => match Saved::parse(text, &settings.application_id) {
            Ok(saved) => Some(saved),
            Err(why) => {
                host.debug(&format!("intellivoid: not renewing: {why}"));
                None
            }
        },
        _ => None,
    };
    let mut why_login = None;
    if let Some(saved) = saved {
        match renew(&client, saved)? {
            Ok(answer) => return Ok(answer),
            Err(why) => {
                host.info(&format!("intellivoid: the saved access is gone: {why}"));
                why_login = Some(why);
            }
        }
    }
    login(&client, req, why_login)
}

/// Which `accounts/*` method renews (uses) a token with this grant.
pub fn probe_method(granted: &[String]) -> Option<Method> {
    let has = |p: &str| granted.iter().any(|g| g == p);
    if has(READ_USERNAME) && has(GET_USER_DISPLAY) {
        Some(Method::GetUser)
    } else if has(READ_EMAIL_ADDRESS) {
        Some(Method::GetEmail)
    } else if has(READ_PERSONAL_INFORMATION) {
        Some(Method::GetPersonalInformation)
    } else {
        None
    }
}

/// The requested permissions that were not granted, in request order.
pub fn not_granted(requested: &[String], granted: &[String]) -> Vec<String> {
    requested
        .iter()
        .filter(|p| !granted.contains(p))
        .cloned()
        .collect()
}

/// The local time after which polling stops: the request token's expiry by the service's
/// answer when the local clock agrees it is in the next hour, else the documented 600 s.
pub fn request_deadline(now: i64, expires_timestamp: Option<i64>) -> i64 {
    let lifetime = match expires_timestamp.map(|t| t.saturating_sub(now)) {
        Some(left) if left > 0 && left <= 3600 => left,
        _ => REQUEST_TTL_SECS,
    };
    now + lifetime + DEADLINE_GRACE_SECS
}

/// "10 minutes", "30 seconds".
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    if secs >= 120 {
        format!("{} minutes", (secs + 59) / 60)
    } else if secs == 1 {
        "1 second".to_owned()
    } else {
        format!("{secs} seconds")
    }
}

/// The answer for a saved login: the token, its expiry, the user, the grant, and the state.
pub fn answer(saved: &Saved) -> GetResponse {
    let mut r = GetResponse::new(saved.access_token.expose_secret()).authtype("Bearer");
    if let Some(t) = saved.expires_at {
        r = r.expires_at(t);
    }
    if let Some(u) = &saved.username {
        r = r.username(u);
    }
    for p in &saved.granted {
        r = r.scope(p);
    }
    let missing = not_granted(&saved.requested, &saved.granted);
    if !missing.is_empty() {
        r = r.info("not_granted", missing.join(", "));
    }
    r.state(StateUpdate::Replace {
        value: saved.to_secret(),
    })
}

/// Uses the saved token. `Ok(Err(why))`: it no longer works and only a new login helps.
fn renew(client: &Client<'_, '_>, saved: Saved) -> Result<std::result::Result<GetResponse, Error>> {
    let host = client.host;
    let Saved {
        application_id,
        access_token,
        expires_at: saved_expiry,
        granted: saved_granted,
        requested,
        username: saved_username,
    } = saved;
    let params = [("access_token", access_token.expose_secret())];
    let mut username = saved_username;

    // Using the token slides its expiry and tells whether it still works.
    let mut used = false;
    if let Some(method) = probe_method(&saved_granted) {
        match client.call(method, &params)? {
            Ok(results) => {
                used = true;
                if method == Method::GetUser
                    && let Some(u) = api::username(&results)
                {
                    username = Some(u);
                }
            }
            Err(e) if is_access_gone(e.code()) => return Ok(Err(client.fail(method, &e))),
            // The permission check comes after the slide.
            Err(e) if e.code() == Some(30) => used = true,
            Err(e) => return Err(client.fail(method, &e)),
        }
    }

    let now = host.now_unix();
    let read = client.call(Method::GetAccessToken, &params);
    let (expires_at, granted) = match read {
        Ok(Ok(results)) => {
            let AccessInfo {
                granted_permissions,
                expires_timestamp,
            } = AccessInfo::parse(&results);
            (
                expires_timestamp,
                granted_permissions.unwrap_or_else(|| saved_granted.clone()),
            )
        }
        Ok(Err(e)) if is_access_gone(e.code()) => {
            return Ok(Err(client.fail(Method::GetAccessToken, &e)));
        }
        Ok(Err(e)) if !used => return Err(client.fail(Method::GetAccessToken, &e)),
        Err(t) if !used => return Err(t),
        Ok(Err(_)) | Err(_) => (None, saved_granted.clone()),
    };
    let expires_at = match expires_at {
        Some(t) => t,
        None if used => now + FALLBACK_LIFETIME_SECS,
        None => saved_expiry.unwrap_or(now + FALLBACK_LIFETIME_SECS),
    };
    if !used && expires_at <= now {
        return Ok(Err(Error::new(
            ErrorKind::NeedsLogin,
            "the saved Intellivoid access token has expired",
        )
        .with_hint(login_hint(&client.settings.account))));
    }
    host.debug("intellivoid: the saved access still works");
    Ok(Ok(answer(&Saved {
        application_id,
        access_token,
        expires_at: Some(expires_at),
        granted,
        requested,
        username,
    })))
}

/// A new login, which needs the user; `why` says why the saved one could not be used.
fn login(client: &Client<'_, '_>, req: &GetRequest, why: Option<Error>) -> Result<GetResponse> {
    let account = &client.settings.account;
    if !req.request.interactive {
        return Err(match why {
            None => Error::new(
                ErrorKind::NeedsInteraction,
                "logging in to Intellivoid needs your approval in a browser, and keyhelm cannot ask you here",
            ),
            Some(why) => Error::new(
                ErrorKind::NeedsLogin,
                format!(
                    "{}; a new login needs your approval in a browser",
                    why.message
                ),
            ),
        }
        .with_hint(login_hint(account)));
    }
    let host = client.host;

    let auth = match client.call(Method::RequestAuthentication, &[])? {
        Ok(results) => AuthRequest::parse(&results)
            .map_err(|what| errors::malformed(&client.ctx(Method::RequestAuthentication), what))?,
        Err(e) => return Err(client.fail(Method::RequestAuthentication, &e)),
    };
    check_request_status(&auth, account)?;
    let deadline = request_deadline(host.now_unix(), auth.expires_timestamp);

    // One poll before the user is asked: a wrong secret key (23) or a suspended application
    // fails here, before anyone approves anything.
    let approval = match poll(client, &auth)? {
        Ok(Some(approval)) => approval,
        Ok(None) => {
            if let Some(why) = &why {
                client.say(&format!(
                    "The saved Intellivoid access of account '{account}' no longer works: {}.",
                    why.message
                ));
            }
            let valid = human_duration(deadline - DEADLINE_GRACE_SECS - host.now_unix());
            host.open_url(
                &format!(
                    "To let keyhelm use your Intellivoid account for '{account}', approve the request within {valid} at:"
                ),
                &auth.authentication_url,
            )?;
            client.say("Waiting for the approval (Ctrl-C to stop)...");
            wait_for_approval(client, &auth, deadline)?
        }
        Err(e) => return Err(client.fail(Method::ProcessAuthentication, &e)),
    };
    finish_login(client, approval, &auth.requested_permissions)
}

/// A new request is `ACTIVE`; one that is already `BLOCKED` or `EXPIRED` cannot be approved.
pub fn check_request_status(auth: &AuthRequest, account: &str) -> Result<()> {
    match auth.status.as_deref() {
        None | Some("ACTIVE") => Ok(()),
        Some(status) => Err(Error::new(
            ErrorKind::ServiceError,
            format!("Intellivoid created a login request that is already {status}"),
        )
        .with_hint(login_hint(account))),
    }
}

/// The request's lifetime passed on the local clock without an approval.
pub fn expired_locally(account: &str) -> Error {
    Error::new(
        ErrorKind::Other,
        "the login request expired before it was approved",
    )
    .with_hint(format!(
        "run `keyhelm login {account}` and approve the request in the browser in time"
    ))
}

/// One `process_authentication`: `Ok(None)` while the user has not approved (41).
fn poll(
    client: &Client<'_, '_>,
    auth: &AuthRequest,
) -> Result<std::result::Result<Option<Approval>, ApiError>> {
    let out = client.call(
        Method::ProcessAuthentication,
        &[("request_token", auth.request_token.expose_secret())],
    )?;
    Ok(match out {
        Ok(results) => Ok(Some(Approval::parse(&results).map_err(|what| {
            errors::malformed(&client.ctx(Method::ProcessAuthentication), what)
        })?)),
        Err(e) if e.code() == Some(41) => Ok(None),
        Err(e) => Err(e),
    })
}

fn wait_for_approval(
    client: &Client<'_, '_>,
    auth: &AuthRequest,
    deadline: i64,
) -> Result<Approval> {
    let host = client.host;
    let interval: Duration = client.settings.poll_interval;
    let mut failures = 0u32;
    loop {
        std::thread::sleep(interval);
        if host.now_unix() > deadline {
            return Err(expired_locally(&client.settings.account));
        }
        match poll(client, auth) {
            Ok(Ok(Some(approval))) => return Ok(approval),
            Ok(Ok(None)) => failures = 0,
            Ok(Err(e)) if e.is_transient() && failures < MAX_TRANSIENT_FAILURES => {
                failures += 1;
                host.warn(&format!(
                    "intellivoid: process_authentication answered {e}; trying again"
                ));
            }
            Ok(Err(e)) => return Err(client.fail(Method::ProcessAuthentication, &e)),
            Err(e) if e.kind == ErrorKind::Network && failures < MAX_TRANSIENT_FAILURES => {
                failures += 1;
                host.warn(&format!(
                    "intellivoid: process_authentication failed: {e}; trying again"
                ));
            }
            Err(e) => return Err(e),
        }
    }
}

fn finish_login(
    client: &Client<'_, '_>,
    approval: Approval,
    requested: &[String],
) -> Result<GetResponse> {
    let host = client.host;
    let Approval {
        access_token,
        mut granted_permissions,
        expires_timestamp,
    } = approval;
    let params = [("access_token", access_token.expose_secret())];
    let mut expires_at = expires_timestamp;
    let mut username = None;

    if granted_permissions.iter().any(|p| p == READ_USERNAME) {
        match client.call(Method::GetUser, &params) {
            Ok(Ok(results)) => username = api::username(&results),
            Ok(Err(e)) if e.code() == Some(30) => {
                host.debug("intellivoid: the grant does not allow reading the user name");
            }
            // The token cannot be used at all: say so now rather than hand it out.
            Ok(Err(e)) if matches!(e.code(), Some(3 | 4 | 25 | 26 | 27 | 28 | 29 | 51)) => {
                return Err(client.fail(Method::GetUser, &e));
            }
            Ok(Err(e)) => host.warn(&format!("intellivoid: could not read the user name: {e}")),
            Err(e) => host.warn(&format!("intellivoid: could not read the user name: {e}")),
        }
        // Any use moves the expiry (to 48 h from now, shorter than a new token's), so read
        // it again.
        let now = host.now_unix();
        match client.call(Method::GetAccessToken, &params) {
            Ok(Ok(results)) => {
                let info = AccessInfo::parse(&results);
                expires_at = Some(
                    info.expires_timestamp
                        .unwrap_or(now + FALLBACK_LIFETIME_SECS),
                );
                if let Some(g) = info.granted_permissions {
                    granted_permissions = g;
                }
            }
            Ok(Err(e)) => {
                host.warn(&format!(
                    "intellivoid: could not read the token's expiry: {e}"
                ));
                expires_at = Some(expires_at.map_or(now + FALLBACK_LIFETIME_SECS, |t| {
                    t.min(now + FALLBACK_LIFETIME_SECS)
                }));
            }
            Err(e) => {
                host.warn(&format!(
                    "intellivoid: could not read the token's expiry: {e}"
                ));
                expires_at = Some(expires_at.map_or(now + FALLBACK_LIFETIME_SECS, |t| {
                    t.min(now + FALLBACK_LIFETIME_SECS)
                }));
            }
        }
    }
    let expires_at = expires_at.unwrap_or_else(|| host.now_unix() + FALLBACK_LIFETIME_SECS);

    let missing = not_granted(requested, &granted_permissions);
    if !missing.is_empty() {
        client.say(&format!(
            "Intellivoid granted fewer permissions than the application asked for; not granted: {}.",
            missing.join(", ")
        ));
    }
    Ok(answer(&Saved {
        application_id: client.settings.application_id.clone(),
        access_token,
        expires_at: Some(expires_at),
        granted: granted_permissions,
        requested: requested.to_vec(),
        username,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyhelm_core::secrecy::SecretString;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn the_renewal_probe_follows_the_grant() {
        assert_eq!(
            probe_method(&strings(&[
                "READ_USERNAME",
                "GET_USER_DISPLAY",
                "READ_TODO"
            ])),
            Some(Method::GetUser)
        );
        // get_user needs both; without the display permission another method is used.
        assert_eq!(
            probe_method(&strings(&["READ_USERNAME", "READ_EMAIL_ADDRESS"])),
            Some(Method::GetEmail)
        );
        assert_eq!(
            probe_method(&strings(&["READ_PERSONAL_INFORMATION"])),
            Some(Method::GetPersonalInformation)
        );
        assert_eq!(probe_method(&strings(&["READ_TODO", "MANAGE_TODO"])), None);
        assert_eq!(probe_method(&[]), None);
    }

    #[test]
    fn not_granted_keeps_the_request_order() {
        assert_eq!(
            not_granted(
                &strings(&["READ_USERNAME", "READ_EMAIL_ADDRESS", "READ_TODO"]),
                &strings(&["READ_TODO", "READ_USERNAME"])
            ),
            ["READ_EMAIL_ADDRESS"]
        );
        assert!(not_granted(&[], &strings(&["READ_TODO"])).is_empty());
    }

    #[test]
    fn the_deadline_trusts_the_answer_only_when_it_makes_sense() {
        let now = 1_000_000;
        assert_eq!(request_deadline(now, Some(now + 600)), now + 602);
        assert_eq!(request_deadline(now, Some(now + 2)), now + 4);
        // Missing, already past (clock skew), or absurdly far: the documented 600 s.
        for odd in [None, Some(now), Some(now - 5000), Some(now + 86_400)] {
            assert_eq!(request_deadline(now, odd), now + 602, "{odd:?}");
        }
    }

    #[test]
    fn login_request_errors() {
        let auth = |status: Option<&str>| AuthRequest {
            request_token: SecretString::from("rt"),
            authentication_url: "https://a/".into(),
            expires_timestamp: None,
            requested_permissions: vec![],
            status: status.map(str::to_owned),
        };
        assert!(check_request_status(&auth(None), "work").is_ok());
        assert!(check_request_status(&auth(Some("ACTIVE")), "work").is_ok());
        let cases = [
            (
                check_request_status(&auth(Some("BLOCKED")), "work").unwrap_err(),
                ErrorKind::ServiceError,
                "Intellivoid created a login request that is already BLOCKED",
                "run `keyhelm login work` in a terminal and approve the request in the browser",
            ),
            (
                expired_locally("work"),
                ErrorKind::Other,
                "the login request expired before it was approved",
                "run `keyhelm login work` and approve the request in the browser in time",
            ),
        ];
        for (e, kind, message, hint) in cases {
            assert_eq!(
                (e.kind, e.message.as_str(), e.hint.as_deref()),
                (kind, message, Some(hint))
            );
        }
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(590), "10 minutes");
        assert_eq!(human_duration(119), "119 seconds");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(-3), "0 seconds");
    }

    #[test]
    fn the_answer_carries_token_expiry_user_grant_and_state() {
        let saved = Saved {
            application_id: "APP1".into(),
            access_token: SecretString::from("t0ken"),
            expires_at: Some(1_700_000_000),
            granted: strings(&["READ_USERNAME", "GET_USER_DISPLAY"]),
            requested: strings(&["READ_USERNAME", "GET_USER_DISPLAY", "READ_EMAIL_ADDRESS"]),
            username: Some("alice".into()),
        };
        let r = answer(&saved);
        assert_eq!(r.secret.expose_secret(), "t0ken");
        assert_eq!(r.authtype.as_deref(), Some("Bearer"));
        assert_eq!(r.expires_at, Some(1_700_000_000));
        assert_eq!(r.username.as_deref(), Some("alice"));
        assert_eq!(r.scopes, ["READ_USERNAME", "GET_USER_DISPLAY"]);
        assert_eq!(
            r.info.get("not_granted").map(String::as_str),
            Some("READ_EMAIL_ADDRESS")
        );
        match &r.state {
            StateUpdate::Replace { value } => {
                let back = Saved::parse(value, "APP1").unwrap();
                assert_eq!(back.access_token.expose_secret(), "t0ken");
            }
            other => panic!("unexpected state {other:?}"),
        }
        assert!(!format!("{r:?}").contains("t0ken"));

        let full = Saved {
            requested: saved.granted.clone(),
            username: None,
            ..saved
        };
        let r = answer(&full);
        assert!(r.info.is_empty() && r.username.is_none());
    }
}
