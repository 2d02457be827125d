//! The real `keyhelm` binary with the real plugin cdylib, in testkit's isolated environment,
//! against testkit's FakeIntellivoid. Interactive runs happen under a real pseudo-terminal
//! (util-linux `script`); non-interactive runs in a new session without a controlling
//! terminal (`setsid`), so a developer's own terminal never leaks into a test.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use keyhelm_testkit::bins::{IsolatedEnv, keyhelm_bin, plugin_cdylib};
use keyhelm_testkit::clock::FakeClock;
use keyhelm_testkit::intellivoid::{
    AutoApprove, FakeIntellivoid, IntellivoidAccount, IntellivoidApp, IntellivoidAppCredentials,
    IntellivoidConfig, Permission,
};

/// keyhelm's exit codes (docs/user-guide.md).
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_PROVIDER: i32 = 7;
pub const EXIT_NEEDS_INTERACTION: i32 = 8;

/// The host's question after it shows the URL.
pub const BROWSER_QUESTION: &str = "Open it in your browser? [Y/n]";

/// How long a test waits for a prompt before it gives up (a hang is a failure, not a
/// timing assertion).
const PROMPT_WAIT: Duration = Duration::from_secs(90);

/// A fake Intellivoid with one application and one user ("alice"), an isolated keyhelm
/// home with the plugin installed, and helpers to run keyhelm.
pub struct World {
    pub env: IsolatedEnv,
    pub fake: Arc<FakeIntellivoid>,
    pub app: IntellivoidAppCredentials,
    pub alice: String,
}

impl World {
    /// Default knobs, a frozen fake clock.
    pub fn new() -> World {
        World::with(IntellivoidConfig::default(), FakeClock::new())
    }

    /// Access tokens that keyhelm considers stale as soon as it gets them (the fake gives
    /// them one second of life, and moves the expiry one second on each use), so every
    /// `keyhelm token` asks the plugin, which renews them by use. The fake clock is frozen,
    /// so the tokens stay valid at the fake until a test advances it.
    pub fn short_lived_tokens() -> World {
        let config = IntellivoidConfig {
            access_initial_ttl: Duration::from_secs(1),
            access_slide: Duration::from_secs(1),
            ..IntellivoidConfig::default()
        };
        World::with(config, FakeClock::new())
    }

    pub fn with(config: IntellivoidConfig, clock: FakeClock) -> World {
        let fake = FakeIntellivoid::try_start(config, clock).expect("start the Intellivoid fake");
        let app = fake.add_application(IntellivoidApp::new("keyhelm test app"));
        let alice = fake.add_account(IntellivoidAccount::new("alice"));
        let env = IsolatedEnv::new().expect("isolated environment");
        install_plugin(&env.keyhelm_home());
        World {
            env,
            fake: Arc::new(fake),
            app,
            alice,
        }
    }

    /// The user approves by herself after `after_polls` answers of 41, leaving `grant`
    /// ticked.
    pub fn auto_approve(&self, after_polls: u32, grant: &[Permission]) {
        let grant = grant.to_vec();
        self.fake
            .update_config(|c| c.auto_approve = Some(AutoApprove { after_polls, grant }));
    }

    /// `keyhelm account add work` for the fake's application, polling every 20 ms.
    pub fn add_account(&self, extra: &[&str]) {
        let secret = format!("secret_key={}\n", self.app.secret_key);
        self.add_account_with(&self.app.application_id, &secret, extra);
    }

    pub fn add_account_with(&self, application_id: &str, secrets: &str, extra: &[&str]) {
        let base = self.fake.base_url();
        let set_id = format!("application_id={application_id}");
        let mut args = vec![
            "account",
            "add",
            "work",
            "--provider",
            "intellivoid",
            "--url",
            &base,
            "--set",
            &set_id,
            "--set",
            "poll_interval_ms=20",
            "--secrets-from-stdin",
        ];
        args.extend_from_slice(extra);
        let out = self.keyhelm(&args, secrets.as_bytes());
        assert!(
            out.status.success(),
            "account add failed: {}",
            describe(&out)
        );
    }

    /// keyhelm without a terminal (a new session), as git, cargo and scripts run it.
    pub fn keyhelm(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut cmd = self.env.command("setsid");
        cmd.arg("-w").arg(keyhelm_bin()).args(args);
        run(&mut cmd, stdin)
    }

    /// keyhelm on a pseudo-terminal.
    pub fn keyhelm_on_tty(&self, args: &[&str]) -> Pty {
        let mut line = quote(&keyhelm_bin().to_string_lossy());
        for a in args {
            line.push(' ');
            line.push_str(&quote(a));
        }
        Pty::spawn(
            self.env
                .command("script")
                .args(["-qec", &line, "/dev/null"]),
        )
    }

    /// `keyhelm login work` on a terminal, answering "n" to the browser question; returns
    /// the session's output.
    pub fn login(&self) -> (ExitStatus, String) {
        let mut pty = self.keyhelm_on_tty(&["login", "work"]);
        pty.wait_for(BROWSER_QUESTION);
        pty.send("n\n");
        pty.finish()
    }

    /// `keyhelm token work` without a terminal: the token, or the failed output.
    pub fn token(&self) -> String {
        let out = self.keyhelm(&["token", "work"], b"");
        assert!(out.status.success(), "token failed: {}", describe(&out));
        let text = String::from_utf8(out.stdout).unwrap();
        text.strip_suffix('\n').expect("one line").to_owned()
    }

    /// The requests that reached the fake on `route`.
    pub fn count(&self, route: &str) -> usize {
        self.fake.requests_to(route).len()
    }
}

/// Copies the plugin into `$KEYHELM_HOME/plugins` (folders 0700, file 0644), and points the
/// config at that copy: otherwise keyhelm would find the build's own copy first, in the
/// folder of the `keyhelm` binary.
pub fn install_plugin(keyhelm_home: &Path) {
    let dir = keyhelm_home.join("plugins");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .unwrap();
    std::fs::set_permissions(keyhelm_home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let target = dir.join("libkeyhelm_intellivoid.so");
    std::fs::copy(plugin_cdylib("keyhelm-intellivoid"), &target).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = keyhelm_home.join("config.toml");
    std::fs::write(
        &config,
        format!("[plugins.paths]\nintellivoid = \"{}\"\n", target.display()),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Single-quotes a word for `sh`.
pub fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Runs `cmd` with `stdin` written from a thread.
pub fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn describe(out: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// A command running on a pseudo-terminal under `script`.
pub struct Pty {
    child: Child,
    stdin: Option<ChildStdin>,
    output: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
}

impl Pty {
    /// Runs `cmd` (a `script -qec LINE /dev/null`) with its output collected.
    pub fn spawn(cmd: &mut Command) -> Pty {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn script");
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&output);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            child,
            stdin,
            output,
            reader: Some(reader),
        }
    }

    /// Everything the terminal showed so far, with `\r` removed.
    pub fn screen(&self) -> String {
        text(&self.output.lock().unwrap()).replace('\r', "")
    }

    /// Waits until the terminal shows `needle`; panics with the screen if the command ends
    /// first or it does not come.
    pub fn wait_for(&mut self, needle: &str) {
        let start = Instant::now();
        loop {
            if self.screen().contains(needle) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader drain what is left.
                std::thread::sleep(Duration::from_millis(50));
                if self.screen().contains(needle) {
                    return;
                }
                panic!(
                    "the command ended ({status}) without showing {needle:?}:\n{}",
                    self.screen()
                );
            }
            if start.elapsed() > PROMPT_WAIT {
                panic!("no {needle:?} after {PROMPT_WAIT:?}:\n{}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Types `input`.
    pub fn send(&mut self, input: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(input.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the command to end; its status and the whole screen.
    pub fn finish(mut self) -> (ExitStatus, String) {
        let status = self.child.wait().unwrap();
        drop(self.stdin.take());
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        (status, self.screen())
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // Only this test's own child, by its id.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The argument for waiting on the fake from a test thread: polls until `cond` holds.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PROMPT_WAIT, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn plugin_file(home: &Path) -> PathBuf {
    home.join("plugins").join("libkeyhelm_intellivoid.so")
}
