//! The Intralinks fake against `research/providers.md` §1.8, through a real
//! HTTP client.

mod support;

use std::time::Duration;

use keyhelm_testkit::intralinks::{
    self as il, FakeIntralinks, Grant, IntralinksApp, IntralinksUser, MESSAGE_017, MESSAGE_018,
};
use keyhelm_testkit::server::AuthScheme;
use serde_json::{Value, json};
use support::{Reply, client, send};

const KEY: &str = "consumer-key";
const SECRET: &str = "consumer-secret";
const EMAIL: &str = "joe@example.com";
const PASSWORD: &str = "correct horse";

/// A fake with one app (client_credentials, authorization_code and
/// refresh_token enabled) and one ordinary user.
fn fake() -> FakeIntralinks {
    let fake = FakeIntralinks::start();
    fake.add_app(
        IntralinksApp::new(KEY, SECRET)
            .grants(&[
                Grant::ClientCredentials,
                Grant::AuthorizationCode,
                Grant::RefreshToken,
            ])
            .redirect_uri("http://127.0.0.1:9/callback")
            .name("IL-oauth-test"),
    );
    fake.add_user(IntralinksUser::new(EMAIL, PASSWORD));
    fake
}

fn token_url(fake: &FakeIntralinks) -> String {
    format!("{}/v2/oauth/token", fake.base_url())
}

/// `POST /v2/oauth/token` with everything in the form, as the SDK does.
fn token(fake: &FakeIntralinks, form: &[(&str, &str)]) -> Reply {
    send(client().post(token_url(fake)).form(form))
}

/// The parameters of a `client_credentials` login.
fn login_params<'a>(
    client_id: &'a str,
    client_secret: &'a str,
    email: &'a str,
    password: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", client_secret),
        ("email", email),
        ("password", password),
    ]
}

fn login(fake: &FakeIntralinks, extra: &[(&str, &str)]) -> Reply {
    let mut form = login_params(KEY, SECRET, EMAIL, PASSWORD);
    form.extend_from_slice(extra);
    token(fake, &form)
}

fn login_token(fake: &FakeIntralinks, extra: &[(&str, &str)]) -> String {
    let reply = login(fake, extra);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

fn workspaces(fake: &FakeIntralinks, authorization: Option<&str>) -> Reply {
    let mut request = client()
        .get(format!("{}/v2/workspaces", fake.base_url()))
        .header("accept", "application/json");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    send(request)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn invalid_token_body(header: &str) -> Value {
    json!({
        "status": "Unauthorized",
        "error": {
            "code": 401,
            "description": format!("invalid access token: {header}"),
            "subcode": "the passed access token is either not valid or is formatted incorrectly in the request",
        },
    })
}

fn body_018() -> Value {
    json!({"error": {"code": 403, "message": MESSAGE_018, "subcode": "018", "errorid": ""}})
}

fn body_017() -> Value {
    json!({"error": {"code": 403, "message": MESSAGE_017, "subcode": "017"}})
}

// ---------------------------------------------------------------------------
// client_credentials
// ---------------------------------------------------------------------------

#[test]
fn client_credentials_with_form_parameters_returns_the_documented_body() {
    let fake = fake();
    let reply = login(&fake, &[("endOtherSessions", "True")]);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type(), "application/json");
    let body = reply.json();
    let token = body["access_token"].as_str().expect("token");
    assert!(!token.is_empty());
    assert_eq!(
        body,
        json!({
            "access_token": token,
            "token_type": "BearerToken",
            "expires_in": 3599,
            "email": EMAIL,
        }),
        "no flags when the user has none"
    );
    assert!(fake.is_valid_token(token));
    assert_eq!(fake.token_requests(), 1);
}

#[test]
fn grant_type_in_the_query_and_credentials_in_the_form_is_merged() {
    // The docs' own curl: `?grant_type=client_credentials` plus a form body.
    let fake = fake();
    let reply = send(
        client()
            .post(format!(
                "{}?grant_type=client_credentials",
                token_url(&fake)
            ))
            .form(&[
                ("email", EMAIL),
                ("password", PASSWORD),
                ("client_id", KEY),
                ("client_secret", SECRET),
            ]),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);

    let logged = fake.requests_to(il::ROUTE_TOKEN);
    assert_eq!(logged.len(), 1);
    let request = &logged[0];
    assert!(request.in_query("grant_type") && !request.in_form("grant_type"));
    assert!(request.in_form("password") && !request.in_query("password"));
    assert!(request.in_form("email"));
    assert_eq!(request.param("password").map(|p| p.value()), Some(PASSWORD));
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v2/oauth/token");
    assert!(request.has_user_agent());
}

#[test]
fn every_parameter_may_come_from_the_query() {
    let fake = fake();
    let reply = send(
        client()
            .post(token_url(&fake))
            .query(&login_params(KEY, SECRET, EMAIL, PASSWORD)),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[test]
fn flags_are_listed_when_the_user_has_some() {
    let fake = fake();
    fake.set_flags(EMAIL, &["NEW", "SOMETHING_UNKNOWN"]);
    let body = login(&fake, &[]).json();
    assert_eq!(
        body["flags"],
        json!([{"name": "NEW"}, {"name": "SOMETHING_UNKNOWN"}])
    );
    assert_eq!(body["token_type"], "BearerToken");
}

// ---------------------------------------------------------------------------
// token endpoint errors, in the spec's check order
// ---------------------------------------------------------------------------

#[test]
fn missing_client_id_is_a_400_consumer_key_error() {
    let fake = fake();
    let reply = token(
        &fake,
        &[
            ("grant_type", "client_credentials"),
            ("client_secret", SECRET),
        ],
    );
    assert_eq!(reply.status, 400);
    assert_eq!(reply.content_type(), "application/json");
    assert_eq!(
        reply.json(),
        json!({
            "ErrorCode": "invalid_request",
            "Error": "invalid or null consumer key: null",
            "Hint": "please ensure that you are passing the consumer key like so: 'client_id={consumer_key}'",
        })
    );
}

#[test]
fn unknown_client_id_is_checked_before_the_secret() {
    let fake = fake();
    let reply = token(
        &fake,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "XXXX"),
            ("client_secret", "wrong"),
        ],
    );
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["Error"], "invalid or null consumer key: XXXX");
}

#[test]
fn wrong_secret_is_401_and_checked_before_the_grant_type() {
    let fake = fake();
    fake.add_app(IntralinksApp::new("code-only", "s3"));
    for (client, grant) in [
        (KEY, "client_credentials"),
        ("code-only", "client_credentials"),
    ] {
        let reply = token(
            &fake,
            &[
                ("grant_type", grant),
                ("client_id", client),
                ("client_secret", "wrong"),
            ],
        );
        assert_eq!(reply.status, 401, "{client}");
        assert_eq!(
            reply.json(),
            json!({"ErrorCode": "invalid_client", "Error": "ClientId is Invalid"})
        );
    }
}

#[test]
fn a_grant_not_enabled_for_the_app_is_unsupported() {
    let fake = fake();
    // Intralinks enables only authorization_code by default.
    fake.add_app(IntralinksApp::new("code-only", "s3"));
    let reply = token(&fake, &login_params("code-only", "s3", EMAIL, PASSWORD));
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        json!({"ErrorCode": "unsupported_grant_type", "Error": "Unsupported grant type : client_credentials"})
    );

    let missing = token(&fake, &[("client_id", KEY), ("client_secret", SECRET)]);
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json()["ErrorCode"], "unsupported_grant_type");

    let saml = token(
        &fake,
        &[
            (
                "grant_type",
                "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            ),
            ("client_id", KEY),
            ("client_secret", SECRET),
        ],
    );
    assert_eq!(saml.status, 400, "SAML is out of scope");
}

#[test]
fn bad_password_unknown_email_and_locked_account_are_403_017() {
    let fake = fake();
    fake.add_user(IntralinksUser::new("locked@example.com", "pw").locked(true));
    let cases = [
        (EMAIL, "wrong"),
        ("nobody@example.com", PASSWORD),
        ("locked@example.com", "pw"),
    ];
    for (email, password) in cases {
        let reply = token(&fake, &login_params(KEY, SECRET, email, password));
        assert_eq!(reply.status, 403, "{email}");
        assert_eq!(reply.json(), body_017(), "{email}");
    }
    fake.set_locked("locked@example.com", false);
    let reply = token(
        &fake,
        &login_params(KEY, SECRET, "locked@example.com", "pw"),
    );
    assert_eq!(reply.status, 200);
}

// ---------------------------------------------------------------------------
// concurrent sessions (subcode 018) and endOtherSessions
// ---------------------------------------------------------------------------

#[test]
fn disallowed_concurrent_login_is_018_until_end_other_sessions_is_true() {
    let fake = fake();
    fake.set_disallow_concurrent(EMAIL, true);
    let first = login_token(&fake, &[]);

    let refused = login(&fake, &[]);
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json(), body_018());
    let refused = login(&fake, &[("endOtherSessions", "false")]);
    assert_eq!(refused.status, 403);

    // Compared case-insensitively: real clients send True and true.
    let second = login_token(&fake, &[("endOtherSessions", "TRUE")]);
    assert_ne!(first, second);
    assert_eq!(fake.live_sessions(EMAIL), 1);

    // The older session was ended by the newer login.
    let old = workspaces(&fake, Some(&bearer(&first)));
    assert_eq!(old.status, 403);
    assert_eq!(old.json(), body_018());
    assert!(!fake.is_valid_token(&first));
    assert_eq!(workspaces(&fake, Some(&bearer(&second))).status, 200);
    assert!(fake.is_valid_token(&second));
}

#[test]
fn concurrent_logins_are_fine_when_not_disallowed() {
    let fake = fake();
    let first = login_token(&fake, &[]);
    let second = login_token(&fake, &[]);
    assert_eq!(fake.live_sessions(EMAIL), 2);
    assert!(fake.is_valid_token(&first) && fake.is_valid_token(&second));

    // endOtherSessions ends the others whatever the user setting.
    let third = login_token(&fake, &[("endOtherSessions", "true")]);
    assert_eq!(fake.live_sessions(EMAIL), 1);
    assert!(!fake.is_valid_token(&first) && !fake.is_valid_token(&second));
    assert!(fake.is_valid_token(&third));
}

#[test]
fn an_idle_session_times_out_after_an_hour() {
    let fake = fake();
    fake.set_disallow_concurrent(EMAIL, true);
    login_token(&fake, &[]);
    fake.clock().advance(Duration::from_secs(3599));
    assert_eq!(login(&fake, &[]).status, 403, "still live at 3599 s");
    fake.clock().advance(Duration::from_secs(1));
    assert_eq!(login(&fake, &[]).status, 200, "idle for 60 minutes");
}

#[test]
fn admin_end_sessions_acts_like_a_login_elsewhere() {
    let fake = fake();
    let token = login_token(&fake, &[]);
    assert_eq!(fake.end_sessions(EMAIL), 1);
    assert_eq!(workspaces(&fake, Some(&bearer(&token))).status, 403);
}

// ---------------------------------------------------------------------------
// the authorized probe and token expiry
// ---------------------------------------------------------------------------

#[test]
fn workspaces_returns_the_documented_body() {
    let fake = fake();
    let token = login_token(&fake, &[]);
    let reply = workspaces(&fake, Some(&bearer(&token)));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type(), "application/json");
    let body = reply.json();
    assert_eq!(
        body["status"],
        json!({"code": 200, "message": "Request completed fine, no errors"})
    );
    let workspace = &body["workspace"][0];
    assert_eq!(workspace["workspaceName"], "Exchange A");
    assert_eq!(workspace["id"], 11_111_155);
    assert_eq!(workspace["pvpEnabled"], "F", "booleans are T/F strings");
    assert_eq!(workspace["phase"], "OPEN");

    let logged = &fake.requests_to(il::ROUTE_WORKSPACES)[0];
    assert_eq!(logged.authorization, Some(AuthScheme::Bearer));
}

#[test]
fn workspaces_without_a_valid_bearer_header_is_401() {
    let fake = fake();
    let token = login_token(&fake, &[]);
    let cases = [
        None,
        Some("Bearer nope".to_owned()),
        Some(format!("bearer {token}")),
        Some(format!("Bearer  {token}")),
        Some(token.clone()),
    ];
    for header in cases {
        let reply = workspaces(&fake, header.as_deref());
        assert_eq!(reply.status, 401, "{header:?}");
        assert_eq!(
            reply.json(),
            invalid_token_body(header.as_deref().unwrap_or_default()),
            "{header:?}"
        );
    }
}

#[test]
fn the_access_token_expires_after_3599_seconds_of_fake_time() {
    let fake = fake();
    let token = login_token(&fake, &[]);
    fake.clock().advance(Duration::from_secs(3598));
    assert!(fake.is_valid_token(&token));
    assert_eq!(workspaces(&fake, Some(&bearer(&token))).status, 200);
    fake.clock().advance(Duration::from_secs(1));
    assert!(!fake.is_valid_token(&token));
    let reply = workspaces(&fake, Some(&bearer(&token)));
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json(), invalid_token_body(&bearer(&token)));
}

#[test]
fn the_access_ttl_is_a_knob() {
    let fake = fake();
    fake.update_config(|c| c.access_ttl = Duration::from_secs(2));
    let reply = login(&fake, &[]);
    assert_eq!(reply.json()["expires_in"], 2);
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    fake.clock().advance(Duration::from_secs(2));
    assert!(!fake.is_valid_token(&token));
}

// ---------------------------------------------------------------------------
// authorization code, refresh, tokeninfo
// ---------------------------------------------------------------------------

fn authorize(fake: &FakeIntralinks, query: &[(&str, &str)]) -> Reply {
    send(
        client()
            .get(format!("{}/v2/oauth/authorize", fake.base_url()))
            .query(query),
    )
}

fn code_from(reply: &Reply) -> String {
    assert_eq!(reply.status, 302, "{}", reply.body);
    let location = url::Url::parse(reply.location().expect("Location")).expect("URL");
    location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code in the redirect")
}

fn exchange(fake: &FakeIntralinks, code: &str) -> Reply {
    token(
        fake,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", KEY),
            ("client_secret", SECRET),
            ("code", code),
        ],
    )
}

#[test]
fn authorize_redirects_to_the_registered_uri_with_code_and_state() {
    let fake = fake();
    let reply = authorize(
        &fake,
        &[
            ("client_id", KEY),
            ("state", "xyz"),
            ("scope", "ilservices"),
            ("fake_user", EMAIL),
        ],
    );
    assert_eq!(reply.status, 302);
    let location = reply.location().expect("Location").to_owned();
    assert!(
        location.starts_with("http://127.0.0.1:9/callback?code="),
        "{location}"
    );
    assert!(location.ends_with("&state=xyz"), "{location}");

    let body = exchange(&fake, &code_from(&reply)).json();
    let access = body["access_token"].as_str().expect("access");
    let refresh = body["refresh_token"].as_str().expect("refresh");
    assert_eq!(
        body,
        json!({
            "access_token": access,
            "token_type": "BearerToken",
            "expires_in": 3599,
            "refresh_token": refresh,
            "refresh_token_expires_in": 2_592_000,
            "email": EMAIL,
        })
    );
    assert!(fake.is_valid_token(access));
    assert!(
        !fake.is_valid_token(refresh),
        "a refresh token is no access token"
    );
}

#[test]
fn authorize_uses_the_configured_user_or_shows_the_login_page() {
    let fake = fake();
    let page = authorize(&fake, &[("client_id", KEY)]);
    assert_eq!(page.status, 200);
    assert!(page.content_type().starts_with("text/html"));
    assert!(page.body.contains("<form"));

    fake.set_authorize_user(Some(EMAIL));
    let reply = authorize(&fake, &[("client_id", KEY)]);
    assert!(
        !reply.location().unwrap_or_default().contains("state="),
        "no state when none was given"
    );
    assert_eq!(exchange(&fake, &code_from(&reply)).status, 200);
}

#[test]
fn authorize_errors() {
    let fake = fake();
    let unknown = authorize(&fake, &[("client_id", "nope"), ("fake_user", EMAIL)]);
    assert_eq!(unknown.status, 400);
    assert_eq!(
        unknown.json()["Error"],
        "invalid or null consumer key: nope"
    );
    fake.add_app(IntralinksApp::new("no-redirect", "s"));
    let reply = authorize(&fake, &[("client_id", "no-redirect"), ("fake_user", EMAIL)]);
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["ErrorCode"], "invalid_request");
}

#[test]
fn a_code_works_once_within_20_seconds_and_for_its_own_app() {
    let fake = fake();
    let invalid = json!({"ErrorCode": "invalid_request", "Error": "Invalid Authorization Code"});

    let code = fake.issue_authorization_code(KEY, EMAIL);
    assert_eq!(exchange(&fake, &code).status, 200);
    let reused = exchange(&fake, &code);
    assert_eq!(reused.status, 400);
    assert_eq!(reused.json(), invalid);

    let code = fake.issue_authorization_code(KEY, EMAIL);
    fake.clock().advance(Duration::from_secs(19));
    assert_eq!(exchange(&fake, &code).status, 200, "19 s old");
    let code = fake.issue_authorization_code(KEY, EMAIL);
    fake.clock().advance(Duration::from_secs(20));
    assert_eq!(exchange(&fake, &code).json(), invalid, "20 s old");

    fake.add_app(IntralinksApp::new("other", "s2"));
    let code = fake.issue_authorization_code("other", EMAIL);
    assert_eq!(exchange(&fake, &code).json(), invalid, "another app's code");
    assert_eq!(exchange(&fake, "unknown").json(), invalid);
    let missing = token(
        &fake,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", KEY),
            ("client_secret", SECRET),
        ],
    );
    assert_eq!(missing.json(), invalid);
}

#[test]
fn the_authorization_code_grant_applies_the_018_rule() {
    let fake = fake();
    fake.set_disallow_concurrent(EMAIL, true);
    login_token(&fake, &[]);
    let code = fake.issue_authorization_code(KEY, EMAIL);
    assert_eq!(exchange(&fake, &code).json(), body_018());

    // endOtherSessions given to /authorize carries over to the exchange.
    let reply = authorize(
        &fake,
        &[
            ("client_id", KEY),
            ("fake_user", EMAIL),
            ("endOtherSessions", "true"),
        ],
    );
    assert_eq!(exchange(&fake, &code_from(&reply)).status, 200);
}

fn refresh(fake: &FakeIntralinks, refresh_token: &str, extra: &[(&str, &str)]) -> Reply {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", KEY),
        ("client_secret", SECRET),
        ("refresh_token", refresh_token),
    ];
    form.extend_from_slice(extra);
    token(fake, &form)
}

fn code_login(fake: &FakeIntralinks) -> (String, String) {
    let body = exchange(fake, &fake.issue_authorization_code(KEY, EMAIL)).json();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn refresh_issues_a_new_access_token_and_keeps_the_refresh_token() {
    let fake = fake();
    let (access, refresh_token) = code_login(&fake);
    fake.clock().advance(Duration::from_secs(3600));
    assert!(!fake.is_valid_token(&access));

    let reply = refresh(&fake, &refresh_token, &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    let new_access = body["access_token"].as_str().unwrap();
    assert_ne!(new_access, access);
    assert_eq!(body["refresh_token"], refresh_token.as_str());
    assert_eq!(body["token_type"], "BearerToken");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["refresh_token_expires_in"], 2_592_000 - 3600);
    assert!(fake.is_valid_token(new_access));
}

#[test]
fn refresh_errors() {
    let fake = fake();
    let invalid = json!({"ErrorCode": "invalid_request", "Error": "Invalid Refresh Token"});
    assert_eq!(refresh(&fake, "unknown", &[]).json(), invalid);

    let (access, refresh_token) = code_login(&fake);
    assert!(
        fake.revoke_token(&access),
        "revoking the access token cascades"
    );
    assert_eq!(refresh(&fake, &refresh_token, &[]).json(), invalid);

    let (_, refresh_token) = code_login(&fake);
    fake.clock().advance(Duration::from_secs(2_592_000));
    assert_eq!(
        refresh(&fake, &refresh_token, &[]).json(),
        invalid,
        "30 days"
    );

    // The refresh grant must be enabled for the app.
    fake.add_app(IntralinksApp::new("code-only", "s3"));
    let reply = token(
        &fake,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "code-only"),
            ("client_secret", "s3"),
            ("refresh_token", "x"),
        ],
    );
    assert_eq!(reply.json()["ErrorCode"], "unsupported_grant_type");
}

#[test]
fn refresh_after_a_login_elsewhere_is_018() {
    let fake = fake();
    let (_, refresh_token) = code_login(&fake);
    login_token(&fake, &[("endOtherSessions", "true")]);
    assert_eq!(refresh(&fake, &refresh_token, &[]).json(), body_018());
}

#[test]
fn refresh_needs_end_other_sessions_when_another_session_is_live() {
    let fake = fake();
    fake.set_disallow_concurrent(EMAIL, true);
    let (_, refresh_token) = code_login(&fake);
    fake.clock().advance(Duration::from_secs(3600));
    let other = login_token(&fake, &[]);
    assert_eq!(refresh(&fake, &refresh_token, &[]).json(), body_018());
    let reply = refresh(&fake, &refresh_token, &[("endOtherSessions", "True")]);
    assert_eq!(reply.status, 200);
    assert!(!fake.is_valid_token(&other));
}

fn tokeninfo(fake: &FakeIntralinks, token: &str, client_id: Option<&str>) -> Reply {
    let mut request = client()
        .get(format!("{}/v2/oauth/tokeninfo", fake.base_url()))
        .header("authorization", bearer(token));
    if let Some(id) = client_id {
        request = request.query(&[("client_id", id)]);
    }
    send(request)
}

#[test]
fn tokeninfo_reports_live_lifetimes() {
    let fake = fake();
    let (access, refresh_token) = code_login(&fake);
    fake.clock().advance(Duration::from_secs(8));
    let reply = tokeninfo(&fake, &access, Some(KEY));
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({
            "access_token": access,
            "token_type": "BearerToken",
            "expires_in": 3591,
            "status": "approved",
            "scope": "ilservices",
            "refresh_token": refresh_token,
            "refresh_token_expires_in": 2_591_992,
            "redirect_url": "http://127.0.0.1:9/callback",
            "email": EMAIL,
            "app_name": "IL-oauth-test",
        })
    );

    let plain = login_token(&fake, &[]);
    let body = tokeninfo(&fake, &plain, Some(KEY)).json();
    assert!(
        body.get("refresh_token").is_none(),
        "only for the code flow"
    );
    assert_eq!(body["expires_in"], 3599);
}

#[test]
fn tokeninfo_errors() {
    let fake = fake();
    let token = login_token(&fake, &[]);
    let reply = tokeninfo(&fake, "nope", Some(KEY));
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json(), invalid_token_body("Bearer nope"));
    let reply = tokeninfo(&fake, &token, None);
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["Error"], "invalid or null consumer key: null");
}

// ---------------------------------------------------------------------------
// revoke
// ---------------------------------------------------------------------------

fn revoke_url(fake: &FakeIntralinks) -> String {
    format!("{}/v2/oauth/revoke", fake.base_url())
}

/// The parameters that revoke `token`, for the app `KEY` with `client_secret`.
fn revoke_params<'a>(token: &'a str, client_secret: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("token", token),
        ("client_id", KEY),
        ("client_secret", client_secret),
    ]
}

fn revoked_body(token: &str) -> Value {
    json!({
        "message": "the passed token and associated refresh/access token have been revoked",
        "token": token,
        "cascade": "true",
    })
}

#[test]
fn revoke_with_put_and_query_parameters_as_in_the_tutorial() {
    let fake = fake();
    let token = login_token(&fake, &[]);
    let reply = send(
        client()
            .put(revoke_url(&fake))
            .query(&revoke_params(&token, SECRET))
            .header("authorization", bearer(&token)),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), revoked_body(&token));
    assert!(!fake.is_valid_token(&token));
    assert_eq!(
        workspaces(&fake, Some(&bearer(&token))).status,
        401,
        "revoked"
    );
    assert_eq!(fake.live_sessions(EMAIL), 0, "logout ends the session");
}

#[test]
fn revoke_with_post_and_a_form_body_cascades_from_the_refresh_token() {
    let fake = fake();
    let (access, refresh_token) = code_login(&fake);
    let reply = send(
        client()
            .post(revoke_url(&fake))
            .form(&revoke_params(&refresh_token, SECRET)),
    );
    assert_eq!(reply.json(), revoked_body(&refresh_token));
    assert!(!fake.is_valid_token(&access));
    assert_eq!(refresh(&fake, &refresh_token, &[]).status, 400);
}

#[test]
fn revoke_of_an_unknown_token_is_200_but_a_bad_client_is_not() {
    let fake = fake();
    let reply = send(
        client()
            .put(revoke_url(&fake))
            .form(&revoke_params("unknown", SECRET)),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), revoked_body("unknown"));

    let reply = send(
        client()
            .put(revoke_url(&fake))
            .form(&revoke_params("unknown", "bad")),
    );
    assert_eq!(reply.status, 401);
}

// ---------------------------------------------------------------------------
// 404, log redaction, shutdown
// ---------------------------------------------------------------------------

#[test]
fn unknown_paths_and_methods_get_the_html_404_page() {
    let fake = fake();
    for request in [
        client().get(format!("{}/v2/nothing", fake.base_url())),
        client().get(token_url(&fake)),
        client().delete(revoke_url(&fake)),
        client().post(format!("{}/v2/workspaces", fake.base_url())),
    ] {
        let reply = send(request);
        assert_eq!(reply.status, 404);
        assert!(
            reply.content_type().starts_with("text/html"),
            "{}",
            reply.content_type()
        );
        assert!(
            reply
                .body
                .contains("Your request cannot be completed, please retry")
        );
        assert!(
            serde_json::from_str::<Value>(&reply.body).is_err(),
            "not JSON"
        );
    }
    assert_eq!(fake.requests_to(il::ROUTE_UNMATCHED).len(), 4);
}

#[test]
fn printed_logs_and_seeds_never_show_secrets() {
    let fake = fake();
    let token = login_token(&fake, &[]);
    workspaces(&fake, Some(&bearer(&token)));
    let printed = format!("{:?}", fake.requests());
    for secret in [PASSWORD, SECRET, token.as_str()] {
        assert!(!printed.contains(secret), "{secret} leaked: {printed}");
    }
    assert!(printed.contains(EMAIL), "public values stay readable");
    assert!(printed.contains("REDACTED"));

    let seeds = format!(
        "{:?} {:?}",
        IntralinksApp::new(KEY, SECRET),
        IntralinksUser::new(EMAIL, PASSWORD)
    );
    assert!(
        !seeds.contains(SECRET) && !seeds.contains(PASSWORD),
        "{seeds}"
    );
}

#[test]
fn dropping_the_handle_stops_the_server() {
    let fake = fake();
    let url = format!("{}/v2/workspaces", fake.base_url());
    assert_eq!(send(client().get(&url)).status, 401);
    drop(fake);
    assert!(client().get(&url).send().is_err());
}

#[test]
fn a_body_over_the_limit_is_refused_with_413() {
    let fake = fake();
    let huge = vec![b'a'; keyhelm_testkit::server::MAX_BODY_BYTES + 1];
    let reply = send(
        client()
            .post(token_url(&fake))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(huge),
    );
    assert_eq!(reply.status, 413);
    assert_eq!(fake.token_requests(), 0, "not logged as a token request");
}
