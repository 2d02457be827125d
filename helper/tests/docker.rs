//! `docker-credential-keyhelm`, `keyhelm setup docker` and the docker part of `keyhelm doctor`,
//! end to end.
//!
//! The protocol is driven twice: byte for byte as docker's client library
//! (docker/docker-credential-helpers `client/client.go`, used by docker/cli
//! `native_store.go`) writes it (the request without a trailing newline for `get` and
//! `erase`, Go's HTML-escaped JSON and a newline for `store`, `unused` for `list`); and by
//! the real docker CLI, against a fake docker daemon on 127.0.0.1 that answers `docker
//! login` and records the credentials docker resolved through keyhelm for `docker pull`
//! (`X-Registry-Auth`) and `docker build` (`X-Registry-Config`). No registry is contacted.

mod plugin_support;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use keyhelm_testkit::server::ServerHandle;
use serde_json::{Value, json};
use support::{Sandbox, mode, run, text};

const NOT_FOUND: &str = "credentials not found in native keychain\n";

fn helper_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_docker-credential-keyhelm"))
}

/// What docker/cli sends to `store`: Go's `json.Encoder` output (`<`, `>`, `&` escaped) and
/// a newline.
fn go_json(server_url: &str, username: &str, secret: &str) -> Vec<u8> {
    let mut text = serde_json::to_string(&json!({
        "ServerURL": server_url, "Username": username, "Secret": secret
    }))
    .unwrap()
    .replace('<', "\\u003c")
    .replace('>', "\\u003e")
    .replace('&', "\\u0026");
    // serde_json sorts the keys; docker writes them in struct order.
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["ServerURL"], server_url);
    text = format!(
        "{{\"ServerURL\":{},\"Username\":{},\"Secret\":{}}}\n",
        field(&v, "ServerURL"),
        field(&v, "Username"),
        field(&v, "Secret")
    );
    text.into_bytes()
}

fn field(v: &Value, name: &str) -> String {
    serde_json::to_string(&v[name])
        .unwrap()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// A sandbox whose docker configuration folder is `DOCKER_CONFIG` and whose `PATH` finds
/// `docker-credential-keyhelm` first.
struct Docker {
    s: Sandbox,
}

impl Docker {
    fn new() -> Docker {
        let mut s = Sandbox::new();
        let config = s.dir().join("docker-config");
        std::fs::create_dir(&config).unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o700)).unwrap();
        s.env.set_var("DOCKER_CONFIG", &config);
        let bin_dir = helper_bin().parent().unwrap().to_path_buf();
        let outer = s.env.var("PATH").unwrap_or_default().to_owned();
        let path =
            std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(&outer)))
                .unwrap();
        s.env.set_var("PATH", path);
        Docker { s }
    }

    fn config_file(&self) -> PathBuf {
        self.s.dir().join("docker-config/config.json")
    }

    fn config(&self) -> String {
        std::fs::read_to_string(self.config_file()).unwrap()
    }

    fn helper(&self, action: &str, stdin: &[u8]) -> Output {
        run(self.s.command(helper_bin()).arg(action), stdin)
    }

    fn get(&self, url: &str) -> Output {
        self.helper("get", url.as_bytes())
    }

    fn store(&self, url: &str, user: &str, secret: &str) {
        let out = self.helper("store", &go_json(url, user, secret));
        assert_eq!(
            (out.status.code(), text(&out.stdout), text(&out.stderr)),
            (Some(0), String::new(), String::new()),
            "store {url}"
        );
    }

    fn list(&self) -> Value {
        let out = self.helper("list", b"unused");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
        assert!(out.stdout.ends_with(b"}\n"), "{}", text(&out.stdout));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The user and secret `get` answers, asserting the answer's shape.
    fn answer(&self, url: &str) -> Option<(String, String)> {
        let out = self.get(url);
        if out.status.code() == Some(1) && text(&out.stdout) == NOT_FOUND {
            assert_eq!(text(&out.stderr), "", "a miss is silent on stderr");
            return None;
        }
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(out.stdout.ends_with(b"}\n"));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["ServerURL"], url, "get answers with the URL it was asked");
        assert_eq!(v.as_object().unwrap().len(), 3, "{v}");
        Some((
            v["Username"].as_str().unwrap().to_owned(),
            v["Secret"].as_str().unwrap().to_owned(),
        ))
    }

    fn keyhelm(&self, args: &[&str]) -> Output {
        self.s.keyhelm(args, b"")
    }

    /// The real docker CLI, talking to `daemon`.
    fn docker(&self, daemon: &FakeDaemon, args: &[&str], stdin: &[u8]) -> Output {
        let mut cmd = self.s.command("timeout");
        cmd.arg("120")
            .arg("docker")
            .args(args)
            .env("DOCKER_HOST", daemon.host());
        run(&mut cmd, stdin)
    }

    /// `docker login -u bob --password-stdin registry.example.com` with `pa55word`, which
    /// must succeed.
    fn login_bob(&self, daemon: &FakeDaemon) -> Output {
        let out = self.docker(
            daemon,
            &[
                "login",
                "-u",
                "bob",
                "--password-stdin",
                "registry.example.com",
            ],
            b"pa55word\n",
        );
        assert_ok(&out, "docker login");
        out
    }
}

fn pair(user: &str, secret: &str) -> Option<(String, String)> {
    Some((user.to_owned(), secret.to_owned()))
}

#[test]
fn the_protocol_byte_for_byte_as_dockers_client_drives_it() {
    let d = Docker::new();
    // 1. Nothing stored yet (not even an identity): docker's exact "not found".
    let out = d.get("https://registry.example.com");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), NOT_FOUND);
    assert_eq!(text(&out.stderr), "");
    assert_eq!(text(&d.helper("list", b"unused").stdout), "{}\n");

    // 2. store, then get (no trailing newline), list.
    d.store("https://registry.example.com", "u", "s");
    let out = d.get("https://registry.example.com");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "{\"ServerURL\":\"https://registry.example.com\",\"Username\":\"u\",\"Secret\":\"s\"}\n"
    );
    assert_eq!(text(&out.stderr), "");
    let out = d.helper("list", b"unused");
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (
            Some(0),
            "{\"https://registry.example.com\":\"u\"}\n".to_owned()
        )
    );

    // The secret is kept exactly, whatever it holds.
    let odd = "p\"a\\s&s<w>o\u{e9}rd\t\u{1}";
    d.store("ghcr.io", "u2", odd);
    assert_eq!(d.answer("ghcr.io"), pair("u2", odd));
    // Surrounding white space in a get is trimmed, as the reference helpers do.
    assert_eq!(d.get(" ghcr.io\n").stdout, d.get("ghcr.io").stdout);

    // 3. erase, then get: not found; erase again: still fine (docker logout erases several
    // spellings of a registry and warns on every failure).
    for _ in 0..2 {
        let out = d.helper("erase", b"https://registry.example.com");
        assert_eq!(
            (out.status.code(), text(&out.stdout), text(&out.stderr)),
            (Some(0), String::new(), String::new())
        );
    }
    assert_eq!(d.answer("https://registry.example.com"), None);
    assert_eq!(d.list(), json!({"ghcr.io": "u2"}));

    // The vault keeps its modes.
    assert_eq!(mode(&d.s.vault_file()), 0o600);
}

#[test]
fn identity_tokens_round_trip_under_the_token_user_name() {
    let d = Docker::new();
    // docker/cli stores an identity token as Username "<token>", escaped by Go's encoder.
    let input = go_json("https://index.docker.io/v1/", "<token>", "eyJhbGciOi&x");
    assert!(
        String::from_utf8_lossy(&input).contains("\"Username\":\"\\u003ctoken\\u003e\""),
        "{}",
        String::from_utf8_lossy(&input)
    );
    let out = d.helper("store", &input);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = d.get("https://index.docker.io/v1/");
    assert_eq!(
        text(&out.stdout),
        "{\"ServerURL\":\"https://index.docker.io/v1/\",\"Username\":\"<token>\",\
         \"Secret\":\"eyJhbGciOi&x\"}\n"
    );
    assert_eq!(d.list(), json!({"https://index.docker.io/v1/": "<token>"}));
}

#[test]
fn refusals_are_one_line_on_stdout_with_exit_1_and_write_nothing() {
    let d = Docker::new();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("get", b"".to_vec(), "no credentials server URL"),
        ("get", b" \n\t".to_vec(), "no credentials server URL"),
        ("erase", b"".to_vec(), "no credentials server URL"),
        ("store", go_json("", "u", "s"), "no credentials server URL"),
        (
            "store",
            b"{\"Username\":\"u\",\"Secret\":\"s\"}\n".to_vec(),
            "no credentials server URL",
        ),
        (
            "store",
            go_json("ghcr.io", "", "s"),
            "no credentials username",
        ),
        (
            "store",
            b"{\"ServerURL\":\"ghcr.io\",\"Secret\":\"s\"}\n".to_vec(),
            "no credentials username",
        ),
        (
            "frobnicate",
            go_json("ghcr.io", "u", "s"),
            "docker-credential-keyhelm: unknown action: frobnicate",
        ),
        (
            "",
            b"".to_vec(),
            "docker-credential-keyhelm: unknown action: ",
        ),
    ];
    for (action, stdin, expected) in cases {
        let out = d.helper(action, &stdin);
        assert_eq!(out.status.code(), Some(1), "{action}");
        assert_eq!(text(&out.stdout), format!("{expected}\n"), "{action}");
        assert_eq!(text(&out.stderr), "", "{action}");
    }
    assert!(!d.s.vault_file().exists(), "no refusal wrote anything");

    // The reference helpers' usage line, for any other number of arguments.
    for args in [&[][..], &["get", "ghcr.io"][..]] {
        let out = run(d.s.command(helper_bin()).args(args), b"");
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            text(&out.stdout),
            "Usage: docker-credential-keyhelm <store|get|erase|list|version>\n"
        );
    }
    // And a refused store over an existing credential leaves it alone.
    d.store("ghcr.io", "u", "s");
    let before = d.s.vault_bytes();
    let out = d.helper("store", &go_json("ghcr.io", "", "new"));
    assert_eq!(text(&out.stdout), "no credentials username\n");
    assert_eq!(d.s.vault_bytes(), before);
    assert_eq!(d.answer("ghcr.io"), pair("u", "s"));
}

#[test]
fn version_and_help() {
    let d = Docker::new();
    let version = format!(
        "docker-credential-keyhelm (github.com/keyhelm/keyhelm) v{}\n",
        env!("CARGO_PKG_VERSION")
    );
    for arg in ["version", "--version", "-v"] {
        let out = d.helper(arg, b"");
        assert_eq!(
            (out.status.code(), text(&out.stdout)),
            (Some(0), version.clone())
        );
    }
    let out = d.helper("--help", b"");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "Usage: docker-credential-keyhelm <store|get|erase|list|version>\n\n\
         keyhelm's credential helper for docker. docker runs it when its config.json names \
         \"keyhelm\" in credsStore\n\
         (every registry) or credHelpers (one registry); `keyhelm setup docker` writes that. \
         It answers from\n\
         keyhelm's vault and accounts. See `keyhelm --help` and keyhelm's user guide.\n"
    );
}

#[test]
fn setup_docker_has_help() {
    let d = Docker::new();
    let out = d.keyhelm(&["setup", "--help"]);
    assert!(
        text(&out.stdout).contains(
            "  docker   Make keyhelm docker's credential store (credsStore), or one registry's \
             helper\n           (credHelpers) with --registry; keeps everything else in docker's \
             config.json\n"
        ),
        "{}",
        text(&out.stdout)
    );
    let out = d.keyhelm(&["setup", "docker", "--help"]);
    assert!(
        text(&out.stdout).contains(
            "      --registry <HOST>  Use keyhelm only for this registry, e.g. ghcr.io \
             (repeatable)\n"
        ),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn logs_name_the_path_taken_and_never_the_secret() {
    let mut d = Docker::new();
    d.store("ghcr.io", "u", "hunter2");
    d.s.env.set_var("KEYHELM_LOG", "debug");
    let out = d.get("ghcr.io");
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("docker get: a stored credential"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let out = d.get("quay.io");
    assert!(
        text(&out.stderr).contains("docker get: nothing stored, no account"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), NOT_FOUND);
}

#[test]
fn a_store_replaces_the_previous_user_and_an_unchanged_one_writes_nothing() {
    let d = Docker::new();
    d.store("registry.example.com", "alice", "a");
    d.store("registry.example.com", "bob", "b");
    assert_eq!(d.answer("registry.example.com"), pair("bob", "b"));
    assert_eq!(d.list(), json!({"registry.example.com": "bob"}));
    let listed = d.keyhelm(&["list", "--json"]);
    let json: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(json["credentials"].as_array().unwrap().len(), 1, "{json}");

    // docker stores again after every `docker login`: the vault is not rewritten.
    let before = d.s.vault_bytes();
    d.store("registry.example.com", "bob", "b");
    assert_eq!(d.s.vault_bytes(), before);
    d.store("registry.example.com", "bob", "b2");
    assert_ne!(d.s.vault_bytes(), before);
    assert_eq!(d.answer("registry.example.com"), pair("bob", "b2"));
}

#[test]
fn parallel_stores_all_survive() {
    // docker runs one helper per registry; nothing may be lost when they overlap. (The
    // identity exists: two first-ever stores that both create one race in
    // `Ctx::vault_or_init`, shared with git's `store`.)
    let d = Docker::new();
    d.s.keyhelm(&["init"], b"");
    std::thread::scope(|scope| {
        for i in 0..8 {
            let d = &d;
            scope.spawn(move || d.store(&format!("r{i}.example.com"), &format!("u{i}"), "s"));
        }
    });
    let expected: serde_json::Map<String, Value> = (0..8)
        .map(|i| (format!("r{i}.example.com"), json!(format!("u{i}"))))
        .collect();
    assert_eq!(d.list(), Value::Object(expected));
}

#[test]
fn server_urls_match_as_the_reference_helpers_match_them() {
    let d = Docker::new();
    d.store("registry.example.com", "bare", "1");
    d.store("https://registry.example.com", "https", "2");
    d.store("https://other.example.com:5000/v2", "ported", "3");

    // Exact first.
    assert_eq!(d.answer("registry.example.com"), pair("bare", "1"));
    assert_eq!(d.answer("https://registry.example.com"), pair("https", "2"));
    // As parsed: the query is dropped, the scheme's case does not matter.
    assert_eq!(
        d.answer("https://registry.example.com?x=1"),
        pair("https", "2")
    );
    assert_eq!(d.answer("HTTPS://registry.example.com"), pair("https", "2"));
    // Approximately: the scheme, port and path the request lacks come from the stored URL.
    assert_eq!(d.answer("other.example.com"), pair("ported", "3"));
    assert_eq!(d.answer("other.example.com:5000"), pair("ported", "3"));
    assert_eq!(d.answer("https://other.example.com"), pair("ported", "3"));
    // But never the other way round, nor another host, port, path or scheme.
    for miss in [
        "http://other.example.com",
        "other.example.com:5001",
        "other.example.com/v3",
        "example.com",
        "registry.example.com.evil",
        "ftp://registry.example.com",
    ] {
        assert_eq!(d.answer(miss), None, "{miss}");
    }
    // Erase removes exactly the URL it is given: the bare entry stays, and does not
    // answer for the https URL (a scheme in the request is never dropped).
    d.helper("erase", b"https://registry.example.com");
    assert_eq!(d.answer("registry.example.com"), pair("bare", "1"));
    assert_eq!(d.answer("https://registry.example.com"), None);
    // Erase by the parsed form.
    d.helper("erase", b"https://other.example.com:5000/v2?x");
    assert_eq!(d.answer("other.example.com"), None);
}

#[test]
fn git_and_docker_never_see_each_others_credentials() {
    let d = Docker::new();
    d.store("ghcr.io", "dockeruser", "dockersecret");
    let out = d.s.keyhelm(&["get"], b"protocol=https\nhost=ghcr.io\n");
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), String::new())
    );
    assert_eq!(d.s.fill("protocol=https\nhost=ghcr.io\n"), None);

    d.s.approve("protocol=https\nhost=quay.io\nusername=gituser\npassword=gitsecret\n");
    assert_eq!(d.answer("quay.io"), None);
    assert_eq!(d.answer("https://quay.io"), None);
    assert_eq!(d.list(), json!({"ghcr.io": "dockeruser"}));
    // git's erase of the host leaves docker's credential alone.
    d.s.reject("protocol=https\nhost=ghcr.io\n");
    assert_eq!(d.answer("ghcr.io"), pair("dockeruser", "dockersecret"));

    // `keyhelm list` shows docker's entries as docker's, never a secret.
    let out = d.keyhelm(&["list"]);
    assert_eq!(
        text(&out.stdout),
        "docker ghcr.io as dockeruser\nhttps://gituser@quay.io\n"
    );
    assert!(!text(&out.stdout).contains("dockersecret"));
}

#[test]
fn bad_input_is_refused_and_loses_nothing() {
    let d = Docker::new();
    d.store("ghcr.io", "u", "s");
    let before = d.s.vault_bytes();
    let huge = vec![b'a'; 70_000];
    let huge_store = format!(
        "{{\"ServerURL\":\"ghcr.io\",\"Username\":\"u\",\"Secret\":\"{}\"}}",
        "x".repeat(1_100_000)
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "get",
            huge.clone(),
            "the request on stdin is larger than 65536 bytes",
        ),
        (
            "erase",
            b"gh\xffcr.io".to_vec(),
            "the server URL on stdin is not valid UTF-8",
        ),
        (
            "erase",
            b"ghcr.io\nquay.io".to_vec(),
            "the server URL on stdin contains a line break or another control character",
        ),
        (
            "get",
            b"ghcr.io\0".to_vec(),
            "the server URL on stdin contains a line break or another control character",
        ),
        (
            "store",
            huge_store.into_bytes(),
            "the request on stdin is larger than 1048576 bytes",
        ),
        (
            "store",
            b"{\"ServerURL\":\"ghcr.io\",\"Username\":\"u\",\"Secret\":\"hunter2\"".to_vec(),
            "the store request is not valid JSON (line 1, column 56)",
        ),
        (
            "store",
            b"{\"ServerURL\":\"ghcr.io\",\"Username\":\"u\",\"Secret\":hunter2}".to_vec(),
            "the store request is not valid JSON (line 1, column 48)",
        ),
        (
            "store",
            b"{\"ServerURL\":\"ghcr.io\",\"Username\":\"u\",\"Secret\":31337}".to_vec(),
            "the store request must be a JSON object whose ServerURL, Username and Secret are \
             strings (line 1, column 52)",
        ),
        (
            "store",
            b"\"hunter2\"".to_vec(),
            "the store request must be a JSON object whose ServerURL, Username and Secret are \
             strings (line 1, column 9)",
        ),
        (
            "store",
            go_json("ghcr.io\nevil", "u", "hunter2"),
            "the ServerURL of the store request contains a line break or another control \
             character",
        ),
        (
            "store",
            go_json("ghcr.io", "u\r", "hunter2"),
            "the Username of the store request contains a line break or another control \
             character",
        ),
    ];
    for (action, stdin, expected) in cases {
        let out = d.helper(action, &stdin);
        let hint = "nothing was read from or written to the vault";
        assert_eq!(out.status.code(), Some(1), "{expected}");
        assert_eq!(
            text(&out.stdout),
            format!("{expected} (hint: {hint})\n"),
            "{action}"
        );
        assert_eq!(
            text(&out.stderr),
            format!("keyhelm: error: {expected}\nkeyhelm: hint: {hint}\n")
        );
        for secret in ["hunter2", "31337"] {
            assert!(!text(&out.stdout).contains(secret));
            assert!(!text(&out.stderr).contains(secret));
        }
        assert_eq!(d.s.vault_bytes(), before, "{expected}");
    }
    assert_eq!(d.answer("ghcr.io"), pair("u", "s"));
}

#[test]
fn a_damaged_vault_is_reported_to_docker_and_never_overwritten() {
    let d = Docker::new();
    d.store("ghcr.io", "u", "s");
    let mut bytes = d.s.vault_bytes();
    let keep = bytes.len() / 2;
    bytes.truncate(keep);
    std::fs::write(d.s.vault_file(), &bytes).unwrap();
    let vault = d.s.vault_file().display().to_string();
    for (action, stdin) in [
        ("get", b"ghcr.io".to_vec()),
        ("list", b"unused".to_vec()),
        ("erase", b"ghcr.io".to_vec()),
        ("store", go_json("ghcr.io", "u", "s2")),
    ] {
        let out = d.helper(action, &stdin);
        assert_eq!(out.status.code(), Some(1), "{action}");
        let stdout = text(&out.stdout);
        assert!(
            stdout.starts_with(&format!("the vault {vault} is damaged: ")),
            "{action}: {stdout}"
        );
        assert!(
            stdout.contains(" (hint: keyhelm left the file untouched"),
            "{stdout}"
        );
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with(&format!("keyhelm: error: the vault {vault} is damaged: ")),
            "{stderr}"
        );
        assert!(stderr.contains("\nkeyhelm: hint: keyhelm left the file untouched"));
        assert_eq!(d.s.vault_bytes(), bytes, "{action}");
    }
}

/// The example plugin in `$KEYHELM_HOME/plugins` and an account `hi` serving `pattern`.
fn with_hello_account(d: &Docker, pattern: &str) -> PathBuf {
    d.s.plugin_account_add(
        "hello",
        &plugin_support::built_example(),
        "hi",
        "https://hello.example",
        &["--match", pattern, "--set", "greeting=hi"],
        "seed=s33d\n",
    );
    d.s.plugin_path("hello")
}

#[test]
fn an_account_serves_its_registries_from_the_cached_token() {
    let d = Docker::new();
    let plugin = with_hello_account(&d, "https://registry.example.com");
    // The first get logs in through the plugin and caches the token...
    assert_eq!(d.answer("registry.example.com"), pair("hello", "hi-s33d"));
    // ...later ones answer from the cache: without the plugin file, nothing changes.
    std::fs::remove_file(&plugin).unwrap();
    assert_eq!(d.answer("registry.example.com"), pair("hello", "hi-s33d"));
    assert_eq!(
        d.answer("https://registry.example.com"),
        pair("hello", "hi-s33d")
    );
    assert_eq!(
        d.answer("registry.example.com/v2/"),
        pair("hello", "hi-s33d")
    );
    // Other registries, ports and schemes are not the account's.
    for miss in [
        "other.example.com",
        "registry.example.com:5000",
        "http://registry.example.com",
    ] {
        assert_eq!(d.answer(miss), None, "{miss}");
    }
    // Accounts are not listed: `list` is what docker stored.
    assert_eq!(d.list(), json!({}));

    // `docker login` stores what get answered once the registry took it: the token stays
    // with its account, it does not become a stored credential.
    let before = d.s.vault_bytes();
    d.store("registry.example.com", "hello", "hi-s33d");
    assert_eq!(d.s.vault_bytes(), before);
    assert_eq!(d.list(), json!({}));

    // A stored credential wins over the account.
    d.store("registry.example.com", "robot", "r0b0t");
    assert_eq!(d.answer("registry.example.com"), pair("robot", "r0b0t"));
    d.helper("erase", b"registry.example.com");
    assert_eq!(d.answer("registry.example.com"), pair("hello", "hi-s33d"));
}

#[test]
fn a_bare_host_also_finds_an_account_on_plain_http() {
    let mut d = Docker::new();
    with_hello_account(&d, "http://127.0.0.1:5000");
    assert_eq!(d.answer("127.0.0.1:5000"), pair("hello", "hi-s33d"));
    d.s.env.set_var("KEYHELM_LOG", "debug");
    let logged = text(&d.get("127.0.0.1:5000").stderr);
    assert!(
        logged.contains("docker get: an account's token"),
        "{logged}"
    );
    assert!(logged.contains("account=hi"), "{logged}");
    assert!(!logged.contains("s33d"), "{logged}");
    d.s.env.remove_var("KEYHELM_LOG");
    assert_eq!(d.answer("http://127.0.0.1:5000"), pair("hello", "hi-s33d"));
    assert_eq!(d.answer("https://127.0.0.1:5000"), None);
}

// ---------------------------------------------------------------------------------------
// keyhelm setup docker, keyhelm doctor

fn setup(d: &Docker, args: &[&str]) -> Output {
    let mut all = vec!["setup", "docker"];
    all.extend_from_slice(args);
    d.keyhelm(&all)
}

#[test]
fn setup_sets_creds_store_and_keeps_everything_else() {
    let d = Docker::new();
    let original = "{\n  \"auths\": {\"https://index.docker.io/v1/\": {}, \"old.tld\": {\"auth\": \"dTpw\"}},\n  \
                    \"credsStore\": \"desktop\",\n  \"credHelpers\": {\"gcr.io\": \"gcloud\"},\n  \
                    \"psFormat\": \"table {{.ID}}\",\n  \"experimental\": \"enabled\"\n}\n";
    std::fs::write(d.config_file(), original).unwrap();
    std::fs::set_permissions(d.config_file(), std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = setup(&d, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let file = d.config_file().display().to_string();
    assert_eq!(
        text(&out.stdout),
        format!(
            "Replaced credsStore \"desktop\" with \"keyhelm\" in {file}: docker now asks keyhelm \
             for every registry.\n\
             Note: credHelpers sends these registries to other helpers: gcr.io (gcloud). Remove \
             them from {file} if keyhelm should answer for them.\n\
             Note: {file} still holds plain-text credentials for old.tld; docker no longer reads \
             them. Run `docker logout REGISTRY` and `docker login REGISTRY` for each to move them \
             into keyhelm.\n"
        )
    );
    assert_eq!(
        d.config(),
        "{\n\t\"auths\": {\n\t\t\"https://index.docker.io/v1/\": {},\n\t\t\"old.tld\": {\n\
         \t\t\t\"auth\": \"dTpw\"\n\t\t}\n\t},\n\t\"credsStore\": \"keyhelm\",\n\
         \t\"credHelpers\": {\n\t\t\"gcr.io\": \"gcloud\"\n\t},\n\
         \t\"psFormat\": \"table {{.ID}}\",\n\t\"experimental\": \"enabled\"\n}\n"
    );
    assert_eq!(mode(&d.config_file()), 0o640, "the file keeps its mode");

    // Again: nothing to do, and the file is not rewritten.
    let before = std::fs::metadata(d.config_file())
        .unwrap()
        .modified()
        .unwrap();
    let out = setup(&d, &[]);
    assert!(
        text(&out.stdout).starts_with(&format!(
            "docker already asks keyhelm for every registry (credsStore in {file}).\n"
        )),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        std::fs::metadata(d.config_file())
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
}

#[test]
fn setup_with_registries_writes_cred_helpers() {
    let d = Docker::new();
    std::fs::write(
        d.config_file(),
        "{\"credsStore\":\"desktop\",\"credHelpers\":{\"ghcr.io\":\"gh\"}}",
    )
    .unwrap();
    let out = setup(
        &d,
        &[
            "--registry",
            "https://ghcr.io/",
            "--registry",
            "docker.io",
            "--registry",
            "localhost:5000",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let file = d.config_file().display().to_string();
    assert_eq!(
        text(&out.stdout),
        format!(
            "Replaced credHelpers[\"ghcr.io\"] \"gh\" with \"keyhelm\" in {file}.\n\
             Set credHelpers[\"https://index.docker.io/v1/\"] to \"keyhelm\" in {file}.\n\
             Set credHelpers[\"localhost:5000\"] to \"keyhelm\" in {file}.\n"
        )
    );
    let config: Value = serde_json::from_str(&d.config()).unwrap();
    assert_eq!(
        config,
        json!({"credsStore": "desktop", "credHelpers": {
            "ghcr.io": "keyhelm", "https://index.docker.io/v1/": "keyhelm", "localhost:5000": "keyhelm"
        }})
    );
    let out = setup(&d, &["--registry", "ghcr.io"]);
    assert_eq!(
        text(&out.stdout),
        format!("docker already asks keyhelm for ghcr.io (credHelpers in {file}).\n")
    );

    // A registry docker would never key that way is refused before anything is written.
    let before = d.config();
    let out = setup(&d, &["--registry", "ghcr.io/team"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "keyhelm: error: 'ghcr.io/team' is not a registry: docker keys registries by host, \
         without a path\nkeyhelm: hint: name it as docker does: a host with an optional port, \
         such as ghcr.io or localhost:5000\n"
    );
    assert_eq!(d.config(), before);
}

#[test]
fn setup_writes_to_home_without_docker_config_and_creates_private_files() {
    let mut d = Docker::new();
    d.s.env.remove_var("DOCKER_CONFIG");
    let out = setup(&d, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let file = d.s.home().join(".docker/config.json");
    assert_eq!(
        text(&out.stdout),
        format!(
            "Set credsStore to \"keyhelm\" in {}: docker now asks keyhelm for every registry.\n",
            file.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "{\n\t\"credsStore\": \"keyhelm\"\n}\n"
    );
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
}

#[test]
fn setup_refuses_a_broken_config_and_changes_nothing() {
    let d = Docker::new();
    let broken = "{\"auths\": {\"a.tld\": {\"auth\": \"c2VjcmV0\"}},\n \"credsStore\" \"x\"}";
    std::fs::write(d.config_file(), broken).unwrap();
    let out = setup(&d, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "keyhelm: error: docker's configuration {} is not valid JSON (line 2, column 15)\n\
             keyhelm: hint: fix the file or move it away, then run the command again; keyhelm \
             changed nothing\n",
            d.config_file().display()
        )
    );
    assert_eq!(text(&out.stdout), "");
    assert_eq!(d.config(), broken);

    // credHelpers that is not a map of registries to helpers.
    let odd = "{\"credHelpers\": [\"keyhelm\"]}";
    std::fs::write(d.config_file(), odd).unwrap();
    let out = setup(&d, &["--registry", "ghcr.io"]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (
            Some(1),
            format!(
                "keyhelm: error: credHelpers in {} is not a JSON object\n\
                 keyhelm: hint: fix the file (credHelpers maps registries to helper names); \
                 keyhelm changed nothing\n",
                d.config_file().display()
            )
        )
    );
    assert_eq!(d.config(), odd);

    // A file keyhelm cannot read.
    std::fs::remove_file(d.config_file()).unwrap();
    std::fs::create_dir(d.config_file()).unwrap();
    let out = setup(&d, &[]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (
            Some(1),
            format!(
                "keyhelm: error: cannot read docker's configuration {}: Is a directory (os \
                 error 21)\n",
                d.config_file().display()
            )
        )
    );

    // Nowhere to look.
    let mut d = Docker::new();
    d.s.env.remove_var("DOCKER_CONFIG");
    d.s.env.remove_var("HOME");
    let out = setup(&d, &[]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (
            Some(1),
            "keyhelm: error: cannot tell where docker's configuration is: neither \
             DOCKER_CONFIG nor HOME is set\n\
             keyhelm: hint: set DOCKER_CONFIG to the folder of docker's config.json\n"
                .to_owned()
        )
    );
}

#[test]
fn setup_says_when_docker_cannot_find_the_helper() {
    let mut d = Docker::new();
    d.s.env.set_var("PATH", "/usr/bin:/bin");
    let out = setup(&d, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let bin_dir = helper_bin().parent().unwrap().display().to_string();
    assert!(
        text(&out.stdout).ends_with(&format!(
            "Note: docker runs docker-credential-keyhelm from PATH, and PATH does not have it: \
             add {bin_dir} to PATH.\n"
        )),
        "{}",
        text(&out.stdout)
    );

    // A keyhelm without docker-credential-keyhelm beside it can only say to install it.
    let alone = keyhelm_alone();
    let out = run(d.s.command(&alone).args(["setup", "docker"]), b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with(
            "Note: docker runs docker-credential-keyhelm from PATH, and PATH does not have it: \
             install it (install.sh puts it next to keyhelm).\n"
        ),
        "{}",
        text(&out.stdout)
    );
}

/// A hard link to the `keyhelm` binary in a folder without docker-credential-keyhelm.
fn keyhelm_alone() -> PathBuf {
    static ALONE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ALONE
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docker-keyhelm-alone");
            std::fs::create_dir_all(&dir).unwrap();
            let alone = dir.join("keyhelm");
            let _ = std::fs::remove_file(&alone);
            std::fs::hard_link(support::keyhelm_bin(), &alone)
                .or_else(|_| std::fs::copy(support::keyhelm_bin(), &alone).map(|_| ()))
                .unwrap();
            alone
        })
        .clone()
}

/// The doctor's lines about docker.
fn doctor_docker(d: &Docker) -> (Option<i32>, Vec<String>) {
    let out = d.keyhelm(&["doctor"]);
    let mut lines = Vec::new();
    let mut docker = false;
    for line in text(&out.stdout).lines() {
        if !line.starts_with("                hint: ") {
            docker = line.get(6..16) == Some("docker    ");
        }
        if docker {
            lines.push(line.to_owned());
        }
    }
    (out.status.code(), lines)
}

#[test]
fn doctor_checks_dockers_configuration() {
    let mut d = Docker::new();
    d.s.keyhelm(&["init"], b"");
    let file = d.config_file().display().to_string();
    // Not set up (docker is installed).
    assert_eq!(
        doctor_docker(&d),
        (
            Some(0),
            vec![
                format!("warn  docker    {file} does not use keyhelm"),
                "                hint: run `keyhelm setup docker` (or `--registry HOST` for one \
                 registry)"
                    .to_owned()
            ]
        )
    );
    // Set up, helper on PATH.
    std::fs::write(
        d.config_file(),
        "{\"credsStore\":\"keyhelm\",\"credHelpers\":{\"ghcr.io\":\"keyhelm\"}}",
    )
    .unwrap();
    assert_eq!(
        doctor_docker(&d),
        (
            Some(0),
            vec![
                format!("ok    docker    credsStore sends every registry to keyhelm ({file})"),
                format!("ok    docker    credHelpers sends ghcr.io to keyhelm ({file})"),
            ]
        )
    );
    // Plain-text credentials left behind.
    std::fs::write(
        d.config_file(),
        "{\"credsStore\":\"keyhelm\",\"auths\":{\"old.tld\":{\"auth\":\"dTpw\"}}}",
    )
    .unwrap();
    let (code, lines) = doctor_docker(&d);
    assert_eq!(code, Some(0));
    assert_eq!(
        lines[1..],
        [
            format!("warn  docker    {file} still holds plain-text credentials for old.tld"),
            "                hint: run `docker logout REGISTRY` and `docker login REGISTRY` to \
             move each into keyhelm"
                .to_owned()
        ]
    );
    // The helper is not on PATH: docker cannot run it.
    let path = d.s.env.var("PATH").unwrap().to_owned();
    d.s.env.set_var("PATH", "/usr/bin:/bin");
    let (code, lines) = doctor_docker(&d);
    assert_eq!(code, Some(1));
    let bin_dir = helper_bin().parent().unwrap().display().to_string();
    assert_eq!(
        lines[1..3],
        [
            "error docker    docker-credential-keyhelm is not on PATH, so docker cannot run it"
                .to_owned(),
            format!("                hint: add {bin_dir} to PATH"),
        ]
    );
    let out = run(d.s.command(keyhelm_alone()).arg("doctor"), b"");
    assert!(
        text(&out.stdout).contains(
            "\nerror docker    docker-credential-keyhelm is not on PATH, so docker cannot run it\n\
             \x20               hint: install docker-credential-keyhelm on PATH (install.sh puts \
             it next to keyhelm)\n"
        ),
        "{}",
        text(&out.stdout)
    );
    d.s.env.set_var("PATH", path);
    // A broken file.
    std::fs::write(d.config_file(), "{").unwrap();
    let (code, lines) = doctor_docker(&d);
    assert_eq!(code, Some(1));
    assert_eq!(
        lines,
        [
            format!(
                "error docker    docker's configuration {file} is not valid JSON (line 1, \
                 column 1)"
            ),
            "                hint: fix the file or move it away, then run the command again; \
             keyhelm changed nothing"
                .to_owned()
        ]
    );
}

// ---------------------------------------------------------------------------------------
// The real docker CLI, against a fake daemon.

/// One request the fake daemon received.
#[derive(Clone, Debug)]
struct Call {
    path: String,
    /// `X-Registry-Auth`, decoded (docker pull/push).
    auth: Option<Value>,
    /// `X-Registry-Config`, decoded (legacy docker build).
    config: Option<Value>,
    /// A JSON body (docker login's credentials).
    body: Option<Value>,
}

/// Enough of the Docker Engine API for `docker login`, `docker pull` and the legacy
/// `docker build`, recording what docker sent.
struct FakeDaemon {
    server: ServerHandle,
    calls: Arc<Mutex<Vec<Call>>>,
}

fn decode_header(headers: &HeaderMap, name: &str) -> Option<Value> {
    let raw = headers.get(name)?.to_str().ok()?;
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(raw)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

impl FakeDaemon {
    /// `identity_token`: what `/auth` returns as `IdentityToken` (empty: none).
    fn start(identity_token: &str) -> FakeDaemon {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let recorded = calls.clone();
        let token = identity_token.to_owned();
        let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let recorded = recorded.clone();
            let token = token.clone();
            async move {
                let path = uri.path().to_owned();
                recorded.lock().unwrap().push(Call {
                    path: path.clone(),
                    auth: decode_header(&headers, "x-registry-auth"),
                    config: decode_header(&headers, "x-registry-config"),
                    body: serde_json::from_slice(&body).ok(),
                });
                respond(&method, &path, &token)
            }
        };
        let server = ServerHandle::start(Router::new().fallback(handler)).unwrap();
        FakeDaemon { server, calls }
    }

    fn host(&self) -> String {
        format!("tcp://{}", self.server.addr())
    }

    fn calls(&self, suffix: &str) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.path.ends_with(suffix))
            .cloned()
            .collect()
    }
}

fn respond(method: &Method, path: &str, identity_token: &str) -> Response {
    let json_type = [(header::CONTENT_TYPE, "application/json")];
    if path.ends_with("/_ping") {
        let headers = [
            ("Api-Version", "1.45"),
            ("Ostype", "linux"),
            ("Content-Type", "text/plain; charset=utf-8"),
        ];
        let body = if method == Method::HEAD { "" } else { "OK" };
        (StatusCode::OK, headers, body).into_response()
    } else if path.ends_with("/auth") {
        let body = json!({"Status": "Login Succeeded", "IdentityToken": identity_token});
        (StatusCode::OK, json_type, body.to_string()).into_response()
    } else if path.ends_with("/images/create") {
        (
            StatusCode::OK,
            json_type,
            "{\"status\":\"Pulled from the fake\"}\n",
        )
            .into_response()
    } else if path.ends_with("/build") {
        let stream = "{\"stream\":\"Step 1/1 : FROM scratch\\n\"}\n\
                      {\"aux\":{\"ID\":\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"}}\n\
                      {\"stream\":\"Successfully built 000000000000\\n\"}\n";
        (StatusCode::OK, json_type, stream).into_response()
    } else {
        let body = json!({"message": format!("the fake daemon does not serve {path}")});
        (StatusCode::NOT_FOUND, json_type, body.to_string()).into_response()
    }
}

fn assert_ok(out: &Output, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: stdout {} stderr {}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The credentials docker sent with its last pull.
fn pulled_with(daemon: &FakeDaemon) -> Value {
    let pulls = daemon.calls("/images/create");
    pulls
        .last()
        .expect("docker pulled")
        .auth
        .clone()
        .unwrap_or(Value::Null)
}

#[test]
fn docker_login_pull_and_logout_go_through_keyhelm() {
    let d = Docker::new();
    assert_ok(&setup(&d, &[]), "setup");
    let daemon = FakeDaemon::start("");

    let out = d.login_bob(&daemon);
    assert!(text(&out.stdout).contains("Login Succeeded"));
    assert_eq!(
        daemon.calls("/auth")[0].body,
        Some(
            json!({"username": "bob", "password": "pa55word", "serveraddress": "registry.example.com"})
        )
    );
    // The credential is in the vault, not in docker's file.
    assert_eq!(d.list(), json!({"registry.example.com": "bob"}));
    assert!(!d.config().contains("pa55word"), "{}", d.config());
    assert!(d.config().contains("\"credsStore\": \"keyhelm\""));

    let out = d.docker(&daemon, &["pull", "registry.example.com/team/app:1"], b"");
    assert_ok(&out, "docker pull");
    assert_eq!(
        pulled_with(&daemon),
        json!({"username": "bob", "password": "pa55word", "serveraddress": "registry.example.com"})
    );

    // A registry keyhelm knows nothing about: docker goes on without credentials, quietly.
    let out = d.docker(&daemon, &["pull", "quay.io/x/y:1"], b"");
    assert_ok(&out, "docker pull of an unknown registry");
    assert_eq!(text(&out.stderr), "");
    let anonymous = pulled_with(&daemon);
    assert!(
        anonymous.get("password").is_none() && anonymous.get("username").is_none(),
        "{anonymous}"
    );

    let out = d.docker(&daemon, &["logout", "registry.example.com"], b"");
    assert_ok(&out, "docker logout");
    assert_eq!(text(&out.stderr), "", "no warning from any erase");
    assert_eq!(d.list(), json!({}));
    let out = d.docker(&daemon, &["pull", "registry.example.com/team/app:1"], b"");
    assert_ok(&out, "docker pull after logout");
    assert!(pulled_with(&daemon).get("password").is_none());

    // Docker Hub's logout asks for the refresh token key and erases the hub's: no warnings.
    let out = d.docker(&daemon, &["logout"], b"");
    assert_ok(&out, "docker logout (Docker Hub)");
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn docker_identity_tokens_are_stored_under_the_token_user_name() {
    let d = Docker::new();
    assert_ok(&setup(&d, &["--registry", "registry.example.com"]), "setup");
    let daemon = FakeDaemon::start("id-t0ken&<x>");
    d.login_bob(&daemon);
    assert_eq!(d.list(), json!({"registry.example.com": "<token>"}));
    assert_eq!(
        d.answer("registry.example.com"),
        pair("<token>", "id-t0ken&<x>")
    );
    let out = d.docker(&daemon, &["pull", "registry.example.com/app"], b"");
    assert_ok(&out, "docker pull");
    let auth = pulled_with(&daemon);
    assert_eq!(auth["identitytoken"], "id-t0ken&<x>", "{auth}");
    assert!(auth.get("password").is_none(), "{auth}");
}

#[test]
fn the_legacy_docker_build_lists_then_gets_every_registry() {
    let d = Docker::new();
    assert_ok(&setup(&d, &[]), "setup");
    d.store("registry.example.com", "bob", "b0b");
    d.store("https://index.docker.io/v1/", "<token>", "hub-token");
    let daemon = FakeDaemon::start("");
    let context = d.s.dir().join("build");
    std::fs::create_dir(&context).unwrap();
    std::fs::write(context.join("Dockerfile"), "FROM scratch\n").unwrap();
    let mut cmd = d.s.command("timeout");
    cmd.args(["120", "docker", "build"])
        .arg(&context)
        .env("DOCKER_HOST", daemon.host())
        .env("DOCKER_BUILDKIT", "0");
    let out = run(&mut cmd, b"");
    assert_ok(&out, "docker build");
    let builds = daemon.calls("/build");
    let config = builds[0].config.clone().expect("X-Registry-Config");
    assert_eq!(
        config["registry.example.com"]["username"], "bob",
        "{config}"
    );
    assert_eq!(
        config["registry.example.com"]["password"], "b0b",
        "{config}"
    );
    assert_eq!(
        config["https://index.docker.io/v1/"]["identitytoken"], "hub-token",
        "{config}"
    );
}

#[test]
fn docker_pull_uses_an_accounts_token() {
    let d = Docker::new();
    assert_ok(&setup(&d, &[]), "setup");
    with_hello_account(&d, "https://registry.example.com");
    let daemon = FakeDaemon::start("");
    let out = d.docker(&daemon, &["pull", "registry.example.com/team/app:1"], b"");
    assert_ok(&out, "docker pull");
    assert_eq!(
        pulled_with(&daemon),
        json!({"username": "hello", "password": "hi-s33d", "serveraddress": "registry.example.com"})
    );
}

#[test]
fn docker_shows_keyhelms_error_when_the_vault_is_damaged() {
    let d = Docker::new();
    assert_ok(&setup(&d, &[]), "setup");
    d.store("registry.example.com", "bob", "b0b");
    let bytes = d.s.vault_bytes();
    std::fs::write(d.s.vault_file(), &bytes[..bytes.len() / 2]).unwrap();
    let daemon = FakeDaemon::start("");
    let out = d.docker(&daemon, &["pull", "registry.example.com/team/app:1"], b"");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "keyhelm: error: the vault {} is damaged: ",
            d.s.vault_file().display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("keyhelm: hint: keyhelm left the file untouched"),
        "{stderr}"
    );
    assert!(!stderr.contains("b0b"));
    assert_eq!(d.s.vault_bytes(), bytes[..bytes.len() / 2]);
}

#[test]
fn docker_finds_the_helper_only_through_setup() {
    // Without `keyhelm setup docker`, docker keeps credentials in its own file: a sanity
    // check that the tests above really went through keyhelm.
    let d = Docker::new();
    let daemon = FakeDaemon::start("");
    d.login_bob(&daemon);
    assert_eq!(d.list(), json!({}));
    assert!(d.config().contains("\"auth\""), "{}", d.config());
    assert!(!Path::new(&d.s.vault_file()).exists());
}
