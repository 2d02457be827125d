//! After the first login: the cached token, its renewal by use (there is no refresh grant),
//! and what happens when the saved access was revoked, expired, or the account was locked.

mod support;

use std::time::Duration;

use keyhelm_intellivoid::LOGOUT_MESSAGE;
use keyhelm_testkit::clock::FakeClock;
use keyhelm_testkit::intellivoid::{
    AccountStatus, IntellivoidApp, IntellivoidConfig, Permission, ROUTE_GET_ACCESS_TOKEN,
    ROUTE_GET_USER, ROUTE_PROCESS_AUTHENTICATION, ROUTE_REQUEST_AUTHENTICATION,
};
use support::{EXIT_NEEDS_INTERACTION, EXIT_PROVIDER, World, describe, text};

const ALL: [Permission; 4] = [
    Permission::ReadUsername,
    Permission::GetUserDisplay,
    Permission::ReadEmailAddress,
    Permission::ReadPersonalInformation,
];

const LOGIN_HINT: &str = "keyhelm: hint: run `keyhelm login work` in a terminal and approve the request in the browser\n";

fn logged_in(w: &World) -> String {
    w.add_account(&[]);
    w.auto_approve(2, &ALL);
    let (status, screen) = w.login();
    assert!(status.success(), "{screen}");
    w.token()
}

#[test]
fn the_token_is_cached_across_lookups() {
    let w = World::new();
    let token = logged_in(&w);
    let before = w.fake.requests().len();
    for _ in 0..5 {
        assert_eq!(w.token(), token);
    }
    assert_eq!(
        w.fake.requests().len(),
        before,
        "cached lookups do not load the plugin"
    );
    assert_eq!(w.count(ROUTE_REQUEST_AUTHENTICATION), 1);

    // `keyhelm login` starts afresh even though the saved access still works.
    let (status, screen) = w.login();
    assert!(status.success(), "{screen}");
    assert_eq!(w.count(ROUTE_REQUEST_AUTHENTICATION), 2);
    let second = w.token();
    assert_ne!(second, token);
    assert!(w.fake.is_valid_token(&second));
}

#[test]
fn an_expired_cached_token_is_renewed_by_using_it() {
    let w = World::short_lived_tokens();
    let token = logged_in(&w);
    let (users, reads) = (w.count(ROUTE_GET_USER), w.count(ROUTE_GET_ACCESS_TOKEN));

    // keyhelm finds the cached token stale and asks the plugin, which uses the saved token
    // (get_user slides its expiry) and reads the new expiry: no new login, no user.
    for round in 1..=3 {
        assert_eq!(w.token(), token);
        assert_eq!(w.count(ROUTE_GET_USER), users + round);
        assert_eq!(w.count(ROUTE_GET_ACCESS_TOKEN), reads + round);
    }
    assert_eq!(w.count(ROUTE_REQUEST_AUTHENTICATION), 1);
    let expiry = w.fake.access_token_expiry(&token).unwrap();
    assert_eq!(expiry, w.fake.clock().unix() + 1, "slid by the last use");
    let show = text(&w.keyhelm(&["account", "show", "work"], b"").stdout);
    assert!(show.contains("user      alice\n"), "{show}");
}

#[test]
fn revoked_access_needs_a_new_login() {
    let w = World::short_lived_tokens();
    let token = logged_in(&w);
    assert!(w.fake.revoke(&token));

    // No terminal: a clear error, and the saved state is kept.
    assert_eq!(
        w.token_failure(EXIT_PROVIDER),
        format!(
            "keyhelm: error: account 'work': keyhelm's access to your Intellivoid account was \
             revoked (code 29); a new login needs your approval in a browser\n{LOGIN_HINT}"
        )
    );

    // On a terminal: the reason, then a new approval.
    let (status, screen) = w.on_tty(&["token", "work"]);
    assert!(status.success(), "{screen}");
    assert!(
        screen.contains(
            "The saved Intellivoid access of account 'work' no longer works: keyhelm's access to \
             your Intellivoid account was revoked (code 29).\n"
        ),
        "{screen}"
    );
    let renewed = w.token();
    assert_ne!(renewed, token);
    assert!(w.fake.is_valid_token(&renewed));
    assert!(screen.contains(&format!("{renewed}\n")), "{screen}");
    assert_eq!(w.count(ROUTE_REQUEST_AUTHENTICATION), 2);
}

#[test]
fn expired_access_needs_a_new_login() {
    let w = World::short_lived_tokens();
    let token = logged_in(&w);
    // Unused for longer than its life.
    w.fake.clock().advance(Duration::from_secs(2));
    assert!(!w.fake.is_valid_token(&token));

    assert_eq!(
        w.token_failure(EXIT_PROVIDER),
        format!(
            "keyhelm: error: account 'work': the saved Intellivoid access token has expired \
             (code 27); a new login needs your approval in a browser\n{LOGIN_HINT}"
        )
    );

    let (status, screen) = w.login();
    assert!(status.success(), "{screen}");
    assert!(w.fake.is_valid_token(&w.token()));
}

#[test]
fn a_suspended_or_locked_account_is_reported_and_nothing_is_lost() {
    let w = World::short_lived_tokens();
    let token = logged_in(&w);

    w.fake
        .set_account_status(&w.alice, AccountStatus::Suspended);
    assert_eq!(
        w.token_failure(EXIT_PROVIDER),
        "keyhelm: error: account 'work': your Intellivoid account is suspended (code 28)\n\
         keyhelm: hint: log in at https://accounts.intellivoid.net to see why; keyhelm cannot use \
         a suspended account\n"
    );

    w.fake
        .set_account_status(&w.alice, AccountStatus::VerificationRequired);
    assert_eq!(
        w.token_failure(EXIT_PROVIDER),
        "keyhelm: error: account 'work': Intellivoid has locked your account for security \
         reasons (code 51)\n\
         keyhelm: hint: log in at https://accounts.intellivoid.net and do what it asks \
         (verification, password recovery), then run `keyhelm login work`\n"
    );

    // Once the account is active again, the saved access works without a new login.
    w.fake.set_account_status(&w.alice, AccountStatus::Active);
    assert_eq!(w.token(), token);
    assert_eq!(w.count(ROUTE_REQUEST_AUTHENTICATION), 1);
}

#[test]
fn a_grant_without_account_methods_is_renewed_by_its_expiry_alone() {
    // The fake's clock is ten seconds past the token's whole life behind the real one: the
    // tokens it issues are already expired by the local clock, yet valid at the fake.
    let now = keyhelm_testkit::clock::unix_seconds(std::time::SystemTime::now());
    let config = IntellivoidConfig::default();
    let behind = config.access_initial_ttl.as_secs() + 10;
    let w = World::with(config, FakeClock::frozen_at_unix(now - behind));
    let app = w
        .fake
        .add_application(IntellivoidApp::new("todo app").permissions(&[Permission::ReadTodo]));
    w.add_account_with(
        &app.application_id,
        &format!("secret_key={}\n", app.secret_key),
        &[],
    );
    w.auto_approve(1, &[Permission::ReadTodo]);
    let (status, screen) = w.login();
    assert!(status.success(), "{screen}");

    // Nothing can use the token (no accounts/* permission), so its expiry decides.
    let reads = w.count(ROUTE_GET_ACCESS_TOKEN);
    assert_eq!(
        w.token_failure(EXIT_PROVIDER),
        format!(
            "keyhelm: error: account 'work': the saved Intellivoid access token has expired; a \
             new login needs your approval in a browser\n{LOGIN_HINT}"
        )
    );
    assert_eq!(w.count(ROUTE_GET_ACCESS_TOKEN), reads + 1);
    assert_eq!(w.count(ROUTE_GET_USER), 0);
}

#[test]
fn logout_forgets_the_token_and_says_how_to_revoke_it() {
    let w = World::new();
    let token = logged_in(&w);
    let out = w.keyhelm(&["logout", "work"], b"");
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        text(&out.stdout),
        format!("Logged out of 'work'; the cached token is forgotten.\n{LOGOUT_MESSAGE}\n")
    );
    assert_eq!(
        LOGOUT_MESSAGE,
        "Intellivoid has no API to revoke an access token, so keyhelm only forgot it; to revoke \
         keyhelm's access, remove the application from your account at \
         https://accounts.intellivoid.net"
    );
    // Nothing to revoke at the service; the token still works there.
    assert!(w.fake.is_valid_token(&token));
    // The state is gone too: the next lookup is a first login.
    let polls = w.count(ROUTE_PROCESS_AUTHENTICATION);
    w.token_failure(EXIT_NEEDS_INTERACTION);
    assert_eq!(w.count(ROUTE_PROCESS_AUTHENTICATION), polls);
}

#[test]
fn logs_never_show_a_secret() {
    let mut w = World::short_lived_tokens();
    w.env.set_var("KEYHELM_LOG", "keyhelm=trace");
    w.add_account(&[]);
    w.auto_approve(2, &ALL);
    let (status, screen) = w.login();
    assert!(status.success(), "{screen}");
    assert!(
        screen.contains("intellivoid: process_authentication answered HTTP 400, COA error 41: AWAITING AUTHENTICATION"),
        "the plugin's log lines are there:\n{screen}"
    );
    // A renewal by use, and a refusal, with logs.
    let renewal = w.keyhelm(&["token", "work"], b"");
    assert!(renewal.status.success(), "{}", describe(&renewal));
    let token = text(&renewal.stdout).trim_end().to_owned();
    assert!(w.fake.revoke(&token));
    let refused = w.keyhelm(&["token", "work"], b"");
    assert!(!refused.status.success());

    let request = w.fake.last_request_token().unwrap();
    let logs = [screen.clone(), text(&renewal.stderr), text(&refused.stderr)].join("\n");
    assert!(logs.contains("intellivoid: get_user succeeded"), "{logs}");
    // The renewal and the refusal each say what became of the saved access.
    let said = |stderr: &[u8], level: &str, line: &str| {
        let wanted =
            format!("{level} keyhelm::plugin: {line} plugin=\"intellivoid\" account=\"work\"\n");
        assert!(
            text(stderr).contains(&wanted),
            "{wanted}not in:\n{}",
            text(stderr)
        );
    };
    said(
        &renewal.stderr,
        "DEBUG",
        "intellivoid: the saved access still works",
    );
    said(
        &refused.stderr,
        " INFO",
        "intellivoid: the saved access is gone: keyhelm's access to your Intellivoid account \
         was revoked (code 29) (run `keyhelm login work` in a terminal and approve the request \
         in the browser)",
    );
    let installed = w.plugin_path("intellivoid");
    assert!(
        logs.contains(&format!("path={}", installed.display())),
        "keyhelm loaded the installed copy:\n{logs}"
    );
    assert!(
        !logs.contains(&w.app.secret_key),
        "the secret key leaked:\n{logs}"
    );
    assert!(!logs.contains(&token), "the access token leaked:\n{logs}");
    assert_eq!(
        screen.matches(&request).count(),
        1,
        "the request token appears only in the URL shown to the user:\n{screen}"
    );
}
