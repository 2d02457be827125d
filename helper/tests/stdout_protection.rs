//! A plugin that prints to stdout must not corrupt the protocol stream.
//!
//! `protect_stdout` changes fd 1 for the whole process, so this test runs in a child
//! process: this binary (harness = false) runs itself with `KEYHELM_TEST_CHILD=1`. The child
//! protects stdout, loads the `noisy` test plugin (which prints to stdout and stderr), asks
//! it for a credential and writes the answer to the protocol stream. The parent checks that
//! stdout holds exactly the answer and that the plugin's prints went to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod plugin_support;

use std::io::Write;
use std::process::Command;

use keyhelm::plugin::{self, HostServices};
use keyhelm_core::msg::{Account, CredentialRequest, GetRequest};
use keyhelm_core::secrecy::ExposeSecret;

fn child() {
    let mut protocol = plugin::protect_stdout().expect("protect stdout");
    let dir = std::env::var_os("KEYHELM_TEST_PLUGIN_DIR").expect("plugin dir");
    let p = plugin::find_and_load("noisy", &[dir.into()], None).expect("load noisy");
    let svc = HostServices::new("acct");
    p.describe(&svc).expect("describe");
    let req = GetRequest::new(Account::new("acct"), CredentialRequest::default(), None);
    let r = p.get(&svc, &req).expect("get");
    println!("HOST-PRINTLN after protection");
    // A lookup that does not use HTTP never starts the HTTP runtime.
    assert!(!plugin::http_runtime_started());
    write!(protocol, "password={}\n\n", r.secret.expose_secret()).unwrap();
    protocol.flush().unwrap();
}

fn main() {
    if std::env::var_os("KEYHELM_TEST_CHILD").is_some() {
        child();
        return;
    }
    let dir = plugin_support::private_dir();
    plugin_support::install("noisy", "noisy", dir.path());
    let out = Command::new(std::env::current_exe().unwrap())
        .env("KEYHELM_TEST_CHILD", "1")
        .env("KEYHELM_TEST_PLUGIN_DIR", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut failures = 0;
    let mut check = |ok: bool, what: &str| {
        if !ok {
            failures += 1;
            eprintln!("FAILED: {what}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
        }
    };
    check(out.status.success(), "the child succeeds");
    check(
        stdout == "password=noisy-token\n\n",
        "stdout holds exactly the protocol answer",
    );
    check(
        stderr.contains("NOISY-STDOUT describe\n") && stderr.contains("NOISY-STDOUT get\n"),
        "the plugin's stdout prints land on stderr",
    );
    check(
        stderr.contains("NOISY-STDERR get\n"),
        "the plugin's stderr prints land on stderr",
    );
    check(
        stderr.contains("HOST-PRINTLN after protection"),
        "the host's own println lands on stderr",
    );
    if failures == 0 {
        println!("1 passed, 0 failed");
    } else {
        println!("0 passed, 1 failed");
        std::process::exit(1);
    }
}
