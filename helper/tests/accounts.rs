//! Accounts end to end with the example third-party plugin (examples/keyhelm-hello), built
//! as an outside author would and dropped into the plugin folder: git gets its token through
//! keyhelm, scripts through `keyhelm token`, and the plugin is pinned, verified and refused
//! when tampered with.

mod plugin_support;
mod support;

use std::path::PathBuf;

use support::{Sandbox, text};

/// A sandbox with the hello plugin in `$KEYHELM_HOME/plugins` and an account `hi` serving
/// https://git.example.com.
fn with_hello() -> (Sandbox, PathBuf) {
    let s = Sandbox::new();
    let out = s.plugin_account_add(
        "hello",
        &plugin_support::built_example(),
        "hi",
        "https://hello.example",
        &["--match", "https://git.example.com", "--set", "greeting=hi"],
        "seed=s33d\n",
    );
    assert_eq!(
        text(&out.stdout),
        "Added account 'hi' (Hello (example) at https://hello.example).\n\
         It answers for: https://git.example.com\nCheck it with `keyhelm login hi`.\n"
    );
    let installed = s.plugin_path("hello");
    (s, installed)
}

#[test]
fn git_gets_the_example_plugins_token_through_keyhelm() {
    let (s, _) = with_hello();
    let filled = s
        .fill("url=https://git.example.com/team/repo.git\n")
        .expect("git fills it");
    assert!(
        filled.contains("username=hello\npassword=hi-s33d\n"),
        "{filled}"
    );
    assert!(filled.contains("password_expiry_utc="), "{filled}");
    let filled = s
        .fill("url=https://git.example.com/team/repo.git\ncapability[]=authtype\n")
        .unwrap();
    assert!(
        filled.contains("authtype=Bearer\ncredential=hi-s33d\n"),
        "{filled}"
    );
    // Another host is not served.
    assert_eq!(s.fill("url=https://other.example.com/\n"), None);

    // git's approve of the issued token keeps no stored credential; reject drops the token.
    s.approve("url=https://hello@git.example.com/\npassword=hi-s33d\n");
    let listed = s.keyhelm(&["list", "--json"], b"");
    let json: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(json["credentials"].as_array().unwrap().len(), 0, "{json}");
    s.reject("url=https://hello@git.example.com/\npassword=hi-s33d\n");
    let shown = s.keyhelm(&["account", "show", "hi", "--json"], b"");
    let json: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(
        json["token"],
        serde_json::Value::Null,
        "the refused token is forgotten"
    );
    // The next lookup logs in again.
    assert!(
        s.fill("url=https://git.example.com/\n")
            .unwrap()
            .contains("password=hi-s33d")
    );

    // A stored credential for the same URL wins over the account.
    s.approve("url=https://me@git.example.com/\npassword=stored\n");
    assert!(
        s.fill("url=https://git.example.com/\n")
            .unwrap()
            .contains("password=stored")
    );
}

#[test]
fn scripts_get_the_token_and_accounts_never_show_secrets() {
    let (s, _) = with_hello();
    let out = s.keyhelm(&["token", "hi"], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi-s33d\n");

    let list = s.keyhelm(&["account", "list"], b"");
    assert!(
        text(&list.stdout).starts_with("hi  hello  https://hello.example  (token valid until "),
        "{}",
        text(&list.stdout)
    );
    let show = s.keyhelm(&["account", "show", "hi"], b"");
    let shown = text(&show.stdout);
    assert!(shown.contains("setting   greeting = hi\n"), "{shown}");
    assert!(shown.contains("secret    seed (set)\n"), "{shown}");
    let json = s.keyhelm(&["account", "list", "--json"], b"");
    for out in [&list.stdout, &show.stdout, &json.stdout] {
        assert!(!text(out).contains("s33d"), "{}", text(out));
    }
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["accounts"][0]["secrets"], serde_json::json!(["seed"]));
    assert_eq!(
        json["accounts"][0]["matches"],
        serde_json::json!(["https://git.example.com"])
    );

    let login = s.keyhelm(&["login", "hi"], b"");
    assert!(login.status.success(), "{}", text(&login.stderr));
    assert!(
        text(&login.stdout).starts_with("Logged in to 'hi' as hello; the token is valid until ")
    );
    let logout = s.keyhelm(&["logout", "hi"], b"");
    assert!(logout.status.success(), "{}", text(&logout.stderr));
    assert_eq!(
        text(&logout.stdout),
        "Logged out of 'hi'; the cached token is forgotten.\n"
    );
    let removed = s.keyhelm(&["account", "remove", "hi"], b"");
    assert_eq!(text(&removed.stdout), "Removed account 'hi'.\n");
    let gone = s.keyhelm(&["token", "hi"], b"");
    assert_eq!(gone.status.code(), Some(9));
    assert_eq!(
        text(&gone.stderr),
        "keyhelm: error: there is no account named 'hi'\n\
         keyhelm: hint: add one with `keyhelm account add NAME --provider P`\n"
    );
}

#[test]
fn account_add_refuses_bad_input_clearly() {
    let (s, _) = with_hello();
    let cases: [(&[&str], &[u8], i32, &str); 6] = [
        (
            &[
                "account",
                "add",
                "x",
                "--provider",
                "hello",
                "--set",
                "seed=topsecret",
            ],
            b"",
            2,
            "keyhelm: error: 'seed' is a secret and is never taken from the command line\n\
          keyhelm: hint: keyhelm prompts for it on the terminal, or reads KEY=VALUE lines from stdin with --secrets-from-stdin\n",
        ),
        (
            &[
                "account",
                "add",
                "x",
                "--provider",
                "hello",
                "--url",
                "https://h.example",
                "--set",
                "nope=1",
            ],
            b"",
            2,
            "keyhelm: error: provider 'hello' has no setting 'nope'\nkeyhelm: hint: its settings are: greeting, check_url\n",
        ),
        (
            &[
                "account",
                "add",
                "x",
                "--provider",
                "hello",
                "--url",
                "https://h.example",
            ],
            b"",
            8,
            "keyhelm: error: account 'x' needs secrets (seed) and there is no terminal to ask for them\n\
          keyhelm: hint: run the command in a terminal, or pass KEY=VALUE lines on stdin with --secrets-from-stdin\n",
        ),
        (
            &[
                "account",
                "add",
                "x",
                "--provider",
                "hello",
                "--url",
                "http://h.example",
                "--secrets-from-stdin",
            ],
            b"seed=1\n",
            2,
            "keyhelm: error: the account URL http://h.example must use https\n\
          keyhelm: hint: plain http is only allowed for 127.0.0.1 and localhost\n",
        ),
        (
            &[
                "account",
                "add",
                "hi",
                "--provider",
                "hello",
                "--url",
                "https://h.example",
                "--secrets-from-stdin",
            ],
            b"seed=1\n",
            2,
            "keyhelm: error: there is already an account named 'hi'\nkeyhelm: hint: remove it first with `keyhelm account remove hi`\n",
        ),
        (
            &[
                "account",
                "add",
                "x",
                "--provider",
                "nosuch",
                "--url",
                "https://h.example",
            ],
            b"",
            6,
            "keyhelm: error: no plugin named `nosuch`",
        ),
    ];
    for (args, stdin, code, message) in cases {
        let out = s.keyhelm(args, stdin);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).starts_with(message),
            "{args:?}:\n{}",
            text(&out.stderr)
        );
        assert!(!text(&out.stderr).contains("topsecret"));
    }
}

#[test]
fn plugins_are_listed_verified_pinned_and_refused_when_tampered_with() {
    let (s, installed) = with_hello();
    let list = s.keyhelm(&["plugin", "list"], b"");
    assert!(list.status.success(), "{}", text(&list.stderr));
    let listed = text(&list.stdout);
    let hello = listed
        .lines()
        .find(|l| l.starts_with("hello "))
        .unwrap_or_else(|| panic!("{listed}"));
    // Names are padded to one column width; the rest of the line is fixed.
    let rest = format!("0.1.0  ABI 1.0  not pinned  {}", installed.display());
    assert_eq!(
        hello.trim_start_matches("hello").trim_start(),
        rest,
        "{listed}"
    );

    let verify = s.keyhelm(&["plugin", "verify", installed.to_str().unwrap()], b"");
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    let report = text(&verify.stdout);
    assert!(
        report.starts_with(&format!(
            "{}: all checks passed\nname      hello\n",
            installed.display()
        )),
        "{report}"
    );
    assert!(
        report.contains("setting   seed (secret, required): a secret mixed into the token\n"),
        "{report}"
    );

    let trust = s.keyhelm(&["plugin", "trust", "hello"], b"");
    assert!(trust.status.success(), "{}", text(&trust.stderr));
    assert!(
        text(&trust.stdout).starts_with("Plugin hello ("),
        "{}",
        text(&trust.stdout)
    );
    let list = s.keyhelm(&["plugin", "list", "--json"], b"");
    let json: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let hello = json["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "hello")
        .unwrap()
        .clone();
    assert_eq!(hello["pinned"], true);
    assert_eq!(hello["abi"], "1.0");

    // Tamper with the file: a login (which must load the plugin) is refused; a cached token
    // is still answered without loading anything.
    assert!(s.keyhelm(&["token", "hi"], b"").status.success());
    let mut bytes = std::fs::read(&installed).unwrap();
    bytes.push(0);
    std::fs::write(&installed, bytes).unwrap();
    let cached = s.keyhelm(&["token", "hi"], b"");
    assert_eq!(text(&cached.stdout), "hi-s33d\n");
    let login = s.keyhelm(&["login", "hi"], b"");
    assert_eq!(login.status.code(), Some(6), "{}", text(&login.stderr));
    assert!(
        text(&login.stderr).contains("sha256"),
        "{}",
        text(&login.stderr)
    );
}

#[test]
fn provider_failures_say_what_to_do() {
    let s = Sandbox::new();
    let service = plugin_support::FakeService::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let good = plugin_support::cdylib("dev", "good");
    let cases: [(&str, &str, &str, i32, String); 4] = [
        (
            "limited",
            service.base_url.as_str(),
            "/limited",
            7,
            "keyhelm: error: account 'limited': the service is rate limiting\n\
             keyhelm: hint: wait 7 seconds and try again\n"
                .to_owned(),
        ),
        (
            "offline",
            closed_url.as_str(),
            "/token",
            7,
            format!(
                "keyhelm: error: account 'offline': request to {closed_url} failed: could not \
                 connect\nkeyhelm: hint: check your network connection and the account's URL\n"
            ),
        ),
        (
            "broken",
            service.base_url.as_str(),
            "/missing",
            7,
            "keyhelm: error: account 'broken': the token endpoint answered HTTP 404\n".to_owned(),
        ),
        (
            "newline",
            service.base_url.as_str(),
            "/newline",
            6,
            "keyhelm: error: account 'newline': the provider returned a token containing a line \
             break or NUL\n"
                .to_owned(),
        ),
    ];
    for (name, url, token_path, _, _) in &cases {
        let path = format!("token_path={token_path}");
        s.plugin_account_add("good", &good, name, url, &["--set", &path], "seed=s33d\n");
    }
    for (name, _, _, code, stderr) in cases {
        let out = s.keyhelm(&["token", name], b"");
        assert_eq!(
            (out.status.code(), text(&out.stdout), text(&out.stderr)),
            (Some(code), String::new(), stderr),
            "{name}"
        );
    }
    // Nothing was cached from the refused token.
    let shown = s.keyhelm(&["account", "show", "newline", "--json"], b"");
    let json: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(json["token"], serde_json::Value::Null);

    // A pin in the config that is not a hash stops every load of that plugin.
    let config = s.keyhelm_home().join("config.toml");
    let before = std::fs::read_to_string(&config).unwrap_or_default();
    std::fs::write(
        &config,
        format!("{before}\n[plugins.pins]\ngood = \"abc\"\n"),
    )
    .unwrap();
    let out = s.keyhelm(&["login", "limited"], b"");
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (
            Some(1),
            format!(
                "keyhelm: error: the sha256 pin of plugin `good` in {} is not valid\n\
                 keyhelm: hint: run `keyhelm plugin trust good` to pin the installed file \
                 again\n",
                config.display()
            )
        )
    );
    // The hint mends it.
    let trust = s.keyhelm(&["plugin", "trust", "good"], b"");
    assert!(
        text(&trust.stdout).ends_with("(the previous pin was replaced).\n"),
        "{}",
        text(&trust.stderr)
    );
    let out = s.keyhelm(&["token", "newline"], b"");
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
}
