//! GitHttpServer against the real git client, with plain credential-helper scripts (no
//! keyhelm involved).

use std::path::{Path, PathBuf};
use std::process::Output;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use keyhelm_testkit::bins::{IsolatedEnv, output, run, run_failing};
use keyhelm_testkit::git_http::{
    Auth, AuthOutcome, AuthScheme, GitAuthPolicy, GitHttpServer, GitRequest,
};

const HELPER_OK: &str = "!f() { echo username=u; echo password=p; }; f";
const HELPER_WRONG: &str = "!f() { echo username=u; echo password=wrong; }; f";

fn git_env(helper: Option<&str>) -> IsolatedEnv {
    let env = IsolatedEnv::new().unwrap();
    if let Some(helper) = helper {
        env.git_config("credential.helper", helper).unwrap();
    }
    env
}

/// `git -C DIR ARGS`, which must succeed.
fn git_in(env: &IsolatedEnv, dir: &Path, args: &[&str]) -> Output {
    run(env.command("git").arg("-C").arg(dir).args(args)).unwrap()
}

/// `git clone URL DEST`, which must succeed.
fn git_clone(env: &IsolatedEnv, url: &str, dest: &Path) {
    run(env.command("git").arg("clone").arg(url).arg(dest)).unwrap();
}

/// A server with `repo` behind Basic `u`/`p`, an environment whose helper answers `u`/`p`,
/// and a clone of `repo` in `work/clone`.
fn basic_clone(repo: &str) -> (GitHttpServer, IsolatedEnv, PathBuf) {
    let server = GitHttpServer::with_repo(repo, GitAuthPolicy::basic("u", "p")).unwrap();
    let env = git_env(Some(HELPER_OK));
    let clone = env.work_dir().join("clone");
    git_clone(&env, &server.repo_url(repo), &clone);
    (server, env, clone)
}

/// Asserts that the server logged a request that `matches`.
fn assert_logged(server: &GitHttpServer, matches: impl Fn(&GitRequest) -> bool) {
    let requests = server.requests();
    assert!(requests.iter().any(matches), "{requests:#?}");
}

#[test]
fn clone_and_push_with_basic_credentials_from_a_helper() {
    let (server, env, clone) = basic_clone("repo.git");
    let readme = std::fs::read_to_string(clone.join("README")).unwrap();
    assert_eq!(readme, "hello from keyhelm-testkit\n");

    let counts = server.auth_counts();
    assert!(
        counts.unauthorized >= 1,
        "git first tries without credentials: {counts:?}"
    );
    assert!(counts.accepted >= 1, "{counts:?}");
    assert_eq!(counts.basic, counts.accepted, "{counts:?}");
    assert_eq!(counts.bearer, 0);
    assert_logged(&server, |r| {
        r.outcome == AuthOutcome::Missing && r.status == 401
    });
    assert_logged(&server, |r| {
        r.outcome == AuthOutcome::Accepted(AuthScheme::Basic)
            && r.path == "/repo.git/info/refs"
            && r.query == "service=git-upload-pack"
            && r.status == 200
            && r.username.as_deref() == Some("u")
    });

    // Push a new commit back.
    server.clear_requests();
    std::fs::write(clone.join("file.txt"), "pushed\n").unwrap();
    git_in(&env, &clone, &["add", "file.txt"]);
    git_in(&env, &clone, &["commit", "-q", "-m", "second"]);
    git_in(&env, &clone, &["push", "origin", "main"]);
    let local = git_in(&env, &clone, &["rev-parse", "HEAD"]);
    let remote = server.git("repo.git", &["rev-parse", "main"]).unwrap();
    assert_eq!(String::from_utf8_lossy(&local.stdout).trim(), remote);
    assert_logged(&server, |r| {
        r.method == "POST"
            && r.path == "/repo.git/git-receive-pack"
            && r.outcome.is_accepted()
            && r.status == 200
    });
    assert!(
        env.askpass_calls().is_empty(),
        "git fell back to askpass: {:?}",
        env.askpass_calls()
    );
    assert!(
        server.backend_errors().iter().all(|e| !e.contains("fatal")),
        "{:?}",
        server.backend_errors()
    );
}

#[test]
fn a_wrong_password_is_refused() {
    let server = GitHttpServer::with_repo("repo.git", GitAuthPolicy::basic("u", "p")).unwrap();
    let env = git_env(Some(HELPER_WRONG));
    let out = run_failing(
        env.command("git")
            .arg("clone")
            .arg(server.repo_url("repo.git"))
            .arg(env.work_dir().join("clone")),
    )
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Authentication failed"), "{stderr}");
    let counts = server.auth_counts();
    assert_eq!(counts.accepted, 0, "{counts:?}");
    assert!(counts.refused >= 1, "{counts:?}");
    assert_logged(&server, |r| {
        r.outcome == AuthOutcome::Refused(AuthScheme::Basic)
    });
    assert!(!env.work_dir().join("clone/README").exists());
}

#[test]
fn without_a_helper_git_falls_back_to_askpass_which_fails() {
    let server = GitHttpServer::with_repo("repo.git", GitAuthPolicy::basic("u", "p")).unwrap();
    let env = git_env(None);
    run_failing(
        env.command("git")
            .arg("clone")
            .arg(server.repo_url("repo.git"))
            .arg(env.work_dir().join("clone")),
    )
    .unwrap();
    let calls = env.askpass_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].starts_with("Username for 'http://127.0.0.1:"),
        "{calls:?}"
    );
    assert_eq!(server.auth_counts().accepted, 0);
}

#[test]
fn bearer_credentials_through_the_authtype_capability() {
    let valid = Arc::new(AtomicBool::new(true));
    let policy = {
        let valid = Arc::clone(&valid);
        GitAuthPolicy::validator(move |auth| {
            matches!(auth, Auth::Bearer { token } if token == "tok-1")
                && valid.load(Ordering::SeqCst)
        })
    };
    let server = GitHttpServer::builder(policy)
        .bearer_challenge(true)
        .repo("team/repo.git")
        .start()
        .unwrap();
    let env = git_env(Some(
        "!f() { test \"$1\" = get || exit 0; cat >/dev/null; \
         echo 'capability[]=authtype'; echo authtype=Bearer; echo credential=tok-1; }; f",
    ));
    run(env
        .command("git")
        .args(["ls-remote", &server.repo_url("team/repo.git")]))
    .unwrap();
    let counts = server.auth_counts();
    assert!(counts.bearer >= 1, "{counts:?}");
    assert_eq!(counts.basic, 0, "{counts:?}");

    // The validator is consulted on every request: once the token is no longer valid,
    // git is refused.
    valid.store(false, Ordering::SeqCst);
    run_failing(
        env.command("git")
            .args(["ls-remote", &server.repo_url("team/repo.git")]),
    )
    .unwrap();
    assert!(server.auth_counts().refused >= 1);
    assert_logged(&server, |r| {
        r.outcome == AuthOutcome::Refused(AuthScheme::Bearer)
    });
}

#[test]
fn challenges_name_the_realm_and_the_optional_bearer_scheme() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let basic_only = GitHttpServer::start(GitAuthPolicy::basic("u", "p")).unwrap();
    let both = GitHttpServer::builder(GitAuthPolicy::basic("u", "p"))
        .bearer_challenge(true)
        .start()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let res = client
            .get(format!("{}/x.git/info/refs", basic_only.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let challenges: Vec<_> = res.headers().get_all("www-authenticate").iter().collect();
        assert_eq!(challenges, ["Basic realm=\"keyhelm-test\""]);

        let res = client
            .get(format!("{}/x.git/info/refs", both.url()))
            .send()
            .await
            .unwrap();
        let challenges: Vec<_> = res.headers().get_all("www-authenticate").iter().collect();
        assert_eq!(
            challenges,
            [
                "Basic realm=\"keyhelm-test\"",
                "Bearer realm=\"keyhelm-test\""
            ]
        );

        // A scheme we do not know and a malformed Basic value are refused the same way.
        for value in ["Negotiate abc", "Basic %%%", "Bearer"] {
            let res = client
                .get(format!("{}/x.git/info/refs", both.url()))
                .header("authorization", value)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 401, "{value}");
        }
    });
    let outcomes: Vec<_> = both.requests().iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            AuthOutcome::Missing,
            AuthOutcome::Refused(AuthScheme::Other),
            AuthOutcome::Malformed,
            AuthOutcome::Malformed
        ]
    );
}

#[test]
fn unknown_repositories_are_404_after_authentication() {
    let server = GitHttpServer::start(GitAuthPolicy::basic("u", "p")).unwrap();
    let env = git_env(Some(HELPER_OK));
    run_failing(
        env.command("git")
            .args(["ls-remote", &server.repo_url("missing.git")]),
    )
    .unwrap();
    assert_logged(&server, |r| r.outcome.is_accepted() && r.status == 404);
}

#[test]
fn clone_over_https_trusting_the_test_ca() {
    let server = GitHttpServer::builder(GitAuthPolicy::basic("u", "p"))
        .tls(true)
        .repo("repo.git")
        .start()
        .unwrap();
    assert!(server.url().starts_with("https://127.0.0.1:"));
    let mut env = git_env(Some(HELPER_OK));

    // Without trusting the CA, TLS verification fails before any credential is asked for.
    run_failing(
        env.command("git")
            .args(["ls-remote", &server.repo_url("repo.git")]),
    )
    .unwrap();
    assert!(server.requests().is_empty());

    env.trust_ca(server.ca_pem().unwrap()).unwrap();
    let clone = env.work_dir().join("clone");
    git_clone(&env, &server.repo_url("repo.git"), &clone);
    assert!(clone.join("README").exists());
    assert!(server.auth_counts().basic >= 1);
}

/// Bodies larger than git's `http.postBuffer` (1 MiB) arrive chunked, without
/// `Content-Length`; the server streams them into `git http-backend`.
#[test]
fn large_push_and_fetch_stream_through_the_backend() {
    let (server, env, clone) = basic_clone("big.git");
    // 4 MiB that do not compress (a xorshift stream).
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let data: Vec<u8> = (0..4 * 1024 * 1024 / 8)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect();
    std::fs::write(clone.join("blob.bin"), &data).unwrap();
    git_in(&env, &clone, &["add", "blob.bin"]);
    git_in(&env, &clone, &["commit", "-q", "-m", "big"]);
    git_in(&env, &clone, &["push", "origin", "main"]);

    let second = env.work_dir().join("second");
    git_clone(&env, &server.repo_url("big.git"), &second);
    assert_eq!(std::fs::read(second.join("blob.bin")).unwrap(), data);
    assert!(
        server.backend_errors().is_empty(),
        "{:?}",
        server.backend_errors()
    );
}

#[test]
fn git_protocol_v2_reaches_the_backend() {
    let server = GitHttpServer::with_repo("repo.git", GitAuthPolicy::basic("u", "p")).unwrap();
    let mut env = git_env(Some(HELPER_OK));
    env.set_var("GIT_TRACE_PACKET", "1");
    let out = run(env.command("git").args([
        "-c",
        "protocol.version=2",
        "ls-remote",
        &server.repo_url("repo.git"),
    ]))
    .unwrap();
    let trace = String::from_utf8_lossy(&out.stderr);
    assert!(trace.contains("< version 2"), "{trace}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("refs/heads/main"));
}

/// What git asks its helpers around a success and a refusal.
#[test]
fn helpers_see_store_after_success_and_erase_after_refusal() {
    let server = GitHttpServer::with_repo("repo.git", GitAuthPolicy::basic("u", "p")).unwrap();
    for (password, expected) in [("p", ["get", "store"]), ("wrong", ["get", "erase"])] {
        let env = IsolatedEnv::new().unwrap();
        let log = env.root().join("ops.log");
        env.git_config(
            "credential.helper",
            &format!(
                "!f() {{ echo \"$1\" >> '{}'; echo username=u; echo password={password}; }}; f",
                log.display()
            ),
        )
        .unwrap();
        let mut cmd = env.command("git");
        cmd.args(["ls-remote", &server.repo_url("repo.git")]);
        let _ = output(&mut cmd).unwrap();
        let ops = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            ops.lines().collect::<Vec<_>>(),
            expected,
            "password {password}"
        );
    }
}

#[test]
fn a_panicking_validator_refuses_and_the_server_keeps_serving() {
    let server = GitHttpServer::with_repo(
        "repo.git",
        GitAuthPolicy::validator(|auth| match auth {
            Auth::Bearer { .. } => panic!("validator bug"),
            Auth::Basic { username, password } => username == "u" && password == "p",
            _ => false,
        }),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let url = format!(
            "{}/info/refs?service=git-upload-pack",
            server.repo_url("repo.git")
        );
        let res = client.get(&url).bearer_auth("boom").send().await.unwrap();
        assert_eq!(res.status(), 401);
        let res = client
            .get(&url)
            .basic_auth("u", Some("p"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body = res.text().await.unwrap();
        assert!(body.contains("# service=git-upload-pack"), "{body}");
    });
    let outcomes: Vec<_> = server.requests().iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            AuthOutcome::Refused(AuthScheme::Bearer),
            AuthOutcome::Accepted(AuthScheme::Basic)
        ]
    );
}
