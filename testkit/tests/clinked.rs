//! The Clinked fake against `research/providers.md` §2.5, through a real
//! HTTP client.

mod support;

use std::time::Duration;

use keyhelm_testkit::clinked::{
    self as cl, ClinkedAppCredentials, ClinkedConfig, ClinkedUser, FakeClinked, RateLimit,
    TwoFactor,
};
use reqwest::blocking::RequestBuilder;
use serde_json::{Value, json};
use support::{Reply, bare_client, client, send};

const USER: &str = "jack";
const PASSWORD: &str = "Aez1Ahr8Ji";

/// Clinked's OAuth2 error body.
trait OAuthError {
    /// (HTTP status, `error`, `error_description`).
    fn error(&self) -> (u16, String, String);
}

impl OAuthError for Reply {
    fn error(&self) -> (u16, String, String) {
        let body = self.json();
        (
            self.status,
            body["error"].as_str().unwrap_or_default().to_owned(),
            body["error_description"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }
}

fn fake() -> FakeClinked {
    let fake = FakeClinked::start();
    fake.add_user(ClinkedUser::new(USER, PASSWORD));
    fake
}

/// `GET /oauth/token` with query parameters, as the documentation shows.
fn token_get(fake: &FakeClinked, query: &[(&str, &str)]) -> Reply {
    send(
        client()
            .get(format!("{}/oauth/token", fake.base_url()))
            .header("accept", "application/json")
            .query(query),
    )
}

/// The parameters of a password grant by the mobile client.
fn password_params<'a>(username: &'a str, password: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("client_id", "clinked-mobile"),
        ("grant_type", "password"),
        ("username", username),
        ("password", password),
    ]
}

fn password_grant(fake: &FakeClinked, extra: &[(&str, &str)]) -> Reply {
    let mut query = password_params(USER, PASSWORD);
    query.extend_from_slice(extra);
    token_get(fake, &query)
}

fn user_token(fake: &FakeClinked) -> String {
    let reply = password_grant(fake, &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

/// The parameters of a client_credentials grant for `app`, with `scope` if given.
fn app_params<'a>(
    app: &'a ClinkedAppCredentials,
    scope: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("grant_type", "client_credentials"),
        ("client_id", app.client_id.as_str()),
        ("client_secret", app.client_secret.as_str()),
    ];
    params.extend(scope.map(|scope| ("scope", scope)));
    params
}

fn client_credentials(fake: &FakeClinked, app: &ClinkedAppCredentials) -> Reply {
    token_get(fake, &app_params(app, Some("read write")))
}

fn app_token(fake: &FakeClinked, app: &ClinkedAppCredentials) -> String {
    let reply = client_credentials(fake, app);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

fn groups(fake: &FakeClinked, token: Option<&str>) -> Reply {
    let mut request = client().get(format!("{}/v3/accounts/42/groups", fake.base_url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    send(request.query(&[("page", "1"), ("size", "100")]))
}

/// `GET /me`, to be authorized.
fn get_me(fake: &FakeClinked) -> RequestBuilder {
    client().get(format!("{}/me", fake.base_url()))
}

/// `POST /__fake/revoke-app?clientId=`
fn revoke_app(fake: &FakeClinked, client_id: &str) -> Reply {
    send(client().post(format!(
        "{}/__fake/revoke-app?clientId={client_id}",
        fake.base_url()
    )))
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<usize> = text.split('-').map(str::len).collect();
    groups == [8, 4, 4, 4, 12]
}

fn assert_token_headers(reply: &Reply) {
    assert_eq!(
        reply.header("content-type"),
        Some("application/json;charset=UTF-8")
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.header("pragma"), Some("no-cache"));
}

fn error(status: u16, error: &str, description: &str) -> (u16, String, String) {
    (status, error.to_owned(), description.to_owned())
}

// ---------------------------------------------------------------------------
// password grant
// ---------------------------------------------------------------------------

#[test]
fn password_grant_over_get_returns_the_documented_body_without_expires_in() {
    let fake = fake();
    let reply = password_grant(&fake, &[]);
    assert_eq!(reply.status, 200);
    assert_token_headers(&reply);
    let body = reply.json();
    let access = body["access_token"].as_str().unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    assert!(is_uuid(access) && is_uuid(refresh), "{body}");
    assert_eq!(
        body,
        json!({
            "access_token": access,
            "token_type": "bearer",
            "refresh_token": refresh,
            "scope": "read write",
        })
    );
    assert!(fake.is_valid_token(access));

    let logged = &fake.requests_to(cl::ROUTE_TOKEN)[0];
    assert!(logged.in_query("password") && !logged.in_form("password"));
    assert_eq!(logged.method, "GET");
}

#[test]
fn password_grant_over_post_with_a_form_or_query_works_too() {
    let fake = fake();
    // Clinked's 2015 client: grant type and client in the query, credentials in a form.
    let reply = send(
        client()
            .post(format!(
                "{}/oauth/token?grant_type=password&client_id=clinked-mobile",
                fake.base_url()
            ))
            .form(&[("username", USER), ("password", PASSWORD)]),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let logged = &fake.requests_to(cl::ROUTE_TOKEN)[0];
    assert!(logged.in_query("grant_type") && logged.in_form("password"));

    let reply = send(
        client()
            .post(format!("{}/oauth/token", fake.base_url()))
            .query(&[
                ("grant_type", "password"),
                ("client_id", "clinked-mobile"),
                ("username", USER),
                ("password", PASSWORD),
            ]),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[test]
fn expires_in_is_a_knob() {
    let fake = FakeClinked::start_with(ClinkedConfig {
        include_expires_in: true,
        ..ClinkedConfig::default()
    });
    fake.add_user(ClinkedUser::new(USER, PASSWORD));
    assert_eq!(password_grant(&fake, &[]).json()["expires_in"], 1800);
}

#[test]
fn a_live_token_is_reused_like_spring_does_unless_switched_off() {
    let fake = fake();
    let first = password_grant(&fake, &[]).json();
    fake.clock().advance(Duration::from_secs(60));
    let second = password_grant(&fake, &[]).json();
    assert_eq!(first["access_token"], second["access_token"]);
    assert_eq!(first["refresh_token"], second["refresh_token"]);

    fake.update_config(|c| c.reuse_live_token = false);
    let third = password_grant(&fake, &[]).json();
    assert_ne!(first["access_token"], third["access_token"]);
}

// ---------------------------------------------------------------------------
// token endpoint errors, in the spec's order
// ---------------------------------------------------------------------------

#[test]
fn missing_grant_type_comes_first() {
    let fake = fake();
    let reply = token_get(&fake, &[("username", USER)]);
    assert_eq!(
        reply.error(),
        error(400, "invalid_request", "Missing grant type")
    );
    assert_token_headers(&reply);
}

#[test]
fn client_authentication_failures_are_401_invalid_client() {
    let fake = fake();
    let app = fake.create_app(USER);
    let cases: [&[(&str, &str)]; 3] = [
        &[
            ("grant_type", "password"),
            ("username", USER),
            ("password", PASSWORD),
        ],
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "nope"),
            ("client_secret", "x"),
        ],
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id),
            ("client_secret", "wrong"),
        ],
    ];
    for query in cases {
        let reply = token_get(&fake, query);
        assert_eq!(
            reply.error(),
            error(401, "invalid_client", "Bad client credentials"),
            "{query:?}"
        );
        assert_eq!(
            reply.header("www-authenticate"),
            Some(
                "Bearer realm=\"oauth\", error=\"invalid_client\", error_description=\"Bad client credentials\""
            )
        );
        assert_token_headers(&reply);
    }
}

#[test]
fn unknown_grants_are_unsupported_and_grants_are_bound_to_clients() {
    let fake = fake();
    let reply = token_get(
        &fake,
        &[("grant_type", "session"), ("client_id", "clinked-mobile")],
    );
    assert_eq!(
        reply.error(),
        error(400, "unsupported_grant_type", "Unsupported grant type")
    );
    let reply = token_get(
        &fake,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "clinked-mobile"),
        ],
    );
    assert_eq!(
        reply.error(),
        error(
            401,
            "invalid_client",
            "Unauthorized grant type: client_credentials"
        )
    );
    let app = fake.create_app(USER);
    let reply = token_get(
        &fake,
        &[
            ("grant_type", "password"),
            ("client_id", &app.client_id),
            ("client_secret", &app.client_secret),
            ("username", USER),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(
        reply.error(),
        error(401, "invalid_client", "Unauthorized grant type: password")
    );
}

#[test]
fn bad_credentials_and_locked_accounts_are_400_invalid_grant() {
    let fake = fake();
    let bad = token_get(&fake, &password_params(USER, "wrong"));
    assert_eq!(bad.error(), error(400, "invalid_grant", "Bad credentials"));
    let unknown = token_get(&fake, &password_params("nobody", PASSWORD));
    assert_eq!(
        unknown.error(),
        error(400, "invalid_grant", "Bad credentials")
    );

    fake.set_locked(USER, true);
    let locked = password_grant(&fake, &[]);
    assert_eq!(
        locked.error(),
        error(400, "invalid_grant", "User account is locked")
    );
    assert_token_headers(&locked);
}

// ---------------------------------------------------------------------------
// two-factor authentication
// ---------------------------------------------------------------------------

#[test]
fn authenticator_2fa_asks_for_the_code_then_accepts_it() {
    let fake = fake();
    fake.set_two_factor(
        USER,
        TwoFactor::Authenticator {
            code: "123456".into(),
        },
    );
    let missing = error(
        400,
        "missing_2fa",
        "Two-factor authentication code required",
    );
    assert_eq!(password_grant(&fake, &[]).error(), missing);
    assert_eq!(password_grant(&fake, &[("code", "")]).error(), missing);
    assert_eq!(
        password_grant(&fake, &[("code", "000000")]).error(),
        error(400, "invalid_2fa", "Invalid two-factor authentication code")
    );
    let ok = password_grant(&fake, &[("code", "123456")]);
    assert_eq!(ok.status, 200);
    assert_eq!(fake.sms_sent(), 0);
}

#[test]
fn sms_2fa_sends_a_code_then_accepts_it() {
    let fake = fake();
    fake.add_user(ClinkedUser::new("sms-user", "pw").sms("4242"));
    let grant = |code: Option<&str>| {
        let mut query = password_params("sms-user", "pw");
        query.extend(code.map(|code| ("code", code)));
        token_get(&fake, &query)
    };
    assert_eq!(
        grant(None).error(),
        error(
            400,
            "missing_2fa_sms",
            "Two-factor authentication code sent by SMS"
        )
    );
    assert_eq!(fake.sms_sent(), 1);
    assert_eq!(grant(Some("1111")).error().1, "invalid_2fa");
    assert_eq!(grant(Some("4242")).status, 200);

    fake.update_config(|c| c.sms_send_fails = true);
    assert_eq!(
        grant(None).error(),
        error(
            400,
            "error_2fa_sms",
            "Two-factor authentication code could not be sent by SMS"
        )
    );
    assert_eq!(fake.sms_sent(), 1, "no SMS went out");
}

#[test]
fn two_factor_checks_come_after_the_password_check() {
    let fake = fake();
    fake.set_two_factor(USER, TwoFactor::Authenticator { code: "1".into() });
    let reply = token_get(&fake, &password_params(USER, "wrong"));
    assert_eq!(reply.error().1, "invalid_grant");
}

// ---------------------------------------------------------------------------
// applications and client credentials
// ---------------------------------------------------------------------------

fn create_application(fake: &FakeClinked, token: Option<&str>, body: &Value) -> Reply {
    let mut request = client()
        .post(format!("{}/v2/applications", fake.base_url()))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    send(request)
}

fn seed_application() -> Value {
    json!({
        "name": "API test script",
        "description": "API test script",
        "platform": "OTHER",
        "deviceType": "Other",
        "appVersion": "0.1",
        "deviceOs": "OTHER",
        "bundleId": "com.clinked.test",
    })
}

#[test]
fn the_seed_flow_password_then_application_then_client_credentials() {
    let fake = fake();
    let token = user_token(&fake);

    let reply = create_application(&fake, Some(&token), &seed_application());
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    let client_id = body["clientId"].as_str().unwrap().to_owned();
    let client_secret = body["clientSecret"].as_str().unwrap().to_owned();
    for value in [&client_id, &client_secret] {
        assert_eq!(value.len(), 32);
        assert!(value.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert_eq!(body["name"], "API test script");
    assert_eq!(body["platform"], "OTHER");
    assert_eq!(body["deviceModel"], Value::Null, "not sent");
    assert!(body["id"].is_u64());
    let logged = &fake.requests_to(cl::ROUTE_APPLICATIONS)[0];
    assert!(logged.in_json("bundleId"));

    let apps = fake.apps();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].owner, USER);
    assert_eq!(apps[0].name.as_deref(), Some("API test script"));

    let app = ClinkedAppCredentials {
        client_id,
        client_secret,
    };
    let reply = client_credentials(&fake, &app);
    assert_eq!(reply.status, 200);
    assert_token_headers(&reply);
    let body = reply.json();
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(
        body,
        json!({
            "access_token": access,
            "token_type": "bearer",
            "expires_in": 1800,
            "scope": "read write",
        }),
        "no refresh_token for client credentials"
    );
    assert_eq!(groups(&fake, Some(access)).status, 200);
}

#[test]
fn client_credentials_over_post_without_scope() {
    let fake = fake();
    let app = fake.create_app(USER);
    let reply = send(
        client()
            .post(format!("{}/oauth/token", fake.base_url()))
            .form(&app_params(&app, None)),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["scope"], "read write");
}

#[test]
fn client_credentials_scope_must_be_read_or_write() {
    let fake = fake();
    let app = fake.create_app(USER);
    let grant = |scope: &str| token_get(&fake, &app_params(&app, Some(scope)));
    assert_eq!(
        grant("read admin").error(),
        error(400, "invalid_scope", "Invalid scope: read admin")
    );
    assert_eq!(grant("read").json()["scope"], "read");
    fake.update_config(|c| c.include_expires_in_client_credentials = false);
    assert!(grant("write").json().get("expires_in").is_none());
}

#[test]
fn application_creation_errors() {
    let fake = fake();
    let reply = create_application(&fake, None, &seed_application());
    assert_eq!(
        reply.error(),
        error(
            401,
            "unauthorized",
            "Full authentication is required to access this resource"
        )
    );
    let reply = create_application(&fake, Some("nope"), &seed_application());
    assert_eq!(
        reply.error(),
        error(401, "invalid_token", "Invalid access token: nope")
    );

    let app = fake.create_app(USER);
    let app_token = app_token(&fake, &app);
    let reply = create_application(&fake, Some(&app_token), &seed_application());
    assert_eq!(
        reply.error(),
        error(403, "access_denied", "Access is denied")
    );

    let token = user_token(&fake);
    let reply = send(
        client()
            .post(format!("{}/v2/applications", fake.base_url()))
            .bearer_auth(&token)
            .form(&[("name", "x")]),
    );
    assert_eq!(reply.status, 400);
    let body = reply.json();
    assert_eq!(body["status"], 400);
    assert_eq!(body["error"], "Bad Request");
    assert_eq!(body["path"], "/v2/applications");
    assert!(body["timestamp"].is_u64());
}

// ---------------------------------------------------------------------------
// expiry, revocation, refresh
// ---------------------------------------------------------------------------

#[test]
fn an_expired_token_is_refused_then_client_credentials_give_a_new_one() {
    let fake = fake();
    let app = fake.create_app(USER);
    let token = app_token(&fake, &app);
    fake.clock().advance(Duration::from_secs(1799));
    assert!(fake.is_valid_token(&token));
    fake.clock().advance(Duration::from_secs(1));
    assert!(!fake.is_valid_token(&token));

    let reply = groups(&fake, Some(&token));
    assert_eq!(
        reply.error(),
        error(
            401,
            "invalid_token",
            &format!("Access token expired: {token}")
        )
    );
    assert!(reply.header("www-authenticate").is_some());
    // Spring forgets an expired token once it has been presented.
    assert_eq!(
        groups(&fake, Some(&token)).error(),
        error(
            401,
            "invalid_token",
            &format!("Invalid access token: {token}")
        )
    );

    let fresh = app_token(&fake, &app);
    assert_ne!(fresh, token);
    assert_eq!(groups(&fake, Some(&fresh)).status, 200);
}

#[test]
fn a_revoked_app_is_logged_out() {
    let fake = fake();
    let app = fake.create_app(USER);
    let token = app_token(&fake, &app);

    let reply = revoke_app(&fake, &app.client_id);
    assert_eq!(reply.status, 200);
    assert!(fake.apps()[0].revoked);
    assert!(!fake.is_valid_token(&token));
    assert_eq!(groups(&fake, Some(&token)).error().1, "invalid_token");
    // Even getting a new token fails: the user must log in again.
    assert_eq!(
        client_credentials(&fake, &app).error(),
        error(401, "invalid_client", "Bad client credentials")
    );

    let unknown = revoke_app(&fake, "nope");
    assert_eq!(unknown.status, 404);
    assert!(!fake.revoke_app("nope"));
}

fn refresh(fake: &FakeClinked, refresh_token: Option<&str>) -> Reply {
    let mut form = vec![];
    if let Some(token) = refresh_token {
        form.push(("refresh_token", token));
    }
    send(
        client()
            .post(format!(
                "{}/oauth/token?grant_type=refresh_token&client_id=clinked-mobile",
                fake.base_url()
            ))
            .form(&form),
    )
}

#[test]
fn refresh_gives_a_new_access_token_and_retires_the_old_one() {
    let fake = fake();
    let first = password_grant(&fake, &[]).json();
    let old = first["access_token"].as_str().unwrap();
    let refresh_token = first["refresh_token"].as_str().unwrap();

    let reply = refresh(&fake, Some(refresh_token));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_token_headers(&reply);
    let body = reply.json();
    let new = body["access_token"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(body["refresh_token"], refresh_token);
    assert_eq!(body["token_type"], "bearer");
    assert!(body.get("expires_in").is_none());
    assert!(fake.is_valid_token(new));
    assert!(!fake.is_valid_token(old));
}

#[test]
fn refresh_errors() {
    let fake = fake();
    assert_eq!(
        refresh(&fake, None).error(),
        error(
            400,
            "invalid_request",
            "refresh_token parameter not provided"
        )
    );
    assert_eq!(
        refresh(&fake, Some("bogus")).error(),
        error(400, "invalid_grant", "Invalid refresh token: bogus")
    );
    let body = password_grant(&fake, &[]).json();
    let refresh_token = body["refresh_token"].as_str().unwrap();
    fake.clock().advance(Duration::from_secs(30 * 24 * 3600));
    assert_eq!(
        refresh(&fake, Some(refresh_token)).error(),
        error(
            400,
            "invalid_grant",
            &format!("Invalid refresh token: {refresh_token}")
        )
    );
}

// ---------------------------------------------------------------------------
// probes, rate limit, 404, user agent, log
// ---------------------------------------------------------------------------

#[test]
fn the_authorized_probes() {
    let fake = fake();
    let token = user_token(&fake);
    let reply = groups(&fake, Some(&token));
    assert_eq!(reply.status, 200);
    assert!(reply.json()["items"].is_array());
    assert_eq!(fake.requests_to(cl::ROUTE_GROUPS).len(), 1);

    let me = send(get_me(&fake).bearer_auth(&token));
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["username"], USER);

    // Spring also accepts the token as a query parameter.
    let reply = send(get_me(&fake).query(&[("access_token", token.as_str())]));
    assert_eq!(reply.status, 200);

    let app = fake.create_app(USER);
    let app_token = app_token(&fake, &app);
    let me = send(get_me(&fake).bearer_auth(&app_token));
    assert_eq!(me.json()["username"], USER, "an app acts for its owner");

    let reply = groups(&fake, None);
    assert_eq!(
        reply.error(),
        error(
            401,
            "unauthorized",
            "Full authentication is required to access this resource"
        )
    );
    assert!(
        reply
            .header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer realm=\"oauth\", error=\"unauthorized\""))
    );
}

#[test]
fn the_rate_limit_answers_429_past_the_budget_until_the_window_ends() {
    let fake = FakeClinked::start_with(ClinkedConfig {
        rate_limit: Some(RateLimit {
            max_requests: 3,
            window: Duration::from_secs(300),
        }),
        ..ClinkedConfig::default()
    });
    fake.add_user(ClinkedUser::new(USER, PASSWORD));
    for _ in 0..3 {
        assert_eq!(password_grant(&fake, &[]).status, 200);
    }
    let limited = password_grant(&fake, &[]);
    assert_eq!(
        limited.error(),
        error(429, "too_many_requests", "Rate limit exceeded")
    );
    assert_eq!(groups(&fake, None).status, 429, "every route counts");
    fake.clock().advance(Duration::from_secs(300));
    assert_eq!(password_grant(&fake, &[]).status, 200);
}

#[test]
fn unknown_paths_and_methods_get_spring_boot_errors() {
    let fake = fake();
    let reply = send(client().get(format!("{}/v9/nothing", fake.base_url())));
    assert_eq!(reply.status, 404);
    let body = reply.json();
    assert_eq!(body["error"], "Not Found");
    assert_eq!(body["path"], "/v9/nothing");

    let reply = send(client().put(format!("{}/oauth/token", fake.base_url())));
    assert_eq!(reply.status, 405);
    assert_eq!(
        reply.json()["message"],
        "Request method 'PUT' not supported"
    );
    assert_eq!(fake.requests_to(cl::ROUTE_UNMATCHED).len(), 1);
}

#[test]
fn requests_without_a_user_agent_are_served_and_counted() {
    let fake = fake();
    let reply = send(
        bare_client()
            .get(format!("{}/oauth/token", fake.base_url()))
            .query(&password_params(USER, PASSWORD)),
    );
    assert_eq!(reply.status, 200);
    password_grant(&fake, &[]);
    assert_eq!(fake.requests_without_user_agent(), 1);
}

#[test]
fn printed_logs_and_seeds_never_show_secrets() {
    let fake = fake();
    fake.set_two_factor(
        USER,
        TwoFactor::Sms {
            code: "987654".into(),
        },
    );
    let token = password_grant(&fake, &[("code", "987654")]).json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    groups(&fake, Some(&token));
    let app = fake.create_app(USER);
    let printed = format!(
        "{:?} {:?} {:?}",
        fake.requests(),
        app,
        ClinkedUser::new(USER, PASSWORD).sms("987654")
    );
    for secret in [
        PASSWORD,
        "987654",
        token.as_str(),
        app.client_secret.as_str(),
    ] {
        assert!(!printed.contains(secret), "{secret} leaked: {printed}");
    }
    assert!(printed.contains(USER));
}
