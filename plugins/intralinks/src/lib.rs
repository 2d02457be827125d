//! `intralinks`: the keyhelm provider plugin for [Intralinks](https://www.intralinks.com).
//!
//! **Who this is for:** keyhelm users with an Intralinks login and an app registered at
//! developers.intralinks.com whose `client_credentials` grant Intralinks' API team has
//! enabled. keyhelm loads the built `libkeyhelm_intralinks.so`; this crate has no Rust API
//! of its own beyond the plugin entry point (the `rlib` exists for the unit tests).
//!
//! **What it does:** `get` logs in with `POST /v2/oauth/token`
//! (`grant_type=client_credentials`, the app's consumer key and secret, the user's email and
//! password, all in a form body) and returns the access token for `Authorization: Bearer`.
//! There is no refresh token for this grant, so renewal is a new login with the stored
//! secrets. `logout` revokes the token with `PUT /v2/oauth/revoke`.
//!
//! Sessions: when the user (or a workspace) disallows concurrent logins, Intralinks refuses
//! a second session with 403 subcode 018. Before reporting that, `get` ends keyhelm's own
//! previous session by revoking the token it obtained last (kept as plugin state), and,
//! when it may ask, offers once to end the other sessions. The setting `end_other_sessions`
//! makes that the standing choice. User documentation: `docs/providers/intralinks.md`.
#![forbid(unsafe_code)]

pub mod api;
pub mod errors;
pub mod settings;

use keyhelm_core::msg::ErrorMessage;
use keyhelm_core::sdk::*;
use keyhelm_core::secrecy::{ExposeSecret, SecretString};

use crate::api::{DOCUMENTED_LIFETIME_SECS, Grant, KNOWN_FLAGS, State};
use crate::errors::{Ctx, Failure, Op, Scrub, classify};
use crate::settings::{App, Login};

/// The question asked (when the tool allows prompts) after Intralinks answers 018.
pub const END_SESSIONS_PROMPT: &str = "Intralinks says you are logged in elsewhere, and \
    concurrent logins are not allowed for you. End your other Intralinks sessions now? \
    This also logs you out of Intralinks in your web browser.";

/// The provider.
#[derive(Debug, Default)]
pub struct Intralinks;

impl Provider for Intralinks {
    const NAME: &'static str = "intralinks";

    fn describe(&self) -> Description {
        settings::description()
    }

    fn get(&self, host: &Host<'_>, req: GetRequest) -> Result<GetResponse> {
        let app = App::from_account(&req.account)?;
        let login = Login::from_account(&req.account)?;
        let state = State::read(req.state.as_ref());
        let mut end_others = login.end_other_sessions;
        let mut previous = state.token;
        let mut asked = false;
        loop {
            let issued_at = host.now_unix();
            let failure = match try_login(host, &app, &login, end_others) {
                Ok(grant) => return Ok(answer(host, grant, issued_at, &login, end_others)),
                Err(Attempt::Host(e)) => return Err(e),
                Err(Attempt::Failed(f)) => f,
            };
            let ctx = Ctx {
                account: &app.account,
                base_url: app.shown_url(),
                client_id: &app.client_id,
                email: Some(&login.email),
                end_other_sessions: end_others,
                op: Op::Login,
            };
            if !matches!(failure, Failure::LoggedInElsewhere { .. }) || end_others {
                return Err(failure.to_message(&ctx));
            }
            // 018. The "other session" may be keyhelm's own earlier one: Intralinks keeps a
            // session for 60 minutes after its last use, longer than its token lives. End it
            // by revoking the token obtained then, and try once more.
            if let Some(token) = previous.take() {
                host.debug("Intralinks refused a second session; revoking keyhelm's previous token and trying again");
                match revoke(host, &app, &token) {
                    Ok(true) => {}
                    Ok(false) => host.debug("the previous token was no longer valid"),
                    Err(e) => host.debug(&format!("could not revoke the previous token: {e}")),
                }
                continue;
            }
            if !asked && req.request.interactive {
                asked = true;
                match host.confirm(END_SESSIONS_PROMPT, false) {
                    Ok(true) => {
                        host.debug("the user chose to end the other Intralinks sessions");
                        end_others = true;
                        continue;
                    }
                    Ok(false) => {}
                    Err(e) => host.debug(&format!("could not ask about other sessions: {e}")),
                }
            }
            return Err(failure.to_message(&ctx));
        }
    }

    fn logout(&self, host: &Host<'_>, req: LogoutRequest) -> Result<LogoutResponse> {
        let app = App::from_account(&req.account)?;
        let state = State::read(req.state.as_ref());
        let mut tokens: Vec<SecretString> = Vec::new();
        for t in [req.token, state.token].into_iter().flatten() {
            if !tokens
                .iter()
                .any(|k| k.expose_secret() == t.expose_secret())
            {
                tokens.push(t);
            }
        }
        if tokens.is_empty() {
            return Ok(
                LogoutResponse::new(false).message("keyhelm held no Intralinks token to revoke")
            );
        }
        let mut revoked = false;
        for token in &tokens {
            revoked |= revoke(host, &app, token)?;
        }
        let response = LogoutResponse::new(revoked);
        Ok(if revoked {
            response
        } else {
            response.message(
                "Intralinks no longer accepted the token (it had expired or was revoked already)",
            )
        })
    }
}

/// Why a login attempt did not give a token: the host could not make the request (network,
/// policy), or Intralinks said no.
enum Attempt {
    Host(ErrorMessage),
    Failed(Failure),
}

fn try_login(
    host: &Host<'_>,
    app: &App,
    login: &Login,
    end_others: bool,
) -> Result<Grant, Attempt> {
    host.debug(&format!(
        "logging in to Intralinks at {} as {} (endOtherSessions={end_others})",
        app.shown_url(),
        login.email
    ));
    let resp = host
        .http(&api::token_request(app, login, end_others))
        .map_err(Attempt::Host)?;
    let scrub = Scrub::new([
        app.client_secret.expose_secret(),
        login.password.expose_secret(),
    ]);
    api::parse_grant(&resp, &scrub, host.now_unix()).map_err(Attempt::Failed)
}

/// Revokes `token`: `Ok(true)` when Intralinks revoked it, `Ok(false)` when it no longer
/// knew it (expired or revoked already).
fn revoke(host: &Host<'_>, app: &App, token: &SecretString) -> Result<bool> {
    let resp = host.http(&api::revoke_request(app, token))?;
    if resp.is_success() {
        host.debug("Intralinks revoked the token");
        return Ok(true);
    }
    let scrub = Scrub::new([token.expose_secret(), app.client_secret.expose_secret()]);
    match classify(&resp, &scrub, host.now_unix()) {
        Failure::InvalidToken { .. } => Ok(false),
        failure => Err(failure.to_message(&Ctx {
            account: &app.account,
            base_url: app.shown_url(),
            client_id: &app.client_id,
            email: None,
            end_other_sessions: false,
            op: Op::Revoke,
        })),
    }
}

fn answer(
    host: &Host<'_>,
    grant: Grant,
    issued_at: i64,
    login: &Login,
    ended_others: bool,
) -> GetResponse {
    let Grant {
        access_token,
        expires_in,
        token_type,
        email,
        flags,
        scopes,
    } = grant;
    let lifetime = expires_in.unwrap_or_else(|| {
        host.debug("the login answer has no usable expires_in; assuming the documented 60 minutes");
        DOCUMENTED_LIFETIME_SECS
    });
    if let Some(t) = &token_type
        && !t.eq_ignore_ascii_case("BearerToken")
        && !t.eq_ignore_ascii_case("Bearer")
    {
        host.debug(&format!(
            "unexpected token_type `{t}`; using the token as a Bearer token"
        ));
    }
    let username = email.unwrap_or_else(|| login.email.clone());
    let mut response = GetResponse::new(access_token.expose_secret())
        .username(username.clone())
        .authtype("Bearer")
        .expires_at(issued_at.saturating_add(lifetime))
        .state(State::save(&access_token))
        .info("email", username);
    let known: Vec<&str> = flags
        .iter()
        .map(String::as_str)
        .filter(|f| KNOWN_FLAGS.contains(f))
        .collect();
    for f in &flags {
        if KNOWN_FLAGS.contains(&f.as_str()) {
            host.debug(&format!("Intralinks login flag `{f}`"));
        } else {
            host.debug(&format!("ignoring an unknown Intralinks login flag `{f}`"));
        }
    }
    if !known.is_empty() {
        response = response.info("flags", known.join(","));
    }
    if ended_others {
        response = response.info("other_sessions", "ended");
    }
    for s in scopes {
        response = response.scope(s);
    }
    host.debug(&format!(
        "logged in to Intralinks; the token lives {lifetime} s"
    ));
    response
}

keyhelm_core::export_provider!(Intralinks);
