//! First logins through the real keyhelm binary and the real plugin against the fake COA
//! service: the approval, what the user sees, and every way a first login can fail.

mod support;

use std::time::Duration;

use keyhelm_intellivoid::api::USER_AGENT;
use keyhelm_testkit::clock::FakeClock;
use keyhelm_testkit::intellivoid::{
    IntellivoidConfig, Permission, ROUTE_GET_ACCESS_TOKEN, ROUTE_GET_USER,
    ROUTE_PROCESS_AUTHENTICATION, ROUTE_REQUEST_AUTHENTICATION,
};
use support::{
    BROWSER_QUESTION, EXIT_NEEDS_INTERACTION, EXIT_PROVIDER, EXIT_USAGE, World, describe, finish,
    text, wait_until,
};

const ALL: [Permission; 4] = [
    Permission::ReadUsername,
    Permission::GetUserDisplay,
    Permission::ReadEmailAddress,
    Permission::ReadPersonalInformation,
];

#[test]
fn approval_after_several_polls() {
    let w = World::new();
    w.add_account(&[]);
    w.auto_approve(3, &ALL);

    let (status, screen) = w.login();
    assert!(status.success(), "{screen}");
    assert!(
        screen.contains(
            "To let keyhelm use your Intellivoid account for 'work', approve the request within 10 minutes at:"
        ),
        "{screen}"
    );
    let request = w.fake.last_request_token().unwrap();
    let url = format!(
        "{}/auth/login?auth=application&application_id={}&request_token={request}",
        w.fake.root_url(),
        w.app.application_id
    );
    assert!(
        screen.contains(&format!("  {url}\n{BROWSER_QUESTION}")),
        "the URL is shown exactly as the service gave it:\n{screen}"
    );
    assert!(
        screen.contains("Waiting for the approval (Ctrl-C to stop)..."),
        "{screen}"
    );
    assert!(
        screen.contains("Logged in to 'work' as alice; the token is valid until"),
        "{screen}"
    );
    assert!(
        screen.contains(
            "Granted: READ_USERNAME, GET_USER_DISPLAY, READ_EMAIL_ADDRESS, READ_PERSONAL_INFORMATION\n"
        ),
        "{screen}"
    );
    assert!(!screen.contains("not granted"), "{screen}");
    // Three answers of 41 (the first before the URL was shown), then the token.
    assert_eq!(w.fake.polls(&request), 4);
    assert_eq!(w.count(ROUTE_REQUEST_AUTHENTICATION), 1);
    assert_eq!(w.count(ROUTE_PROCESS_AUTHENTICATION), 4);
    assert_eq!(w.count(ROUTE_GET_USER), 1);
    assert_eq!(w.count(ROUTE_GET_ACCESS_TOKEN), 1);

    let token = w.token();
    assert!(w.fake.is_valid_token(&token));
    assert!(
        !screen.contains(&token),
        "the token is never shown by login"
    );

    // Every request: POST, a form body, our User-Agent, the secret never in the URL.
    for r in w.fake.requests() {
        assert_eq!(r.method, "POST", "{r:?}");
        assert_eq!(r.user_agent.as_deref(), Some(USER_AGENT), "{r:?}");
        assert!(
            r.in_form("application_id") && r.in_form("secret_key"),
            "{r:?}"
        );
        assert!(
            !r.in_query("secret_key") && !r.in_query("access_token"),
            "{r:?}"
        );
        assert!(matches!(r.status, 200 | 400), "{r:?}");
    }
}

#[test]
fn reduced_permissions_are_kept_and_shown() {
    let w = World::new();
    w.add_account(&[]);
    // The user unticks the e-mail address and the personal information.
    w.auto_approve(1, &[]);

    let (status, screen) = w.login();
    assert!(status.success(), "{screen}");
    assert!(
        screen.contains(
            "Intellivoid granted fewer permissions than the application asked for; not granted: \
             READ_EMAIL_ADDRESS, READ_PERSONAL_INFORMATION."
        ),
        "{screen}"
    );
    assert!(
        screen.contains("Granted: READ_USERNAME, GET_USER_DISPLAY\n"),
        "{screen}"
    );

    let out = w.keyhelm(&["account", "show", "work"], b"");
    let shown = text(&out.stdout);
    assert!(
        shown.contains("info      not_granted: READ_EMAIL_ADDRESS, READ_PERSONAL_INFORMATION\n"),
        "{shown}"
    );
    assert!(
        shown.contains("info      scopes: READ_USERNAME, GET_USER_DISPLAY\n"),
        "{shown}"
    );
    assert!(shown.contains("user      alice\n"), "{shown}");
}

#[test]
fn a_grant_without_the_user_name_logs_in_without_one() {
    let w = World::new();
    let app = w.fake.add_application(
        keyhelm_testkit::intellivoid::IntellivoidApp::new("todo app")
            .permissions(&[Permission::ReadTodo]),
    );
    let secrets = format!("secret_key={}\n", app.secret_key);
    w.add_account_with(&app.application_id, &secrets, &[]);
    w.auto_approve(1, &[Permission::ReadTodo]);

    let (status, screen) = w.login();
    assert!(status.success(), "{screen}");
    assert!(
        screen.contains("Logged in to 'work'; the token is valid until"),
        "{screen}"
    );
    assert!(screen.contains("Granted: READ_TODO\n"), "{screen}");
    assert_eq!(w.count(ROUTE_GET_USER), 0, "get_user needs READ_USERNAME");
    let token = w.token();
    assert!(w.fake.is_valid_token(&token));
}

#[test]
fn an_expired_request_token_ends_the_login() {
    let w = World::new();
    w.add_account(&[]);
    let mut pty = w.pty(&["login", "work"]);
    pty.expect(BROWSER_QUESTION).unwrap();
    pty.send_line("n").unwrap();
    let request = w.fake.last_request_token().unwrap();
    wait_until("two more polls", || w.fake.polls(&request) >= 3);
    // The user approves, but only after the 600 s: the service answers 34, not the token.
    w.fake.clock().advance(Duration::from_secs(601));
    w.fake
        .approve(&request, &ALL)
        .expect("the fake's prompt does not check the expiry");
    let (status, screen) = finish(pty);
    assert_eq!(status.code(), Some(EXIT_PROVIDER), "{screen}");
    assert!(
        screen.contains(
            "keyhelm: error: account 'work': the login request expired before it was approved \
             (Intellivoid code 34)\n\
             keyhelm: hint: run `keyhelm login work` and approve the request in the browser \
             within 10 minutes\n"
        ),
        "{screen}"
    );
    let out = w.keyhelm(&["account", "show", "work"], b"");
    assert!(text(&out.stdout).contains("token     no token yet\n"));
}

#[test]
fn a_request_never_approved_expires() {
    // The fake follows the wall clock and its requests live two seconds.
    let config = IntellivoidConfig {
        request_ttl: Duration::from_secs(2),
        ..IntellivoidConfig::default()
    };
    let w = World::with(config, FakeClock::following_wall_clock());
    w.add_account(&[]);
    let mut pty = w.pty(&["login", "work"]);
    pty.expect(BROWSER_QUESTION).unwrap();
    // The user blocks the request in the prompt: the service keeps answering 41.
    assert!(w.fake.block(&w.fake.last_request_token().unwrap()));
    pty.send_line("n").unwrap();
    let (status, screen) = finish(pty);
    assert_eq!(status.code(), Some(EXIT_PROVIDER), "{screen}");
    assert!(
        screen.contains("approve the request within 2 seconds at:"),
        "{screen}"
    );
    // Whichever comes first: the service's 34 or the plugin's own deadline.
    assert!(
        screen.contains(
            "keyhelm: error: account 'work': the login request expired before it was approved (Intellivoid code 34)\n"
        ) || screen.contains(
            "keyhelm: error: account 'work': the login request expired before it was approved\n\
             keyhelm: hint: run `keyhelm login work` and approve the request in the browser in time\n"
        ),
        "{screen}"
    );
}

#[test]
fn a_bad_application_id_fails_before_anything_is_shown() {
    let w = World::new();
    let secrets = format!("secret_key={}\n", w.app.secret_key);
    w.add_account_with("APPnope", &secrets, &[]);
    let (status, screen) = w.failed_login();
    assert_eq!(status.code(), Some(EXIT_USAGE), "{screen}");
    assert!(
        screen.contains(
            "keyhelm: error: account 'work': Intellivoid does not know the application id APPnope (code 2)\n\
             keyhelm: hint: compare it with the Application ID in the Intellivoid developer console; \
             remove the account (`keyhelm account remove work`) and add it again with \
             --set application_id=<the right id>\n"
        ),
        "{screen}"
    );
    assert!(!screen.contains(BROWSER_QUESTION));
    let logged = w.fake.requests_to(ROUTE_REQUEST_AUTHENTICATION);
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].status, 404);
}

#[test]
fn a_wrong_secret_fails_before_the_user_approves_anything() {
    let w = World::new();
    w.add_account_with(&w.app.application_id, "secret_key=not-the-secret\n", &[]);
    let (status, screen) = w.failed_login();
    assert_eq!(status.code(), Some(EXIT_PROVIDER), "{screen}");
    assert!(
        screen.contains(&format!(
            "keyhelm: error: account 'work': Intellivoid refused the secret key of the application {} (code 23)\n\
             keyhelm: hint: the account's secret_key is not the application's Secret Key; \
             remove the account (`keyhelm account remove work`) and add it again with the right key\n",
            w.app.application_id
        )),
        "{screen}"
    );
    assert!(!screen.contains(BROWSER_QUESTION), "no URL to approve");
    assert!(!screen.contains("not-the-secret"));
    let polls = w.fake.requests_to(ROUTE_PROCESS_AUTHENTICATION);
    assert_eq!(polls.len(), 1);
    assert_eq!(polls[0].status, 401);
}

#[test]
fn a_missing_secret_is_caught_before_any_request() {
    let w = World::new();
    // An empty value on stdin is accepted by `account add`; without one the service would
    // answer 22.
    w.add_account_with(&w.app.application_id, "secret_key=\n", &[]);
    let (status, screen) = w.failed_login();
    assert_eq!(status.code(), Some(EXIT_USAGE), "{screen}");
    assert!(
        screen.contains(
            "keyhelm: error: account 'work': the account has no secret_key\n\
             keyhelm: hint: remove the account (`keyhelm account remove work`) and add it again \
             with the application's Secret Key when keyhelm asks for secret_key\n"
        ),
        "{screen}"
    );
    assert!(w.fake.requests().is_empty(), "nothing was sent");
}

#[test]
fn without_a_terminal_the_user_is_told_to_log_in() {
    let w = World::new();
    w.add_account(&[]);
    assert_eq!(
        w.token_failure(EXIT_NEEDS_INTERACTION),
        "keyhelm: error: account 'work': logging in to Intellivoid needs your approval in a \
         browser, and keyhelm cannot ask you here\n\
         keyhelm: hint: run `keyhelm login work` in a terminal and approve the request in the browser\n"
    );
    assert!(w.fake.requests().is_empty(), "no login request was started");
}

#[test]
fn a_suspended_account_cannot_log_in() {
    let w = World::new();
    w.add_account(&[]);
    w.auto_approve(1, &ALL);
    w.fake.set_account_status(
        &w.alice,
        keyhelm_testkit::intellivoid::AccountStatus::Suspended,
    );
    let (status, screen) = w.login();
    assert_eq!(status.code(), Some(EXIT_PROVIDER), "{screen}");
    assert!(
        screen.contains(
            "keyhelm: error: account 'work': your Intellivoid account is suspended (code 28)\n\
             keyhelm: hint: log in at https://accounts.intellivoid.net to see why; keyhelm cannot \
             use a suspended account\n"
        ),
        "{screen}"
    );
}

#[test]
fn an_application_in_redirect_mode_is_explained() {
    let w = World::new();
    let app = w.fake.add_application(
        keyhelm_testkit::intellivoid::IntellivoidApp::new("web app")
            .mode(keyhelm_testkit::intellivoid::AuthMode::Redirect),
    );
    let secrets = format!("secret_key={}\n", app.secret_key);
    w.add_account_with(&app.application_id, &secrets, &[]);
    let (status, screen) = w.failed_login();
    assert_eq!(status.code(), Some(EXIT_USAGE), "{screen}");
    assert!(
        screen.contains(&format!(
            "keyhelm: error: account 'work': the application {} does not use the Application \
             Placeholder authentication mode that keyhelm needs (code 6: Intellivoid asks for a \
             redirect URL)\n\
             keyhelm: hint: set the application's authentication mode to Application Placeholder \
             in the Intellivoid developer console\n",
            app.application_id
        )),
        "{screen}"
    );
}

#[test]
fn a_wrong_url_is_explained() {
    let w = World::new();
    let secrets = format!("secret_key={}\n", w.app.secret_key);
    let set_id = format!("application_id={}", w.app.application_id);
    // The server's root instead of the API base.
    let url = w.fake.root_url();
    let out = w.keyhelm(
        &[
            "account",
            "add",
            "work",
            "--provider",
            "intellivoid",
            "--url",
            &url,
            "--set",
            &set_id,
            "--secrets-from-stdin",
        ],
        secrets.as_bytes(),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let (status, screen) = w.failed_login();
    assert_eq!(status.code(), Some(EXIT_USAGE), "{screen}");
    assert!(
        screen.contains(&format!(
            "keyhelm: error: account 'work': there is no Intellivoid API method \
             request_authentication at {url} (HTTP 404)\n\
             keyhelm: hint: the account URL {url} must be the API base ending in /intellivoid/v1 \
             (default https://api.intellivoid.net/intellivoid/v1); remove the account \
             (`keyhelm account remove work`) and add it again with the right --url\n"
        )),
        "{screen}"
    );
}

/// What `keyhelm plugin verify` says about the plugin: its settings and their help, which
/// `keyhelm account add` also shows when it asks for them.
#[test]
fn plugin_verify_describes_the_settings() {
    let w = World::new();
    let path = w.plugin_path("intellivoid");
    let out = w.keyhelm_ok(&["plugin", "verify", &path.display().to_string()], "");
    let (_, described) = out.split_once("provider  ").expect("a provider line");
    assert_eq!(
        described,
        "Intellivoid Accounts (COA)\n\
         url       https://api.intellivoid.net/intellivoid/v1 (default)\n\
         setting   application_id (required): the Application ID (APP...) of your Intellivoid \
         application, which must use the Application Placeholder authentication mode\n\
         setting   secret_key (secret, required): the Secret Key of that Intellivoid \
         application\n\
         setting   poll_interval_ms (optional, default 3000): milliseconds between two checks \
         whether the login was approved (2000 to 5000 is polite; smaller values are for tests \
         against a local server)\n"
    );
}
