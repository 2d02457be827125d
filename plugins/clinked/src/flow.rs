//! The login flow (research/providers.md §2.4, "recommended plugin strategy"):
//!
//! 1. With a saved application (and no forced login): the client-credentials grant. That is
//!    every renewal: no password, no prompt.
//! 2. Otherwise, or when Clinked answers that grant with 401 (the user revoked the
//!    application, or its secret is wrong): the password grant (prompting for the password
//!    when none is stored, and for a 2FA code when Clinked asks; a wrong code is asked for
//!    once more), then `POST /v2/applications` once, then the client-credentials grant. The
//!    new application replaces the saved state.

use keyhelm_core::msg::{ErrorKind, HttpRequest, HttpResponse, StateUpdate};
use keyhelm_core::redact_url;
use keyhelm_core::sdk::{Error, GetRequest, GetResponse, Host, Result};
use keyhelm_core::secrecy::zeroize::{Zeroize, Zeroizing};
use keyhelm_core::secrecy::{ExposeSecret, SecretString};

use crate::api::{self, AppTokenAnswer, CodeChannel, PasswordAnswer, Token, Who};
use crate::state::AppState;

/// Why the plugin logs in with the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No usable saved application.
    FirstLogin,
    /// `keyhelm login`: the user asked for a fresh login.
    Forced,
    /// Clinked refused the saved application (revoked, or a wrong client secret).
    AppRejected,
}

/// One `get` call: the host and who it is about.
struct Session<'h, 'a, 'w> {
    host: &'h Host<'a>,
    who: Who<'w>,
    stored_password: Option<&'w SecretString>,
}

/// `Provider::get`.
pub fn get(host: &Host<'_>, req: &GetRequest) -> Result<GetResponse> {
    let account = &req.account;
    let base = api::base_url(account.base_url.as_deref())?;
    let username = account
        .setting("username")
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| no_username(&account.name))?;
    let session = Session {
        host,
        who: Who {
            account: &account.name,
            username,
            base: &base,
        },
        stored_password: account
            .secret("password")
            .filter(|p| !p.expose_secret().is_empty()),
    };

    let saved = match &req.state {
        None => None,
        Some(state) => match AppState::parse(state) {
            Ok(app) if app.belongs_to(username, &base) => Some(app),
            Ok(_) => {
                host.info(
                    "the saved application belongs to another username or URL; logging in again",
                );
                None
            }
            Err(e) => {
                host.warn(&format!("{e}; logging in again"));
                None
            }
        },
    };

    let reason = match &saved {
        Some(_) if req.request.force_login => Reason::Forced,
        Some(app) => match session.app_token(app)? {
            Some(token) => return Ok(session.answer(token, StateUpdate::Unchanged)),
            None => Reason::AppRejected,
        },
        None if req.request.force_login => Reason::Forced,
        None => Reason::FirstLogin,
    };
    session.onboard(reason)
}

/// Sends a request through the host, then wipes the URL and headers, which may hold the
/// password, the 2FA code or a token (the body is zeroized on drop by its type).
fn send(host: &Host<'_>, mut req: HttpRequest) -> Result<HttpResponse> {
    let result = host.http(&req);
    req.url.zeroize();
    for (_, value) in &mut req.headers {
        value.zeroize();
    }
    result
}

impl Session<'_, '_, '_> {
    fn answer(&self, token: Token, state: StateUpdate) -> GetResponse {
        let now = self.host.now_unix();
        let mut answer = GetResponse::new(token.access_token.expose_secret())
            .username(self.who.username)
            .authtype("Bearer")
            .expires_at(token.expires_at(now))
            .state(state)
            .info("user", self.who.username)
            .info("api", redact_url(self.who.base));
        if token.expires_in.is_none() {
            answer = answer.info("expiry", "assumed: 30 minutes (Clinked sent no expires_in)");
        }
        for scope in &token.scopes {
            answer = answer.scope(scope.as_str());
        }
        answer
    }

    /// The client-credentials grant; `None` when Clinked refuses the application (401).
    fn app_token(&self, app: &AppState) -> Result<Option<Token>> {
        let resp = send(self.host, api::app_grant(self.who.base, app))?;
        match api::read_app_token_answer(&resp, self.who, &[app.client_secret.expose_secret()]) {
            AppTokenAnswer::Token(t) => Ok(Some(t)),
            AppTokenAnswer::Rejected(p) => {
                self.host.warn(&format!(
                    "Clinked refused the registered application ({}): it was revoked, or its secret is wrong",
                    p.summary()
                ));
                Ok(None)
            }
            AppTokenAnswer::Failed(e) => Err(e),
        }
    }

    /// Password login, application registration, first token.
    fn onboard(&self, reason: Reason) -> Result<GetResponse> {
        if reason == Reason::AppRejected {
            self.host
                .info("logging in again to register a new application");
        }
        let prompted;
        let password = match self.stored_password {
            Some(p) => p,
            None => {
                let p = self
                    .host
                    .prompt_secret(&format!("Clinked password for {}", self.who.username))
                    .map_err(|e| self.cannot_prompt(reason, "the password", e))?;
                if p.expose_secret().is_empty() {
                    return Err(nothing_entered(self.who, "password"));
                }
                prompted = p;
                &prompted
            }
        };
        let user_token = self.password_login(password, reason)?;

        let resp = send(
            self.host,
            api::register_app(self.who.base, &user_token, self.who.account),
        )?;
        let registered = api::read_register_answer(&resp, self.who, &[user_token.expose_secret()])?;
        drop(user_token);
        let app = AppState::new(
            registered.client_id,
            registered.client_secret,
            self.who.username.to_owned(),
            self.who.base.to_owned(),
            self.host.now_unix(),
        );
        self.host.info("registered a new Clinked application");
        let Some(token) = self.app_token(&app)? else {
            return Err(new_app_refused(self.who));
        };
        Ok(self.answer(token, app.to_update()))
    }

    /// The password grant, with the 2FA dialogue: a missing code is asked for, a wrong code
    /// once more.
    fn password_login(&self, password: &SecretString, reason: Reason) -> Result<SecretString> {
        let mut code: Option<Zeroizing<String>> = None;
        let mut channel = CodeChannel::Authenticator;
        let mut wrong_codes = 0;
        loop {
            let req = api::password_grant(
                self.who.base,
                self.who.username,
                password,
                code.as_ref().map(|c| c.as_str()),
            );
            let resp = send(self.host, req)?;
            let secrets = [
                password.expose_secret(),
                code.as_ref().map_or("", |c| c.as_str()),
            ];
            let answer = api::read_password_answer(&resp, self.who, &secrets);
            let retry = match answer {
                PasswordAnswer::Token(t) => return Ok(t.access_token),
                PasswordAnswer::Failed(e) => return Err(e),
                PasswordAnswer::NeedsCode(c) if code.is_none() => {
                    channel = c;
                    false
                }
                // A code was sent and Clinked still wants one, or says it is wrong.
                PasswordAnswer::NeedsCode(_) | PasswordAnswer::WrongCode if code.is_some() => {
                    wrong_codes += 1;
                    if wrong_codes >= 2 {
                        return Err(codes_refused(self.who, wrong_codes));
                    }
                    true
                }
                // "Wrong code" although none was sent: ask for one.
                PasswordAnswer::NeedsCode(_) | PasswordAnswer::WrongCode => false,
            };
            code = Some(self.ask_code(channel, retry, reason)?);
        }
    }

    fn ask_code(
        &self,
        channel: CodeChannel,
        retry: bool,
        reason: Reason,
    ) -> Result<Zeroizing<String>> {
        let user = self.who.username;
        if retry {
            // The prompt below reports the real problem if this cannot be shown.
            let _ = self.host.message("Clinked did not accept that code.");
        }
        let from = match channel {
            CodeChannel::Authenticator => "from your authenticator app",
            CodeChannel::Sms => "sent by SMS",
        };
        let answer = self
            .host
            .prompt_text(&format!("Two-factor code for {user} on Clinked ({from})"))
            .map_err(|e| self.cannot_prompt(reason, "a two-factor code", e))?;
        let answer = Zeroizing::new(answer);
        // Sized up front: a growing buffer would leave copies of the code behind.
        let mut code = Zeroizing::new(String::with_capacity(answer.len()));
        code.extend(answer.chars().filter(|c| !c.is_whitespace()));
        if code.is_empty() {
            return Err(nothing_entered(self.who, "two-factor code"));
        }
        Ok(code)
    }

    /// Turns "cannot prompt" (no terminal, or the tool does not allow prompts) into a message
    /// that says what is needed and which command provides it; other errors pass unchanged.
    fn cannot_prompt(&self, reason: Reason, what: &str, e: Error) -> Error {
        if e.kind == ErrorKind::NeedsInteraction {
            cannot_prompt(self.who, reason, what)
        } else {
            e
        }
    }
}

// ---------------------------------------------------------------------------------------
// the flow's own errors

fn no_username(account: &str) -> Error {
    Error::new(
        ErrorKind::BadSettings,
        format!("the account {account} has no Clinked username"),
    )
    .with_hint("add the account again with `--set username=...`")
}

/// An empty answer to the password or code prompt. `what`: "password", "two-factor code".
fn nothing_entered(who: Who<'_>, what: &str) -> Error {
    Error::new(
        ErrorKind::AuthFailed,
        format!("no {what} was entered for {}", who.username),
    )
    .with_hint(format!("run `{}` again", who.login_command()))
}

fn new_app_refused(who: Who<'_>) -> Error {
    Error::new(
        ErrorKind::ServiceError,
        "Clinked refused the application it had just registered (HTTP 401)",
    )
    .with_hint(format!("try `{}` again", who.login_command()))
}

fn codes_refused(who: Who<'_>, attempts: u32) -> Error {
    Error::new(
        ErrorKind::AuthFailed,
        format!(
            "Clinked did not accept the two-factor code for {} ({attempts} attempts)",
            who.username
        ),
    )
    .with_hint(format!(
        "check the code (an authenticator app needs this device's clock to be right), then \
         run `{}` again",
        who.login_command()
    ))
}

/// The user is needed but cannot be asked. `what`: "the password", "a two-factor code".
fn cannot_prompt(who: Who<'_>, reason: Reason, what: &str) -> Error {
    let user = who.username;
    // keyhelm lets plugins prompt only when it has a terminal and the tool allows it; the
    // host's own reason names only one of the two, so both are said here.
    const WHY: &str = "no terminal, or prompts are not allowed";
    let (kind, message) = match reason {
        Reason::AppRejected => (
            ErrorKind::NeedsLogin,
            format!(
                "Clinked no longer accepts the application keyhelm registered (it was revoked, \
                 or its secret is wrong), and logging in again as {user} needs {what}, which \
                 keyhelm cannot ask for here ({WHY})"
            ),
        ),
        Reason::FirstLogin | Reason::Forced => (
            ErrorKind::NeedsInteraction,
            format!(
                "logging in to Clinked as {user} needs {what}, and keyhelm cannot ask for it \
                 here ({WHY})"
            ),
        ),
    };
    Error::new(kind, message).with_hint(format!("run `{}` in a terminal", who.login_command()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHO: Who<'static> = Who::TEST;

    #[test]
    fn the_flows_own_errors_say_what_to_do() {
        let cases = [
            (
                no_username("work"),
                ErrorKind::BadSettings,
                "the account work has no Clinked username (add the account again with \
                 `--set username=...`)",
            ),
            (
                nothing_entered(WHO, "password"),
                ErrorKind::AuthFailed,
                "no password was entered for jack (run `keyhelm login work` again)",
            ),
            (
                nothing_entered(WHO, "two-factor code"),
                ErrorKind::AuthFailed,
                "no two-factor code was entered for jack (run `keyhelm login work` again)",
            ),
            (
                new_app_refused(WHO),
                ErrorKind::ServiceError,
                "Clinked refused the application it had just registered (HTTP 401) (try \
                 `keyhelm login work` again)",
            ),
            (
                codes_refused(WHO, 2),
                ErrorKind::AuthFailed,
                "Clinked did not accept the two-factor code for jack (2 attempts) (check the \
                 code (an authenticator app needs this device's clock to be right), then run \
                 `keyhelm login work` again)",
            ),
            (
                cannot_prompt(WHO, Reason::FirstLogin, "a two-factor code"),
                ErrorKind::NeedsInteraction,
                "logging in to Clinked as jack needs a two-factor code, and keyhelm cannot ask \
                 for it here (no terminal, or prompts are not allowed) (run `keyhelm login work` \
                 in a terminal)",
            ),
            (
                cannot_prompt(WHO, Reason::Forced, "the password"),
                ErrorKind::NeedsInteraction,
                "logging in to Clinked as jack needs the password, and keyhelm cannot ask for it \
                 here (no terminal, or prompts are not allowed) (run `keyhelm login work` in a \
                 terminal)",
            ),
            (
                cannot_prompt(WHO, Reason::AppRejected, "the password"),
                ErrorKind::NeedsLogin,
                "Clinked no longer accepts the application keyhelm registered (it was revoked, \
                 or its secret is wrong), and logging in again as jack needs the password, which \
                 keyhelm cannot ask for here (no terminal, or prompts are not allowed) (run \
                 `keyhelm login work` in a terminal)",
            ),
        ];
        for (error, kind, text) in cases {
            assert_eq!((error.kind, error.to_string().as_str()), (kind, text));
        }
    }
}
