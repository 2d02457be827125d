//! What the end-to-end tests share: the real `keyhelm` binary and the real plugin cdylib
//! (both built by cargo through testkit), installed into testkit's isolated environment, and
//! a tiny canned-answer HTTP server for answers the Intralinks fake never gives (429, 503,
//! garbage with 200).
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use keyhelm_testkit::bins::{IsolatedEnv, describe_failure, keyhelm_bin, plugin_cdylib};
use keyhelm_testkit::intralinks::{FakeIntralinks, Grant, IntralinksApp, IntralinksUser};

pub const CLIENT_ID: &str = "app-key-1";
pub const CLIENT_SECRET: &str = "app-s3cret-1";
pub const EMAIL: &str = "joe@example.com";
pub const PASSWORD: &str = "pw-hunter2 &=+";

/// A fake with the app (client_credentials enabled) and the user every test starts from.
pub fn fake_with(fake: FakeIntralinks) -> FakeIntralinks {
    fake.add_app(
        IntralinksApp::new(CLIENT_ID, CLIENT_SECRET)
            .grants(&[Grant::ClientCredentials, Grant::AuthorizationCode]),
    );
    fake.add_user(IntralinksUser::new(EMAIL, PASSWORD));
    fake
}

pub fn fake() -> FakeIntralinks {
    fake_with(FakeIntralinks::start())
}

/// An isolated HOME and KEYHELM_HOME with the plugin installed (0644 in a 0700 folder,
/// pinned in config.toml by path so the copy under test is the one loaded).
pub struct Sandbox {
    pub env: IsolatedEnv,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let env = IsolatedEnv::new().unwrap();
        let home = env.keyhelm_home();
        let plugins = home.join("plugins");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&plugins)
            .unwrap();
        let installed = plugins.join("libkeyhelm_intralinks.so");
        fs::copy(plugin_cdylib("keyhelm-intralinks"), &installed).unwrap();
        fs::set_permissions(&installed, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(
            home.join("config.toml"),
            format!(
                "[plugins.paths]\nintralinks = \"{}\"\n",
                installed.display()
            ),
        )
        .unwrap();
        Sandbox { env }
    }

    /// `keyhelm ARGS` with `stdin`, in a new session without a controlling terminal (so no
    /// prompt can reach a developer's terminal), whatever the outcome.
    pub fn keyhelm(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = self.env.command("setsid");
        cmd.arg("--wait").arg(keyhelm_bin()).args(args);
        run_with_stdin(&mut cmd, stdin)
    }

    /// `keyhelm ARGS` that must succeed; its stdout.
    pub fn keyhelm_ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.keyhelm(args, stdin);
        assert!(
            out.status.success(),
            "{}",
            describe_failure(self.env.command(keyhelm_bin()).args(args), &out)
        );
        text(&out.stdout)
    }

    /// `keyhelm account add NAME --provider intralinks --url URL` with the standard settings
    /// (overridden by `sets`) and the secrets on stdin.
    pub fn add_account(&self, name: &str, url: &str, sets: &[&str], secrets: &str) -> Output {
        let mut args = vec![
            "account",
            "add",
            name,
            "--provider",
            "intralinks",
            "--url",
            url,
            "--secrets-from-stdin",
        ];
        let client = format!("client_id={CLIENT_ID}");
        let email = format!("email={EMAIL}");
        let mut all: Vec<&str> = Vec::new();
        if !sets.iter().any(|s| s.starts_with("client_id=")) {
            all.push(&client);
        }
        if !sets.iter().any(|s| s.starts_with("email=")) {
            all.push(&email);
        }
        all.extend_from_slice(sets);
        for s in &all {
            args.push("--set");
            args.push(s);
        }
        self.keyhelm(&args, secrets)
    }

    /// [`Sandbox::add_account`] with the right secrets, which must succeed.
    pub fn add(&self, name: &str, url: &str, sets: &[&str]) {
        let out = self.add_account(name, url, sets, &default_secrets());
        assert!(
            out.status.success(),
            "account add failed: {}",
            text(&out.stderr)
        );
    }

    /// `keyhelm token NAME`, which must succeed: the token.
    pub fn token(&self, name: &str) -> String {
        let out = self.keyhelm_ok(&["token", name], "");
        let token = out.strip_suffix('\n').expect("a token line");
        assert!(!token.is_empty() && !token.contains('\n'), "{out:?}");
        token.to_owned()
    }

    /// The text `keyhelm account show NAME` prints.
    pub fn show(&self, name: &str) -> String {
        self.keyhelm_ok(&["account", "show", name], "")
    }

    /// Runs `keyhelm ARGS` on a pseudo-terminal (util-linux `script`), answering each
    /// `(prompt, answer)` once the prompt has appeared; the terminal's output and the exit
    /// status.
    pub fn keyhelm_on_terminal(&self, args: &[&str], answers: &[(&str, &str)]) -> (String, bool) {
        let mut line = shell_quote(&keyhelm_bin().display().to_string());
        for a in args {
            line.push(' ');
            line.push_str(&shell_quote(a));
        }
        let mut child = self
            .env
            .command("script")
            .args(["-qec", &line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let seen = collect(&mut child);
        let mut stdin = child.stdin.take().unwrap();
        for (prompt, answer) in answers {
            wait_for(&seen, prompt);
            stdin.write_all(answer.as_bytes()).unwrap();
            stdin.write_all(b"\n").unwrap();
            stdin.flush().unwrap();
        }
        let status = child.wait().unwrap();
        drop(stdin);
        // The reader threads end with the pipes.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Arc::strong_count(&seen) > 1 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        let out = seen.lock().unwrap().clone();
        (out, status.success())
    }
}

/// The secrets lines for `--secrets-from-stdin`.
pub fn default_secrets() -> String {
    format!("client_secret={CLIENT_SECRET}\npassword={PASSWORD}\n")
}

fn collect(child: &mut Child) -> Arc<Mutex<String>> {
    let seen = Arc::new(Mutex::new(String::new()));
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let seen = Arc::clone(&seen);
        thread::spawn(move || {
            let mut stream = stream;
            let mut buf = [0u8; 1024];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    seen
}

fn wait_for(seen: &Mutex<String>, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if seen.lock().unwrap().contains(what) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no `{what}` on the terminal; it showed:\n{}",
            seen.lock().unwrap()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

pub fn run_with_stdin(cmd: &mut Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.as_bytes().to_vec();
    let writer = thread::spawn(move || {
        // keyhelm may not read stdin at all; a broken pipe is fine.
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Waits for `cond` (polling), failing after a generous minute: the tests wait for a state,
/// they never assert how long it took.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// Asserts that no secret of the test setup shows up in `text`.
pub fn assert_no_secrets(text: &str, tokens: &[&str]) {
    for s in [CLIENT_SECRET, PASSWORD, "hunter2"]
        .iter()
        .chain(tokens.iter())
    {
        assert!(!text.contains(s), "a secret leaked into:\n{text}");
    }
}

/// One canned HTTP answer.
pub fn reply(status_line: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut response = format!("HTTP/1.1 {status_line}\r\nConnection: close\r\n");
    for (k, v) in headers {
        response.push_str(&format!("{k}: {v}\r\n"));
    }
    response.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    response
}

/// A loopback HTTP server that answers with canned responses, chosen by the start of the
/// request path, and counts requests.
pub struct Canned {
    pub url: String,
    hits: Arc<Mutex<Vec<String>>>,
}

impl Canned {
    /// The same answer to every request.
    pub fn start(status_line: &str, headers: &[(&str, &str)], body: &str) -> Canned {
        Canned::routes(vec![("/".to_owned(), reply(status_line, headers, body))])
    }

    /// The answer of the first `(path prefix, response)` that fits; 404 otherwise.
    pub fn routes(routes: Vec<(String, String)>) -> Canned {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&hits);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut reader = BufReader::new(stream);
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let response = routes
                    .iter()
                    .find(|(prefix, _)| path.starts_with(prefix.as_str()))
                    .map_or_else(|| reply("404 Not Found", &[], ""), |(_, r)| r.clone());
                log.lock().unwrap().push(path);
                let _ = reader.get_mut().write_all(response.as_bytes());
            }
        });
        Canned { url, hits }
    }

    /// How many requests arrived.
    pub fn hits(&self) -> usize {
        self.hits.lock().unwrap().len()
    }

    /// The paths requested, in order.
    pub fn paths(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}
