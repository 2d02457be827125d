//! The real git clones from a local server that accepts only a bearer token currently valid
//! at the fake Intellivoid, with keyhelm (and its intellivoid account) as git's only
//! credential helper.

mod support;

use std::sync::Arc;
use std::time::Duration;

use keyhelm_testkit::git_http::{Auth, GitAuthPolicy, GitHttpServer};
use keyhelm_testkit::intellivoid::{
    FakeIntellivoid, Permission, ROUTE_GET_USER, ROUTE_REQUEST_AUTHENTICATION,
};
use keyhelm_testkit::keyhelm::PTY_TIMEOUT;
use keyhelm_testkit::pty::Pty;
use support::{BROWSER_QUESTION, World, describe, finish, run, text};

/// A git server whose validator asks the fake whether the bearer token is valid now.
fn git_server(fake: &Arc<FakeIntellivoid>) -> GitHttpServer {
    let fake = Arc::clone(fake);
    GitHttpServer::builder(GitAuthPolicy::validator(
        move |auth| matches!(auth, Auth::Bearer { token } if fake.is_valid_token(token)),
    ))
    .bearer_challenge(true)
    .repo("repo.git")
    .start()
    .unwrap()
}

/// `w` with keyhelm as git's only helper, and the account serving a new git server
/// ([`git_server`]).
fn setup(w: World) -> (World, GitHttpServer) {
    let server = git_server(&w.fake);
    w.use_as_git_helper().unwrap();
    let pattern = format!("http://{}/", server.addr());
    w.add_account(&["--match", &pattern]);
    w.auto_approve(
        2,
        &[
            Permission::ReadUsername,
            Permission::GetUserDisplay,
            Permission::ReadEmailAddress,
        ],
    );
    (w, server)
}

/// `git clone` without a terminal.
fn clone(w: &World, url: &str, dir: &str) -> std::process::Output {
    let mut cmd = w.env.command("setsid");
    cmd.args(["-w", "git", "clone", "-q", url, dir]);
    run(&mut cmd, b"")
}

#[test]
fn git_clones_with_the_token_after_a_login() {
    let (w, server) = setup(World::new());
    let url = server.repo_url("repo.git");

    // Before any login, git cannot get a credential without a terminal, and says so (then
    // git tries its askpass, which fails).
    let out = clone(&w, &url, "early");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(
            "keyhelm: error: account 'work': logging in to Intellivoid needs your approval in a \
             browser, and keyhelm cannot ask you here"
        ),
        "{}",
        describe(&out)
    );

    let asked = w.env.askpass_calls().len();

    let (status, screen) = w.login();
    assert!(status.success(), "{screen}");
    let out = clone(&w, &url, "clone");
    assert!(out.status.success(), "{}", describe(&out));
    assert!(w.env.work_dir().join("clone/README").exists());
    let counts = server.auth_counts();
    assert!(counts.accepted >= 1 && counts.bearer >= 1, "{counts:?}");
    assert_eq!(counts.refused, 0, "{counts:?}");
    assert_eq!(
        w.env.askpass_calls().len(),
        asked,
        "git did not need askpass"
    );
    assert_eq!(w.count(ROUTE_REQUEST_AUTHENTICATION), 1);
}

#[test]
fn git_triggers_the_login_on_a_terminal() {
    let (w, server) = setup(World::new());
    let url = server.repo_url("repo.git");

    // git runs keyhelm as its helper; keyhelm finds the terminal and asks there.
    let mut git = w.env.command("git");
    git.args(["clone", "-q", &url, "clone"]);
    let mut pty = Pty::spawn(&git).unwrap();
    pty.set_timeout(PTY_TIMEOUT);
    pty.expect(BROWSER_QUESTION).unwrap();
    pty.send_line("n").unwrap();
    let (status, screen) = finish(pty);
    assert!(status.success(), "{screen}");
    assert!(w.env.work_dir().join("clone/README").exists());
    assert!(server.auth_counts().bearer >= 1);
}

#[test]
fn git_renews_a_stale_token_without_the_user() {
    let (w, server) = setup(World::short_lived_tokens());
    let (status, screen) = w.login();
    assert!(status.success(), "{screen}");
    let users = w.count(ROUTE_GET_USER);
    // The cached token is stale (it was given one second); from now on each use gives it
    // the service's 48 hours again, as at Intellivoid.
    w.fake
        .update_config(|c| c.access_slide = Duration::from_secs(172_800));

    for dir in ["one", "two"] {
        let out = clone(&w, &server.repo_url("repo.git"), dir);
        assert!(out.status.success(), "{}", describe(&out));
    }
    // The first clone renewed the token by using it; the second found it cached.
    assert_eq!(w.count(ROUTE_GET_USER), users + 1);
    assert_eq!(w.count(ROUTE_REQUEST_AUTHENTICATION), 1, "no new login");
    assert_eq!(server.auth_counts().refused, 0);
}
