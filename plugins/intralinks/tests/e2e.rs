//! End to end: the real `keyhelm` binary loads the real `libkeyhelm_intralinks.so` through
//! its loader and talks to testkit's Intralinks fake (providers.md §1.8) over loopback HTTP.
//! Every case of the fake spec's "Error cases worth testing" is here, plus caching,
//! renewal, logout and an authenticated `git clone` with keyhelm as the only helper.

mod support;

use std::sync::Arc;
use std::time::Duration;

use keyhelm_testkit::clock::FakeClock;
use keyhelm_testkit::git_http::{Auth, GitAuthPolicy, GitHttpServer};
use keyhelm_testkit::intralinks::{
    FakeIntralinks, IntralinksApp, IntralinksConfig, ROUTE_REVOKE, ROUTE_TOKEN,
};
use keyhelm_testkit::server::AuthScheme;
use support::*;

/// The stderr of a failed `keyhelm token work`, after checking its exit code and that
/// nothing was printed on stdout, nothing was cached and no secret leaked.
fn token_error(sandbox: &Sandbox, exit: i32) -> String {
    let out = sandbox.keyhelm(&["token", "work"], "");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(exit), "{stderr}");
    assert_eq!(text(&out.stdout), "");
    assert_no_secrets(&stderr, &[]);
    assert!(sandbox.show("work").contains("token     no token yet\n"));
    stderr
}

#[test]
fn login_returns_a_bearer_token_for_the_email_and_caches_it() {
    let fake = fake();
    let sandbox = Sandbox::new();
    let out = sandbox.add_account("work", &fake.base_url(), &[], &default_secrets());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "Added account 'work' (Intralinks at {0}).\nIt answers for: {0}\n\
             Check it with `keyhelm login work`.\n",
            fake.base_url()
        )
    );

    let token = sandbox.token("work");
    assert!(fake.is_valid_token(&token));
    for _ in 0..3 {
        assert_eq!(sandbox.token("work"), token);
    }
    assert_eq!(fake.token_requests(), 1, "the cached token is reused");

    // The one login: every parameter in the form body, none in the URL.
    let login = &fake.requests_to(ROUTE_TOKEN)[0];
    assert_eq!(login.method, "POST");
    assert_eq!(
        login.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    for (name, value) in [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("email", EMAIL),
        ("password", PASSWORD),
        ("endOtherSessions", "false"),
    ] {
        assert!(login.in_form(name) && !login.in_query(name), "{name}");
        assert_eq!(login.param(name).unwrap().value(), value, "{name}");
    }

    let show = sandbox.show("work");
    assert!(show.contains(&format!("user      {EMAIL}\n")), "{show}");
    assert!(
        show.contains(&format!("info      email: {EMAIL}\n")),
        "{show}"
    );
    assert!(show.contains("token     token valid until "), "{show}");
    assert!(
        show.contains("setting   end_other_sessions = false\n"),
        "{show}"
    );
    assert!(show.contains("secret    client_secret (set)\nsecret    password (set)\n"));
    assert_no_secrets(&show, &[&token]);

    // `keyhelm login` logs in afresh even though the token is valid.
    let out = sandbox.keyhelm_ok(&["login", "work"], "");
    assert!(
        out.starts_with(&format!(
            "Logged in to 'work' as {EMAIL}; the token is valid until "
        )),
        "{out}"
    );
    assert_eq!(fake.token_requests(), 2);
    let second = sandbox.token("work");
    assert_ne!(second, token);
    assert!(fake.is_valid_token(&second));
}

/// The standard fake on the wall clock, with tokens that live 2 s.
fn short_lived_fake() -> FakeIntralinks {
    fake_with(
        FakeIntralinks::try_start(
            IntralinksConfig {
                access_ttl: Duration::from_secs(2),
                ..IntralinksConfig::default()
            },
            FakeClock::following_wall_clock(),
        )
        .unwrap(),
    )
}

#[test]
fn an_expired_token_is_renewed_by_logging_in_again() {
    let fake = short_lived_fake();
    let sandbox = Sandbox::with_work(&fake.base_url(), &[]);
    let first = sandbox.token("work");
    wait_until("the first token to expire", || !fake.is_valid_token(&first));

    let second = sandbox.token("work");
    assert_ne!(second, first);
    assert!(fake.is_valid_token(&second));
    assert_eq!(fake.token_requests(), 2);
    // No refresh token exists for this grant: the renewal is a new client_credentials login.
    let renewal = &fake.requests_to(ROUTE_TOKEN)[1];
    assert_eq!(
        renewal.param("grant_type").unwrap().value(),
        "client_credentials"
    );
    assert!(fake.requests_to(ROUTE_REVOKE).is_empty());
}

/// A user who may not have two sessions: keyhelm's own earlier session still counts for 60
/// minutes after its last use, so the renewal ends it (revoking the token it obtained then)
/// instead of failing with 018.
#[test]
fn renewal_ends_keyhelms_own_previous_session_when_concurrency_is_disallowed() {
    let fake = short_lived_fake();
    fake.set_disallow_concurrent(EMAIL, true);
    let sandbox = Sandbox::with_work(&fake.base_url(), &[]);
    let first = sandbox.token("work");
    wait_until("the first token to expire", || !fake.is_valid_token(&first));
    assert_eq!(
        fake.live_sessions(EMAIL),
        1,
        "the expired token's session lives on"
    );

    let mut cmd = sandbox.keyhelm_command(&["token", "work"]);
    cmd.env("KEYHELM_LOG", "keyhelm::plugin=debug");
    let out = run_with_stdin(&mut cmd, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let second = text(&out.stdout).trim_end().to_owned();
    assert!(fake.is_valid_token(&second));
    assert_eq!(fake.live_sessions(EMAIL), 1);
    // The plugin's own log lines (KEYHELM_LOG=debug) tell the story.
    let log = text(&out.stderr);
    let said: Vec<&str> = log
        .lines()
        .filter_map(|l| l.strip_prefix("DEBUG keyhelm::plugin: "))
        .map(|l| l.trim_end_matches(r#" plugin="intralinks" account="work""#))
        .collect();
    let login = format!(
        "logging in to Intralinks at {} as {EMAIL} (endOtherSessions=false)",
        fake.base_url()
    );
    assert_eq!(
        said,
        [
            login.as_str(),
            "Intralinks refused a second session; revoking keyhelm's previous token and trying again",
            "Intralinks revoked the token",
            login.as_str(),
            "logged in to Intralinks; the token lives 2 s",
        ],
        "{log}"
    );
    let logins: Vec<u16> = fake
        .requests_to(ROUTE_TOKEN)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(logins, [200, 403, 200]);
    let revokes = fake.requests_to(ROUTE_REVOKE);
    assert_eq!(revokes.len(), 1);
    assert_eq!(revokes[0].param("token").unwrap().value(), first);
    // It never ended anybody else's session to get there.
    for r in fake.requests_to(ROUTE_TOKEN) {
        assert_eq!(r.param("endOtherSessions").unwrap().value(), "false");
    }
}

#[test]
fn a_token_revoked_at_the_service_is_replaced_by_keyhelm_login() {
    let fake = fake();
    let sandbox = Sandbox::with_work(&fake.base_url(), &[]);
    let first = sandbox.token("work");
    assert!(fake.revoke_token(&first));
    sandbox.keyhelm_ok(&["login", "work"], "");
    let second = sandbox.token("work");
    assert_ne!(second, first);
    assert!(fake.is_valid_token(&second));
}

#[test]
fn logout_revokes_the_token_at_intralinks() {
    let fake = fake();
    let sandbox = Sandbox::with_work(&fake.base_url(), &[]);
    let token = sandbox.token("work");

    let out = sandbox.keyhelm_ok(&["logout", "work"], "");
    assert_eq!(
        out,
        "Logged out of 'work'; the cached token is forgotten.\n"
    );
    assert!(!fake.is_valid_token(&token));
    let revokes = fake.requests_to(ROUTE_REVOKE);
    assert_eq!(revokes.len(), 1);
    let r = &revokes[0];
    assert_eq!((r.method.as_str(), r.status), ("PUT", 200));
    assert_eq!(r.authorization, Some(AuthScheme::Bearer));
    for (name, value) in [
        ("token", token.as_str()),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ] {
        assert!(r.in_form(name) && !r.in_query(name), "{name}");
        assert_eq!(r.param(name).unwrap().value(), value, "{name}");
    }
    assert_eq!(fake.live_sessions(EMAIL), 0);
    assert!(sandbox.show("work").contains("token     no token yet\n"));

    // Nothing left to revoke.
    let out = sandbox.keyhelm_ok(&["logout", "work"], "");
    assert_eq!(
        out,
        "Logged out of 'work'; the cached token is forgotten.\n\
         keyhelm held no Intralinks token to revoke\n"
    );
    assert_eq!(fake.requests_to(ROUTE_REVOKE).len(), 1);

    // And the next lookup logs in again.
    let again = sandbox.token("work");
    assert!(fake.is_valid_token(&again));
}

fn token_then_revoke(revoke: Reply) -> Canned {
    Canned::routes(vec![
        (
            "/v2/oauth/token".to_owned(),
            reply(
                "200 OK",
                &[("Content-Type", "application/json")],
                r#"{"access_token":"canned-t0ken","token_type":"BearerToken","expires_in":3599,"email":"joe@example.com"}"#,
            ),
        ),
        ("/v2/oauth/revoke".to_owned(), revoke),
    ])
}

/// A login answer without `expires_in` and with an unknown `token_type`: the token is used
/// anyway, for the documented 60 minutes, and the debug log says both.
#[test]
fn an_answer_without_expiry_or_known_token_type_is_used_for_60_minutes() {
    let server = Canned::start(
        "200 OK",
        &[("Content-Type", "application/json")],
        r#"{"access_token":"canned-t0ken","token_type":"mac"}"#,
    );
    let sandbox = Sandbox::with_work(&server.url, &[]);
    let mut cmd = sandbox.keyhelm_command(&["token", "work"]);
    cmd.env("KEYHELM_LOG", "keyhelm::plugin=debug");
    let out = run_with_stdin(&mut cmd, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "canned-t0ken\n");
    let log = text(&out.stderr);
    for line in [
        "the login answer has no usable expires_in; assuming the documented 60 minutes",
        "unexpected token_type `mac`; using the token as a Bearer token",
        "logged in to Intralinks; the token lives 3600 s",
    ] {
        assert!(
            log.contains(&format!(
                "DEBUG keyhelm::plugin: {line} plugin=\"intralinks\" account=\"work\"\n"
            )),
            "{log}"
        );
    }
}

#[test]
fn logout_of_a_token_intralinks_no_longer_knows_says_so() {
    let server = token_then_revoke(reply(
        "401 Unauthorized",
        &[("Content-Type", "application/json")],
        r#"{"status":"Unauthorized","error":{"code":401,"description":"invalid access token: Bearer canned-t0ken","subcode":"the passed access token is either not valid or is formatted incorrectly in the request"}}"#,
    ));
    let sandbox = Sandbox::with_work(&server.url, &[]);
    assert_eq!(sandbox.token("work"), "canned-t0ken");
    let out = sandbox.keyhelm_ok(&["logout", "work"], "");
    assert_eq!(
        out,
        "Logged out of 'work'; the cached token is forgotten.\n\
         Intralinks no longer accepted the token (it had expired or was revoked already)\n"
    );
    assert_eq!(server.paths(), ["/v2/oauth/token", "/v2/oauth/revoke"]);
    assert!(sandbox.show("work").contains("token     no token yet\n"));
}

const BAD_CLIENT_SECRET: &str = "keyhelm: error: account 'work': Intralinks refused the \
    client_secret of account `work` (HTTP 401, invalid_client)\n\
    keyhelm: hint: client_secret is the consumer secret of the app whose consumer key is \
    client_id (My Apps at developers.intralinks.com); to change it, remove the account \
    (`keyhelm account remove work`) and add it again\n";

#[test]
fn a_failed_revocation_is_reported_and_the_token_kept() {
    let server = token_then_revoke(reply(
        "401 Unauthorized",
        &[("Content-Type", "application/json")],
        r#"{"ErrorCode":"invalid_client","Error":"ClientId is Invalid"}"#,
    ));
    let sandbox = Sandbox::with_work(&server.url, &[]);
    let token = sandbox.token("work");
    let out = sandbox.keyhelm(&["logout", "work"], "");
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(text(&out.stderr), BAD_CLIENT_SECRET);
    assert_no_secrets(&text(&out.stderr), &[&token]);
    assert!(
        sandbox
            .show("work")
            .contains("token     token valid until ")
    );
}

#[test]
fn an_unknown_client_id_is_a_settings_error() {
    let fake = fake();
    let sandbox = Sandbox::with_work(&fake.base_url(), &["client_id=nope"]);
    let stderr = token_error(&sandbox, 2);
    assert_eq!(
        stderr,
        format!(
            "keyhelm: error: account 'work': Intralinks does not know the client_id `nope` of \
             account `work` (HTTP 400)\n\
             keyhelm: hint: client_id is your app's consumer key (My Apps at \
             developers.intralinks.com); check it, and that the app belongs to the environment \
             at {}\n",
            fake.base_url()
        )
    );
}

/// The stderr of [`token_error`] (exit 7) for the account `work` added with `secrets`.
fn token_error_with_secrets(secrets: &str) -> String {
    let fake = fake();
    let sandbox = Sandbox::new();
    let out = sandbox.add_account("work", &fake.base_url(), &[], secrets);
    assert!(out.status.success());
    token_error(&sandbox, 7)
}

#[test]
fn a_wrong_client_secret_is_refused() {
    let stderr =
        token_error_with_secrets(&format!("client_secret=wrong-one\npassword={PASSWORD}\n"));
    assert_eq!(stderr, BAD_CLIENT_SECRET);
}

#[test]
fn an_app_without_the_client_credentials_grant_is_told_whom_to_ask() {
    let fake = fake();
    // Intralinks enables only authorization_code for new apps.
    fake.add_app(IntralinksApp::new(CLIENT_ID, CLIENT_SECRET));
    let sandbox = Sandbox::with_work(&fake.base_url(), &[]);
    let stderr = token_error(&sandbox, 7);
    assert_eq!(
        stderr,
        "keyhelm: error: account 'work': the Intralinks app of account `work` may not log in \
         with an email and password: the client_credentials grant is not enabled for it (HTTP 400)\n\
         keyhelm: hint: ask Intralinks' API team to enable client_credentials for your app \
         (new apps only get authorization_code)\n"
    );
}

const BAD_LOGIN: &str = "keyhelm: error: account 'work': Intralinks refused the email and \
    password of account `work` (HTTP 403, subcode 017): they are wrong, or the Intralinks \
    account is locked or has a problem\n\
    keyhelm: hint: check email (joe@example.com) and password: they are your Intralinks login, \
    not the developer-portal one; if they are right, sign in to Intralinks in a web browser to \
    see what is wrong (a locked account, an expired password)\n";

#[test]
fn a_wrong_password_is_017() {
    let stderr =
        token_error_with_secrets(&format!("client_secret={CLIENT_SECRET}\npassword=not-it\n"));
    assert_eq!(stderr, BAD_LOGIN);
}

#[test]
fn a_locked_account_is_017_too() {
    let fake = fake();
    fake.set_locked(EMAIL, true);
    let sandbox = Sandbox::with_work(&fake.base_url(), &[]);
    assert_eq!(token_error(&sandbox, 7), BAD_LOGIN);
    fake.set_locked(EMAIL, false);
    assert!(fake.is_valid_token(&sandbox.token("work")));
}

const LOGGED_IN_ELSEWHERE: &str = "keyhelm: error: account 'work': Intralinks refused a new \
    session for joe@example.com (HTTP 403, subcode 018): the user is logged in elsewhere, and \
    the user or one of their workspaces does not allow concurrent logins\n\
    keyhelm: hint: log out of Intralinks elsewhere (an idle session ends 60 minutes after its \
    last use) and try again, or add account `work` again with --set end_other_sessions=true: \
    keyhelm then ends your other sessions whenever it logs in, which also logs you out of \
    Intralinks in your web browser\n";

/// A user who may not log in twice, logged in "elsewhere" (another account with the same
/// login: it could be a browser), and the account `work`: the fake, the sandbox and the
/// token elsewhere.
fn logged_in_elsewhere() -> (FakeIntralinks, Sandbox, String) {
    let fake = fake();
    fake.set_disallow_concurrent(EMAIL, true);
    let sandbox = Sandbox::new();
    sandbox.add("elsewhere", &fake.base_url(), &[]);
    let theirs = sandbox.token("elsewhere");
    sandbox.add("work", &fake.base_url(), &[]);
    (fake, sandbox, theirs)
}

/// Logged in elsewhere: 018 without `end_other_sessions`, then success with it, and the
/// session elsewhere is over.
#[test]
fn logged_in_elsewhere_is_018_until_end_other_sessions_is_set() {
    let (fake, sandbox, theirs) = logged_in_elsewhere();

    assert_eq!(token_error(&sandbox, 7), LOGGED_IN_ELSEWHERE);
    assert!(fake.is_valid_token(&theirs), "nobody else's session ended");

    sandbox.keyhelm_ok(&["account", "remove", "work"], "");
    sandbox.add("work", &fake.base_url(), &["end_other_sessions=true"]);
    let mine = sandbox.token("work");
    assert!(fake.is_valid_token(&mine));
    assert!(!fake.is_valid_token(&theirs), "the other session was ended");
    let last = fake.requests_to(ROUTE_TOKEN).pop().unwrap();
    assert_eq!(last.param("endOtherSessions").unwrap().value(), "true");
    assert!(
        sandbox
            .show("work")
            .contains("info      other_sessions: ended\n")
    );
}

/// On a terminal, keyhelm asks once whether to end the other sessions.
#[test]
fn on_a_terminal_018_asks_whether_to_end_the_other_sessions() {
    let (fake, mut sandbox, theirs) = logged_in_elsewhere();
    let question = "End your other Intralinks sessions now? This also logs you out of \
                    Intralinks in your web browser. [y/N]";

    // "no": the 018 error, and the other session lives on.
    let done = sandbox.on_terminal(&["login", "work"], &[(question, "n")]);
    let (screen, ok) = (done.output, done.status.success());
    assert!(!ok, "{screen}");
    assert!(
        screen.contains("Intralinks says you are logged in elsewhere, and concurrent logins are not allowed for you."),
        "{screen}"
    );
    assert!(screen.contains("subcode 018"), "{screen}");
    assert!(fake.is_valid_token(&theirs));

    // "yes": logged in, and the other session is over; the debug log says it was asked.
    sandbox.env.set_var("KEYHELM_LOG", "keyhelm::plugin=debug");
    let done = sandbox.on_terminal(&["login", "work"], &[(question, "y")]);
    let (screen, ok) = (done.output, done.status.success());
    assert!(ok, "{screen}");
    assert!(
        screen.contains(
            "DEBUG keyhelm::plugin: the user chose to end the other Intralinks sessions \
             plugin=\"intralinks\" account=\"work\""
        ),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("Logged in to 'work' as {EMAIL}")),
        "{screen}"
    );
    assert_no_secrets(&screen, &[]);
    assert!(!fake.is_valid_token(&theirs));
    let mine = sandbox.token("work");
    assert!(fake.is_valid_token(&mine));
}

#[test]
fn flags_are_optional_and_unknown_ones_are_ignored() {
    let fake = fake();
    fake.set_flags(EMAIL, &["NEW", "SOMETHING_NEWER"]);
    let sandbox = Sandbox::with_work(&fake.base_url(), &[]);
    let mut env_log = sandbox.keyhelm_command(&["token", "work"]);
    env_log.env("KEYHELM_LOG", "debug");
    let out = run_with_stdin(&mut env_log, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim_end().to_owned();
    assert!(fake.is_valid_token(&token));
    let log = text(&out.stderr);
    assert!(log.contains("Intralinks login flag `NEW`"), "{log}");
    assert!(
        log.contains("ignoring an unknown Intralinks login flag `SOMETHING_NEWER`"),
        "{log}"
    );
    // Even the debug log carries no secret.
    assert_no_secrets(&log, &[&token]);
    let show = sandbox.show("work");
    assert!(show.contains("info      flags: NEW\n"), "{show}");
    assert!(!show.contains("SOMETHING_NEWER"), "{show}");
}

#[test]
fn an_html_404_is_reported_as_not_json() {
    let fake = fake();
    let url = format!("{}/not-the-api", fake.base_url());
    let sandbox = Sandbox::with_work(&url, &[]);
    let stderr = token_error(&sandbox, 2);
    assert_eq!(
        stderr,
        format!(
            "keyhelm: error: account 'work': Intralinks answered the login with something that \
             is not JSON (HTTP 404, text/html)\n\
             keyhelm: hint: check the URL of account `work` ({url}): it must be the Intralinks \
             API, such as https://api.intralinks.com or https://test-api.intralinks.com\n"
        )
    );
}

#[test]
fn rate_limits_outages_and_garbage_get_their_own_messages() {
    let cases = [
        (
            Canned::start("429 Too Many Requests", &[("Retry-After", "30")], ""),
            "keyhelm: error: account 'work': Intralinks asked keyhelm to slow down (HTTP 429)\n\
             keyhelm: hint: try again in 30 seconds\n",
        ),
        (
            Canned::start(
                "503 Service Unavailable",
                &[("Content-Type", "text/html")],
                "<html>maintenance</html>",
            ),
            "keyhelm: error: account 'work': Intralinks is unavailable at the moment (HTTP 503)\n\
             keyhelm: hint: try again in a minute\n",
        ),
        (
            Canned::start(
                "200 OK",
                &[("Content-Type", "text/plain")],
                "access_token=abc&expires_in=3600",
            ),
            "keyhelm: error: account 'work': Intralinks answered the login with something that \
             is not JSON (HTTP 200, text/plain)\n\
             keyhelm: hint: the URL of account `work` (@URL@) may lead to a web page or a proxy \
             rather than the Intralinks API; check it, or try again later\n",
        ),
    ];
    for (server, want) in cases {
        let sandbox = Sandbox::with_work(&server.url, &[]);
        let out = sandbox.keyhelm(&["token", "work"], "");
        assert_eq!(out.status.code(), Some(7));
        assert_eq!(text(&out.stderr), want.replace("@URL@", &server.url));
        assert_eq!(
            server.hits(),
            1,
            "no retry loop against a struggling service"
        );
    }
}

#[test]
fn bad_settings_are_refused_before_any_request() {
    let fake = fake();
    let sandbox = Sandbox::with_work(&fake.base_url(), &["end_other_sessions=sometimes"]);
    let stderr = token_error(&sandbox, 2);
    assert_eq!(
        stderr,
        "keyhelm: error: account 'work': the end_other_sessions of account `work` must be true \
         or false, not `sometimes`\n\
         keyhelm: hint: set end_other_sessions=true or end_other_sessions=false\n"
    );
    assert_eq!(fake.token_requests(), 0);
}

/// The real git clones from a server that accepts only a Bearer token that is valid at the
/// fake right now, with keyhelm as its only credential helper.
#[test]
fn git_clones_with_a_bearer_token_from_keyhelm() {
    let fake = Arc::new(fake());
    let check = Arc::clone(&fake);
    let git = GitHttpServer::builder(GitAuthPolicy::validator(move |auth| match auth {
        Auth::Bearer { token } => check.is_valid_token(token),
        _ => false,
    }))
    .repo("repo.git")
    .start()
    .unwrap();
    let sandbox = Sandbox::new();
    sandbox
        .env
        .git_config(
            "credential.helper",
            &keyhelm_testkit::bins::keyhelm_bin().display().to_string(),
        )
        .unwrap();
    let added = sandbox.keyhelm_ok(
        &[
            "account",
            "add",
            "work",
            "--provider",
            "intralinks",
            "--url",
            &fake.base_url(),
            "--match",
            &git.url(),
            "--set",
            &format!("client_id={CLIENT_ID}"),
            "--set",
            &format!("email={EMAIL}"),
            "--secrets-from-stdin",
        ],
        default_secrets(),
    );
    assert!(
        added.contains(&format!(
            "It answers for: {}\n",
            git.url().trim_end_matches('/')
        )),
        "{added}"
    );

    let git_cmd = |args: &[&str]| {
        let mut cmd = sandbox.env.command("setsid");
        cmd.arg("--wait").arg("git").args(args);
        run_with_stdin(&mut cmd, "")
    };
    let out = git_cmd(&["clone", &git.repo_url("repo.git"), "clone"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(sandbox.env.work_dir().join("clone/README").exists());
    let counts = git.auth_counts();
    assert!(counts.bearer >= 1 && counts.accepted >= 1, "{counts:?}");
    assert_eq!(counts.basic, 0, "{counts:?}");
    assert_eq!(fake.token_requests(), 1);

    // A second operation reuses the cached token.
    let out = git_cmd(&["-C", "clone", "fetch"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(fake.token_requests(), 1);

    // Revoked at Intralinks: git is refused once (and erases the token), then keyhelm logs
    // in again.
    let token = sandbox.token("work");
    assert!(fake.revoke_token(&token));
    let out = git_cmd(&["-C", "clone", "fetch"]);
    assert!(!out.status.success());
    assert_no_secrets(&text(&out.stderr), &[&token]);
    let out = git_cmd(&["-C", "clone", "fetch"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(fake.token_requests(), 2);
    assert!(fake.is_valid_token(&sandbox.token("work")));
}

/// Runs `keyhelm token work` in `n` processes at once and returns their tokens.
fn tokens_at_once(sandbox: &Sandbox, n: usize) -> Vec<String> {
    let children: Vec<_> = (0..n)
        .map(|_| {
            // In a new session without a terminal, like the other tests here.
            sandbox
                .keyhelm_command(&["token", "work"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", text(&out.stderr));
            text(&out.stdout).trim_end().to_owned()
        })
        .collect()
}

#[test]
fn concurrent_lookups_cause_one_login_not_several() {
    let fake = fake_with(FakeIntralinks::start_with(IntralinksConfig {
        access_ttl: Duration::from_secs(8),
        ..IntralinksConfig::default()
    }));
    let sandbox = Sandbox::with_work(&fake.base_url(), &[]);

    // No token yet: eight tools ask at once, one logs in, the others wait and reuse it.
    let tokens = tokens_at_once(&sandbox, 8);
    assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
    assert_eq!(fake.token_requests(), 1);

    // Once the token is within its safety margin (2 s of 8), the next burst renews it once.
    std::thread::sleep(Duration::from_millis(6_500));
    let renewed = tokens_at_once(&sandbox, 8);
    assert!(renewed.iter().all(|t| *t == renewed[0]), "{renewed:?}");
    assert_ne!(renewed[0], tokens[0]);
    assert_eq!(fake.token_requests(), 2);
}

/// What `keyhelm plugin verify` says about the plugin: its settings and their help, which
/// `keyhelm account add` also shows when it asks for them.
#[test]
fn plugin_verify_describes_the_settings() {
    let sandbox = Sandbox::new();
    let path = sandbox.plugin_path("intralinks");
    let out = sandbox.keyhelm_ok(&["plugin", "verify", &path.display().to_string()], "");
    let (_, described) = out.split_once("provider  ").expect("a provider line");
    assert_eq!(
        described,
        "Intralinks\n\
         url       https://api.intralinks.com (default)\n\
         serves    https://api.intralinks.com/*\n\
         setting   client_id (required): your app's consumer key (My Apps at \
         developers.intralinks.com)\n\
         setting   email (required): your Intralinks login email (not the developer-portal \
         login)\n\
         setting   end_other_sessions (optional, default false): true: end your other \
         Intralinks sessions when keyhelm logs in (this logs you out in your web browser \
         too)\n\
         setting   client_secret (secret, required): your app's consumer secret\n\
         setting   password (secret, required): your Intralinks password\n"
    );
}
