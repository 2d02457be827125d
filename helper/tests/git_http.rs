//! An authenticated `git clone` and `git push` over HTTP from a local server that demands
//! Basic auth, with keyhelm as git's only credential helper.

mod support;

use std::sync::{Arc, Mutex};

use keyhelm_testkit::git_http::{Auth, GitAuthPolicy, GitHttpServer};
use support::{Sandbox, text};

/// A server whose password can change while it runs.
fn server(password: &Arc<Mutex<String>>) -> GitHttpServer {
    let password = Arc::clone(password);
    GitHttpServer::with_repo(
        "repo.git",
        GitAuthPolicy::validator(move |auth| {
            matches!(auth, Auth::Basic { username, password: p }
                if username == "alice" && *p == *password.lock().unwrap())
        }),
    )
    .unwrap()
}

/// An askpass that types alice's password once and records every prompt.
fn askpass_answering(s: &mut Sandbox, password: &str) {
    let script = s
        .env
        .write_script(
            "askpass-answer.sh",
            &format!(
                "#!/bin/sh\necho \"$1\" >> \"$(dirname \"$0\")/answered.log\"\n\
                 case \"$1\" in Username*) echo alice ;; *) echo '{password}' ;; esac\n"
            ),
        )
        .unwrap();
    s.env.set_var("GIT_ASKPASS", script);
}

fn prompts(s: &Sandbox) -> usize {
    let answered = std::fs::read_to_string(s.dir().join("bin/answered.log")).unwrap_or_default();
    answered.lines().count() + s.env.askpass_calls().len()
}

#[test]
fn clone_and_push_answered_by_keyhelm_after_the_first_prompt() {
    let password = Arc::new(Mutex::new("s3cret".to_owned()));
    let server = server(&password);
    let url = server.repo_url("repo.git");
    let mut s = Sandbox::new();

    // First clone: keyhelm has nothing, git prompts (askpass) and then stores into keyhelm.
    askpass_answering(&mut s, "s3cret");
    let out = s.git(&["clone", "-q", &url, "first"], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(prompts(&s), 2, "git asked for username and password once");
    let stored = s.keyhelm(
        &["get"],
        format!("protocol=http\nhost={}\n", server.addr()).as_bytes(),
    );
    assert_eq!(text(&stored.stdout), "username=alice\npassword=s3cret\n");

    // From now on askpass fails if called: keyhelm must answer.
    let failing_askpass = s.dir().join("askpass.sh");
    s.env.set_var("GIT_ASKPASS", failing_askpass);
    let out = s.git(&["clone", "-q", &url, "second"], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(prompts(&s), 2, "no new prompt");

    // Push a commit through the same credentials.
    let repo = s.env.work_dir().join("second");
    let run_in = |args: &[&str]| {
        let out = support::run(s.command("git").args(args).current_dir(&repo), b"");
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    };
    std::fs::write(repo.join("pushed.txt"), "hello\n").unwrap();
    run_in(&["add", "pushed.txt"]);
    run_in(&["commit", "-q", "-m", "pushed through keyhelm"]);
    run_in(&["push", "-q", "origin", "HEAD:main"]);
    assert_eq!(prompts(&s), 2, "no prompt for the push either");
    let log = server
        .git("repo.git", &["log", "--format=%s", "-1", "main"])
        .unwrap();
    assert_eq!(log.trim(), "pushed through keyhelm");

    // The password changes on the server: git is refused, calls `erase`, keyhelm forgets it.
    *password.lock().unwrap() = "rotated".to_owned();
    let out = s.git(&["clone", "-q", &url, "third"], b"");
    assert!(!out.status.success());
    let stored = s.keyhelm(
        &["get"],
        format!("protocol=http\nhost={}\n", server.addr()).as_bytes(),
    );
    assert_eq!(text(&stored.stdout), "", "the rejected password was erased");
    assert!(server.auth_counts().refused > 0);
}
