//! The Intellivoid COA fake against `research/providers.md` §3 (the fake
//! spec in §3.8 and the check orders in §3.2), through a real HTTP client.

mod support;

use std::time::Duration;

use keyhelm_testkit::intellivoid::{
    self as iv, AccountStatus, AppStatus, ApproveError, AuthMode, AutoApprove, FakeIntellivoid,
    IntellivoidAccount, IntellivoidApp, IntellivoidAppCredentials, IntellivoidConfig, Permission,
};
use keyhelm_testkit::server::AuthScheme;
use serde_json::{Value, json};
use support::{Reply, bare_client, client, send};

/// COA's answer envelope.
trait CoaReply {
    /// (HTTP status, error_code) of a COA error, checking the envelope.
    fn coa(&self) -> (u16, i64);
    /// The `results` of a success, checking the envelope.
    fn results(&self) -> Value;
    /// The `request_token` of a successful `request_authentication`.
    fn request_token(&self) -> String {
        self.results()["request_token"].as_str().unwrap().to_owned()
    }
}

impl CoaReply for Reply {
    fn coa(&self) -> (u16, i64) {
        let body = self.json();
        assert_eq!(body["success"], false, "{body}");
        assert_eq!(body["response_code"], self.status, "{body}");
        assert_eq!(body["error"]["type"], "COA", "{body}");
        let code = body["error"]["error_code"].as_i64().expect("error_code");
        assert_eq!(
            body["error"]["message"],
            iv::coa_message(i32::try_from(code).unwrap()),
            "{body}"
        );
        (self.status, code)
    }

    fn results(&self) -> Value {
        assert_eq!(self.status, 200, "{}", self.body);
        let body = self.json();
        assert_eq!(body["success"], true);
        assert_eq!(body["response_code"], 200);
        body["results"].clone()
    }
}

struct Setup {
    fake: FakeIntellivoid,
    app: IntellivoidAppCredentials,
    account: String,
}

fn setup() -> Setup {
    setup_on(
        FakeIntellivoid::start(),
        IntellivoidApp::new("Keyhelm Test"),
        IntellivoidAccount::new("alice")
            .email("alice@example.org")
            .name("Alice", "Liddell")
            .birthday(4, 5, 1852),
    )
}

/// `fake` with `app` and then `account` added.
fn setup_on(fake: FakeIntellivoid, app: IntellivoidApp, account: IntellivoidAccount) -> Setup {
    let app = fake.add_application(app);
    let account = fake.add_account(account);
    Setup { fake, app, account }
}

/// POST with a urlencoded form, as the official Python client does.
fn call(fake: &FakeIntellivoid, method: &str, form: &[(&str, &str)]) -> Reply {
    send(
        client()
            .post(format!("{}/{method}", fake.base_url()))
            .form(form),
    )
}

/// `coa/auth/request_authentication` with `form`.
fn request_authentication(fake: &FakeIntellivoid, form: &[(&str, &str)]) -> Reply {
    call(fake, "coa/auth/request_authentication", form)
}

/// `coa/auth/process_authentication` for `app`, with the id and secret as parameters.
fn process(fake: &FakeIntellivoid, app: &IntellivoidAppCredentials, request_token: &str) -> Reply {
    call(
        fake,
        "coa/auth/process_authentication",
        &[
            ("application_id", &app.application_id),
            ("secret_key", &app.secret_key),
            ("request_token", request_token),
        ],
    )
}

/// The URL of `coa/auth/process_authentication`, for requests [`call`] does not make.
fn process_url(fake: &FakeIntellivoid) -> String {
    format!("{}/coa/auth/process_authentication", fake.base_url())
}

/// The app id, secret and access token parameters of a COA call.
fn with_token<'a>(id: &'a str, secret: &'a str, access_token: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("application_id", id),
        ("secret_key", secret),
        ("access_token", access_token),
    ]
}

/// POST to `path` below the fake's root (the prompt, the test-only routes) with `query`.
fn post_query(fake: &FakeIntellivoid, path: &str, query: &[(&str, &str)]) -> Reply {
    send(
        client()
            .post(format!("{}{path}", fake.root_url()))
            .query(query),
    )
}

impl Setup {
    fn request_authentication(&self) -> String {
        request_authentication(&self.fake, &[("application_id", &self.app.application_id)])
            .request_token()
    }

    fn process(&self, request_token: &str) -> Reply {
        process(&self.fake, &self.app, request_token)
    }

    /// A request approved with every permission; returns the access token.
    fn logged_in(&self) -> String {
        self.approve(&self.request_authentication())
    }

    /// A request token, approved with every permission.
    fn approved_request(&self) -> String {
        let request = self.request_authentication();
        self.approve(&request);
        request
    }

    /// Approves `request` with every permission; returns the access token.
    fn approve(&self, request: &str) -> String {
        self.fake
            .approve(request, &Permission::ALL)
            .expect("approve")
    }

    /// `request_authentication` for a new `Redirect` app, with `redirect`.
    fn request_with_redirect(&self, redirect: &str) -> Reply {
        let app = self
            .fake
            .add_application(IntellivoidApp::new("r").mode(AuthMode::Redirect));
        request_authentication(
            &self.fake,
            &[
                ("application_id", &app.application_id),
                ("redirect", redirect),
            ],
        )
    }

    fn account_call(&self, method: &str, access_token: &str) -> Reply {
        call(
            &self.fake,
            &format!("accounts/{method}"),
            &self.with_token(access_token),
        )
    }

    fn get_access_token(&self, access_token: &str) -> Reply {
        call(
            &self.fake,
            "coa/auth/get_access_token",
            &self.with_token(access_token),
        )
    }

    /// This app's id and secret, and `access_token`.
    fn with_token<'a>(&'a self, access_token: &'a str) -> [(&'a str, &'a str); 3] {
        with_token(&self.app.application_id, &self.app.secret_key, access_token)
    }
}

// ---------------------------------------------------------------------------
// before routing: user agent, method, path
// ---------------------------------------------------------------------------

fn user_agent_quirk() -> Value {
    json!({
        "success": true,
        "response_code": 400,
        "error": {
            "error_code": 0,
            "type": "CLIENT",
            "message": "The given user-agent header is invalid/missing",
        },
    })
}

#[test]
fn a_missing_empty_or_long_user_agent_gets_400_with_success_true() {
    let s = setup();
    let url = format!("{}/coa/application", s.fake.base_url());
    let long = "x".repeat(iv::MAX_USER_AGENT_LEN + 1);
    for user_agent in [None, Some(""), Some(long.as_str())] {
        let mut request = bare_client()
            .post(&url)
            .form(&[("application_id", &s.app.application_id)]);
        if let Some(ua) = user_agent {
            request = request.header("user-agent", ua);
        }
        let reply = send(request);
        assert_eq!(reply.status, 400, "{user_agent:?}");
        assert_eq!(reply.json(), user_agent_quirk(), "{user_agent:?}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }
    let longest = "x".repeat(iv::MAX_USER_AGENT_LEN);
    let reply = send(
        bare_client()
            .post(&url)
            .header("user-agent", longest)
            .form(&[("application_id", &s.app.application_id)]),
    );
    assert_eq!(reply.status, 200);

    let logged = s.fake.requests_to(iv::ROUTE_APPLICATION);
    assert!(!logged[0].has_user_agent());
    assert!(logged[3].has_user_agent());
}

#[test]
fn the_user_agent_is_checked_before_the_method_and_the_path() {
    let s = setup();
    let reply = send(bare_client().put(format!("{}/nothing/here", s.fake.base_url())));
    assert_eq!(reply.json(), user_agent_quirk());
}

#[test]
fn methods_other_than_get_and_post_are_400_server_1() {
    let s = setup();
    for request in [
        client().put(format!("{}/coa/application", s.fake.base_url())),
        client().delete(format!("{}/nothing", s.fake.base_url())),
    ] {
        let reply = send(request);
        assert_eq!(reply.status, 400);
        assert_eq!(
            reply.json(),
            json!({
                "success": false,
                "response_code": 400,
                "error": {"error_code": 1, "type": "SERVER", "message": "The given version for this API is not supported"},
            })
        );
    }
}

#[test]
fn unknown_paths_are_404_server_0_and_paths_ignore_case() {
    let s = setup();
    for path in ["coa/nothing", "accounts/get_email_address"] {
        let reply = call(&s.fake, path, &[]);
        assert_eq!(reply.status, 404);
        assert_eq!(
            reply.json(),
            json!({
                "success": false,
                "response_code": 404,
                "error": {"error_code": 0, "type": "SERVER", "message": "The requested resource/action is invalid or not found"},
            })
        );
    }
    let reply = send(
        client()
            .get(format!(
                "{}/intellivoid/V1/COA/Application",
                s.fake.root_url()
            ))
            .query(&[("application_id", &s.app.application_id)]),
    );
    assert_eq!(reply.status, 200);
}

#[test]
fn every_api_response_carries_the_server_headers() {
    let s = setup();
    for reply in [
        call(
            &s.fake,
            "coa/application",
            &[("application_id", &s.app.application_id)],
        ),
        call(&s.fake, "coa/application", &[]),
        call(&s.fake, "nothing", &[]),
    ] {
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert!(reply.header("x-request-id").is_some_and(|v| !v.is_empty()));
        assert_eq!(reply.header("x-powered-by"), Some("Intellivoid-API"));
        assert_eq!(reply.header("x-server-version"), Some("2.0"));
    }
}

// ---------------------------------------------------------------------------
// coa/application
// ---------------------------------------------------------------------------

#[test]
fn application_info_is_public() {
    let s = setup();
    let results = call(
        &s.fake,
        "coa/application",
        &[("application_id", &s.app.application_id)],
    )
    .results();
    assert_eq!(results["name"], "Keyhelm Test");
    assert_eq!(results["name_safe"], "keyhelm_test");
    assert_eq!(results["status"], "ACTIVE");
    assert_eq!(results["authentication_mode"], "PLACEHOLDER");
    assert_eq!(
        results["permissions"],
        json!([
            "READ_USERNAME",
            "GET_USER_DISPLAY",
            "READ_EMAIL_ADDRESS",
            "READ_PERSONAL_INFORMATION"
        ])
    );
    for size in ["original", "normal", "preview", "small", "tiny"] {
        assert!(
            results["logo"][size]
                .as_str()
                .unwrap()
                .starts_with(&s.fake.root_url())
        );
    }
    assert!(s.app.application_id.starts_with("APP") && s.app.application_id.len() == 75);

    assert_eq!(
        call(&s.fake, "coa/application", &[("application_id", "APPnope")]).coa(),
        (404, 2)
    );
    assert_eq!(call(&s.fake, "coa/application", &[]).coa(), (404, 2));
}

// ---------------------------------------------------------------------------
// coa/auth/request_authentication
// ---------------------------------------------------------------------------

#[test]
fn request_authentication_returns_a_token_and_the_fakes_prompt_url() {
    let s = setup();
    let now = s.fake.clock().unix();
    let results = request_authentication(
        &s.fake,
        &[
            ("application_id", &s.app.application_id),
            ("secret_key", "ignored"),
        ],
    )
    .results();
    let token = results["request_token"].as_str().unwrap();
    assert_eq!(token.len(), 72);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        results,
        json!({
            "request_token": token,
            "requested_permissions": ["READ_USERNAME", "GET_USER_DISPLAY", "READ_EMAIL_ADDRESS", "READ_PERSONAL_INFORMATION"],
            "status": "ACTIVE",
            "authentication_url": format!(
                "{}/auth/login?auth=application&application_id={}&request_token={token}",
                s.fake.root_url(),
                s.app.application_id
            ),
            "expires_timestamp": now + 600,
        })
    );
    assert_eq!(s.fake.last_request_token().as_deref(), Some(token));
}

#[test]
fn request_authentication_ui_flags_and_get_parameters() {
    let s = setup();
    let reply = send(
        client()
            .get(format!(
                "{}/coa/auth/request_authentication",
                s.fake.base_url()
            ))
            .query(&[
                ("application_id", s.app.application_id.as_str()),
                ("expand_ui", "True"),
                ("require_close", "1"),
            ]),
    );
    let url = reply.results()["authentication_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.ends_with("&expanded=1&require_close=1"), "{url}");
}

#[test]
fn request_authentication_errors_in_order() {
    let s = setup();
    let missing = request_authentication(&s.fake, &[]);
    assert_eq!(missing.coa(), (401, 1));
    assert_eq!(
        missing.header("www-authenticate"),
        Some("Basic realm=\"Intellivoid Accounts Application ID\"")
    );
    let unknown = request_authentication(&s.fake, &[("application_id", "APPnope")]);
    assert_eq!(unknown.coa(), (404, 2));

    let suspended = s
        .fake
        .add_application(IntellivoidApp::new("s").status(AppStatus::Suspended));
    let disabled = s
        .fake
        .add_application(IntellivoidApp::new("d").status(AppStatus::Disabled));
    let redirect = s
        .fake
        .add_application(IntellivoidApp::new("r").mode(AuthMode::Redirect));
    for (app, expected) in [
        (&suspended, (403, 3)),
        (&disabled, (403, 4)),
        (&redirect, (400, 6)),
    ] {
        let reply = request_authentication(&s.fake, &[("application_id", &app.application_id)]);
        assert_eq!(reply.coa(), expected);
    }
}

#[test]
fn redirect_apps_get_the_redirect_in_the_prompt_url() {
    let s = setup();
    let results = s
        .request_with_redirect("http://127.0.0.1:9/cb?x=1")
        .results();
    let url = results["authentication_url"].as_str().unwrap();
    let expected = format!(
        "{}/auth/login?auth=application&redirect=http%3A%2F%2F127.0.0.1%3A9%2Fcb%3Fx%3D1&application_id=",
        s.fake.root_url()
    );
    assert!(url.starts_with(&expected), "{url}");
}

// ---------------------------------------------------------------------------
// coa/auth/process_authentication: the nine steps
// ---------------------------------------------------------------------------

#[test]
fn step_1_missing_id_or_secret_is_22() {
    let s = setup();
    let token = s.request_authentication();
    let cases: [&[(&str, &str)]; 3] = [
        &[("request_token", &token)],
        &[
            ("application_id", &s.app.application_id),
            ("request_token", &token),
        ],
        &[("secret_key", &s.app.secret_key), ("request_token", &token)],
    ];
    for form in cases {
        let reply = call(&s.fake, "coa/auth/process_authentication", form);
        assert_eq!(reply.coa(), (401, 22), "{form:?}");
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Basic realm=\"Intellivoid Accounts Application ID & Secret Key\"")
        );
    }
}

#[test]
fn step_2_missing_request_token_is_39_before_the_app_is_looked_up() {
    let s = setup();
    let reply = call(
        &s.fake,
        "coa/auth/process_authentication",
        &[("application_id", "APPnope"), ("secret_key", "x")],
    );
    assert_eq!(reply.coa(), (400, 39));
}

#[test]
fn steps_3_to_5_app_then_secret_then_status() {
    let s = setup();
    let token = s.request_authentication();
    let reply = call(
        &s.fake,
        "coa/auth/process_authentication",
        &[
            ("application_id", "APPnope"),
            ("secret_key", "x"),
            ("request_token", &token),
        ],
    );
    assert_eq!(reply.coa(), (404, 2));
    let reply = call(
        &s.fake,
        "coa/auth/process_authentication",
        &[
            ("application_id", &s.app.application_id),
            ("secret_key", "wrong"),
            ("request_token", "bogus"),
        ],
    );
    assert_eq!(reply.coa(), (401, 23), "23 before 40");

    s.fake
        .set_application_status(&s.app.application_id, AppStatus::Suspended);
    assert_eq!(s.process("bogus").coa(), (403, 3), "3 before 40");
    s.fake
        .set_application_status(&s.app.application_id, AppStatus::Disabled);
    assert_eq!(s.process(&token).coa(), (403, 4));
}

#[test]
fn step_6_unknown_or_foreign_request_token_is_40() {
    let s = setup();
    assert_eq!(s.process("bogus").coa(), (400, 40));
    let other = s.fake.add_application(IntellivoidApp::new("other"));
    let foreign = request_authentication(&s.fake, &[("application_id", &other.application_id)])
        .request_token();
    assert_eq!(s.process(&foreign).coa(), (400, 40));
}

#[test]
fn step_8_awaiting_is_41_with_the_documented_body() {
    let s = setup();
    let token = s.request_authentication();
    for _ in 0..3 {
        let reply = s.process(&token);
        assert_eq!(
            reply.json(),
            json!({"success": false, "response_code": 400, "error": {"error_code": 41, "message": "AWAITING AUTHENTICATION", "type": "COA"}})
        );
    }
    assert_eq!(s.fake.polls(&token), 3);
    assert_eq!(s.fake.process_requests(), 3);
}

#[test]
fn step_9_approved_returns_the_same_access_token_on_every_poll() {
    let s = setup();
    let token = s.request_authentication();
    assert_eq!(s.process(&token).coa(), (400, 41));
    s.fake.clock().advance(Duration::from_secs(30));
    let approved_at = s.fake.clock().unix();
    let access = s.approve(&token);

    let results = s.process(&token).results();
    assert_eq!(
        results,
        json!({
            "access_token": access,
            "granted_permissions": ["READ_USERNAME", "GET_USER_DISPLAY", "READ_EMAIL_ADDRESS", "READ_PERSONAL_INFORMATION"],
            "expires_timestamp": approved_at + 460_800,
        })
    );
    assert_eq!(access.len(), 64);
    assert_eq!(
        s.process(&token).results(),
        results,
        "no error 20 on a repeat"
    );
    assert!(s.fake.is_valid_token(&access));
}

#[test]
fn step_7_expiry_34_comes_before_41_and_before_200() {
    let s = setup();
    // Never approved: 41 until 600 s, then 34.
    let pending = s.request_authentication();
    s.fake.clock().advance(Duration::from_secs(600));
    assert_eq!(s.process(&pending).coa(), (400, 41), "at exactly 600 s");
    s.fake.clock().advance(Duration::from_secs(1));
    assert_eq!(s.process(&pending).coa(), (400, 34));

    // Approved in time but polled too late: the approval is lost.
    let late_poll = s.request_authentication();
    s.approve(&late_poll);
    s.fake.clock().advance(Duration::from_secs(601));
    assert_eq!(s.process(&late_poll).coa(), (400, 34));

    // Approved after 600 s.
    let late_approval = s.request_authentication();
    s.fake.clock().advance(Duration::from_secs(601));
    s.approve(&late_approval);
    assert_eq!(s.process(&late_approval).coa(), (400, 34));
}

#[test]
fn a_blocked_request_looks_pending_then_expires() {
    let s = setup();
    let token = s.request_authentication();
    let reply = post_query(&s.fake, "/__fake/block", &[("request_token", &token)]);
    assert_eq!(reply.status, 200);
    assert_eq!(s.process(&token).coa(), (400, 41));
    assert_eq!(
        s.fake.approve(&token, &Permission::ALL),
        Err(ApproveError::Blocked)
    );
    s.fake.clock().advance(Duration::from_secs(601));
    assert_eq!(s.process(&token).coa(), (400, 34));
}

#[test]
fn auto_approve_after_n_polls_with_a_granted_subset() {
    let s = setup_on(
        FakeIntellivoid::start_with(IntellivoidConfig {
            auto_approve: Some(AutoApprove {
                after_polls: 2,
                grant: vec![Permission::ReadPersonalInformation],
            }),
            ..IntellivoidConfig::default()
        }),
        IntellivoidApp::new("auto"),
        IntellivoidAccount::new("bob"),
    );
    let token = s.request_authentication();
    assert_eq!(s.process(&token).coa(), (400, 41));
    assert_eq!(s.process(&token).coa(), (400, 41));
    let results = s.process(&token).results();
    assert_eq!(
        results["granted_permissions"],
        json!([
            "READ_USERNAME",
            "GET_USER_DISPLAY",
            "READ_PERSONAL_INFORMATION"
        ])
    );
}

// ---------------------------------------------------------------------------
// parameter sources and app authentication
// ---------------------------------------------------------------------------

#[test]
fn http_basic_carries_the_id_and_secret_and_wins_over_parameters() {
    let s = setup();
    let token = s.approved_request();
    let reply = send(
        client()
            .post(process_url(&s.fake))
            .basic_auth(&s.app.application_id, Some(&s.app.secret_key))
            .form(&[
                ("application_id", "APPwrong"),
                ("secret_key", "wrong"),
                ("request_token", &token),
            ]),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);

    // An empty Basic password falls back to the secret_key parameter.
    let reply = send(
        client()
            .post(process_url(&s.fake))
            .basic_auth(&s.app.application_id, Some(""))
            .form(&[
                ("secret_key", s.app.secret_key.as_str()),
                ("request_token", &token),
            ]),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let logged = s.fake.requests_to(iv::ROUTE_PROCESS_AUTHENTICATION);
    assert_eq!(logged[0].authorization, Some(AuthScheme::Basic));
}

#[test]
fn post_body_overrides_the_query_and_multipart_works() {
    let s = setup();
    let token = s.approved_request();
    let reply = send(
        client()
            .post(process_url(&s.fake))
            .query(&[("application_id", "APPwrong"), ("secret_key", "wrong")])
            .form(&[
                ("application_id", s.app.application_id.as_str()),
                ("secret_key", &s.app.secret_key),
                ("request_token", &token),
            ]),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);

    let boundary = "keyhelmboundary";
    let mut body = String::new();
    for (name, value) in [
        ("application_id", s.app.application_id.as_str()),
        ("secret_key", &s.app.secret_key),
        ("request_token", &token),
    ] {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let reply = send(
        client()
            .post(process_url(&s.fake))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let logged = s.fake.requests_to(iv::ROUTE_PROCESS_AUTHENTICATION);
    assert!(logged[0].in_query("secret_key") && logged[0].in_form("secret_key"));
    assert!(logged[1].in_form("request_token") && !logged[1].in_query("request_token"));
}

#[test]
fn json_bodies_and_get_bodies_are_ignored() {
    let s = setup();
    let token = s.request_authentication();
    let json_body = json!({
        "application_id": s.app.application_id,
        "secret_key": s.app.secret_key,
        "request_token": token,
    });
    let reply = send(
        client()
            .post(process_url(&s.fake))
            .header("content-type", "application/json")
            .body(json_body.to_string()),
    );
    assert_eq!(reply.coa(), (401, 22));

    // PHP fills $_POST only for POST requests.
    let reply = send(client().get(process_url(&s.fake)).form(&[
        ("application_id", s.app.application_id.as_str()),
        ("secret_key", &s.app.secret_key),
        ("request_token", &token),
    ]));
    assert_eq!(reply.coa(), (401, 22));
}

// ---------------------------------------------------------------------------
// coa/auth/get_access_token
// ---------------------------------------------------------------------------

#[test]
fn get_access_token_introspects_without_checking_expiry_or_revocation() {
    let s = setup();
    let access = s.logged_in();
    let expiry = s.fake.access_token_expiry(&access).unwrap();
    let results = s.get_access_token(&access).results();
    assert_eq!(
        results,
        json!({
            "granted_permissions": ["READ_USERNAME", "GET_USER_DISPLAY", "READ_EMAIL_ADDRESS", "READ_PERSONAL_INFORMATION"],
            "expires_timestamp": expiry,
        })
    );
    s.fake.revoke(&access);
    s.fake.clock().advance(Duration::from_secs(460_801));
    assert_eq!(
        s.get_access_token(&access).results()["expires_timestamp"],
        expiry
    );
    assert_eq!(
        s.fake.access_token_expiry(&access),
        Some(expiry),
        "no slide"
    );
}

#[test]
fn get_access_token_errors_in_order() {
    let s = setup();
    let access = s.logged_in();
    let call_with = |form: &[(&str, &str)]| call(&s.fake, "coa/auth/get_access_token", form);
    let id = s.app.application_id.as_str();
    let secret = s.app.secret_key.as_str();
    assert_eq!(call_with(&[("access_token", &access)]).coa(), (401, 22));
    assert_eq!(
        call_with(&[("application_id", "APPnope"), ("secret_key", "x")]).coa(),
        (400, 24),
        "24 before 2, and 400 here"
    );
    assert_eq!(call_with(&with_token("APPnope", "x", "t")).coa(), (404, 2));
    assert_eq!(call_with(&with_token(id, "x", "t")).coa(), (401, 23));
    s.fake.set_application_status(id, AppStatus::Suspended);
    assert_eq!(call_with(&with_token(id, secret, "t")).coa(), (403, 3));
    s.fake.set_application_status(id, AppStatus::Active);
    let reply = call_with(&with_token(id, secret, "t"));
    assert_eq!(
        reply.json(),
        json!({"success": false, "response_code": 401, "error": {"error_code": 25, "message": "ACCESS DENIED, INCORRECT ACCESS TOKEN", "type": "COA"}})
    );
}

// ---------------------------------------------------------------------------
// accounts/*
// ---------------------------------------------------------------------------

#[test]
fn get_user_get_email_and_personal_information() {
    let s = setup();
    let access = s.logged_in();
    let user = s.account_call("get_user", &access).results();
    assert_eq!(user["id"], s.account.as_str());
    assert_eq!(s.account.len(), 80);
    assert_eq!(user["username"], "alice");
    for size in ["original", "normal", "preview", "small", "tiny"] {
        let url = user["avatar"][size].as_str().unwrap();
        assert!(url.contains(&s.account) && url.ends_with(&format!("resource={size}")));
    }
    assert_eq!(
        s.account_call("get_email", &access).results(),
        json!({"email_address": "alice@example.org"})
    );
    assert_eq!(
        s.account_call("get_personal_information", &access)
            .results(),
        json!({"first_name": "Alice", "last_name": "Liddell", "birthday": {"day": 4, "month": 5, "year": 1852}})
    );
}

#[test]
fn personal_information_fields_may_be_null() {
    let s = setup();
    let id = s.fake.add_account(IntellivoidAccount::new("anon"));
    let request = s.request_authentication();
    let access = s
        .fake
        .approve_as(&request, &id, &Permission::ALL)
        .expect("approve");
    assert_eq!(
        s.account_call("get_personal_information", &access)
            .results(),
        json!({"first_name": null, "last_name": null, "birthday": null})
    );
}

#[test]
fn each_successful_account_call_slides_the_expiry_to_48_hours() {
    let s = setup();
    let access = s.logged_in();
    let created = s.fake.clock().unix();
    assert_eq!(s.fake.access_token_expiry(&access), Some(created + 460_800));
    s.fake.clock().advance(Duration::from_secs(460_000));
    s.account_call("get_user", &access).results();
    let now = s.fake.clock().unix();
    assert_eq!(s.fake.access_token_expiry(&access), Some(now + 172_800));
    s.fake.clock().advance(Duration::from_secs(172_800));
    assert!(s.fake.is_valid_token(&access));
    s.fake.clock().advance(Duration::from_secs(1));
    assert!(!s.fake.is_valid_token(&access));
    assert_eq!(s.account_call("get_user", &access).coa(), (403, 27));
}

#[test]
fn account_call_errors_in_order() {
    let s = setup();
    let access = s.logged_in();
    let id = s.app.application_id.as_str();
    let call_with = |form: &[(&str, &str)]| call(&s.fake, "accounts/get_user", form);
    assert_eq!(call_with(&[("application_id", id)]).coa(), (401, 22));
    assert_eq!(
        call_with(&[("application_id", id), ("secret_key", "x")]).coa(),
        (401, 24),
        "401 here, unlike get_access_token"
    );
    assert_eq!(
        call_with(&with_token(id, "x", &access)).coa(),
        (401, 23),
        "the fake checks the secret, stricter than the server"
    );
    assert_eq!(s.account_call("get_user", "unknown").coa(), (401, 25));

    // Revoked (29) is checked before expired (27).
    let revoked = s.logged_in();
    let reply = send(
        client()
            .post(format!("{}/__fake/revoke", s.fake.root_url()))
            .form(&[("access_token", revoked.as_str())]),
    );
    assert_eq!(reply.status, 200);
    s.fake.clock().advance(Duration::from_secs(460_801));
    assert_eq!(s.account_call("get_user", &revoked).coa(), (403, 29));
    assert_eq!(s.account_call("get_user", &access).coa(), (403, 27));
    // ...while introspection and polling still answer 200 for a revoked token.
    assert_eq!(s.get_access_token(&revoked).status, 200);
}

#[test]
fn account_status_errors_come_after_the_slide() {
    let s = setup();
    let access = s.logged_in();
    let set_status = |status: &str| {
        post_query(
            &s.fake,
            "/__fake/account-status",
            &[("id", s.account.as_str()), ("status", status)],
        )
    };
    assert_eq!(set_status("suspended").status, 200);
    s.fake.clock().advance(Duration::from_secs(10));
    assert_eq!(s.account_call("get_user", &access).coa(), (403, 28));
    let now = s.fake.clock().unix();
    assert_eq!(
        s.fake.access_token_expiry(&access),
        Some(now + 172_800),
        "slid anyway"
    );
    assert!(!s.fake.is_valid_token(&access));

    for status in [
        "limited",
        "verification_required",
        "password_recovery_mode",
        "government_backed_attack",
    ] {
        set_status(status);
        assert_eq!(
            s.account_call("get_email", &access).coa(),
            (403, 51),
            "{status}"
        );
    }
    assert_eq!(set_status("ACTIVE").status, 200);
    assert_eq!(s.account_call("get_email", &access).status, 200);

    assert!(s.fake.delete_account(&s.account));
    assert_eq!(s.account_call("get_email", &access).coa(), (403, 26));
}

#[test]
fn app_status_and_permissions_are_checked_last() {
    let s = setup();
    let request = s.request_authentication();
    // The user unticks READ_EMAIL_ADDRESS in the prompt.
    let access = s
        .fake
        .approve(&request, &[Permission::ReadPersonalInformation])
        .expect("approve");
    assert_eq!(
        s.process(&request).results()["granted_permissions"],
        json!([
            "READ_USERNAME",
            "GET_USER_DISPLAY",
            "READ_PERSONAL_INFORMATION"
        ])
    );
    assert_eq!(s.account_call("get_user", &access).status, 200);
    assert_eq!(s.account_call("get_email", &access).coa(), (403, 30));
    s.fake
        .set_application_status(&s.app.application_id, AppStatus::Disabled);
    assert_eq!(
        s.account_call("get_email", &access).coa(),
        (403, 4),
        "4 before 30"
    );
}

#[test]
fn get_user_needs_both_username_and_display_permissions() {
    let s = setup_on(
        FakeIntellivoid::start(),
        IntellivoidApp::new("minimal").permissions(&[Permission::ReadUsername]),
        IntellivoidAccount::new("carol"),
    );
    let access = s.logged_in();
    assert_eq!(s.account_call("get_user", &access).coa(), (403, 30));
}

// ---------------------------------------------------------------------------
// the simulated prompt and admin routes
// ---------------------------------------------------------------------------

fn prompt_post(s: &Setup, request: &str, grant: Option<&str>) -> Reply {
    let mut query = vec![("action", "authenticate"), ("request_token", request)];
    if let Some(grant) = grant {
        query.push(("grant", grant));
    }
    post_query(&s.fake, "/auth/login", &query)
}

#[test]
fn the_prompt_page_and_approval_with_a_granted_subset() {
    let s = setup();
    let results =
        request_authentication(&s.fake, &[("application_id", &s.app.application_id)]).results();
    let request = results["request_token"].as_str().unwrap();
    let page = send(client().get(results["authentication_url"].as_str().unwrap()));
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.body.contains("Keyhelm Test") && page.body.contains("READ_EMAIL_ADDRESS"));

    let reply = prompt_post(&s, request, Some("READ_USERNAME,GET_USER_DISPLAY"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let results = s.process(request).results();
    assert_eq!(
        results["granted_permissions"],
        json!(["READ_USERNAME", "GET_USER_DISPLAY"])
    );
    let access = results["access_token"].as_str().unwrap();
    assert_eq!(s.account_call("get_email", access).coa(), (403, 30));

    let again = prompt_post(&s, request, None);
    assert_eq!(again.status, 400);
    assert!(again.body.contains("ALREADY AUTHENTICATED"));
}

#[test]
fn the_prompt_redirects_redirect_apps_and_shows_the_token_to_code_apps() {
    let s = setup();
    let request = s
        .request_with_redirect("http://127.0.0.1:9/cb")
        .request_token();
    let reply = prompt_post(&s, &request, None);
    assert_eq!(reply.status, 302);
    let location = reply.header("location").unwrap();
    let token = location
        .strip_prefix("http://127.0.0.1:9/cb?access_token=")
        .expect(location);
    assert!(s.fake.is_valid_token(token));

    let code_app = s
        .fake
        .add_application(IntellivoidApp::new("c").mode(AuthMode::Code));
    let request = request_authentication(&s.fake, &[("application_id", &code_app.application_id)])
        .request_token();
    let reply = prompt_post(&s, &request, None);
    assert_eq!(reply.status, 200);
    let results = process(&s.fake, &code_app, &request).results();
    assert!(
        reply
            .body
            .contains(results["access_token"].as_str().unwrap())
    );
}

#[test]
fn prompt_and_admin_errors() {
    let s = setup();
    let unknown = prompt_post(&s, "bogus", None);
    assert_eq!(unknown.status, 400);
    assert!(
        unknown
            .body
            .contains("INVALID REQUEST TOKEN IN AUTH PROMPT")
    );
    let request = s.request_authentication();
    let typo = prompt_post(&s, &request, Some("READ_EMAIL"));
    assert_eq!(typo.status, 400);
    assert!(typo.body.contains("Unknown permission READ_EMAIL"));

    let admin = |path: &str, query: &[(&str, &str)]| post_query(&s.fake, path, query);
    assert_eq!(
        admin("/__fake/block", &[("request_token", "x")]).status,
        404
    );
    assert_eq!(
        admin("/__fake/revoke", &[("access_token", "x")]).status,
        404
    );
    assert_eq!(
        admin(
            "/__fake/account-status",
            &[("id", &s.account), ("status", "asleep")]
        )
        .status,
        400
    );
    assert_eq!(
        admin(
            "/__fake/account-status",
            &[("id", "nobody"), ("status", "active")]
        )
        .status,
        404
    );
    let get = send(client().get(format!("{}/__fake/block", s.fake.root_url())));
    assert_eq!(get.status, 405);

    let no_accounts = FakeIntellivoid::start();
    let app = no_accounts.add_application(IntellivoidApp::new("x"));
    let request = request_authentication(&no_accounts, &[("application_id", &app.application_id)])
        .request_token();
    assert_eq!(
        no_accounts.approve(&request, &[]),
        Err(ApproveError::NoAccount)
    );
    assert_eq!(
        no_accounts.approve("bogus", &[]),
        Err(ApproveError::NoAccount),
        "the account is checked first"
    );
    assert_eq!(
        s.fake.approve("bogus", &[]),
        Err(ApproveError::UnknownRequestToken)
    );
}

#[test]
fn printed_logs_and_seeds_never_show_secrets() {
    let s = setup();
    let access = s.logged_in();
    s.account_call("get_user", &access);
    let printed = format!("{:?} {:?}", s.fake.requests(), s.app);
    for secret in [s.app.secret_key.as_str(), access.as_str()] {
        assert!(!printed.contains(secret), "{secret} leaked: {printed}");
    }
    assert!(printed.contains(&s.app.application_id));
}

#[test]
fn account_status_by_method_and_by_number() {
    let s = setup();
    let access = s.logged_in();
    assert!(
        s.fake
            .set_account_status(&s.account, AccountStatus::Suspended)
    );
    assert_eq!(s.account_call("get_user", &access).coa(), (403, 28));
    assert!(!s.fake.set_account_status("nobody", AccountStatus::Active));
    assert_eq!(
        AccountStatus::parse("5"),
        Some(AccountStatus::BlockedDueToGovernmentBackedAttack)
    );
    assert_eq!(
        AccountStatus::parse("Suspended"),
        Some(AccountStatus::Suspended)
    );
}
