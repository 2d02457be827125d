//! A fake of Intellivoid Accounts' COA v1 API, following the fake spec in
//! `research/providers.md` §3.8 and the check orders of §3.2 (sources and
//! `[ASSUMED]` parts are listed in `testkit/README.md`).
//!
//! API routes live under `/intellivoid/v1/` and take GET or POST, with
//! parameters from the query and (for POST) an urlencoded or multipart body,
//! the body overriding; JSON bodies are ignored; HTTP Basic can carry the
//! application id and secret. Before routing: a missing, empty or over-long
//! `User-Agent` gets the quirky 400 with `"success":true`; other methods get
//! 400 (type SERVER, code 1); unknown paths get 404 (type SERVER, code 0).
//!
//! | route | what |
//! | --- | --- |
//! | `coa/application` | public application info |
//! | `coa/auth/request_authentication` | creates a request token and the prompt URL |
//! | `coa/auth/process_authentication` | the poll: 41 until approved, then the access token; 34 after 600 s |
//! | `coa/auth/get_access_token` | introspection (no expiry, revocation or slide) |
//! | `accounts/get_user`, `get_email`, `get_personal_information` | the authorized probes; each success slides the expiry |
//! | `GET /auth/login?...` | the simulated user prompt (HTML) |
//! | `POST /auth/login?action=authenticate&request_token=…&grant=…` | the user approves with a granted subset |
//! | `POST /__fake/block?request_token=` | the user blocks the request |
//! | `POST /__fake/revoke?access_token=` | the user revokes the access |
//! | `POST /__fake/account-status?id=&status=` | sets an account's status |
//!
//! ```no_run
//! use keyhelm_testkit::intellivoid::{FakeIntellivoid, IntellivoidAccount, IntellivoidApp};
//!
//! let fake = FakeIntellivoid::start();
//! let app = fake.add_application(IntellivoidApp::new("keyhelm"));
//! fake.add_account(IntellivoidAccount::new("alice"));
//! let api = fake.base_url(); // http://127.0.0.1:<port>/intellivoid/v1
//! # let _ = (app, api);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::clock::unix_seconds;
pub use crate::fake::ROUTE_UNMATCHED;
use crate::fake::{Fake, Service};
use crate::server::{self, Incoming, html_escape};

/// The API prefix.
pub const API_PREFIX: &str = "/intellivoid/v1";
/// `coa/application`
pub const ROUTE_APPLICATION: &str = "/intellivoid/v1/coa/application";
/// `coa/auth/request_authentication`
pub const ROUTE_REQUEST_AUTHENTICATION: &str = "/intellivoid/v1/coa/auth/request_authentication";
/// `coa/auth/process_authentication`
pub const ROUTE_PROCESS_AUTHENTICATION: &str = "/intellivoid/v1/coa/auth/process_authentication";
/// `coa/auth/get_access_token`
pub const ROUTE_GET_ACCESS_TOKEN: &str = "/intellivoid/v1/coa/auth/get_access_token";
/// `accounts/get_user`
pub const ROUTE_GET_USER: &str = "/intellivoid/v1/accounts/get_user";
/// `accounts/get_email`
pub const ROUTE_GET_EMAIL: &str = "/intellivoid/v1/accounts/get_email";
/// `accounts/get_personal_information`
pub const ROUTE_GET_PERSONAL_INFORMATION: &str =
    "/intellivoid/v1/accounts/get_personal_information";
/// The simulated user prompt.
pub const ROUTE_PROMPT: &str = "/auth/login";
/// `POST /__fake/block?request_token=`
pub const ROUTE_BLOCK: &str = "/__fake/block";
/// `POST /__fake/revoke?access_token=`
pub const ROUTE_REVOKE: &str = "/__fake/revoke";
/// `POST /__fake/account-status?id=&status=`
pub const ROUTE_ACCOUNT_STATUS: &str = "/__fake/account-status";

/// Longest accepted `User-Agent`.
pub const MAX_USER_AGENT_LEN: usize = 624;

const REALM_ID_AND_SECRET: &str =
    "Basic realm=\"Intellivoid Accounts Application ID & Secret Key\"";
const REALM_ID: &str = "Basic realm=\"Intellivoid Accounts Application ID\"";

/// An application permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// `READ_USERNAME` (always granted).
    ReadUsername,
    /// `GET_USER_DISPLAY` (always granted).
    GetUserDisplay,
    /// `READ_PERSONAL_INFORMATION`
    ReadPersonalInformation,
    /// `EDIT_PERSONAL_INFORMATION`
    EditPersonalInformation,
    /// `READ_EMAIL_ADDRESS`
    ReadEmailAddress,
    /// `INVOKE_PURCHASES`
    InvokePurchases,
    /// `INVOKE_TELEGRAM_NOTIFICATIONS`
    InvokeTelegramNotifications,
    /// `READ_TELEGRAM_CLIENT`
    ReadTelegramClient,
    /// `READ_TODO`
    ReadTodo,
    /// `MANAGE_TODO`
    ManageTodo,
    /// `SYNC_APPLICATION_SETTINGS`
    SyncApplicationSettings,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Self; 11] = [
        Self::ReadUsername,
        Self::GetUserDisplay,
        Self::ReadPersonalInformation,
        Self::EditPersonalInformation,
        Self::ReadEmailAddress,
        Self::InvokePurchases,
        Self::InvokeTelegramNotifications,
        Self::ReadTelegramClient,
        Self::ReadTodo,
        Self::ManageTodo,
        Self::SyncApplicationSettings,
    ];

    /// The permissions the prompt grants whatever the user unticks.
    pub const ALWAYS_GRANTED: [Self; 2] = [Self::ReadUsername, Self::GetUserDisplay];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadUsername => "READ_USERNAME",
            Self::GetUserDisplay => "GET_USER_DISPLAY",
            Self::ReadPersonalInformation => "READ_PERSONAL_INFORMATION",
            Self::EditPersonalInformation => "EDIT_PERSONAL_INFORMATION",
            Self::ReadEmailAddress => "READ_EMAIL_ADDRESS",
            Self::InvokePurchases => "INVOKE_PURCHASES",
            Self::InvokeTelegramNotifications => "INVOKE_TELEGRAM_NOTIFICATIONS",
            Self::ReadTelegramClient => "READ_TELEGRAM_CLIENT",
            Self::ReadTodo => "READ_TODO",
            Self::ManageTodo => "MANAGE_TODO",
            Self::SyncApplicationSettings => "SYNC_APPLICATION_SETTINGS",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// An application's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppStatus {
    /// `ACTIVE`
    Active,
    /// `SUSPENDED` (error 3)
    Suspended,
    /// `DISABLED` (error 4)
    Disabled,
}

impl AppStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Suspended => "SUSPENDED",
            Self::Disabled => "DISABLED",
        }
    }
}

/// An application's authentication mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// `REDIRECT`: the prompt redirects to `redirect?access_token=`.
    Redirect,
    /// `PLACEHOLDER`: the client polls process_authentication.
    Placeholder,
    /// `RETURN_ACCESS_CODE`: the prompt shows the access token.
    Code,
}

impl AuthMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Redirect => "REDIRECT",
            Self::Placeholder => "PLACEHOLDER",
            Self::Code => "RETURN_ACCESS_CODE",
        }
    }
}

/// An account's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountStatus {
    /// Normal.
    Active,
    /// Error 28.
    Suspended,
    /// Error 51.
    Limited,
    /// Error 51.
    VerificationRequired,
    /// Error 51.
    PasswordRecoveryMode,
    /// Error 51.
    BlockedDueToGovernmentBackedAttack,
}

impl AccountStatus {
    /// Parses the names the admin route takes (case-insensitive):
    /// `active`, `suspended`, `limited`, `verification_required`,
    /// `password_recovery_mode`, `government_backed_attack`, or the server's
    /// numbers 0 to 5.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "active" | "0" => Self::Active,
            "suspended" | "1" => Self::Suspended,
            "limited" | "2" => Self::Limited,
            "verification_required" | "3" => Self::VerificationRequired,
            "password_recovery_mode" | "4" => Self::PasswordRecoveryMode,
            "government_backed_attack" | "5" => Self::BlockedDueToGovernmentBackedAttack,
            _ => return None,
        })
    }
}

/// An application to register in the fake.
#[derive(Clone)]
pub struct IntellivoidApp {
    /// The display name.
    pub name: String,
    /// The authentication mode.
    pub mode: AuthMode,
    /// The status.
    pub status: AppStatus,
    /// The permissions it requests.
    pub permissions: Vec<Permission>,
    credentials: Option<IntellivoidAppCredentials>,
}

impl IntellivoidApp {
    /// An active PLACEHOLDER app requesting `READ_USERNAME`,
    /// `GET_USER_DISPLAY`, `READ_EMAIL_ADDRESS` and
    /// `READ_PERSONAL_INFORMATION`, with generated credentials.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            mode: AuthMode::Placeholder,
            status: AppStatus::Active,
            permissions: vec![
                Permission::ReadUsername,
                Permission::GetUserDisplay,
                Permission::ReadEmailAddress,
                Permission::ReadPersonalInformation,
            ],
            credentials: None,
        }
    }

    /// Sets the mode.
    pub fn mode(mut self, mode: AuthMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the status.
    pub fn status(mut self, status: AppStatus) -> Self {
        self.status = status;
        self
    }

    /// Replaces the requested permissions.
    pub fn permissions(mut self, permissions: &[Permission]) -> Self {
        self.permissions = permissions.to_vec();
        self
    }

    /// Uses fixed credentials instead of generated ones.
    pub fn credentials(mut self, application_id: &str, secret_key: &str) -> Self {
        self.credentials = Some(IntellivoidAppCredentials {
            application_id: application_id.to_owned(),
            secret_key: secret_key.to_owned(),
        });
        self
    }
}

impl fmt::Debug for IntellivoidApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntellivoidApp")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .field("status", &self.status)
            .field("permissions", &self.permissions)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// An application's id and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct IntellivoidAppCredentials {
    /// `APP` + 72 hex characters unless fixed.
    pub application_id: String,
    /// The secret key.
    pub secret_key: String,
}

impl fmt::Debug for IntellivoidAppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntellivoidAppCredentials")
            .field("application_id", &self.application_id)
            .field("secret_key", &"REDACTED")
            .finish()
    }
}

/// An account to add to the fake.
#[derive(Clone, Debug)]
pub struct IntellivoidAccount {
    /// The username.
    pub username: String,
    /// The email address.
    pub email: String,
    /// First name (null when None).
    pub first_name: Option<String>,
    /// Last name (null when None).
    pub last_name: Option<String>,
    /// Birthday as (day, month, year) (null when None).
    pub birthday: Option<(u8, u8, u16)>,
    /// The status.
    pub status: AccountStatus,
}

impl IntellivoidAccount {
    /// An active account with email `<username>@example.com` and no
    /// personal information.
    pub fn new(username: &str) -> Self {
        Self {
            username: username.to_owned(),
            email: format!("{username}@example.com"),
            first_name: None,
            last_name: None,
            birthday: None,
            status: AccountStatus::Active,
        }
    }

    /// Sets the email address.
    pub fn email(mut self, email: &str) -> Self {
        email.clone_into(&mut self.email);
        self
    }

    /// Sets first and last name.
    pub fn name(mut self, first: &str, last: &str) -> Self {
        self.first_name = Some(first.to_owned());
        self.last_name = Some(last.to_owned());
        self
    }

    /// Sets the birthday.
    pub fn birthday(mut self, day: u8, month: u8, year: u16) -> Self {
        self.birthday = Some((day, month, year));
        self
    }

    /// Sets the status.
    pub fn status(mut self, status: AccountStatus) -> Self {
        self.status = status;
        self
    }
}

/// The user approves on their own after some polls.
#[derive(Clone, Debug)]
pub struct AutoApprove {
    /// Polls answered 41 before the approval; the next poll gets 200.
    pub after_polls: u32,
    /// The permissions the user leaves ticked (the always-granted ones are
    /// added).
    pub grant: Vec<Permission>,
}

/// Knobs of the Intellivoid fake.
#[derive(Clone, Debug)]
pub struct IntellivoidConfig {
    /// Request-token lifetime; default 600 s.
    pub request_ttl: Duration,
    /// Access-token lifetime at creation; default 460800 s.
    pub access_initial_ttl: Duration,
    /// Each successful `accounts/*` call sets the expiry to now + this;
    /// default 172800 s (48 h).
    pub access_slide: Duration,
    /// The prompt account approves by itself after some polls; default None.
    pub auto_approve: Option<AutoApprove>,
}

impl Default for IntellivoidConfig {
    fn default() -> Self {
        Self {
            request_ttl: Duration::from_secs(600),
            access_initial_ttl: Duration::from_secs(460_800),
            access_slide: Duration::from_secs(172_800),
            auto_approve: None,
        }
    }
}

/// Why an approval failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApproveError {
    /// No such request token.
    UnknownRequestToken,
    /// The request was already approved (COA error 20).
    AlreadyAuthenticated,
    /// The request was blocked.
    Blocked,
    /// No account to approve as (add one or set the prompt account).
    NoAccount,
}

impl fmt::Display for ApproveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownRequestToken => "INVALID REQUEST TOKEN IN AUTH PROMPT",
            Self::AlreadyAuthenticated => "ALREADY AUTHENTICATED",
            Self::Blocked => "ACCESS DENIED",
            Self::NoAccount => "no account to approve as",
        })
    }
}

impl std::error::Error for ApproveError {}

/// A running Intellivoid fake; dropping it stops the server. Its
/// [`base_url`](Fake::base_url) is `http://127.0.0.1:<port>/intellivoid/v1`; the prompt and
/// admin routes live at its [`root_url`](Fake::root_url).
pub type FakeIntellivoid = Fake<IntellivoidState>;

/// The Intellivoid fake's state (see [`FakeIntellivoid`]).
#[derive(Default)]
pub struct IntellivoidState {
    config: IntellivoidConfig,
    apps: Vec<AppRec>,
    accounts: Vec<AccountRec>,
    requests: HashMap<String, RequestRec>,
    last_request: Option<String>,
    access: HashMap<String, AccessRec>,
    prompt_account: Option<String>,
}

struct AppRec {
    id: String,
    secret: String,
    name: String,
    mode: AuthMode,
    status: AppStatus,
    permissions: Vec<Permission>,
}

struct AccountRec {
    id: String,
    account: IntellivoidAccount,
}

struct RequestRec {
    app_id: String,
    expires: u64,
    blocked: bool,
    access: Option<String>,
    polls: u32,
    redirect: Option<String>,
}

struct AccessRec {
    app_id: String,
    account_id: String,
    permissions: Vec<Permission>,
    expires: u64,
    revoked: bool,
}

/// A COA error: HTTP status, code, and the `WWW-Authenticate` realm of the
/// "missing credentials" errors.
#[derive(Debug)]
struct CoaError {
    status: StatusCode,
    code: i32,
    realm: Option<&'static str>,
}

impl CoaError {
    fn into_response(self) -> Response {
        let mut response = api_json(
            self.status,
            &json!({
                "success": false,
                "response_code": self.status.as_u16(),
                "error": { "error_code": self.code, "message": coa_message(self.code), "type": "COA" },
            }),
        );
        if let Some(realm) = self.realm {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(realm));
        }
        response
    }
}

/// Shows the knobs only: the state holds secrets and tokens.
impl fmt::Debug for IntellivoidState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntellivoidState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl FakeIntellivoid {
    /// Registers an application; returns its credentials.
    pub fn add_application(&self, app: IntellivoidApp) -> IntellivoidAppCredentials {
        let credentials = app
            .credentials
            .clone()
            .unwrap_or_else(|| IntellivoidAppCredentials {
                application_id: format!("APP{}", server::random_hex(72)),
                secret_key: server::random_hex(64),
            });
        let mut state = self.state();
        state.apps.retain(|a| a.id != credentials.application_id);
        state.apps.push(AppRec {
            id: credentials.application_id.clone(),
            secret: credentials.secret_key.clone(),
            name: app.name,
            mode: app.mode,
            status: app.status,
            permissions: app.permissions,
        });
        credentials
    }

    /// Sets an application's status; returns whether it was known.
    pub fn set_application_status(&self, application_id: &str, status: AppStatus) -> bool {
        let mut state = self.state();
        let Some(app) = state.apps.iter_mut().find(|a| a.id == application_id) else {
            return false;
        };
        app.status = status;
        true
    }

    /// Adds an account; returns its public id (80 hex characters). The first
    /// account added is the one the prompt logs in as, unless
    /// [`FakeIntellivoid::set_prompt_account`] says otherwise.
    pub fn add_account(&self, account: IntellivoidAccount) -> String {
        let id = server::random_hex(80);
        let mut state = self.state();
        state.accounts.push(AccountRec {
            id: id.clone(),
            account,
        });
        if state.prompt_account.is_none() {
            state.prompt_account = Some(id.clone());
        }
        id
    }

    /// The account the prompt (and auto-approval) logs in as.
    pub fn set_prompt_account(&self, account_id: &str) {
        self.state().prompt_account = Some(account_id.to_owned());
    }

    /// Sets an account's status; returns whether it was known.
    pub fn set_account_status(&self, account_id: &str, status: AccountStatus) -> bool {
        self.state().set_account_status(account_id, status)
    }

    /// Deletes an account (its tokens then get error 26); returns whether it
    /// was known.
    pub fn delete_account(&self, account_id: &str) -> bool {
        let mut state = self.state();
        let before = state.accounts.len();
        state.accounts.retain(|a| a.id != account_id);
        state.accounts.len() != before
    }

    /// The most recent request token created by request_authentication.
    pub fn last_request_token(&self) -> Option<String> {
        self.state().last_request.clone()
    }

    /// How often process_authentication reached "awaiting" or "approved"
    /// for this request token.
    pub fn polls(&self, request_token: &str) -> u32 {
        self.state()
            .requests
            .get(request_token)
            .map_or(0, |r| r.polls)
    }

    /// The user approves as the prompt account, leaving `grant` ticked (the
    /// always-granted permissions are added; permissions the app does not
    /// request are dropped). Returns the access token.
    pub fn approve(
        &self,
        request_token: &str,
        grant: &[Permission],
    ) -> Result<String, ApproveError> {
        let now = self.clock().unix();
        let mut state = self.state();
        let account = state
            .prompt_account
            .clone()
            .ok_or(ApproveError::NoAccount)?;
        state.approve(request_token, &account, grant, now)
    }

    /// Like [`FakeIntellivoid::approve`], as a given account.
    pub fn approve_as(
        &self,
        request_token: &str,
        account_id: &str,
        grant: &[Permission],
    ) -> Result<String, ApproveError> {
        let now = self.clock().unix();
        self.state().approve(request_token, account_id, grant, now)
    }

    /// The user blocks the request (process_authentication keeps answering
    /// 41, then 34, as the real server does). Returns whether it was known.
    pub fn block(&self, request_token: &str) -> bool {
        self.state().block(request_token)
    }

    /// The user revokes the access (accounts/* then answer 29). Returns
    /// whether it was known.
    pub fn revoke(&self, access_token: &str) -> bool {
        self.state().revoke(access_token)
    }

    /// The access token's current `expires_timestamp`.
    pub fn access_token_expiry(&self, access_token: &str) -> Option<u64> {
        self.state().access.get(access_token).map(|a| a.expires)
    }

    /// Whether `token` is an access token valid at this service now: known,
    /// not revoked, not expired by the fake clock, its account active and its
    /// application active (what an `accounts/*` call would accept).
    pub fn is_valid_token(&self, token: &str) -> bool {
        let now = self.clock().unix();
        let state = self.state();
        let Some(access) = state.access.get(token) else {
            return false;
        };
        let account_ok = state
            .accounts
            .iter()
            .any(|a| a.id == access.account_id && a.account.status == AccountStatus::Active);
        let app_ok = state
            .apps
            .iter()
            .any(|a| a.id == access.app_id && a.status == AppStatus::Active);
        !access.revoked && now <= access.expires && account_ok && app_ok
    }

    /// How many requests reached process_authentication.
    pub fn process_requests(&self) -> usize {
        self.log().count(ROUTE_PROCESS_AUTHENTICATION)
    }
}

/// The request's parameters as PHP sees them: the query, overridden by the
/// body for POST (`$_POST` is empty for other methods); JSON is ignored.
struct Params<'a>(&'a Incoming);

impl Params<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        let req = self.0;
        if req.method == Method::POST {
            req.param_form_first(name)
        } else {
            req.query_param(name)
        }
    }

    fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }
}

impl Service for IntellivoidState {
    type Config = IntellivoidConfig;
    const TYPE_NAME: &'static str = "FakeIntellivoid";
    const NAME: &'static str = "Intellivoid";
    const API_PREFIX: &'static str = API_PREFIX;

    fn config_mut(&mut self) -> &mut IntellivoidConfig {
        &mut self.config
    }

    fn dispatch(
        &mut self,
        req: &Incoming,
        now: SystemTime,
        root: &str,
    ) -> (&'static str, Response) {
        let now = unix_seconds(now);
        match req.path.as_str() {
            ROUTE_PROMPT => return (ROUTE_PROMPT, self.prompt(req, now)),
            ROUTE_BLOCK | ROUTE_REVOKE | ROUTE_ACCOUNT_STATUS => return self.admin(req),
            _ => {}
        }
        // The API pipeline: user agent, method, route.
        let user_agent_ok = req
            .header("user-agent")
            .is_some_and(|ua| !ua.is_empty() && ua.len() <= MAX_USER_AGENT_LEN);
        if !user_agent_ok {
            let body = json!({
                "success": true,
                "response_code": 400,
                "error": {
                    "error_code": 0,
                    "type": "CLIENT",
                    "message": "The given user-agent header is invalid/missing",
                },
            });
            return (route_of(req), api_json(StatusCode::BAD_REQUEST, &body));
        }
        if req.method != Method::GET && req.method != Method::POST {
            let body = server_error(400, 1, "The given version for this API is not supported");
            return (route_of(req), api_json(StatusCode::BAD_REQUEST, &body));
        }
        let route = route_of(req);
        let params = Params(req);
        let result = match route {
            ROUTE_APPLICATION => self.application(&params, root),
            ROUTE_REQUEST_AUTHENTICATION => self.request_authentication(req, &params, now, root),
            ROUTE_PROCESS_AUTHENTICATION => self.process_authentication(req, &params, now),
            ROUTE_GET_ACCESS_TOKEN => self.get_access_token(req, &params),
            ROUTE_GET_USER | ROUTE_GET_EMAIL | ROUTE_GET_PERSONAL_INFORMATION => {
                self.accounts(route, req, &params, now, root)
            }
            _ => {
                let body = server_error(
                    404,
                    0,
                    "The requested resource/action is invalid or not found",
                );
                return (route, api_json(StatusCode::NOT_FOUND, &body));
            }
        };
        let response = match result {
            Ok(results) => api_json(
                StatusCode::OK,
                &json!({ "success": true, "response_code": 200, "results": results }),
            ),
            Err(error) => error.into_response(),
        };
        (route, response)
    }
}

impl IntellivoidState {
    // -- shared checks ---------------------------------------------------------

    /// `fetchApplicationAuthentication`: Basic wins for the id, a non-empty
    /// Basic password wins for the secret, then the parameters.
    fn app_auth(
        req: &Incoming,
        params: &Params<'_>,
        require_secret: bool,
    ) -> Result<(String, Option<String>), CoaError> {
        let basic = req.basic_auth();
        let mut app_id = basic
            .as_ref()
            .map(|(u, _)| u.clone())
            .filter(|u| !u.is_empty());
        let mut secret = basic.map(|(_, p)| p).filter(|p| !p.is_empty());
        if app_id.is_none() {
            app_id = params.get("application_id").map(str::to_owned);
        }
        let Some(app_id) = app_id else {
            return Err(if require_secret {
                coa_error_with_realm((StatusCode::UNAUTHORIZED, 22), REALM_ID_AND_SECRET)
            } else {
                coa_error_with_realm((StatusCode::UNAUTHORIZED, 1), REALM_ID)
            });
        };
        if require_secret && secret.is_none() {
            secret = params.get("secret_key").map(str::to_owned);
            if secret.is_none() {
                return Err(coa_error_with_realm(
                    (StatusCode::UNAUTHORIZED, 22),
                    REALM_ID_AND_SECRET,
                ));
            }
        }
        Ok((app_id, secret))
    }

    fn find_app(&self, app_id: &str) -> Result<&AppRec, CoaError> {
        self.apps
            .iter()
            .find(|a| a.id == app_id)
            .ok_or_else(|| coa_error((StatusCode::NOT_FOUND, 2)))
    }

    fn check_secret(app: &AppRec, secret: Option<&str>) -> Result<(), CoaError> {
        if secret == Some(app.secret.as_str()) {
            Ok(())
        } else {
            Err(coa_error((StatusCode::UNAUTHORIZED, 23)))
        }
    }

    /// The checks the app-authenticated calls share, in their order: the id and secret are
    /// present (22), then `param` (`missing` when absent), then the app is known (2) and the
    /// secret is its own (23). Returns the app id and `param`.
    fn authenticate<'p>(
        &self,
        req: &Incoming,
        params: &'p Params<'_>,
        param: &str,
        missing: (StatusCode, i32),
    ) -> Result<(String, &'p str), CoaError> {
        let (app_id, secret) = Self::app_auth(req, params, true)?;
        let Some(value) = params.get(param) else {
            return Err(coa_error(missing));
        };
        Self::check_secret(self.find_app(&app_id)?, secret.as_deref())?;
        Ok((app_id, value))
    }

    fn check_app_status(app: &AppRec) -> Result<(), CoaError> {
        match app.status {
            AppStatus::Active => Ok(()),
            AppStatus::Suspended => Err(coa_error((StatusCode::FORBIDDEN, 3))),
            AppStatus::Disabled => Err(coa_error((StatusCode::FORBIDDEN, 4))),
        }
    }

    // -- coa/application ---------------------------------------------------------

    fn application(&self, params: &Params<'_>, root: &str) -> Result<Value, CoaError> {
        let id = params.get("application_id").unwrap_or_default();
        let app = self.find_app(id)?;
        Ok(json!({
            "name": app.name,
            "name_safe": name_safe(&app.name),
            "logo": image_set(root, "application", &app.id),
            "status": app.status.as_str(),
            "authentication_mode": app.mode.as_str(),
            "permissions": permission_names(&app.permissions),
        }))
    }

    // -- coa/auth/request_authentication ---------------------------------------

    fn request_authentication(
        &mut self,
        req: &Incoming,
        params: &Params<'_>,
        now: u64,
        root: &str,
    ) -> Result<Value, CoaError> {
        let (app_id, _ignored_secret) = Self::app_auth(req, params, false)?;
        let app = self.find_app(&app_id)?;
        Self::check_app_status(app)?;
        let redirect = params.get("redirect").map(str::to_owned);
        if app.mode == AuthMode::Redirect && redirect.is_none() {
            return Err(coa_error((StatusCode::BAD_REQUEST, 6)));
        }
        let permissions = permission_names(&app.permissions);
        let token = server::random_hex(72);
        let expires = now + self.config.request_ttl.as_secs();

        let mut url = format!("{root}{ROUTE_PROMPT}?auth=application");
        let mut push = |name: &str, value: &str| {
            url.push('&');
            url.push_str(name);
            url.push('=');
            url.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
        };
        if let (AuthMode::Redirect, Some(redirect)) = (app.mode, &redirect) {
            push("redirect", redirect);
        }
        push("application_id", &app.id);
        push("request_token", &token);
        if params.flag("expand_ui") {
            push("expanded", "1");
        }
        if params.flag("require_close") {
            push("require_close", "1");
        }

        self.requests.insert(
            token.clone(),
            RequestRec {
                app_id,
                expires,
                blocked: false,
                access: None,
                polls: 0,
                redirect,
            },
        );
        self.last_request = Some(token.clone());
        Ok(json!({
            "request_token": token,
            "requested_permissions": permissions,
            "status": "ACTIVE",
            "authentication_url": url,
            "expires_timestamp": expires,
        }))
    }

    // -- coa/auth/process_authentication ---------------------------------------

    fn process_authentication(
        &mut self,
        req: &Incoming,
        params: &Params<'_>,
        now: u64,
    ) -> Result<Value, CoaError> {
        // 1. id or secret missing: 22; 2. request_token missing: 39; 3. unknown app: 2;
        // 4. wrong secret: 23
        let (app_id, token) =
            self.authenticate(req, params, "request_token", (StatusCode::BAD_REQUEST, 39))?;
        // 5. suspended/disabled: 3/4
        Self::check_app_status(self.find_app(&app_id)?)?;
        // 6. unknown request token, or another app's: 40
        let Some(request) = self.requests.get_mut(token).filter(|r| r.app_id == app_id) else {
            return Err(coa_error((StatusCode::BAD_REQUEST, 40)));
        };
        // 7. expired, even if approved: 34
        if now > request.expires {
            return Err(coa_error((StatusCode::BAD_REQUEST, 34)));
        }
        request.polls += 1;
        let polls = request.polls;
        // 8. not approved yet: 41 (also while blocked), unless auto-approval is due
        if request.access.is_none() {
            let due = self
                .config
                .auto_approve
                .clone()
                .filter(|auto| !request.blocked && polls > auto.after_polls);
            let approved = due.and_then(|auto| {
                let account = self.prompt_account.clone()?;
                self.approve(token, &account, &auto.grant, now).ok()
            });
            if approved.is_none() {
                return Err(coa_error((StatusCode::BAD_REQUEST, 41)));
            }
        }
        // 9. approved: the same access token on every poll
        let access_token = self.requests[token].access.clone().unwrap_or_default();
        let access = &self.access[&access_token];
        Ok(json!({
            "access_token": access_token,
            "granted_permissions": permission_names(&access.permissions),
            "expires_timestamp": access.expires,
        }))
    }

    // -- coa/auth/get_access_token -----------------------------------------------

    fn get_access_token(&self, req: &Incoming, params: &Params<'_>) -> Result<Value, CoaError> {
        let (app_id, token) =
            self.authenticate(req, params, "access_token", (StatusCode::BAD_REQUEST, 24))?;
        Self::check_app_status(self.find_app(&app_id)?)?;
        let Some(access) = self.access.get(token).filter(|a| a.app_id == app_id) else {
            return Err(coa_error((StatusCode::UNAUTHORIZED, 25)));
        };
        Ok(json!({
            "granted_permissions": permission_names(&access.permissions),
            "expires_timestamp": access.expires,
        }))
    }

    // -- accounts/* ----------------------------------------------------------------

    fn accounts(
        &mut self,
        route: &str,
        req: &Incoming,
        params: &Params<'_>,
        now: u64,
        root: &str,
    ) -> Result<Value, CoaError> {
        // Stricter than the real server, which never compares the secret here.
        let (app_id, token) =
            self.authenticate(req, params, "access_token", (StatusCode::UNAUTHORIZED, 24))?;
        let slide = self.config.access_slide.as_secs();
        let Some(access) = self.access.get_mut(token).filter(|a| a.app_id == app_id) else {
            return Err(coa_error((StatusCode::UNAUTHORIZED, 25)));
        };
        if access.revoked {
            return Err(coa_error((StatusCode::FORBIDDEN, 29)));
        }
        if now > access.expires {
            return Err(coa_error((StatusCode::FORBIDDEN, 27)));
        }
        access.expires = now + slide;
        let permissions = access.permissions.clone();
        let account_id = access.account_id.clone();

        let Some(account) = self.accounts.iter().find(|a| a.id == account_id) else {
            return Err(coa_error((StatusCode::FORBIDDEN, 26)));
        };
        match account.account.status {
            AccountStatus::Active => {}
            AccountStatus::Suspended => return Err(coa_error((StatusCode::FORBIDDEN, 28))),
            _ => return Err(coa_error((StatusCode::FORBIDDEN, 51))),
        }
        Self::check_app_status(self.find_app(&app_id)?)?;

        let needs: &[Permission] = match route {
            ROUTE_GET_USER => &[Permission::ReadUsername, Permission::GetUserDisplay],
            ROUTE_GET_EMAIL => &[Permission::ReadEmailAddress],
            _ => &[Permission::ReadPersonalInformation],
        };
        if !needs.iter().all(|p| permissions.contains(p)) {
            return Err(coa_error((StatusCode::FORBIDDEN, 30)));
        }
        let a = &account.account;
        Ok(match route {
            ROUTE_GET_USER => json!({
                "id": account.id,
                "username": a.username,
                "avatar": image_set(root, "avatar", &account.id),
            }),
            ROUTE_GET_EMAIL => json!({ "email_address": a.email }),
            _ => json!({
                "first_name": a.first_name,
                "last_name": a.last_name,
                "birthday": a.birthday.map(|(day, month, year)| json!({
                    "day": day, "month": month, "year": year,
                })),
            }),
        })
    }

    // -- user actions -----------------------------------------------------------

    fn approve(
        &mut self,
        request_token: &str,
        account_id: &str,
        grant: &[Permission],
        now: u64,
    ) -> Result<String, ApproveError> {
        if !self.accounts.iter().any(|a| a.id == account_id) {
            return Err(ApproveError::NoAccount);
        }
        let request = self
            .requests
            .get(request_token)
            .ok_or(ApproveError::UnknownRequestToken)?;
        if request.access.is_some() {
            return Err(ApproveError::AlreadyAuthenticated);
        }
        if request.blocked {
            return Err(ApproveError::Blocked);
        }
        let app_id = request.app_id.clone();
        let requested = self
            .apps
            .iter()
            .find(|a| a.id == app_id)
            .map(|a| a.permissions.clone())
            .unwrap_or_default();
        let permissions: Vec<Permission> = requested
            .into_iter()
            .filter(|p| grant.contains(p) || Permission::ALWAYS_GRANTED.contains(p))
            .collect();
        let token = server::random_hex(64);
        self.access.insert(
            token.clone(),
            AccessRec {
                app_id,
                account_id: account_id.to_owned(),
                permissions,
                expires: now + self.config.access_initial_ttl.as_secs(),
                revoked: false,
            },
        );
        if let Some(request) = self.requests.get_mut(request_token) {
            request.access = Some(token.clone());
        }
        Ok(token)
    }

    fn block(&mut self, request_token: &str) -> bool {
        self.requests
            .get_mut(request_token)
            .map(|r| r.blocked = true)
            .is_some()
    }

    fn revoke(&mut self, access_token: &str) -> bool {
        self.access
            .get_mut(access_token)
            .map(|a| a.revoked = true)
            .is_some()
    }

    fn set_account_status(&mut self, account_id: &str, status: AccountStatus) -> bool {
        self.accounts
            .iter_mut()
            .find(|a| a.id == account_id)
            .map(|a| a.account.status = status)
            .is_some()
    }

    // -- the simulated prompt -----------------------------------------------------

    fn prompt(&mut self, req: &Incoming, now: u64) -> Response {
        let param = |name| req.param_form_first(name);
        let Some(token) = param("request_token") else {
            return prompt_error(9);
        };
        let Some(request) = self.requests.get(token) else {
            return prompt_error(12);
        };
        let app = self.apps.iter().find(|a| a.id == request.app_id);
        let (app_name, mode, requested) = app.map_or_else(
            || (String::new(), AuthMode::Placeholder, Vec::new()),
            |a| (a.name.clone(), a.mode, a.permissions.clone()),
        );
        if req.method == Method::GET {
            return prompt_page(token, &app_name, &requested);
        }
        if req.method != Method::POST || param("action") != Some("authenticate") {
            return server::html(StatusCode::BAD_REQUEST, page("Unsupported prompt action"));
        }
        // `grant` is a comma list; repeated `grant` fields (the HTML form's
        // checkboxes) add up. No `grant` at all: everything stays ticked.
        let lists: Vec<&str> = req
            .form
            .iter()
            .chain(&req.query)
            .filter(|(name, _)| name == "grant")
            .map(|(_, value)| value.as_str())
            .collect();
        let grant = if lists.is_empty() {
            requested.clone()
        } else {
            let mut grant = Vec::new();
            for name in lists
                .iter()
                .flat_map(|list| list.split(','))
                .map(str::trim)
                .filter(|n| !n.is_empty())
            {
                let Some(permission) = Permission::parse(name) else {
                    return server::html(
                        StatusCode::BAD_REQUEST,
                        page(&format!("Unknown permission {}", html_escape(name))),
                    );
                };
                grant.push(permission);
            }
            grant
        };
        let account = param("account")
            .map(|wanted| {
                self.accounts
                    .iter()
                    .find(|a| a.id == wanted || a.account.username == wanted)
                    .map_or_else(|| wanted.to_owned(), |a| a.id.clone())
            })
            .or_else(|| self.prompt_account.clone());
        let Some(account) = account else {
            return server::html(StatusCode::BAD_REQUEST, page("No account to log in as"));
        };
        let redirect = request.redirect.clone();
        match self.approve(token, &account, &grant, now) {
            Ok(access_token) => match (mode, redirect) {
                (AuthMode::Redirect, Some(redirect)) => {
                    let separator = if redirect.contains('?') { '&' } else { '?' };
                    let location = format!("{redirect}{separator}access_token={access_token}");
                    Response::builder()
                        .status(StatusCode::FOUND)
                        .header(header::LOCATION, location)
                        .body(Body::empty())
                        .unwrap_or_default()
                }
                (AuthMode::Code, _) => server::html(
                    StatusCode::OK,
                    page(&format!(
                        "Authenticated. Paste this access token into the application: <code>{}</code>",
                        html_escape(&access_token)
                    )),
                ),
                _ => server::html(
                    StatusCode::OK,
                    page("Authenticated. You may close this window."),
                ),
            },
            Err(ApproveError::AlreadyAuthenticated) => prompt_error(20),
            Err(ApproveError::Blocked) => prompt_error(38),
            Err(ApproveError::UnknownRequestToken) => prompt_error(12),
            Err(ApproveError::NoAccount) => {
                server::html(StatusCode::BAD_REQUEST, page("No account to log in as"))
            }
        }
    }

    // -- admin routes ---------------------------------------------------------------

    fn admin(&mut self, req: &Incoming) -> (&'static str, Response) {
        let param = |name| req.param_form_first(name).unwrap_or_default();
        if req.method != Method::POST {
            let route = if req.path == ROUTE_BLOCK {
                ROUTE_BLOCK
            } else if req.path == ROUTE_REVOKE {
                ROUTE_REVOKE
            } else {
                ROUTE_ACCOUNT_STATUS
            };
            return (
                route,
                admin_reply(StatusCode::METHOD_NOT_ALLOWED, "use POST"),
            );
        }
        match req.path.as_str() {
            ROUTE_BLOCK => {
                let reply = if self.block(param("request_token")) {
                    admin_reply(StatusCode::OK, "blocked")
                } else {
                    admin_reply(StatusCode::NOT_FOUND, "unknown request token")
                };
                (ROUTE_BLOCK, reply)
            }
            ROUTE_REVOKE => {
                let reply = if self.revoke(param("access_token")) {
                    admin_reply(StatusCode::OK, "revoked")
                } else {
                    admin_reply(StatusCode::NOT_FOUND, "unknown access token")
                };
                (ROUTE_REVOKE, reply)
            }
            _ => {
                let Some(status) = AccountStatus::parse(param("status")) else {
                    return (
                        ROUTE_ACCOUNT_STATUS,
                        admin_reply(StatusCode::BAD_REQUEST, "unknown status"),
                    );
                };
                let reply = if self.set_account_status(param("id"), status) {
                    admin_reply(StatusCode::OK, "status set")
                } else {
                    admin_reply(StatusCode::NOT_FOUND, "unknown account")
                };
                (ROUTE_ACCOUNT_STATUS, reply)
            }
        }
    }
}

/// The route a request path names (paths are case-insensitive).
fn route_of(req: &Incoming) -> &'static str {
    let path = req.path.to_ascii_lowercase();
    [
        ROUTE_APPLICATION,
        ROUTE_REQUEST_AUTHENTICATION,
        ROUTE_PROCESS_AUTHENTICATION,
        ROUTE_GET_ACCESS_TOKEN,
        ROUTE_GET_USER,
        ROUTE_GET_EMAIL,
        ROUTE_GET_PERSONAL_INFORMATION,
    ]
    .into_iter()
    .find(|r| *r == path)
    .unwrap_or(ROUTE_UNMATCHED)
}

/// The message of a COA error code (`resolve_coa_error.php`).
pub fn coa_message(code: i32) -> &'static str {
    match code {
        -1 => "INTERNAL SERVER ERROR",
        1 => "MISSING PARAMETER 'application_id'",
        2 => "INVALID APPLICATION ID",
        3 => "APPLICATION SUSPENDED",
        4 => "APPLICATION UNAVAILABLE",
        6 => "MISSING PARAMETER 'redirect'",
        9 => "MISSING PARAMETER 'request_token' IN AUTH PROMPT",
        12 => "INVALID REQUEST TOKEN IN AUTH PROMPT",
        20 => "ALREADY AUTHENTICATED",
        22 => "MISSING PARAMETER 'secret_key'",
        23 => "ACCESS DENIED, INCORRECT SECRET KEY",
        24 => "MISSING PARAMETER 'access_token'",
        25 => "ACCESS DENIED, INCORRECT ACCESS TOKEN",
        26 => "ACCESS DENIED, ACCOUNT NOT FOUND",
        27 => "ACCESS TOKEN EXPIRED",
        28 => "ACCOUNT SUSPENDED",
        29 => "ACCESS DENIED, USER DISABLED ACCESS",
        30 => "ACCESS DENIED, INSUFFICIENT PERMISSIONS",
        34 => "REQUEST TOKEN EXPIRED",
        38 => "ACCESS DENIED",
        39 => "MISSING PARAMETER 'request_token'",
        40 => "INVALID REQUEST TOKEN",
        41 => "AWAITING AUTHENTICATION",
        51 => "ACCESS DENIED DUE TO SECURITY ISSUES",
        _ => "UNKNOWN ERROR",
    }
}

fn coa_error((status, code): (StatusCode, i32)) -> CoaError {
    CoaError {
        status,
        code,
        realm: None,
    }
}

fn coa_error_with_realm(error: (StatusCode, i32), realm: &'static str) -> CoaError {
    CoaError {
        realm: Some(realm),
        ..coa_error(error)
    }
}

fn server_error(status: u16, code: i32, message: &str) -> Value {
    json!({
        "success": false,
        "response_code": status,
        "error": { "error_code": code, "type": "SERVER", "message": message },
    })
}

/// A module response with the headers every API answer carries.
fn api_json(status: StatusCode, body: &Value) -> Response {
    let mut response = server::json(status, body);
    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&server::random_hex(32)) {
        headers.insert("x-request-id", id);
    }
    headers.insert("x-powered-by", HeaderValue::from_static("Intellivoid-API"));
    headers.insert("x-server-version", HeaderValue::from_static("2.0"));
    response
}

fn admin_reply(status: StatusCode, message: &str) -> Response {
    server::json(
        status,
        &json!({ "ok": status == StatusCode::OK, "message": message }),
    )
}

fn permission_names(permissions: &[Permission]) -> Vec<&'static str> {
    permissions.iter().map(|p| p.as_str()).collect()
}

fn name_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Avatar or logo URLs. They point at the fake itself (which answers 404),
/// so nothing ever leaves the machine.
fn image_set(root: &str, kind: &str, id: &str) -> Value {
    let url = |resource: &str| {
        format!("{root}/user/contents/public/{kind}?user_id={id}&resource={resource}")
    };
    json!({
        "original": url("original"),
        "normal": url("normal"),
        "preview": url("preview"),
        "small": url("small"),
        "tiny": url("tiny"),
    })
}

fn page(body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><title>Intellivoid Accounts</title></head>\n<body>{body}</body></html>\n"
    )
}

fn prompt_error(code: i32) -> Response {
    server::html(
        StatusCode::BAD_REQUEST,
        page(&format!("<p>Error {code}: {}</p>", coa_message(code))),
    )
}

fn prompt_page(token: &str, app_name: &str, requested: &[Permission]) -> Response {
    let mut items = String::new();
    for p in requested {
        items.push_str(&format!(
            "<li><label><input type=\"checkbox\" name=\"grant\" value=\"{0}\" checked> {0}</label></li>",
            p.as_str()
        ));
    }
    let body = format!(
        "<h1>{} wants to access your account</h1>\n<form method=\"post\" action=\"{ROUTE_PROMPT}?action=authenticate&amp;request_token={}\">\n<ul>{items}</ul>\n<button>Authenticate</button></form>",
        html_escape(app_name),
        html_escape(token),
    );
    server::html(StatusCode::OK, page(&body))
}
