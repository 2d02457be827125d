//! A fake of Intralinks' v2 OAuth API, following the fake spec in
//! `research/providers.md` §1.8 (sources and `[ASSUMED]` parts are listed in
//! `testkit/README.md`).
//!
//! Routes (all JSON answers are `application/json`):
//!
//! | route | what |
//! | --- | --- |
//! | `POST /v2/oauth/token` | `client_credentials`, `authorization_code`, `refresh_token`; query and urlencoded form merged (form wins) |
//! | `GET /v2/oauth/authorize` | auto-approves the configured user (or `?fake_user=`), 302 to the app's redirect URI with `code` and `state` |
//! | `GET /v2/oauth/tokeninfo` | `Authorization: Bearer <t>` plus `client_id` |
//! | `PUT`/`POST /v2/oauth/revoke` | `token`, `client_id`, `client_secret` from query or form; revokes the pair |
//! | `GET /v2/workspaces` | the authorized probe |
//! | anything else | 404 `text/html` |
//!
//! ```no_run
//! use keyhelm_testkit::intralinks::{FakeIntralinks, Grant, IntralinksApp, IntralinksUser};
//!
//! let fake = FakeIntralinks::start();
//! fake.add_app(IntralinksApp::new("key", "secret").grants(&[Grant::ClientCredentials]));
//! fake.add_user(IntralinksUser::new("joe@example.com", "pw"));
//! let token_url = format!("{}/v2/oauth/token", fake.base_url());
//! # let _ = token_url;
//! ```

// Handlers return the finished error response; its size does not matter in
// a test fake.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::clock::seconds_until;
pub use crate::fake::ROUTE_UNMATCHED;
use crate::fake::{Fake, Service};
use crate::server::{self, Incoming};

/// `POST /v2/oauth/token`
pub const ROUTE_TOKEN: &str = "/v2/oauth/token";
/// `GET /v2/oauth/authorize`
pub const ROUTE_AUTHORIZE: &str = "/v2/oauth/authorize";
/// `GET /v2/oauth/tokeninfo`
pub const ROUTE_TOKENINFO: &str = "/v2/oauth/tokeninfo";
/// `PUT|POST /v2/oauth/revoke`
pub const ROUTE_REVOKE: &str = "/v2/oauth/revoke";
/// `GET /v2/workspaces`
pub const ROUTE_WORKSPACES: &str = "/v2/workspaces";

/// The 403 subcode-018 message (concurrent login).
pub const MESSAGE_018: &str =
    "Your session has been logged out as the same user is logged in elsewhere.";
/// The 403 subcode-017 message (bad credentials or account problem).
pub const MESSAGE_017: &str =
    "Credential provided is invalid. or there was problem with your account.";

/// An OAuth grant type an app can be allowed to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Grant {
    /// `authorization_code` (the only one enabled by default).
    AuthorizationCode,
    /// `client_credentials` (email and password).
    ClientCredentials,
    /// `refresh_token`.
    RefreshToken,
}

impl Grant {
    /// The `grant_type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        [
            Self::AuthorizationCode,
            Self::ClientCredentials,
            Self::RefreshToken,
        ]
        .into_iter()
        .find(|g| g.as_str() == value)
    }
}

/// An app registered in the developer portal ("consumer key/secret").
#[derive(Clone)]
pub struct IntralinksApp {
    /// The consumer key (`client_id`).
    pub client_id: String,
    client_secret: String,
    /// The app name shown by tokeninfo (`app_name`).
    pub name: String,
    /// The registered redirect URI (authorization-code flow).
    pub redirect_uri: Option<String>,
    /// The grant types enabled for this app.
    pub grants: Vec<Grant>,
}

impl IntralinksApp {
    /// An app with only `authorization_code` enabled, as Intralinks does by
    /// default, no redirect URI and the name `keyhelm-test`.
    pub fn new(client_id: &str, client_secret: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            name: "keyhelm-test".to_owned(),
            redirect_uri: None,
            grants: vec![Grant::AuthorizationCode],
        }
    }

    /// Replaces the enabled grant types.
    pub fn grants(mut self, grants: &[Grant]) -> Self {
        self.grants = grants.to_vec();
        self
    }

    /// Sets the registered redirect URI.
    pub fn redirect_uri(mut self, uri: &str) -> Self {
        self.redirect_uri = Some(uri.to_owned());
        self
    }

    /// Sets the app name.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }
}

impl fmt::Debug for IntralinksApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntralinksApp")
            .field("client_id", &self.client_id)
            .field("client_secret", &"REDACTED")
            .field("name", &self.name)
            .field("redirect_uri", &self.redirect_uri)
            .field("grants", &self.grants)
            .finish()
    }
}

/// An Intralinks user.
#[derive(Clone)]
pub struct IntralinksUser {
    /// The login email.
    pub email: String,
    password: String,
    /// "Disallow concurrent logins" applies to this user (directly or via a
    /// workspace): a second session needs `endOtherSessions=true`.
    pub disallow_concurrent: bool,
    /// Names of the `flags` returned on login (e.g. `NEW`); empty: no `flags`.
    pub flags: Vec<String>,
    /// A locked or otherwise problematic account (login gives 403/017).
    pub locked: bool,
}

impl IntralinksUser {
    /// An unlocked user without flags who may have concurrent sessions.
    pub fn new(email: &str, password: &str) -> Self {
        Self {
            email: email.to_owned(),
            password: password.to_owned(),
            disallow_concurrent: false,
            flags: Vec::new(),
            locked: false,
        }
    }

    /// Sets "disallow concurrent logins".
    pub fn disallow_concurrent(mut self, yes: bool) -> Self {
        self.disallow_concurrent = yes;
        self
    }

    /// Sets the login flags.
    pub fn flags(mut self, flags: &[&str]) -> Self {
        self.flags = flags.iter().map(|f| (*f).to_owned()).collect();
        self
    }

    /// Sets the locked state.
    pub fn locked(mut self, yes: bool) -> Self {
        self.locked = yes;
        self
    }
}

impl fmt::Debug for IntralinksUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntralinksUser")
            .field("email", &self.email)
            .field("password", &"REDACTED")
            .field("disallow_concurrent", &self.disallow_concurrent)
            .field("flags", &self.flags)
            .field("locked", &self.locked)
            .finish()
    }
}

/// Knobs of the Intralinks fake.
#[derive(Clone, Debug)]
pub struct IntralinksConfig {
    /// Access-token lifetime (`expires_in`); default 3599 s as observed.
    pub access_ttl: Duration,
    /// Refresh-token lifetime; default 2592000 s (30 days).
    pub refresh_ttl: Duration,
    /// Authorization-code lifetime; default 20 s.
    pub code_ttl: Duration,
    /// A session stays live this long after its last activity (login,
    /// refresh or API call); default 3600 s ("minimum timeout of 60
    /// minutes"). A live session blocks a new login of a
    /// disallow-concurrent user without `endOtherSessions`.
    pub session_idle_timeout: Duration,
}

impl Default for IntralinksConfig {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(3599),
            refresh_ttl: Duration::from_secs(2_592_000),
            code_ttl: Duration::from_secs(20),
            session_idle_timeout: Duration::from_secs(3600),
        }
    }
}

/// A running Intralinks fake; dropping it stops the server.
pub type FakeIntralinks = Fake<IntralinksState>;

/// The Intralinks fake's state (see [`FakeIntralinks`]).
#[derive(Default)]
pub struct IntralinksState {
    config: IntralinksConfig,
    apps: HashMap<String, IntralinksApp>,
    users: HashMap<String, IntralinksUser>,
    sessions: Vec<Session>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    codes: HashMap<String, AuthCode>,
    authorize_user: Option<String>,
}

struct Session {
    email: String,
    /// Ended by a later login with `endOtherSessions=true`.
    ended_by_other_login: bool,
    /// Ended by revoke (logout).
    logged_out: bool,
    last_activity: SystemTime,
}

struct AccessToken {
    email: String,
    client_id: String,
    session: usize,
    expires_at: SystemTime,
    revoked: bool,
    refresh: Option<String>,
}

struct RefreshToken {
    client_id: String,
    session: usize,
    expires_at: SystemTime,
    revoked: bool,
}

struct AuthCode {
    email: String,
    client_id: String,
    expires_at: SystemTime,
    used: bool,
    end_other_sessions: bool,
}

/// Shows the knobs only: the state holds passwords and tokens.
impl fmt::Debug for IntralinksState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntralinksState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl FakeIntralinks {
    /// Registers (or replaces) an app.
    pub fn add_app(&self, app: IntralinksApp) {
        self.state().apps.insert(app.client_id.clone(), app);
    }

    /// Adds (or replaces) a user.
    pub fn add_user(&self, user: IntralinksUser) {
        self.state().users.insert(user.email.clone(), user);
    }

    fn with_user(&self, email: &str, change: impl FnOnce(&mut IntralinksUser)) {
        let mut state = self.state();
        let user = state
            .users
            .get_mut(email)
            .unwrap_or_else(|| panic!("no Intralinks user {email:?} in the fake"));
        change(user);
    }

    /// Locks or unlocks a user (locked: login gives 403/017).
    pub fn set_locked(&self, email: &str, locked: bool) {
        self.with_user(email, |u| u.locked = locked);
    }

    /// Replaces a user's login flags.
    pub fn set_flags(&self, email: &str, flags: &[&str]) {
        self.with_user(email, |u| {
            u.flags = flags.iter().map(|f| (*f).to_owned()).collect();
        });
    }

    /// Sets "disallow concurrent logins" for a user.
    pub fn set_disallow_concurrent(&self, email: &str, yes: bool) {
        self.with_user(email, |u| u.disallow_concurrent = yes);
    }

    /// Changes a user's password.
    pub fn set_password(&self, email: &str, password: &str) {
        self.with_user(email, |u| password.clone_into(&mut u.password));
    }

    /// The user who "logs in" on `GET /v2/oauth/authorize` when the request
    /// has no `fake_user` parameter. None: the login page is shown.
    pub fn set_authorize_user(&self, email: Option<&str>) {
        self.state().authorize_user = email.map(str::to_owned);
    }

    /// Issues an authorization code for `email` at `client_id`, as if the
    /// user had logged in through the browser.
    pub fn issue_authorization_code(&self, client_id: &str, email: &str) -> String {
        let now = self.clock().now();
        self.state().new_code(client_id, email, false, now)
    }

    /// Revokes an access or refresh token and its pair (admin action; same
    /// effect as `PUT /v2/oauth/revoke`). Returns whether the token was known.
    pub fn revoke_token(&self, token: &str) -> bool {
        self.state().revoke(token)
    }

    /// Ends every live session of `email`, as a login elsewhere with
    /// `endOtherSessions=true` would. Returns how many were ended.
    pub fn end_sessions(&self, email: &str) -> usize {
        let now = self.clock().now();
        self.state().end_sessions_of(email, None, now)
    }

    /// How many live sessions `email` has now.
    pub fn live_sessions(&self, email: &str) -> usize {
        let now = self.clock().now();
        let state = self.state();
        state
            .sessions
            .iter()
            .filter(|s| s.email == email && state.session_live(s, now))
            .count()
    }

    /// Whether `token` is an access token valid at this service now: known,
    /// not expired by the fake clock, not revoked, its session not ended.
    pub fn is_valid_token(&self, token: &str) -> bool {
        let now = self.clock().now();
        self.state().access_check(token, now) == AccessCheck::Valid
    }

    /// How many requests reached `POST /v2/oauth/token`.
    pub fn token_requests(&self) -> usize {
        self.log().count(ROUTE_TOKEN)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum AccessCheck {
    Valid,
    /// Unknown, expired or revoked.
    Invalid,
    /// Its session was ended by a later login elsewhere.
    SessionEnded,
}

impl Service for IntralinksState {
    type Config = IntralinksConfig;
    const TYPE_NAME: &'static str = "FakeIntralinks";
    const NAME: &'static str = "Intralinks";

    fn config_mut(&mut self) -> &mut IntralinksConfig {
        &mut self.config
    }

    fn dispatch(
        &mut self,
        req: &Incoming,
        now: SystemTime,
        _root: &str,
    ) -> (&'static str, Response) {
        let method = &req.method;
        match req.path.as_str() {
            ROUTE_TOKEN if method == Method::POST => (ROUTE_TOKEN, self.token(req, now)),
            ROUTE_AUTHORIZE if method == Method::GET => (ROUTE_AUTHORIZE, self.authorize(req, now)),
            ROUTE_TOKENINFO if method == Method::GET => (ROUTE_TOKENINFO, self.tokeninfo(req, now)),
            ROUTE_REVOKE if method == Method::PUT || method == Method::POST => {
                (ROUTE_REVOKE, self.revoke_route(req))
            }
            ROUTE_WORKSPACES if method == Method::GET => {
                (ROUTE_WORKSPACES, self.workspaces(req, now))
            }
            _ => (ROUTE_UNMATCHED, not_found_html()),
        }
    }
}

impl IntralinksState {
    // -- POST /v2/oauth/token ------------------------------------------------

    fn token(&mut self, req: &Incoming, now: SystemTime) -> Response {
        let param = |name| req.param_form_first(name);
        let app = match self.check_client(param("client_id"), param("client_secret")) {
            Ok(app) => app,
            Err(response) => return response,
        };
        let grant_name = param("grant_type").unwrap_or_default();
        let grant = match Grant::parse(grant_name) {
            Some(grant) if app.grants.contains(&grant) => grant,
            _ => {
                return error_code(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    &format!("Unsupported grant type : {grant_name}"),
                );
            }
        };
        let end_others = param("endOtherSessions").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        match grant {
            Grant::ClientCredentials => {
                self.client_credentials(&app, param("email"), param("password"), end_others, now)
            }
            Grant::AuthorizationCode => {
                self.authorization_code(&app, param("code"), end_others, now)
            }
            Grant::RefreshToken => {
                self.refresh_grant(&app, param("refresh_token"), end_others, now)
            }
        }
    }

    /// Steps 1 and 2 of the token check order (also used by revoke).
    fn check_client(
        &self,
        client_id: Option<&str>,
        client_secret: Option<&str>,
    ) -> Result<IntralinksApp, Response> {
        let Some(app) = client_id.and_then(|id| self.apps.get(id)) else {
            return Err(invalid_consumer_key(client_id));
        };
        if client_secret != Some(app.client_secret.as_str()) {
            return Err(error_code(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "ClientId is Invalid",
            ));
        }
        Ok(app.clone())
    }

    fn client_credentials(
        &mut self,
        app: &IntralinksApp,
        email: Option<&str>,
        password: Option<&str>,
        end_others: bool,
        now: SystemTime,
    ) -> Response {
        let user = email.and_then(|e| self.users.get(e)).cloned();
        let Some(user) = user.filter(|u| Some(u.password.as_str()) == password && !u.locked) else {
            return forbidden_017();
        };
        if let Err(response) = self.concurrency_rule(&user, None, end_others, now) {
            return response;
        }
        let session = self.new_session(&user.email, now);
        let access = self.new_access(&app.client_id, &user.email, session, None, now);
        let mut body = json!({
            "access_token": access,
            "token_type": "BearerToken",
            "expires_in": self.config.access_ttl.as_secs(),
            "email": user.email,
        });
        add_flags(&mut body, &user);
        server::json(StatusCode::OK, &body)
    }

    fn authorization_code(
        &mut self,
        app: &IntralinksApp,
        code: Option<&str>,
        end_others: bool,
        now: SystemTime,
    ) -> Response {
        let found = code
            .and_then(|c| self.codes.get_mut(c))
            .filter(|c| !c.used && now < c.expires_at && c.client_id == app.client_id);
        let Some(found) = found else {
            return error_code(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid Authorization Code",
            );
        };
        found.used = true;
        let end_others = end_others || found.end_other_sessions;
        let email = found.email.clone();
        let Some(user) = self.users.get(&email).cloned() else {
            return forbidden_017();
        };
        if let Err(response) = self.concurrency_rule(&user, None, end_others, now) {
            return response;
        }
        let session = self.new_session(&email, now);
        let refresh = random_token();
        self.refresh.insert(
            refresh.clone(),
            RefreshToken {
                client_id: app.client_id.clone(),
                session,
                expires_at: now + self.config.refresh_ttl,
                revoked: false,
            },
        );
        let access = self.new_access(&app.client_id, &email, session, Some(&refresh), now);
        let mut body = json!({
            "access_token": access,
            "token_type": "BearerToken",
            "expires_in": self.config.access_ttl.as_secs(),
            "refresh_token": refresh,
            "refresh_token_expires_in": self.config.refresh_ttl.as_secs(),
            "email": email,
        });
        add_flags(&mut body, &user);
        server::json(StatusCode::OK, &body)
    }

    fn refresh_grant(
        &mut self,
        app: &IntralinksApp,
        token: Option<&str>,
        end_others: bool,
        now: SystemTime,
    ) -> Response {
        let found = token
            .and_then(|t| self.refresh.get(t))
            .filter(|r| !r.revoked && now < r.expires_at && r.client_id == app.client_id);
        let (Some(found), Some(token)) = (found, token) else {
            return error_code(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid Refresh Token",
            );
        };
        let session_id = found.session;
        let refresh_expires_at = found.expires_at;
        let session = &self.sessions[session_id];
        if session.ended_by_other_login {
            return forbidden_018();
        }
        let email = session.email.clone();
        let Some(user) = self.users.get(&email).cloned() else {
            return forbidden_017();
        };
        if let Err(response) = self.concurrency_rule(&user, Some(session_id), end_others, now) {
            return response;
        }
        self.sessions[session_id].last_activity = now;
        let access = self.new_access(&app.client_id, &email, session_id, Some(token), now);
        let body = json!({
            "access_token": access,
            "token_type": "BearerToken",
            "expires_in": self.config.access_ttl.as_secs(),
            "refresh_token": token,
            "refresh_token_expires_in": seconds_until(now, refresh_expires_at),
            "email": email,
        });
        server::json(StatusCode::OK, &body)
    }

    /// The subcode-018 rule: a disallow-concurrent user with another live
    /// session needs `endOtherSessions=true`; with it, the other sessions end.
    fn concurrency_rule(
        &mut self,
        user: &IntralinksUser,
        own_session: Option<usize>,
        end_others: bool,
        now: SystemTime,
    ) -> Result<(), Response> {
        let others_live = self.sessions.iter().enumerate().any(|(i, s)| {
            Some(i) != own_session && s.email == user.email && self.session_live(s, now)
        });
        if end_others {
            self.end_sessions_of(&user.email, own_session, now);
        } else if user.disallow_concurrent && others_live {
            return Err(forbidden_018());
        }
        Ok(())
    }

    fn session_live(&self, session: &Session, now: SystemTime) -> bool {
        !session.ended_by_other_login
            && !session.logged_out
            && now < session.last_activity + self.config.session_idle_timeout
    }

    fn end_sessions_of(&mut self, email: &str, except: Option<usize>, now: SystemTime) -> usize {
        let live: Vec<usize> = self
            .sessions
            .iter()
            .enumerate()
            .filter(|(i, s)| Some(*i) != except && s.email == email && self.session_live(s, now))
            .map(|(i, _)| i)
            .collect();
        for &i in &live {
            self.sessions[i].ended_by_other_login = true;
        }
        live.len()
    }

    fn new_session(&mut self, email: &str, now: SystemTime) -> usize {
        self.sessions.push(Session {
            email: email.to_owned(),
            ended_by_other_login: false,
            logged_out: false,
            last_activity: now,
        });
        self.sessions.len() - 1
    }

    fn new_access(
        &mut self,
        client_id: &str,
        email: &str,
        session: usize,
        refresh: Option<&str>,
        now: SystemTime,
    ) -> String {
        let token = random_token();
        self.access.insert(
            token.clone(),
            AccessToken {
                email: email.to_owned(),
                client_id: client_id.to_owned(),
                session,
                expires_at: now + self.config.access_ttl,
                revoked: false,
                refresh: refresh.map(str::to_owned),
            },
        );
        token
    }

    fn new_code(
        &mut self,
        client_id: &str,
        email: &str,
        end_others: bool,
        now: SystemTime,
    ) -> String {
        let code = server::random_hex(16);
        self.codes.insert(
            code.clone(),
            AuthCode {
                email: email.to_owned(),
                client_id: client_id.to_owned(),
                expires_at: now + self.config.code_ttl,
                used: false,
                end_other_sessions: end_others,
            },
        );
        code
    }

    // -- GET /v2/oauth/authorize ---------------------------------------------

    fn authorize(&mut self, req: &Incoming, now: SystemTime) -> Response {
        let client_id = req.query_param("client_id");
        let Some(app) = client_id.and_then(|id| self.apps.get(id)).cloned() else {
            return invalid_consumer_key(client_id);
        };
        let Some(redirect) = app.redirect_uri.clone() else {
            return error_code(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Redirection URI is required",
            );
        };
        let email = req
            .query_param("fake_user")
            .map(str::to_owned)
            .or_else(|| self.authorize_user.clone());
        let user = email.and_then(|e| self.users.get(&e)).filter(|u| !u.locked);
        let Some(user) = user else {
            return server::html(StatusCode::OK, LOGIN_PAGE.to_owned());
        };
        let email = user.email.clone();
        let end_others = req
            .query_param("endOtherSessions")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let code = self.new_code(&app.client_id, &email, end_others, now);
        let mut location = url::Url::parse(&redirect)
            .unwrap_or_else(|_| panic!("redirect URI of app {:?} is not a URL", app.client_id));
        location.query_pairs_mut().append_pair("code", &code);
        if let Some(state) = req.query_param("state") {
            location.query_pairs_mut().append_pair("state", state);
        }
        Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, location.as_str())
            .body(Body::empty())
            .unwrap_or_default()
    }

    // -- GET /v2/oauth/tokeninfo ---------------------------------------------

    fn tokeninfo(&mut self, req: &Incoming, now: SystemTime) -> Response {
        let header = req.header("authorization");
        let Some(token) =
            exact_bearer(header).filter(|t| self.access_check(t, now) == AccessCheck::Valid)
        else {
            return invalid_access_token(header);
        };
        let client_id = req.param_form_first("client_id");
        if client_id.and_then(|id| self.apps.get(id)).is_none() {
            return invalid_consumer_key(client_id);
        }
        let access = &self.access[token];
        // The token's own app: the one it was issued to.
        let Some(app) = self.apps.get(&access.client_id) else {
            return invalid_consumer_key(client_id);
        };
        let mut body = json!({
            "access_token": token,
            "token_type": "BearerToken",
            "expires_in": seconds_until(now, access.expires_at),
            "status": "approved",
            "scope": "ilservices",
            "email": access.email,
            "app_name": app.name,
        });
        if let Some(refresh) = access
            .refresh
            .as_ref()
            .and_then(|r| self.refresh.get_key_value(r))
        {
            body["refresh_token"] = json!(refresh.0);
            body["refresh_token_expires_in"] = json!(seconds_until(now, refresh.1.expires_at));
        }
        if let Some(redirect) = &app.redirect_uri {
            body["redirect_url"] = json!(redirect);
        }
        server::json(StatusCode::OK, &body)
    }

    // -- PUT|POST /v2/oauth/revoke -------------------------------------------

    fn revoke_route(&mut self, req: &Incoming) -> Response {
        let param = |name| req.param_form_first(name);
        if let Err(response) = self.check_client(param("client_id"), param("client_secret")) {
            return response;
        }
        let token = param("token").unwrap_or_default();
        self.revoke(token);
        server::json(
            StatusCode::OK,
            &json!({
                "message": "the passed token and associated refresh/access token have been revoked",
                "token": token,
                "cascade": "true",
            }),
        )
    }

    /// Revokes an access or refresh token, its pair, and ends the session.
    fn revoke(&mut self, token: &str) -> bool {
        let (refresh, session) = if let Some(access) = self.access.get_mut(token) {
            access.revoked = true;
            (access.refresh.clone(), access.session)
        } else if let Some(refresh) = self.refresh.get(token) {
            (Some(token.to_owned()), refresh.session)
        } else {
            return false;
        };
        if let Some(refresh) = refresh {
            if let Some(r) = self.refresh.get_mut(&refresh) {
                r.revoked = true;
            }
            for access in self.access.values_mut() {
                if access.refresh.as_deref() == Some(refresh.as_str()) {
                    access.revoked = true;
                }
            }
        }
        self.sessions[session].logged_out = true;
        true
    }

    // -- GET /v2/workspaces --------------------------------------------------

    fn workspaces(&mut self, req: &Incoming, now: SystemTime) -> Response {
        let header = req.header("authorization");
        let check = exact_bearer(header).map(|t| (t, self.access_check(t, now)));
        match check {
            Some((token, AccessCheck::Valid)) => {
                let session = self.access[token].session;
                self.sessions[session].last_activity = now;
                server::json(StatusCode::OK, &workspaces_body())
            }
            Some((_, AccessCheck::SessionEnded)) => forbidden_018(),
            Some((_, AccessCheck::Invalid)) | None => invalid_access_token(header),
        }
    }

    fn access_check(&self, token: &str, now: SystemTime) -> AccessCheck {
        match self.access.get(token) {
            Some(a) if !a.revoked && now < a.expires_at => {
                let session = &self.sessions[a.session];
                if session.ended_by_other_login || session.logged_out {
                    AccessCheck::SessionEnded
                } else {
                    AccessCheck::Valid
                }
            }
            _ => AccessCheck::Invalid,
        }
    }
}

/// The token after `Bearer ` when the header is exactly `Bearer <token>`.
fn exact_bearer(header: Option<&str>) -> Option<&str> {
    header
        .and_then(|h| h.strip_prefix("Bearer "))
        .filter(|t| !t.is_empty() && !t.contains(' '))
}

fn random_token() -> String {
    // Apigee tokens are 28 alphanumeric characters.
    server::random_hex(28)
}

fn add_flags(body: &mut Value, user: &IntralinksUser) {
    if !user.flags.is_empty() {
        let flags: Vec<Value> = user.flags.iter().map(|f| json!({ "name": f })).collect();
        body["flags"] = Value::Array(flags);
    }
}

fn error_code(status: StatusCode, code: &str, error: &str) -> Response {
    server::json(status, &json!({ "ErrorCode": code, "Error": error }))
}

fn invalid_consumer_key(client_id: Option<&str>) -> Response {
    server::json(
        StatusCode::BAD_REQUEST,
        &json!({
            "ErrorCode": "invalid_request",
            "Error": format!("invalid or null consumer key: {}", client_id.unwrap_or("null")),
            "Hint": "please ensure that you are passing the consumer key like so: 'client_id={consumer_key}'",
        }),
    )
}

fn forbidden_017() -> Response {
    server::json(
        StatusCode::FORBIDDEN,
        &json!({ "error": { "code": 403, "message": MESSAGE_017, "subcode": "017" } }),
    )
}

fn forbidden_018() -> Response {
    server::json(
        StatusCode::FORBIDDEN,
        &json!({ "error": { "code": 403, "message": MESSAGE_018, "subcode": "018", "errorid": "" } }),
    )
}

fn invalid_access_token(header: Option<&str>) -> Response {
    server::json(
        StatusCode::UNAUTHORIZED,
        &json!({
            "status": "Unauthorized",
            "error": {
                "code": 401,
                "description": format!("invalid access token: {}", header.unwrap_or_default()),
                "subcode": "the passed access token is either not valid or is formatted incorrectly in the request",
            },
        }),
    )
}

fn workspaces_body() -> Value {
    json!({
        "status": { "code": 200, "message": "Request completed fine, no errors" },
        "workspace": [{
            "workspaceName": "Exchange A",
            "parentTemplateId": 12345,
            "host": "Host A",
            "securityLevel": 1,
            "type": "ARC",
            "statistics": { "newTasks": 0, "newParticipantRequests": 0 },
            "pvpEnabled": "F",
            "version": 0,
            "htmlViewEnabled": "F",
            "phase": "OPEN",
            "name": "Exchange A",
            "id": 11_111_155,
        }],
    })
}

/// The body of the 404 page.
pub const NOT_FOUND_HTML: &str = "<!DOCTYPE html>\n<html><head><title>Intralinks</title></head>\n\
<body><h1>Sorry</h1><p>Your request cannot be completed, please retry. \
If the problem persists, please contact Intralinks support.</p></body></html>\n";

const LOGIN_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Intralinks Login</title></head>\n\
<body><form method=\"post\"><input name=\"email\"><input name=\"password\" type=\"password\">\
<button>Log in</button></form></body></html>\n";

fn not_found_html() -> Response {
    server::html(StatusCode::NOT_FOUND, NOT_FOUND_HTML.to_owned())
}
