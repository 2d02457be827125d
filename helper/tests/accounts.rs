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
fn secrets_are_asked_on_the_terminal_and_removing_says_what_was_forgotten() {
    let (s, _) = with_hello();
    let added = s.on_terminal(
        &[
            "account",
            "add",
            "t",
            "--provider",
            "hello",
            "--url",
            "https://h.example",
        ],
        &[("seed (a secret mixed into the token): ", "s3")],
    );
    assert!(added.status.success(), "{}", added.output);
    assert!(
        added
            .output
            .contains("Added account 't' (Hello (example) at https://h.example).\n"),
        "{}",
        added.output
    );
    assert!(!added.output.contains("s3\n"), "{}", added.output);
    assert_eq!(s.token("t"), "hello-s3");

    let removed = s.keyhelm(&["account", "remove", "t"], b"");
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    assert_eq!(
        text(&removed.stdout),
        "Removed account 't'.\n\
         Its cached token was forgotten but not revoked at the service; to revoke a session, run \
         `keyhelm logout NAME` before removing an account.\n"
    );
    s.keyhelm(&["account", "remove", "hi"], b"");
    let none = s.keyhelm(&["account", "list"], b"");
    assert!(none.status.success(), "{}", text(&none.stderr));
    assert_eq!(
        text(&none.stdout),
        "No accounts. Add one with `keyhelm account add NAME --provider P`.\n"
    );
}

#[test]
fn account_add_refuses_bad_input_clearly() {
    let (s, _) = with_hello();
    // Each command line is split at its spaces.
    let cases: [(&str, &[u8], i32, &str); 12] = [
        (
            "account add x --provider hello --set seed=topsecret",
            b"",
            2,
            "keyhelm: error: 'seed' is a secret and is never taken from the command line\n\
          keyhelm: hint: keyhelm prompts for it on the terminal, or reads KEY=VALUE lines from stdin with --secrets-from-stdin\n",
        ),
        (
            "account add x --provider hello --url https://h.example --set nope=1",
            b"",
            2,
            "keyhelm: error: provider 'hello' has no setting 'nope'\nkeyhelm: hint: its settings are: greeting, check_url\n",
        ),
        (
            "account add x --provider hello --url https://h.example",
            b"",
            8,
            "keyhelm: error: account 'x' needs secrets (seed) and there is no terminal to ask for them\n\
          keyhelm: hint: run the command in a terminal, or pass KEY=VALUE lines on stdin with --secrets-from-stdin\n",
        ),
        (
            "account add x --provider hello --url http://h.example --secrets-from-stdin",
            b"seed=1\n",
            2,
            "keyhelm: error: the account URL http://h.example must use https\n\
          keyhelm: hint: plain http is only allowed for 127.0.0.1 and localhost\n",
        ),
        (
            "account add hi --provider hello --url https://h.example --secrets-from-stdin",
            b"seed=1\n",
            2,
            "keyhelm: error: there is already an account named 'hi'\nkeyhelm: hint: remove it first with `keyhelm account remove hi`\n",
        ),
        (
            "account add x --provider nosuch --url https://h.example",
            b"",
            6,
            "keyhelm: error: no plugin named `nosuch`",
        ),
        (
            "account add team/x --provider hello",
            b"",
            2,
            "keyhelm: error: 'team/x' is not a valid account name\n\
             keyhelm: hint: use letters, digits, '.', '_' and '-' (at most 64, starting with a \
             letter or digit)\n",
        ),
        (
            "account add x --provider hello --set seed:topsecret",
            b"",
            2,
            "keyhelm: error: --set takes KEY=VALUE, and one of them has no '='\n\
             keyhelm: hint: its settings are: greeting, check_url\n",
        ),
        (
            "account add x --provider hello --secrets-from-stdin",
            b"seed=1\n",
            2,
            "keyhelm: error: provider 'hello' has no default URL\n\
             keyhelm: hint: pass --url with the service's API base URL\n",
        ),
        (
            "account add x --provider hello --url https://h.example --secrets-from-stdin",
            b"# the seed\nnope=topsecret\n",
            3,
            "keyhelm: error: provider 'hello' has no secret 'nope' (line 2)\n\
             keyhelm: hint: its secrets are: seed\n",
        ),
        (
            "account add x --provider hello --url https://h.example --secrets-from-stdin",
            b"seed=\xfftopsecret\n",
            3,
            "keyhelm: error: cannot read secrets from stdin: they are not valid UTF-8\n",
        ),
        (
            "account add x --provider hello --url https://h.example --secrets-from-stdin",
            b"\n",
            2,
            "keyhelm: error: the secret 'seed' is required (a secret mixed into the token)\n\
             keyhelm: hint: give it on the terminal prompt, or as a KEY=VALUE line with \
             --secrets-from-stdin\n",
        ),
    ];
    for (args, stdin, code, message) in cases {
        let args: Vec<&str> = args.split(' ').collect();
        let out = s.keyhelm(&args, stdin);
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
    let pinned = pin_of(&s, "hello");
    assert_eq!(
        text(&trust.stdout),
        format!(
            "Plugin hello ({}) is now pinned to sha256 {pinned}.\n",
            installed.display()
        )
    );
    let again = s.keyhelm(&["plugin", "trust", "hello"], b"");
    assert_eq!(
        text(&again.stdout),
        format!(
            "Plugin hello ({}) was already pinned to sha256 {pinned}.\n",
            installed.display()
        )
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

    // Trusting the changed file replaces the pin, and says so.
    let retrust = s.keyhelm(&["plugin", "trust", "hello"], b"");
    assert!(retrust.status.success(), "{}", text(&retrust.stderr));
    let repinned = pin_of(&s, "hello");
    assert_ne!(repinned, pinned);
    assert_eq!(
        text(&retrust.stdout),
        format!(
            "Plugin hello ({}) is now pinned to sha256 {repinned} (the previous pin was \
             replaced).\n",
            installed.display()
        )
    );
    assert!(s.keyhelm(&["login", "hi"], b"").status.success());

    // A file the config names for the provider shadows the one in the plugin folder.
    let elsewhere = s.dir().join("elsewhere.so");
    std::fs::copy(&installed, &elsewhere).unwrap();
    let config = s.keyhelm_home().join("config.toml");
    std::fs::write(
        &config,
        format!("[plugins.paths]\nhello = \"{}\"\n", elsewhere.display()),
    )
    .unwrap();
    let list = s.keyhelm(&["plugin", "list"], b"");
    assert!(list.status.success(), "{}", text(&list.stderr));
    let listed = text(&list.stdout);
    let shadowed = listed
        .lines()
        .find(|l| l.starts_with("hello ") && !l.contains("elsewhere"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(
        shadowed.trim_start_matches("hello").trim_start(),
        format!(
            "(not used: an earlier folder or the config provides this plugin)  {}",
            installed.display()
        ),
        "{listed}"
    );
}

/// The sha256 `keyhelm plugin trust` wrote into config.toml for `name`.
fn pin_of(s: &Sandbox, name: &str) -> String {
    let config = std::fs::read_to_string(s.keyhelm_home().join("config.toml")).unwrap();
    let prefix = format!("{name} = \"");
    let line = config
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no pin for {name} in:\n{config}"));
    line[prefix.len()..].trim_end_matches('"').to_owned()
}

#[test]
fn plugin_list_and_verify_explain_an_empty_search_and_a_misnamed_file() {
    // A keyhelm alone in its folder: the build folder next to the test binary holds plugins.
    let s = Sandbox::new();
    let bin_dir = s.dir().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    let bin = bin_dir.join("keyhelm");
    std::fs::hard_link(support::keyhelm_bin(), &bin)
        .or_else(|_| std::fs::copy(support::keyhelm_bin(), &bin).map(drop))
        .unwrap();
    let list = support::run(s.command(&bin).args(["plugin", "list"]), b"");
    assert!(list.status.success(), "{}", text(&list.stderr));
    assert_eq!(
        text(&list.stdout),
        format!(
            "No plugins found. keyhelm looks in: {}, {}, {}\n",
            bin_dir.display(),
            s.dir().join("lib/keyhelm/plugins").display(),
            s.keyhelm_home().join("plugins").display()
        )
    );

    let notes = s.env.work_dir().join("notes.txt");
    std::fs::write(&notes, "not a plugin").unwrap();
    let verify = s.keyhelm(&["plugin", "verify", "notes.txt"], b"");
    assert_eq!(verify.status.code(), Some(6), "{}", text(&verify.stderr));
    assert_eq!(
        text(&verify.stderr),
        format!(
            "keyhelm: error: {} is not named like a keyhelm plugin\n\
             keyhelm: hint: plugin files are named libkeyhelm_<name>.so\n",
            notes.display()
        )
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
