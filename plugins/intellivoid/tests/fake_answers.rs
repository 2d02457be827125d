//! The fake's answers to requests the plugin never makes (no User-Agent, a JSON body, a
//! missing parameter, a token of nobody, a permission the grant lacks), read by the plugin's
//! own classification: the bytes of each documented error case, not a hand-written copy,
//! become the error the user would see.

use std::io::{Read, Write};
use std::net::TcpStream;

use keyhelm_core::msg::{Account, ErrorKind, HttpResponse};
use keyhelm_core::secrecy::SecretString;
use keyhelm_intellivoid::api::{self, ApiError, Method, USER_AGENT};
use keyhelm_intellivoid::errors::{self, Context};
use keyhelm_intellivoid::settings::Settings;
use keyhelm_testkit::intellivoid::{
    FakeIntellivoid, IntellivoidAccount, IntellivoidApp, IntellivoidAppCredentials,
};

/// One HTTP/1.1 exchange over a plain socket, so that every header is exactly as written.
fn exchange(fake: &FakeIntellivoid, head: &str, body: &str) -> HttpResponse {
    let addr = fake.root_url().trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "{head}\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    assert!(
        !headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")),
        "this little client reads only plain bodies"
    );
    HttpResponse::new(status, headers, body.as_bytes().to_vec())
}

fn post(fake: &FakeIntellivoid, path: &str, form: &str, user_agent: bool) -> HttpResponse {
    let ua = if user_agent {
        format!("\r\nUser-Agent: {USER_AGENT}")
    } else {
        String::new()
    };
    exchange(
        fake,
        &format!(
            "POST /intellivoid/v1/{path} HTTP/1.1{ua}\r\nContent-Type: application/x-www-form-urlencoded"
        ),
        form,
    )
}

fn setup() -> (FakeIntellivoid, IntellivoidAppCredentials) {
    let fake = FakeIntellivoid::start();
    let app = fake.add_application(IntellivoidApp::new("t"));
    fake.add_account(IntellivoidAccount::new("alice"));
    (fake, app)
}

fn ctx<'a>(fake_base: &'a str, app: &'a str, method: Method) -> Context<'a> {
    Context {
        account: "work",
        base_url: fake_base,
        application_id: app,
        method,
    }
}

/// How the plugin describes `e`, an answer of the fake to `method` for `app`: its kind and
/// message.
fn described(
    fake: &FakeIntellivoid,
    app: &IntellivoidAppCredentials,
    method: Method,
    e: &ApiError,
) -> (ErrorKind, String) {
    let base = fake.base_url();
    let d = errors::describe(e, &ctx(&base, &app.application_id, method));
    (d.kind, d.message)
}

fn creds(app: &IntellivoidAppCredentials) -> String {
    format!(
        "application_id={}&secret_key={}",
        app.application_id, app.secret_key
    )
}

#[test]
fn a_missing_user_agent_is_an_error_although_the_body_says_success() {
    let (fake, app) = setup();
    let resp = post(
        &fake,
        "coa/auth/request_authentication",
        &creds(&app),
        false,
    );
    assert_eq!(resp.status, 400);
    assert!(resp.text().unwrap().contains(r#""success":true"#));
    let e = api::classify(&resp).unwrap_err();
    assert_eq!(e, ApiError::UserAgentRefused);
    assert_eq!(
        described(&fake, &app, Method::RequestAuthentication, &e),
        (
            ErrorKind::ServiceError,
            "Intellivoid refused the User-Agent header of request_authentication (HTTP 400)"
                .to_owned()
        )
    );
    // With the plugin's User-Agent the same request works.
    let resp = post(&fake, "coa/auth/request_authentication", &creds(&app), true);
    assert!(api::classify(&resp).is_ok());
}

#[test]
fn a_json_body_is_not_read_so_the_secret_is_missing() {
    let (fake, app) = setup();
    let json = format!(
        r#"{{"application_id":"{}","secret_key":"{}","request_token":"x"}}"#,
        app.application_id, app.secret_key
    );
    let resp = exchange(
        &fake,
        &format!(
            "POST /intellivoid/v1/coa/auth/process_authentication HTTP/1.1\r\nUser-Agent: {USER_AGENT}\r\nContent-Type: application/json"
        ),
        &json,
    );
    assert_eq!(resp.status, 401);
    let e = api::classify(&resp).unwrap_err();
    assert_eq!(e.code(), Some(22));
    assert_eq!(
        described(&fake, &app, Method::ProcessAuthentication, &e),
        (
            ErrorKind::BadSettings,
            "Intellivoid did not receive the application's secret key (code 22)".to_owned()
        )
    );
}

#[test]
fn the_plugins_own_requests_are_read_as_forms() {
    // api::build's request, sent as bytes: the fake reads the id and secret from the form.
    let (fake, app) = setup();
    let mut a = Account::new("work");
    a.base_url = Some(fake.base_url());
    a.settings
        .insert("application_id".into(), app.application_id.clone());
    a.secrets.insert(
        "secret_key".into(),
        SecretString::from(app.secret_key.clone()),
    );
    let settings = Settings::from_account(&a).unwrap();
    let req = api::build(&settings, Method::RequestAuthentication, &[]);
    let body = std::str::from_utf8(&req.body).unwrap().to_owned();
    let resp = post(&fake, "coa/auth/request_authentication", &body, true);
    let results = api::classify(&resp).unwrap();
    let auth = api::AuthRequest::parse(&results).unwrap();
    assert_eq!(
        auth.requested_permissions,
        [
            "READ_USERNAME",
            "GET_USER_DISPLAY",
            "READ_EMAIL_ADDRESS",
            "READ_PERSONAL_INFORMATION"
        ]
    );
    assert!(auth.expires_timestamp.is_some());
}

#[test]
fn every_remaining_documented_error_reads_as_its_code() {
    let (fake, app) = setup();
    let c = creds(&app);
    let base = fake.base_url();
    let ctx = |m| ctx(&base, &app.application_id, m);

    // A request token of nobody: 40; none at all: 39.
    let resp = post(
        &fake,
        "coa/auth/process_authentication",
        &format!("{c}&request_token=0000"),
        true,
    );
    let e = api::classify(&resp).unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(400), Some(40)));
    assert_eq!(
        errors::describe(&e, &ctx(Method::ProcessAuthentication)).message,
        "Intellivoid does not know the login request (code 40)"
    );
    let resp = post(&fake, "coa/auth/process_authentication", &c, true);
    let e = api::classify(&resp).unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(400), Some(39)));
    assert_eq!(
        errors::describe(&e, &ctx(Method::ProcessAuthentication)).kind,
        ErrorKind::Internal
    );

    // No access token: 24 (400 at get_access_token, 401 at accounts/*); an unknown one: 25.
    for (path, status) in [
        ("coa/auth/get_access_token", 400),
        ("accounts/get_user", 401),
    ] {
        let e = api::classify(&post(&fake, path, &c, true)).unwrap_err();
        assert_eq!((e.status(), e.code()), (Some(status), Some(24)), "{path}");
    }
    let e = api::classify(&post(
        &fake,
        "accounts/get_user",
        &format!("{c}&access_token=ffff"),
        true,
    ))
    .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(401), Some(25)));
    assert!(errors::is_access_gone(e.code()));

    // The user unticked the e-mail address: get_email answers 30.
    let resp = post(&fake, "coa/auth/request_authentication", &c, true);
    let auth = api::AuthRequest::parse(&api::classify(&resp).unwrap()).unwrap();
    let request = fake.last_request_token().unwrap();
    let token = fake.approve(&request, &[]).unwrap();
    let resp = post(
        &fake,
        "coa/auth/process_authentication",
        &format!("{c}&request_token={request}"),
        true,
    );
    let approval = api::Approval::parse(&api::classify(&resp).unwrap()).unwrap();
    assert_eq!(
        approval.granted_permissions,
        ["READ_USERNAME", "GET_USER_DISPLAY"]
    );
    assert_eq!(
        keyhelm_intellivoid::flow::not_granted(
            &auth.requested_permissions,
            &approval.granted_permissions
        ),
        ["READ_EMAIL_ADDRESS", "READ_PERSONAL_INFORMATION"]
    );
    let e = api::classify(&post(
        &fake,
        "accounts/get_email",
        &format!("{c}&access_token={token}"),
        true,
    ))
    .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(403), Some(30)));
    assert_eq!(
        errors::describe(&e, &ctx(Method::GetEmail)).message,
        "Intellivoid refused get_email: the access lacks a permission it needs (code 30)"
    );

    // A method other than GET or POST: SERVER error 1.
    let resp = exchange(
        &fake,
        &format!("PUT /intellivoid/v1/coa/application HTTP/1.1\r\nUser-Agent: {USER_AGENT}"),
        "",
    );
    let e = api::classify(&resp).unwrap_err();
    assert_eq!(
        errors::describe(&e, &ctx(Method::RequestAuthentication)).message,
        "Intellivoid refused the HTTP method of request_authentication (HTTP 400, SERVER error 1)"
    );

    // A suspended or disabled application: 3 and 4.
    for (status, code) in [
        (keyhelm_testkit::intellivoid::AppStatus::Suspended, 3),
        (keyhelm_testkit::intellivoid::AppStatus::Disabled, 4),
    ] {
        fake.set_application_status(&app.application_id, status);
        let e =
            api::classify(&post(&fake, "coa/auth/request_authentication", &c, true)).unwrap_err();
        assert_eq!((e.status(), e.code()), (Some(403), Some(code)));
        assert_eq!(
            errors::describe(&e, &ctx(Method::RequestAuthentication)).kind,
            ErrorKind::AuthFailed
        );
    }
}
