//! A fake of Clinked's OAuth API (a Spring Security OAuth2 server),
//! following the fake spec in `research/providers.md` §2.5 (sources and
//! `[ASSUMED]` parts are listed in `testkit/README.md`).
//!
//! Routes:
//!
//! | route | what |
//! | --- | --- |
//! | `GET`/`POST /oauth/token` | `password` (public client `clinked-mobile`, optional 2FA `code`), `client_credentials` (an app's `clientId`/`clientSecret`), `refresh_token`; query and urlencoded body (query wins, as in a servlet) |
//! | `POST /v2/applications` | creates an app (JSON body) with a user's Bearer token; answers `clientId`/`clientSecret` |
//! | `GET /v3/accounts/{id}/groups`, `GET /me` | the authorized probes |
//! | `POST /__fake/revoke-app?clientId=` | test-only: the user revokes an app |
//!
//! The token endpoint always answers `application/json;charset=UTF-8` with
//! `Cache-Control: no-store` and `Pragma: no-cache`; every 401 carries a
//! `WWW-Authenticate: Bearer …` header, as Spring does.
//!
//! ```no_run
//! use keyhelm_testkit::clinked::{ClinkedUser, FakeClinked};
//!
//! let fake = FakeClinked::start();
//! fake.add_user(ClinkedUser::new("jack", "pw").authenticator("123456"));
//! let token_url = format!("{}/oauth/token", fake.base_url());
//! # let _ = token_url;
//! ```

// Handlers return the finished error response; its size does not matter in
// a test fake.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::clock::{seconds_until, unix_seconds};
pub use crate::fake::ROUTE_UNMATCHED;
use crate::fake::{Fake, Service};
use crate::server::{self, Incoming};

/// `GET|POST /oauth/token`
pub const ROUTE_TOKEN: &str = "/oauth/token";
/// `POST /v2/applications`
pub const ROUTE_APPLICATIONS: &str = "/v2/applications";
/// `GET /v3/accounts/{id}/groups`
pub const ROUTE_GROUPS: &str = "/v3/accounts/{id}/groups";
/// `GET /me`
pub const ROUTE_ME: &str = "/me";
/// `POST /__fake/revoke-app?clientId=` (test-only)
pub const ROUTE_REVOKE_APP: &str = "/__fake/revoke-app";

/// The static public client id of the password grant.
pub const MOBILE_CLIENT_ID: &str = "clinked-mobile";

const TOKEN_CONTENT_TYPE: &str = "application/json;charset=UTF-8";

/// How a user's second factor works.
#[derive(Clone, PartialEq, Eq)]
pub enum TwoFactor {
    /// No second factor.
    Off,
    /// An authenticator app; `code` is the one valid code.
    Authenticator {
        /// The valid code.
        code: String,
    },
    /// A code sent by SMS when the password grant comes without one.
    Sms {
        /// The valid code.
        code: String,
    },
}

impl fmt::Debug for TwoFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Off => "Off",
            Self::Authenticator { .. } => "Authenticator { code: REDACTED }",
            Self::Sms { .. } => "Sms { code: REDACTED }",
        })
    }
}

/// A Clinked user.
#[derive(Clone)]
pub struct ClinkedUser {
    /// The login name.
    pub username: String,
    password: String,
    /// The second factor.
    pub two_factor: TwoFactor,
    /// A locked account (password grant: 400 invalid_grant).
    pub locked: bool,
}

impl ClinkedUser {
    /// An unlocked user without a second factor.
    pub fn new(username: &str, password: &str) -> Self {
        Self {
            username: username.to_owned(),
            password: password.to_owned(),
            two_factor: TwoFactor::Off,
            locked: false,
        }
    }

    /// Requires an authenticator-app code.
    pub fn authenticator(mut self, code: &str) -> Self {
        self.two_factor = TwoFactor::Authenticator {
            code: code.to_owned(),
        };
        self
    }

    /// Requires a code sent by SMS.
    pub fn sms(mut self, code: &str) -> Self {
        self.two_factor = TwoFactor::Sms {
            code: code.to_owned(),
        };
        self
    }

    /// Sets the locked state.
    pub fn locked(mut self, yes: bool) -> Self {
        self.locked = yes;
        self
    }
}

impl fmt::Debug for ClinkedUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClinkedUser")
            .field("username", &self.username)
            .field("password", &"REDACTED")
            .field("two_factor", &self.two_factor)
            .field("locked", &self.locked)
            .finish()
    }
}

/// An app's client credentials, as `POST /v2/applications` returns them.
#[derive(Clone, PartialEq, Eq)]
pub struct ClinkedAppCredentials {
    /// `clientId` (32 hex characters).
    pub client_id: String,
    /// `clientSecret` (32 hex characters).
    pub client_secret: String,
}

impl fmt::Debug for ClinkedAppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClinkedAppCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"REDACTED")
            .finish()
    }
}

/// What the fake knows about a created app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClinkedAppInfo {
    /// The numeric id.
    pub id: u64,
    /// `clientId`.
    pub client_id: String,
    /// The user who created it.
    pub owner: String,
    /// The `name` sent on creation.
    pub name: Option<String>,
    /// Revoked by the user.
    pub revoked: bool,
}

/// A request budget per client IP address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window (the documented value is 2000).
    pub max_requests: u32,
    /// The window length (the documented value is 5 minutes).
    pub window: Duration,
}

/// Knobs of the Clinked fake.
#[derive(Clone, Debug)]
pub struct ClinkedConfig {
    /// Access-token lifetime; default 1800 s (30 minutes, as documented).
    pub access_ttl: Duration,
    /// Refresh-token lifetime; default 30 days (Spring's default; Clinked's
    /// is unknown).
    pub refresh_ttl: Duration,
    /// Send `expires_in` on password and refresh grants; default false, as in
    /// every documented example.
    pub include_expires_in: bool,
    /// Send `expires_in` on client-credentials grants; default true.
    pub include_expires_in_client_credentials: bool,
    /// Spring's behaviour: a grant for the same client and user returns the
    /// still-valid token it issued before; default true.
    pub reuse_live_token: bool,
    /// Answer 429 past this many requests per client IP; default None.
    pub rate_limit: Option<RateLimit>,
    /// The SMS cannot be sent (`error_2fa_sms`); default false.
    pub sms_send_fails: bool,
}

impl Default for ClinkedConfig {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(1800),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            include_expires_in: false,
            include_expires_in_client_credentials: true,
            reuse_live_token: true,
            rate_limit: None,
            sms_send_fails: false,
        }
    }
}

/// A running Clinked fake; dropping it stops the server.
pub type FakeClinked = Fake<ClinkedState>;

/// The Clinked fake's state (see [`FakeClinked`]).
#[derive(Default)]
pub struct ClinkedState {
    config: ClinkedConfig,
    users: Vec<ClinkedUser>,
    apps: Vec<App>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    rate: HashMap<IpAddr, (SystemTime, u32)>,
    sms_sent: usize,
}

struct App {
    id: u64,
    client_id: String,
    client_secret: String,
    owner: String,
    fields: serde_json::Map<String, Value>,
    revoked: bool,
}

#[derive(Clone, PartialEq, Eq)]
enum Owner {
    User(String),
    App(String),
}

struct AccessToken {
    owner: Owner,
    refresh: Option<String>,
    expires_at: SystemTime,
    scope: String,
}

struct RefreshToken {
    username: String,
    expires_at: SystemTime,
}

enum TokenCheck<'a> {
    Missing,
    Invalid(&'a str),
    Expired(&'a str),
    Valid(Owner),
}

/// Shows the knobs only: the state holds passwords and tokens.
impl fmt::Debug for ClinkedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClinkedState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl FakeClinked {
    /// Adds (or replaces) a user.
    pub fn add_user(&self, user: ClinkedUser) {
        let mut state = self.state();
        state.users.retain(|u| u.username != user.username);
        state.users.push(user);
    }

    fn with_user(&self, username: &str, change: impl FnOnce(&mut ClinkedUser)) {
        let mut state = self.state();
        let user = state
            .users
            .iter_mut()
            .find(|u| u.username == username)
            .unwrap_or_else(|| panic!("no Clinked user {username:?} in the fake"));
        change(user);
    }

    /// Locks or unlocks a user.
    pub fn set_locked(&self, username: &str, locked: bool) {
        self.with_user(username, |u| u.locked = locked);
    }

    /// Changes a user's second factor.
    pub fn set_two_factor(&self, username: &str, two_factor: TwoFactor) {
        self.with_user(username, |u| u.two_factor = two_factor);
    }

    /// Changes a user's password.
    pub fn set_password(&self, username: &str, password: &str) {
        self.with_user(username, |u| password.clone_into(&mut u.password));
    }

    /// Creates an app for `owner` without going through HTTP.
    pub fn create_app(&self, owner: &str) -> ClinkedAppCredentials {
        self.state().create_app(owner, serde_json::Map::new())
    }

    /// Every app created so far.
    pub fn apps(&self) -> Vec<ClinkedAppInfo> {
        self.state()
            .apps
            .iter()
            .map(|a| ClinkedAppInfo {
                id: a.id,
                client_id: a.client_id.clone(),
                owner: a.owner.clone(),
                name: a
                    .fields
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                revoked: a.revoked,
            })
            .collect()
    }

    /// The user revokes an app (same as `POST /__fake/revoke-app`): its
    /// tokens stop working and its client credentials get 401. Returns
    /// whether the app was known.
    pub fn revoke_app(&self, client_id: &str) -> bool {
        self.state().revoke_app(client_id)
    }

    /// Whether `token` is an access token valid at this service now: known,
    /// not expired by the fake clock, its app not revoked.
    pub fn is_valid_token(&self, token: &str) -> bool {
        let now = self.clock().now();
        matches!(
            self.state().check_token(Some(token), now),
            TokenCheck::Valid(_)
        )
    }

    /// How many 2FA codes were "sent" by SMS.
    pub fn sms_sent(&self) -> usize {
        self.state().sms_sent
    }

    /// How many requests reached `/oauth/token`.
    pub fn token_requests(&self) -> usize {
        self.log().count(ROUTE_TOKEN)
    }

    /// How many requests came without a `User-Agent` (Clinked's docs say a
    /// client "must" send one; whether it is enforced is unknown, so the
    /// fake only counts them).
    pub fn requests_without_user_agent(&self) -> usize {
        self.log().count_where(|r| !r.has_user_agent())
    }
}

impl Service for ClinkedState {
    type Config = ClinkedConfig;
    const TYPE_NAME: &'static str = "FakeClinked";
    const NAME: &'static str = "Clinked";

    fn config_mut(&mut self) -> &mut ClinkedConfig {
        &mut self.config
    }

    fn dispatch(
        &mut self,
        req: &Incoming,
        now: SystemTime,
        _root: &str,
    ) -> (&'static str, Response) {
        let path = req.path.as_str();
        let route = route_of(path);
        if route != ROUTE_REVOKE_APP && !self.within_rate_limit(req.peer.ip(), now) {
            return (route, too_many_requests());
        }
        let method = &req.method;
        let allowed = match route {
            ROUTE_TOKEN => method == Method::GET || method == Method::POST,
            ROUTE_APPLICATIONS | ROUTE_REVOKE_APP => method == Method::POST,
            ROUTE_GROUPS | ROUTE_ME => method == Method::GET,
            _ => {
                return (
                    route,
                    spring_error(StatusCode::NOT_FOUND, "No message available", path, now),
                );
            }
        };
        if !allowed {
            let message = format!("Request method '{method}' not supported");
            return (
                route,
                spring_error(StatusCode::METHOD_NOT_ALLOWED, &message, path, now),
            );
        }
        let response = match route {
            ROUTE_TOKEN => self.token(req, now),
            ROUTE_APPLICATIONS => self.applications(req, now),
            ROUTE_GROUPS => self.groups(req, now),
            ROUTE_ME => self.me(req, now),
            _ => self.revoke_app_route(req),
        };
        (route, response)
    }
}

impl ClinkedState {
    fn within_rate_limit(&mut self, ip: IpAddr, now: SystemTime) -> bool {
        let Some(limit) = self.config.rate_limit else {
            return true;
        };
        let entry = self.rate.entry(ip).or_insert((now, 0));
        if now >= entry.0 + limit.window {
            *entry = (now, 0);
        }
        if entry.1 >= limit.max_requests {
            return false;
        }
        entry.1 += 1;
        true
    }

    // -- /oauth/token ----------------------------------------------------------

    fn token(&mut self, req: &Incoming, now: SystemTime) -> Response {
        let param = |name| req.param_query_first(name).filter(|v| !v.is_empty());
        let Some(grant) = param("grant_type") else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing grant type",
            );
        };
        // Client authentication.
        let Some(client_id) = param("client_id") else {
            return bad_client_credentials();
        };
        let app_client = if client_id == MOBILE_CLIENT_ID {
            None
        } else {
            let secret = param("client_secret");
            match self.apps.iter().find(|a| a.client_id == client_id) {
                Some(app) if !app.revoked && Some(app.client_secret.as_str()) == secret => {
                    Some(app.client_id.clone())
                }
                _ => return bad_client_credentials(),
            }
        };
        if !matches!(grant, "password" | "client_credentials" | "refresh_token") {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant type",
            );
        }
        match (grant, app_client) {
            ("password", None) => self.password_grant(req, now),
            ("refresh_token", None) => self.refresh_grant(param("refresh_token"), now),
            ("client_credentials", Some(app)) => {
                self.client_credentials_grant(&app, param("scope"), now)
            }
            _ => oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                &format!("Unauthorized grant type: {grant}"),
            ),
        }
    }

    fn password_grant(&mut self, req: &Incoming, now: SystemTime) -> Response {
        let param = |name| req.param_query_first(name);
        let username = param("username");
        let password = param("password");
        let Some(user) = self
            .users
            .iter()
            .find(|u| {
                Some(u.username.as_str()) == username && Some(u.password.as_str()) == password
            })
            .cloned()
        else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Bad credentials");
        };
        if user.locked {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "User account is locked",
            );
        }
        let code = param("code").filter(|c| !c.is_empty());
        let valid_code = match &user.two_factor {
            TwoFactor::Off => None,
            TwoFactor::Authenticator { code } | TwoFactor::Sms { code } => Some(code.clone()),
        };
        match (&user.two_factor, code) {
            (TwoFactor::Off, _) => {}
            (TwoFactor::Authenticator { .. }, None) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "missing_2fa",
                    "Two-factor authentication code required",
                );
            }
            (TwoFactor::Sms { .. }, None) if self.config.sms_send_fails => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "error_2fa_sms",
                    "Two-factor authentication code could not be sent by SMS",
                );
            }
            (TwoFactor::Sms { .. }, None) => {
                self.sms_sent += 1;
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "missing_2fa_sms",
                    "Two-factor authentication code sent by SMS",
                );
            }
            (_, Some(code)) => {
                if Some(code) != valid_code.as_deref() {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_2fa",
                        "Invalid two-factor authentication code",
                    );
                }
            }
        }
        let owner = Owner::User(user.username.clone());
        let token = match self.reusable(&owner, now) {
            Some(token) => token,
            None => {
                let refresh = self
                    .live_refresh_of(&user.username, now)
                    .unwrap_or_else(|| {
                        let refresh = server::uuid_v4();
                        self.refresh.insert(
                            refresh.clone(),
                            RefreshToken {
                                username: user.username.clone(),
                                expires_at: now + self.config.refresh_ttl,
                            },
                        );
                        refresh
                    });
                self.issue(owner, Some(refresh), "read write", now)
            }
        };
        let include = self.config.include_expires_in;
        self.token_response(&token, include, now)
    }

    fn client_credentials_grant(
        &mut self,
        client_id: &str,
        scope: Option<&str>,
        now: SystemTime,
    ) -> Response {
        let scope = match scope {
            None => "read write".to_owned(),
            Some(requested) => {
                let parts: Vec<&str> = requested
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|s| !s.is_empty())
                    .collect();
                if parts.is_empty() || parts.iter().any(|s| !matches!(*s, "read" | "write")) {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_scope",
                        &format!("Invalid scope: {requested}"),
                    );
                }
                ["read", "write"]
                    .into_iter()
                    .filter(|s| parts.contains(s))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        };
        let owner = Owner::App(client_id.to_owned());
        let token = match self.reusable(&owner, now) {
            Some(token) if self.access[&token].scope == scope => token,
            _ => self.issue(owner, None, &scope, now),
        };
        let include = self.config.include_expires_in_client_credentials;
        self.token_response(&token, include, now)
    }

    fn refresh_grant(&mut self, refresh: Option<&str>, now: SystemTime) -> Response {
        let Some(refresh) = refresh else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "refresh_token parameter not provided",
            );
        };
        let username = match self.refresh.get(refresh) {
            Some(r) if now < r.expires_at => r.username.clone(),
            _ => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    &format!("Invalid refresh token: {refresh}"),
                );
            }
        };
        // Spring removes the access token issued with this refresh token.
        self.access
            .retain(|_, a| a.refresh.as_deref() != Some(refresh));
        let token = self.issue(
            Owner::User(username),
            Some(refresh.to_owned()),
            "read write",
            now,
        );
        let include = self.config.include_expires_in;
        self.token_response(&token, include, now)
    }

    /// A still-valid token of `owner`, when tokens are reused.
    fn reusable(&self, owner: &Owner, now: SystemTime) -> Option<String> {
        if !self.config.reuse_live_token {
            return None;
        }
        self.access
            .iter()
            .find(|(_, a)| &a.owner == owner && now < a.expires_at)
            .map(|(t, _)| t.clone())
    }

    fn live_refresh_of(&self, username: &str, now: SystemTime) -> Option<String> {
        if !self.config.reuse_live_token {
            return None;
        }
        self.refresh
            .iter()
            .find(|(_, r)| r.username == username && now < r.expires_at)
            .map(|(t, _)| t.clone())
    }

    fn issue(
        &mut self,
        owner: Owner,
        refresh: Option<String>,
        scope: &str,
        now: SystemTime,
    ) -> String {
        let token = server::uuid_v4();
        self.access.insert(
            token.clone(),
            AccessToken {
                owner,
                refresh,
                expires_at: now + self.config.access_ttl,
                scope: scope.to_owned(),
            },
        );
        token
    }

    fn token_response(&self, token: &str, include_expires_in: bool, now: SystemTime) -> Response {
        let access = &self.access[token];
        let mut body = json!({
            "access_token": token,
            "token_type": "bearer",
        });
        if let Some(refresh) = &access.refresh {
            body["refresh_token"] = json!(refresh);
        }
        if include_expires_in {
            body["expires_in"] = json!(seconds_until(now, access.expires_at));
        }
        body["scope"] = json!(access.scope);
        token_json(StatusCode::OK, &body)
    }

    // -- resources -------------------------------------------------------------

    /// Checks the Bearer header (or Spring's `access_token` query parameter).
    fn check_token<'a>(&self, token: Option<&'a str>, now: SystemTime) -> TokenCheck<'a> {
        let Some(token) = token else {
            return TokenCheck::Missing;
        };
        let Some(access) = self.access.get(token) else {
            return TokenCheck::Invalid(token);
        };
        if let Owner::App(client_id) = &access.owner
            && self
                .apps
                .iter()
                .any(|a| &a.client_id == client_id && a.revoked)
        {
            return TokenCheck::Invalid(token);
        }
        if now >= access.expires_at {
            return TokenCheck::Expired(token);
        }
        TokenCheck::Valid(access.owner.clone())
    }

    /// The resource-server check: Ok(owner) or the 401 response.
    fn authenticate(&mut self, req: &Incoming, now: SystemTime) -> Result<Owner, Response> {
        let token = bearer(req).or_else(|| req.query_param("access_token"));
        match self.check_token(token, now) {
            TokenCheck::Valid(owner) => Ok(owner),
            TokenCheck::Missing => Err(oauth_error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Full authentication is required to access this resource",
            )),
            TokenCheck::Invalid(t) => Err(oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                &format!("Invalid access token: {t}"),
            )),
            TokenCheck::Expired(t) => {
                let message = format!("Access token expired: {t}");
                // Spring removes an expired token when it is presented.
                self.access.remove(t);
                Err(oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    &message,
                ))
            }
        }
    }

    fn applications(&mut self, req: &Incoming, now: SystemTime) -> Response {
        let username = match self.authenticate(req, now) {
            Ok(Owner::User(username)) => username,
            Ok(Owner::App(_)) => {
                return oauth_error(StatusCode::FORBIDDEN, "access_denied", "Access is denied");
            }
            Err(response) => return response,
        };
        let Some(Value::Object(fields)) = req.json.clone() else {
            return spring_error(
                StatusCode::BAD_REQUEST,
                "Required request body is missing or is not a JSON object",
                ROUTE_APPLICATIONS,
                now,
            );
        };
        let credentials = self.create_app(&username, fields);
        let app = self
            .apps
            .iter()
            .find(|a| a.client_id == credentials.client_id)
            .expect("app was just created");
        let mut body = json!({ "id": app.id });
        for name in [
            "name",
            "description",
            "platform",
            "deviceType",
            "deviceModel",
            "appVersion",
            "deviceOs",
            "bundleId",
        ] {
            body[name] = app.fields.get(name).cloned().unwrap_or(Value::Null);
        }
        body["clientId"] = json!(credentials.client_id);
        body["clientSecret"] = json!(credentials.client_secret);
        token_json(StatusCode::OK, &body)
    }

    fn create_app(
        &mut self,
        owner: &str,
        fields: serde_json::Map<String, Value>,
    ) -> ClinkedAppCredentials {
        let credentials = ClinkedAppCredentials {
            client_id: server::random_hex(32),
            client_secret: server::random_hex(32),
        };
        let id = 1000 + self.apps.len() as u64;
        self.apps.push(App {
            id,
            client_id: credentials.client_id.clone(),
            client_secret: credentials.client_secret.clone(),
            owner: owner.to_owned(),
            fields,
            revoked: false,
        });
        credentials
    }

    fn revoke_app(&mut self, client_id: &str) -> bool {
        let Some(app) = self.apps.iter_mut().find(|a| a.client_id == client_id) else {
            return false;
        };
        app.revoked = true;
        let owner = Owner::App(client_id.to_owned());
        self.access.retain(|_, a| a.owner != owner);
        true
    }

    fn groups(&mut self, req: &Incoming, now: SystemTime) -> Response {
        if let Err(response) = self.authenticate(req, now) {
            return response;
        }
        let body = json!({
            "items": [{
                "id": 1,
                "name": "general",
                "friendlyName": "General",
                "description": "The fake's only group",
            }],
        });
        token_json(StatusCode::OK, &body)
    }

    fn me(&mut self, req: &Incoming, now: SystemTime) -> Response {
        let owner = match self.authenticate(req, now) {
            Ok(owner) => owner,
            Err(response) => return response,
        };
        let username = match owner {
            Owner::User(username) => username,
            Owner::App(client_id) => self
                .apps
                .iter()
                .find(|a| a.client_id == client_id)
                .map(|a| a.owner.clone())
                .unwrap_or_default(),
        };
        let id = self
            .users
            .iter()
            .position(|u| u.username == username)
            .map_or(0, |i| i + 1);
        token_json(
            StatusCode::OK,
            &json!({ "id": id, "username": username, "name": username }),
        )
    }

    fn revoke_app_route(&mut self, req: &Incoming) -> Response {
        let client_id = req.param_query_first("clientId").unwrap_or_default();
        if self.revoke_app(client_id) {
            server::json(StatusCode::OK, &json!({ "revoked": client_id }))
        } else {
            server::json(
                StatusCode::NOT_FOUND,
                &json!({ "error": "unknown clientId" }),
            )
        }
    }
}

fn route_of(path: &str) -> &'static str {
    match path {
        ROUTE_TOKEN => ROUTE_TOKEN,
        ROUTE_APPLICATIONS => ROUTE_APPLICATIONS,
        ROUTE_ME => ROUTE_ME,
        ROUTE_REVOKE_APP => ROUTE_REVOKE_APP,
        _ => {
            let segments: Vec<&str> = path.split('/').collect();
            match segments.as_slice() {
                ["", "v3", "accounts", id, "groups"] if !id.is_empty() => ROUTE_GROUPS,
                _ => ROUTE_UNMATCHED,
            }
        }
    }
}

/// The token of an `Authorization: Bearer <t>` header (scheme in any case).
fn bearer(req: &Incoming) -> Option<&str> {
    let value = req.header("authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn token_json(status: StatusCode, body: &Value) -> Response {
    let mut response = server::json_with_type(status, TOKEN_CONTENT_TYPE, body);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Spring's OAuth2 error body; 401s also get `WWW-Authenticate`.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = token_json(
        status,
        &json!({ "error": error, "error_description": description }),
    );
    if status == StatusCode::UNAUTHORIZED {
        let challenge = format!(
            "Bearer realm=\"oauth\", error=\"{error}\", error_description=\"{description}\""
        );
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
    }
    response
}

fn bad_client_credentials() -> Response {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "Bad client credentials",
    )
}

fn too_many_requests() -> Response {
    token_json(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({ "error": "too_many_requests", "error_description": "Rate limit exceeded" }),
    )
}

/// Spring Boot's default error body (for errors outside OAuth2).
fn spring_error(status: StatusCode, message: &str, path: &str, now: SystemTime) -> Response {
    let millis = unix_seconds(now) * 1000;
    token_json(
        status,
        &json!({
            "timestamp": millis,
            "status": status.as_u16(),
            "error": status.canonical_reason().unwrap_or_default(),
            "message": message,
            "path": path,
        }),
    )
}
