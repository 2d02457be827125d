//! The Clinked plugin end to end: the real cdylib in `$KEYHELM_HOME/plugins`, loaded by the
//! real `keyhelm` binary, against testkit's `FakeClinked` on 127.0.0.1. Prompts are answered
//! through a real pseudo-terminal (testkit's `Pty`); every other keyhelm runs under
//! `setsid`, without a controlling terminal, as git or a script in the background would.
//! The cases are those of research/providers.md §2.5 "Error cases worth testing".

use std::ops::Deref;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use keyhelm_core::secrecy::{ExposeSecret, SecretString};
use keyhelm_testkit::clinked::{
    ClinkedConfig, ClinkedUser, FakeClinked, ROUTE_APPLICATIONS, ROUTE_TOKEN, RateLimit,
};
use keyhelm_testkit::git_http::{Auth, GitAuthPolicy, GitHttpServer};
use keyhelm_testkit::keyhelm::{self, run_with_stdin as run, text, token_line};
use keyhelm_testkit::pty::{Pty, PtyOutput};
use keyhelm_testkit::server::{AuthScheme, LoggedRequest};

const ACCOUNT: &str = "work";
const USER: &str = "jack@example.com";
/// Characters that need encoding in a query string.
const PASSWORD: &str = "correct horse&battery=staple/é";

const AUTHENTICATOR_PROMPT: &str =
    "Two-factor code for jack@example.com on Clinked (from your authenticator app): ";
const SMS_PROMPT: &str = "Two-factor code for jack@example.com on Clinked (sent by SMS): ";
const PASSWORD_PROMPT: &str = "Clinked password for jack@example.com: ";

/// keyhelm keeps a safety margin of at least one second before a token's expiry, so with
/// this lifetime it never answers from its cache and asks the plugin on every lookup: the
/// way to test renewals without waiting for real time to pass.
const ONE_SECOND: Duration = Duration::from_secs(1);

fn grant(r: &LoggedRequest) -> &str {
    r.param("grant_type").map_or("", |p| p.value())
}

/// testkit's keyhelm sandbox with the Clinked plugin installed, and the fake it talks to.
/// keyhelm runs in a new session without a controlling terminal (as git or cron runs it),
/// so it may not prompt even when the test itself runs in a terminal; `s.pty(..)` gives it
/// one.
struct Setup {
    sandbox: keyhelm::Sandbox,
    fake: Arc<FakeClinked>,
}

impl Deref for Setup {
    type Target = keyhelm::Sandbox;

    fn deref(&self) -> &Self::Target {
        &self.sandbox
    }
}

impl Setup {
    fn new(config: ClinkedConfig, user: ClinkedUser) -> Setup {
        let fake = FakeClinked::start_with(config);
        fake.add_user(user);
        Setup {
            sandbox: keyhelm::Sandbox::with_plugin("clinked", "keyhelm-clinked").unwrap(),
            fake: Arc::new(fake),
        }
    }

    fn with_user(user: ClinkedUser) -> Setup {
        Setup::new(ClinkedConfig::default(), user)
    }

    /// Access tokens of one second: every lookup renews (see [`ONE_SECOND`]).
    fn short_lived(user: ClinkedUser) -> Setup {
        Setup::new(
            ClinkedConfig {
                access_ttl: ONE_SECOND,
                ..ClinkedConfig::default()
            },
            user,
        )
    }

    /// `keyhelm account add work --provider clinked --url <fake> --set username=jack...`,
    /// with the password on stdin (or none).
    fn add_account(&self, password: Option<&str>, extra: &[&str]) {
        self.add_account_at(&self.fake.base_url(), password, extra);
    }

    fn add_account_at(&self, url: &str, password: Option<&str>, extra: &[&str]) {
        let username = format!("username={USER}");
        let stdin = password.map_or(String::new(), |p| format!("password={p}\n"));
        let out = self.account_add(ACCOUNT, "clinked", url, &[&username], extra, &stdin);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).starts_with(&format!("Added account 'work' (Clinked at {url}).\n")),
            "{}",
            text(&out.stdout)
        );
    }

    /// `keyhelm login work` on a terminal, answering each `(prompt, answer)` in turn.
    fn login(&self, answers: &[(&str, &str)]) -> PtyOutput {
        self.on_terminal(&["login", ACCOUNT], answers)
    }

    /// `keyhelm token work`, which must fail with `code` and print `stderr` (see
    /// [`assert_fails`]).
    fn token_fails(&self, code: i32, stderr: &str) {
        assert_fails(&self.keyhelm(&["token", ACCOUNT], b""), code, stderr);
    }

    /// `keyhelm token work`, which must succeed quietly.
    fn token(&self) -> String {
        let out = self.keyhelm(&["token", ACCOUNT], b"");
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stderr), "");
        token_line(&out)
    }

    /// The token requests with this `grant_type`.
    fn grants(&self, grant_type: &str) -> Vec<LoggedRequest> {
        self.fake
            .requests_to(ROUTE_TOKEN)
            .into_iter()
            .filter(|r| grant(r) == grant_type)
            .collect()
    }

    fn password_grants(&self) -> Vec<LoggedRequest> {
        self.grants("password")
    }

    fn app_grants(&self) -> Vec<LoggedRequest> {
        self.grants("client_credentials")
    }

    fn vault(&self) -> keyhelm_vault::Vault {
        let home = self.keyhelm_home();
        let identity = keyhelm_vault::Identity::from_file(&home.join("identity.txt")).unwrap();
        let device = keyhelm_vault::DeviceId::load_or_create(&home.join("state")).unwrap();
        let location = keyhelm_vault::Location {
            file: self.vault_file(),
            state_dir: home.join("state"),
        };
        keyhelm_vault::Vault::new(location, identity, device)
    }

    /// The plugin state keyhelm keeps for the account.
    fn state(&self) -> Option<serde_json::Value> {
        let snapshot = self.vault().read().unwrap();
        snapshot
            .plugin_state(ACCOUNT)
            .map(|s| serde_json::from_str(s.expose_secret()).unwrap())
    }

    /// Rewrites the account's plugin state.
    fn edit_state(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let mut state = self.state().expect("a saved state");
        edit(&mut state);
        self.vault()
            .update(|s| {
                s.put_plugin_state(ACCOUNT, SecretString::from(state.to_string()));
                Ok::<_, keyhelm_vault::Error>(())
            })
            .unwrap();
    }

    /// `keyhelm account show work --json`.
    fn show(&self) -> serde_json::Value {
        self.show_json(ACCOUNT)
    }
}

/// Asserts a failed command's exit code and exact stderr, and that no secret leaked.
#[track_caller]
fn assert_fails(out: &Output, code: i32, stderr: &str) {
    assert_eq!(text(&out.stdout), "", "nothing on stdout");
    assert_eq!(text(&out.stderr), stderr);
    assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("horse"), "the password leaked");
}

// ---------------------------------------------------------------------------------------
// the happy path and caching

#[test]
fn the_first_token_logs_in_and_registers_once_then_comes_from_the_cache() {
    let s = Setup::with_user(ClinkedUser::new(USER, PASSWORD));
    s.add_account(Some(PASSWORD), &[]);

    let first = s.token();
    assert!(s.fake.is_valid_token(&first));
    for _ in 0..3 {
        assert_eq!(s.token(), first, "answered from keyhelm's cache");
    }

    // One password grant, one registration, one client-credentials grant in all.
    let requests = s.fake.requests_to(ROUTE_TOKEN);
    assert_eq!(requests.len(), 2);
    let (password, app) = (&requests[0], &requests[1]);
    // The password grant as documented: GET, everything in the query, the mobile client.
    assert_eq!(
        (password.method.as_str(), grant(password)),
        ("GET", "password")
    );
    for name in ["grant_type", "client_id", "username", "password"] {
        assert!(password.in_query(name), "{name}");
    }
    assert_eq!(
        password.param("client_id").unwrap().value(),
        "clinked-mobile"
    );
    assert_eq!(password.param("username").unwrap().value(), USER);
    assert_eq!(password.param("password").unwrap().value(), PASSWORD);
    assert!(password.param("code").is_none());
    // The application's grant keeps its secret out of the URL.
    assert_eq!(
        (app.method.as_str(), grant(app)),
        ("POST", "client_credentials")
    );
    assert!(app.in_form("client_secret") && !app.in_query("client_secret"));
    assert_eq!(app.param("scope").unwrap().value(), "read write");

    let registrations = s.fake.requests_to(ROUTE_APPLICATIONS);
    assert_eq!(registrations.len(), 1);
    assert_eq!(registrations[0].authorization, Some(AuthScheme::Bearer));
    for field in [
        "name",
        "platform",
        "deviceType",
        "appVersion",
        "deviceOs",
        "bundleId",
    ] {
        assert!(registrations[0].in_json(field), "{field}");
    }
    let apps = s.fake.apps();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].owner, USER);
    assert_eq!(apps[0].name.as_deref(), Some("keyhelm (work)"));
    assert_eq!(app.param("client_id").unwrap().value(), apps[0].client_id);

    // Every request says who it is.
    assert_eq!(s.fake.requests_without_user_agent(), 0);
    for r in s.fake.requests() {
        let ua = r.user_agent.as_deref().unwrap_or_default();
        assert_eq!(ua, concat!("keyhelm-clinked/", env!("CARGO_PKG_VERSION")));
    }

    // The state keyhelm keeps: the application, never the password.
    let state = s.state().expect("state saved");
    assert_eq!(state["client_id"], apps[0].client_id.as_str());
    assert_eq!(state["username"], USER);
    assert!(!state.to_string().contains("horse"));

    let show = s.show();
    let token = &show["token"];
    assert_eq!(token["username"], USER);
    assert_eq!(token["valid"], true);
    assert_eq!(token["info"]["user"], USER);
    assert_eq!(token["info"]["api"], s.fake.base_url().as_str());
    assert_eq!(
        token["info"]["scopes"],
        serde_json::json!(["read", "write"])
    );
    let lifetime = token["expires_at"].as_i64().unwrap() - token["obtained_at"].as_i64().unwrap();
    assert!(
        (1790..=1800).contains(&lifetime),
        "expires_in 1800: {lifetime}"
    );
    assert!(token["info"].get("expiry").is_none());
    assert!(!show.to_string().contains("horse") && !show.to_string().contains(&first));
}

#[test]
fn trace_logs_show_no_secret() {
    let s = Setup::with_user(ClinkedUser::new(USER, PASSWORD).authenticator("123456"));
    s.add_account(Some(PASSWORD), &[]);
    let mut cmd = s.command(s.bin());
    cmd.args(["login", ACCOUNT]).env("KEYHELM_LOG", "trace");
    let mut pty = Pty::spawn(&cmd).unwrap();
    pty.answer(AUTHENTICATOR_PROMPT, "123456").unwrap();
    let done = pty.finish().unwrap();
    assert!(done.status.success(), "{}", done.output);
    // The plugin's own lines are there...
    assert!(
        done.output.contains("registered a new Clinked application"),
        "{}",
        done.output
    );
    // ...and no secret: the password, the code (after its echo), the tokens, the client secret.
    let logs = done
        .output
        .split_once("123456\n")
        .expect("the echoed code")
        .1;
    let state = s.state().unwrap();
    let token = s.token();
    let secrets = [
        PASSWORD,
        "horse",
        "123456",
        &token,
        state["client_secret"].as_str().unwrap(),
    ];
    for secret in secrets {
        assert!(!logs.contains(secret), "a secret in the logs:\n{logs}");
    }
    assert!(!done.output[..done.output.len() - logs.len()].contains("horse"));
}

#[test]
fn without_expires_in_the_documented_30_minutes_are_assumed() {
    let s = Setup::new(
        ClinkedConfig {
            include_expires_in_client_credentials: false,
            ..ClinkedConfig::default()
        },
        ClinkedUser::new(USER, PASSWORD),
    );
    s.add_account(Some(PASSWORD), &[]);
    let first = s.token();
    assert_eq!(s.token(), first);
    let token = &s.show()["token"];
    let lifetime = token["expires_at"].as_i64().unwrap() - token["obtained_at"].as_i64().unwrap();
    assert!((1790..=1800).contains(&lifetime), "{lifetime}");
    assert_eq!(
        token["info"]["expiry"],
        "assumed: 30 minutes (Clinked sent no expires_in)"
    );
    assert_eq!(s.fake.token_requests(), 2);
}

#[test]
fn expired_tokens_are_renewed_with_the_application_alone() {
    let s = Setup::short_lived(ClinkedUser::new(USER, PASSWORD));
    s.add_account(Some(PASSWORD), &[]);
    let first = s.token();
    s.fake.clock().advance(Duration::from_secs(5));
    assert!(!s.fake.is_valid_token(&first));
    // Renewals must not need the password: change it at Clinked.
    s.fake.set_password(USER, "changed");

    let second = s.token();
    assert_ne!(second, first);
    assert!(s.fake.is_valid_token(&second));
    s.fake.clock().advance(Duration::from_secs(5));
    let third = s.token();
    assert!(s.fake.is_valid_token(&third) && third != second);

    assert_eq!(s.password_grants().len(), 1, "the password was used once");
    assert_eq!(
        s.fake.apps().len(),
        1,
        "the application was registered once"
    );
    assert_eq!(s.app_grants().len(), 3);
}

// ---------------------------------------------------------------------------------------
// the password

#[test]
fn a_wrong_password_is_refused_clearly_and_registers_nothing() {
    let s = Setup::with_user(ClinkedUser::new(USER, PASSWORD));
    s.add_account(Some("not the password"), &[]);
    s.token_fails(
        7,
        "keyhelm: error: account 'work': Clinked refused to log in jack@example.com: Bad credentials\n\
         keyhelm: hint: check the username and password; to change the stored password, run \
         `keyhelm account remove work` and add the account again\n",
    );
    assert!(s.fake.apps().is_empty());
    assert!(s.state().is_none());
}

#[test]
fn a_locked_account_is_explained() {
    let s = Setup::with_user(ClinkedUser::new(USER, PASSWORD).locked(true));
    s.add_account(Some(PASSWORD), &[]);
    s.token_fails(
        7,
        "keyhelm: error: account 'work': Clinked refused to log in jack@example.com: User account is locked\n\
         keyhelm: hint: ask your Clinked administrator to check the account\n",
    );
}

#[test]
fn without_a_stored_password_keyhelm_login_asks_for_it() {
    let s = Setup::short_lived(ClinkedUser::new(USER, PASSWORD));
    s.add_account(None, &[]);
    assert_eq!(s.show()["secrets"], serde_json::json!([]));

    // Without a terminal: a clear error.
    s.token_fails(
        8,
        "keyhelm: error: account 'work': logging in to Clinked as jack@example.com needs the \
         password, and keyhelm cannot ask for it here (no terminal, or prompts are not allowed)\n\
         keyhelm: hint: run `keyhelm login work` in a terminal\n",
    );
    assert!(s.fake.requests().is_empty());

    // In a terminal: the password is asked for (without echo) and used once.
    let done = s.login(&[(PASSWORD_PROMPT, PASSWORD)]);
    assert!(done.status.success(), "{}", done.output);
    assert!(!done.output.contains("horse"), "no echo: {}", done.output);
    assert!(
        done.output
            .contains("Logged in to 'work' as jack@example.com; the token is valid until "),
        "{}",
        done.output
    );
    assert!(
        done.output.contains("Granted: read, write\n"),
        "{}",
        done.output
    );

    // Then the application does the rest, without a terminal and without the password.
    s.fake.clock().advance(Duration::from_secs(5));
    let token = s.token();
    assert!(s.fake.is_valid_token(&token));
    assert_eq!(s.password_grants().len(), 1);
    // Only a forced login needs the password again.
    let out = s.keyhelm(&["login", ACCOUNT], b"");
    assert_eq!(out.status.code(), Some(8), "{}", text(&out.stderr));
}

#[test]
fn an_empty_answer_to_a_prompt_stops_the_login() {
    let s = Setup::with_user(ClinkedUser::new(USER, PASSWORD).authenticator("123456"));
    s.add_account(None, &[]);
    let done = s.login(&[(PASSWORD_PROMPT, "")]);
    assert_eq!(done.status.code(), Some(7), "{}", done.output);
    assert!(
        done.output.ends_with(
            "keyhelm: error: account 'work': no password was entered for jack@example.com\n\
             keyhelm: hint: run `keyhelm login work` again\n"
        ),
        "{}",
        done.output
    );
    assert!(s.fake.requests().is_empty(), "nothing was sent");

    let done = s.login(&[(PASSWORD_PROMPT, PASSWORD), (AUTHENTICATOR_PROMPT, " ")]);
    assert_eq!(done.status.code(), Some(7), "{}", done.output);
    assert!(
        done.output.ends_with(
            "keyhelm: error: account 'work': no two-factor code was entered for \
             jack@example.com\n\
             keyhelm: hint: run `keyhelm login work` again\n"
        ),
        "{}",
        done.output
    );
    assert_eq!(s.password_grants().len(), 1);
}

#[test]
fn an_unreadable_saved_state_leads_to_a_new_login() {
    let s = Setup::short_lived(ClinkedUser::new(USER, PASSWORD));
    s.add_account(Some(PASSWORD), &[]);
    s.token();
    s.vault()
        .update(|snapshot| {
            snapshot.put_plugin_state(ACCOUNT, SecretString::from("{not json".to_owned()));
            Ok::<_, keyhelm_vault::Error>(())
        })
        .unwrap();
    let mut cmd = s.keyhelm_command(&["token", ACCOUNT]);
    cmd.env("KEYHELM_LOG", "keyhelm::plugin=warn");
    let out = run(&mut cmd, b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("the saved state is not valid JSON (line 1, column 2); logging in again"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(s.password_grants().len(), 2);
    assert_eq!(s.fake.apps().len(), 2);
    assert_eq!(
        s.state().unwrap()["client_id"],
        s.fake.apps()[1].client_id.as_str()
    );
}

// ---------------------------------------------------------------------------------------
// two-factor authentication

#[test]
fn keyhelm_login_asks_for_the_authenticator_code_on_the_terminal() {
    let s = Setup::with_user(ClinkedUser::new(USER, PASSWORD).authenticator("123456"));
    s.add_account(Some(PASSWORD), &[]);
    let done = s.login(&[(AUTHENTICATOR_PROMPT, "123 456")]);
    assert!(done.status.success(), "{}", done.output);
    assert!(
        done.output
            .contains("Logged in to 'work' as jack@example.com; the token is valid until "),
        "{}",
        done.output
    );

    // Asked without a code, then with the code (spaces removed).
    let grants = s.password_grants();
    assert_eq!(grants.len(), 2);
    assert!(grants[0].param("code").is_none());
    assert_eq!(grants[1].param("code").unwrap().value(), "123456");
    assert!(grants[1].in_query("code"));
    assert_eq!(s.fake.apps().len(), 1);

    // Later lookups need neither the password nor a code, nor a terminal.
    let token = s.token();
    assert!(s.fake.is_valid_token(&token));
    assert_eq!(s.password_grants().len(), 2);
}

#[test]
fn the_sms_code_is_asked_for_after_clinked_sends_it() {
    let s = Setup::with_user(ClinkedUser::new(USER, PASSWORD).sms("654321"));
    s.add_account(Some(PASSWORD), &[]);
    let done = s.login(&[(SMS_PROMPT, "654321")]);
    assert!(done.status.success(), "{}", done.output);
    assert_eq!(s.fake.sms_sent(), 1);
    assert_eq!(s.password_grants().len(), 2);
    assert!(s.fake.is_valid_token(&s.token()));
}

#[test]
fn an_sms_that_cannot_be_sent_is_explained() {
    let s = Setup::new(
        ClinkedConfig {
            sms_send_fails: true,
            ..ClinkedConfig::default()
        },
        ClinkedUser::new(USER, PASSWORD).sms("654321"),
    );
    s.add_account(Some(PASSWORD), &[]);
    s.token_fails(
        7,
        "keyhelm: error: account 'work': Clinked could not send a two-factor code to \
         jack@example.com by SMS\n\
         keyhelm: hint: try `keyhelm login work` again in a few minutes, or check the phone \
         number in your Clinked profile\n",
    );
}

#[test]
fn a_wrong_code_is_asked_for_once_more() {
    let s = Setup::with_user(ClinkedUser::new(USER, PASSWORD).authenticator("123456"));
    s.add_account(Some(PASSWORD), &[]);
    let mut pty = s.pty(&["login", ACCOUNT]);
    pty.answer(AUTHENTICATOR_PROMPT, "000000").unwrap();
    pty.expect("Clinked did not accept that code.\n").unwrap();
    pty.answer(AUTHENTICATOR_PROMPT, "123456").unwrap();
    let done = pty.finish().unwrap();
    assert!(done.status.success(), "{}", done.output);
    assert_eq!(s.password_grants().len(), 3);
    assert_eq!(s.fake.apps().len(), 1);
}

#[test]
fn a_second_wrong_code_fails_the_login() {
    let s = Setup::with_user(ClinkedUser::new(USER, PASSWORD).authenticator("123456"));
    s.add_account(Some(PASSWORD), &[]);
    let done = s.login(&[
        (AUTHENTICATOR_PROMPT, "000000"),
        (AUTHENTICATOR_PROMPT, "111111"),
    ]);
    assert_eq!(done.status.code(), Some(7), "{}", done.output);
    assert!(
        done.output.ends_with(
            "keyhelm: error: account 'work': Clinked did not accept the two-factor code for \
             jack@example.com (2 attempts)\n\
             keyhelm: hint: check the code (an authenticator app needs this device's clock to be \
             right), then run `keyhelm login work` again\n"
        ),
        "{}",
        done.output
    );
    assert_eq!(s.password_grants().len(), 3);
    assert!(s.fake.apps().is_empty());
    assert!(s.state().is_none());
}

#[test]
fn without_a_terminal_a_code_cannot_be_asked_for_and_the_error_says_what_to_do() {
    let s = Setup::with_user(ClinkedUser::new(USER, PASSWORD).authenticator("123456"));
    s.add_account(Some(PASSWORD), &[]);
    s.token_fails(
        8,
        "keyhelm: error: account 'work': logging in to Clinked as jack@example.com needs a \
         two-factor code, and keyhelm cannot ask for it here (no terminal, or prompts are not \
         allowed)\n\
         keyhelm: hint: run `keyhelm login work` in a terminal\n",
    );
    assert_eq!(s.password_grants().len(), 1);
    assert!(s.fake.apps().is_empty());
}

// ---------------------------------------------------------------------------------------
// the registered application

#[test]
fn a_revoked_application_is_replaced_silently_when_the_password_is_stored() {
    let s = Setup::short_lived(ClinkedUser::new(USER, PASSWORD));
    s.add_account(Some(PASSWORD), &[]);
    let first = s.token();
    let revoked = s.fake.apps()[0].client_id.clone();
    assert!(s.fake.revoke_app(&revoked));

    let second = s.token();
    assert!(s.fake.is_valid_token(&second) && !s.fake.is_valid_token(&first));
    let apps = s.fake.apps();
    assert_eq!(apps.len(), 2);
    assert!(apps[0].revoked && !apps[1].revoked);
    assert_eq!(s.state().unwrap()["client_id"], apps[1].client_id.as_str());
    assert_eq!(s.password_grants().len(), 2);
    // The refused grant, then the new application's.
    let statuses: Vec<u16> = s.app_grants().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 401, 200]);
}

#[test]
fn a_wrong_client_secret_is_treated_like_a_revoked_application() {
    let s = Setup::short_lived(ClinkedUser::new(USER, PASSWORD));
    s.add_account(Some(PASSWORD), &[]);
    s.token();
    s.edit_state(|state| state["client_secret"] = "0123456789abcdef0123456789abcdef".into());

    // Quiet by default (see the test above); the log says what happened.
    let (token, log) = token_and_plugin_log(&s, "info");
    assert_eq!(
        log,
        "WARN keyhelm::plugin: Clinked refused the registered application (HTTP 401, \
         invalid_client: Bad client credentials): it was revoked, or its secret is wrong \
         plugin=\"clinked\" account=\"work\"\n\
         INFO keyhelm::plugin: logging in again to register a new application \
         plugin=\"clinked\" account=\"work\"\n\
         INFO keyhelm::plugin: registered a new Clinked application plugin=\"clinked\" \
         account=\"work\"\n"
    );
    assert!(s.fake.is_valid_token(&token));
    let statuses: Vec<u16> = s.app_grants().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 401, 200]);
    assert_eq!(s.fake.apps().len(), 2);
}

/// `keyhelm token work` with `KEYHELM_LOG=keyhelm::plugin=<level>`, which must succeed: the
/// token and the plugin's log lines.
fn token_and_plugin_log(s: &Setup, level: &str) -> (String, String) {
    let mut cmd = s.keyhelm_command(&["token", ACCOUNT]);
    cmd.env("KEYHELM_LOG", format!("keyhelm::plugin={level}"));
    let out = run(&mut cmd, b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = text(&out.stderr)
        .lines()
        .filter(|l| l.contains(" keyhelm::plugin: "))
        .map(|l| format!("{}\n", l.trim_start()))
        .collect();
    (token_line(&out), log)
}

#[test]
fn an_application_saved_for_another_username_is_not_used() {
    let s = Setup::short_lived(ClinkedUser::new(USER, PASSWORD));
    s.add_account(Some(PASSWORD), &[]);
    s.token();
    s.edit_state(|state| state["username"] = "someone-else@example.com".into());

    let (token, log) = token_and_plugin_log(&s, "info");
    assert!(s.fake.is_valid_token(&token));
    assert_eq!(
        log,
        "INFO keyhelm::plugin: the saved application belongs to another username or URL; \
         logging in again plugin=\"clinked\" account=\"work\"\n\
         INFO keyhelm::plugin: registered a new Clinked application plugin=\"clinked\" \
         account=\"work\"\n"
    );
    assert_eq!(s.password_grants().len(), 2);
    assert_eq!(s.fake.apps().len(), 2);
    assert_eq!(s.state().unwrap()["username"], USER);
}

/// What `keyhelm plugin verify` says about the plugin: its settings and their help, which
/// `keyhelm account add` also shows when it asks for them.
#[test]
fn plugin_verify_describes_the_settings() {
    let s = Setup::with_user(ClinkedUser::new(USER, PASSWORD));
    let path = s.plugin_path("clinked");
    let out = s.keyhelm_ok(&["plugin", "verify", &path.display().to_string()], "");
    let (_, described) = out.split_once("provider  ").expect("a provider line");
    assert_eq!(
        described,
        "Clinked\n\
         url       https://api.clinked.com (default)\n\
         serves    https://api.clinked.com/\n\
         setting   username (required): your Clinked login name (usually your e-mail \
         address)\n\
         setting   password (secret, optional): your Clinked password; only needed to log in \
         and register keyhelm (leave it empty to be asked at each login)\n"
    );
}

#[test]
fn a_revoked_application_needs_keyhelm_login_when_a_code_is_required() {
    let s = Setup::short_lived(ClinkedUser::new(USER, PASSWORD).authenticator("123456"));
    s.add_account(Some(PASSWORD), &[]);
    assert!(
        s.login(&[(AUTHENTICATOR_PROMPT, "123456")])
            .status
            .success()
    );
    assert!(s.fake.revoke_app(&s.fake.apps()[0].client_id));

    s.token_fails(
        7,
        "keyhelm: error: account 'work': Clinked no longer accepts the application keyhelm \
         registered (it was revoked, or its secret is wrong), and logging in again as \
         jack@example.com needs a two-factor code, which keyhelm cannot ask for here (no \
         terminal, or prompts are not allowed)\n\
         keyhelm: hint: run `keyhelm login work` in a terminal\n",
    );

    // Which is what the user does.
    let done = s.login(&[(AUTHENTICATOR_PROMPT, "123456")]);
    assert!(done.status.success(), "{}", done.output);
    assert!(s.fake.is_valid_token(&s.token()));
    assert_eq!(s.fake.apps().len(), 2);
}

#[test]
fn a_revoked_application_needs_keyhelm_login_when_no_password_is_stored() {
    let s = Setup::short_lived(ClinkedUser::new(USER, PASSWORD));
    s.add_account(None, &[]);
    assert!(s.login(&[(PASSWORD_PROMPT, PASSWORD)]).status.success());
    assert!(s.fake.revoke_app(&s.fake.apps()[0].client_id));

    s.token_fails(
        7,
        "keyhelm: error: account 'work': Clinked no longer accepts the application keyhelm \
         registered (it was revoked, or its secret is wrong), and logging in again as \
         jack@example.com needs the password, which keyhelm cannot ask for here (no terminal, \
         or prompts are not allowed)\n\
         keyhelm: hint: run `keyhelm login work` in a terminal\n",
    );
}

#[test]
fn logout_forgets_the_application_and_says_nothing_was_revoked() {
    let s = Setup::with_user(ClinkedUser::new(USER, PASSWORD));
    s.add_account(Some(PASSWORD), &[]);
    let first = s.token();
    let out = s.keyhelm(&["logout", ACCOUNT], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "Logged out of 'work'; the cached token is forgotten.\n\
         Clinked has no API to revoke tokens or applications: keyhelm forgot the token and the \
         application it registered (\"keyhelm (work)\"); the last token keeps working at Clinked \
         until it expires, and the next login registers a new application\n"
    );
    assert!(s.state().is_none());
    assert!(s.fake.is_valid_token(&first));

    // The next lookup logs in again. (The fake hands out the same still-valid token to the
    // same client, as Spring does; here it is a new client.)
    s.token();
    assert_eq!(s.fake.apps().len(), 2);
    assert_eq!(s.password_grants().len(), 2);
}

// ---------------------------------------------------------------------------------------
// the service misbehaving

#[test]
fn rate_limiting_is_reported_with_what_to_do() {
    let s = Setup::new(
        ClinkedConfig {
            rate_limit: Some(RateLimit {
                max_requests: 0,
                window: Duration::from_secs(300),
            }),
            ..ClinkedConfig::default()
        },
        ClinkedUser::new(USER, PASSWORD),
    );
    s.add_account(Some(PASSWORD), &[]);
    s.token_fails(
        7,
        "keyhelm: error: account 'work': Clinked is rate-limiting requests from this address \
         (HTTP 429 on the password login; it allows 2000 requests per 5 minutes per IP address)\n\
         keyhelm: hint: wait a few minutes, then try again\n",
    );
    assert!(s.fake.apps().is_empty());
}

#[test]
fn a_wrong_url_is_reported_with_the_endpoint_it_tried() {
    let s = Setup::with_user(ClinkedUser::new(USER, PASSWORD));
    let url = format!("{}/api", s.fake.base_url());
    s.add_account_at(&url, Some(PASSWORD), &[]);
    s.token_fails(
        7,
        &format!(
            "keyhelm: error: account 'work': there is no Clinked endpoint at {url}/oauth/token (HTTP 404)\n\
             keyhelm: hint: check the account's URL: {url} should be Clinked's API (the default is \
             https://api.clinked.com)\n"
        ),
    );
}

// ---------------------------------------------------------------------------------------
// git

#[test]
fn git_clones_with_a_clinked_token_from_keyhelm() {
    let s = Setup::with_user(ClinkedUser::new(USER, PASSWORD));
    let fake = Arc::clone(&s.fake);
    // The server accepts exactly the tokens that are valid at Clinked right now.
    let server = GitHttpServer::with_repo(
        "repo.git",
        GitAuthPolicy::validator(move |auth| match auth {
            Auth::Bearer { token } => fake.is_valid_token(token),
            Auth::Basic { password, .. } => fake.is_valid_token(password),
            _ => false,
        }),
    )
    .unwrap();
    let git_url = server.url();
    s.add_account(Some(PASSWORD), &["--match", &git_url]);
    s.env
        .git_config("credential.helper", &s.bin().to_string_lossy())
        .unwrap();

    let url = server.repo_url("repo.git");
    let clone = |dir: &str| {
        let mut cmd = s.env.command("setsid");
        cmd.args(["--wait", "git", "clone", "-q", &url, dir]);
        let out = run(&mut cmd, b"");
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(s.env.work_dir().join(dir).join("README").is_file());
    };
    clone("first");
    clone("second");

    let counts = server.auth_counts();
    assert!(counts.accepted > 0 && counts.bearer > 0, "{counts:?}");
    assert_eq!(counts.refused, 0, "{counts:?}");
    assert!(s.env.askpass_calls().is_empty(), "git never prompted");
    assert_eq!(s.password_grants().len(), 1);
    assert_eq!(
        s.app_grants().len(),
        1,
        "the second clone used the cached token"
    );
    assert_eq!(s.fake.apps().len(), 1);
}
