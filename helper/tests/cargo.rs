//! keyhelm as cargo's credential provider: the protocol spoken by hand, then the real cargo
//! against a local registry that requires a token (testkit's CargoRegistry): `keyhelm setup
//! cargo`, `cargo login`, fetch, publish and `cargo logout` through keyhelm, a registry
//! answered by an account, and `keyhelm doctor`.

mod plugin_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use keyhelm_testkit::bins::cargo_program;
use keyhelm_testkit::cargo_registry::{CargoAuthPolicy, CargoRegistry, TokenOutcome};
use keyhelm_testkit::pty::Pty;
use keyhelm_vault::{Credential, DeviceId, Identity, Location, Vault};
use plugin_support::FakeService;
use serde_json::{Value, json};
use support::{Sandbox, keyhelm_bin, text};

const TOKEN: &str = "s3cret-registry-token";
const INDEX: &str = "sparse+https://r.example/index/";

/// Runs `keyhelm --cargo-plugin` with `lines` on stdin, as cargo would.
fn provider(s: &Sandbox, lines: &[Value]) -> Output {
    let mut input = String::new();
    for line in lines {
        input.push_str(&line.to_string());
        input.push('\n');
    }
    s.keyhelm(&["--cargo-plugin"], input.as_bytes())
}

/// The response lines after the hello, parsed.
fn responses(out: &Output) -> Vec<Value> {
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("{\"v\":[1]}"), "{stdout}");
    lines.map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn request(kind: &str, extra: Value) -> Value {
    let mut r = json!({
        "v": 1,
        "registry": {"index-url": INDEX, "name": "testreg", "headers": ["www-authenticate: Cargo"]},
        "kind": kind,
        "args": [],
    });
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

fn get() -> Value {
    request("get", json!({"operation": "read"}))
}

fn vault(s: &Sandbox) -> Vault {
    let home = s.keyhelm_home();
    let identity = Identity::from_file(&home.join("identity.txt")).unwrap();
    let state_dir = home.join("state");
    let device = DeviceId::load_or_create(&state_dir).unwrap();
    Vault::new(
        Location {
            file: s.vault_file(),
            state_dir,
        },
        identity,
        device,
    )
}

#[test]
fn the_protocol_by_hand() {
    let s = Sandbox::new();
    // The hello alone when cargo closes stdin at once.
    let out = provider(&s, &[]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "{\"v\":[1]}\n");
    assert_eq!(text(&out.stderr), "");

    // Nothing stored, no vault yet: not-found.
    let out = provider(&s, &[get()]);
    assert_eq!(responses(&out), [json!({"Err": {"kind": "not-found"}})]);
    assert_eq!(text(&out.stderr), "");

    // One process answers several requests: login, get, get for publish, logout, logout.
    let out = provider(
        &s,
        &[
            request(
                "login",
                json!({"token": "t0k", "login-url": "https://r.example/me"}),
            ),
            get(),
            request(
                "get",
                json!({"operation": "publish", "name": "c", "vers": "1.0.0", "cksum": "ab"}),
            ),
            request("logout", json!({})),
            request("logout", json!({})),
            get(),
        ],
    );
    let session = json!({"Ok": {"kind": "get", "token": "t0k", "cache": "session", "operation_independent": true}});
    assert_eq!(
        responses(&out),
        [
            json!({"Ok": {"kind": "login"}}),
            session.clone(),
            session,
            json!({"Ok": {"kind": "logout"}}),
            json!({"Err": {"kind": "not-found"}}),
            json!({"Err": {"kind": "not-found"}}),
        ]
    );

    // Unknown kinds and operations, other versions, extra fields, bad input: one response
    // each, exit 0, nothing quoted.
    let out = provider(
        &s,
        &[
            request("rotate", json!({})),
            request("get", json!({"operation": "transfer"})),
            json!({"v": 2, "registry": {"index-url": INDEX}, "kind": "get", "operation": "read"}),
            request(
                "get",
                json!({"operation": "read", "future-field": {"x": [1, 2]}}),
            ),
            request("get", json!({"operation": "read", "args": ["--bearer"]})),
            request(
                "get",
                json!({"operation": "read", "args": ["--account", "nobody"]}),
            ),
            request("login", json!({"token": "  "})),
            request("login", json!({"token": "s3cret\r\nX-Evil: 1"})),
            json!({"v": 1, "registry": {"index-url": "sparse+https://me:s3cret@r.example/"}, "kind": "get", "operation": "read"}),
            json!({"v": 1, "registry": {"index-url": "sparse+https://me:s3cret@r.example/", "name": "testreg"}, "kind": "get", "operation": "read"}),
        ],
    );
    let other = |m: &str| json!({"Err": {"kind": "other", "message": m}});
    assert_eq!(
        responses(&out),
        [
            json!({"Err": {"kind": "operation-not-supported"}}),
            json!({"Err": {"kind": "operation-not-supported"}}),
            other(
                "cargo's request uses version 2 of the credential-provider protocol; keyhelm \
                 speaks version 1"
            ),
            json!({"Err": {"kind": "not-found"}}),
            other(
                "keyhelm does not understand the credential-provider argument '--bearer' (hint: \
                 keyhelm takes `--account NAME` only, e.g. credential-provider = \
                 [\"/path/to/keyhelm\", \"--account\", \"NAME\"])"
            ),
            other(
                "there is no account named 'nobody' (hint: add one with `keyhelm account add \
                 NAME --provider P`)"
            ),
            other("the token for registry `testreg` is empty; nothing was stored"),
            other(
                "the token for registry `testreg` contains a line break or another control \
                 character, which an HTTP header cannot carry; nothing was stored"
            ),
            other(
                "the registry's index URL is not usable: it must not contain a user name or password"
            ),
            other(
                "the index URL of registry `testreg` is not usable: it must not contain a user \
                 name or password"
            ),
        ]
    );
    assert!(!text(&out.stdout).contains("s3cret"));

    // Garbage and a request without its line end: answered, then the end.
    let out = s.keyhelm(
        &["--cargo-plugin"],
        b"not json\n{\"v\":1,\"registry\":{\"index-url\":\"x\"},\"kind\":\"login\",\"token\":\"s3cret\"",
    );
    assert_eq!(
        responses(&out),
        [
            other(
                "cargo's request is not a valid credential request (a JSON syntax error at column 2)"
            ),
            other(
                "cargo's request is not a valid credential request (an unexpected end at column 67)"
            ),
        ]
    );
    assert!(!text(&out.stdout).contains("s3cret"));

    // A line longer than 1 MiB is answered without being read, and ends the session.
    let mut long = vec![b'x'; (1 << 20) + 10];
    long.extend_from_slice(b"\n");
    long.extend_from_slice(get().to_string().as_bytes());
    let out = s.keyhelm(&["--cargo-plugin"], long);
    assert_eq!(
        responses(&out),
        [other(
            "cargo's request is longer than 1 MiB; keyhelm did not read it"
        )]
    );

    // A stdin that cannot be read.
    let folder = std::fs::File::open(s.dir()).unwrap();
    let out = s
        .keyhelm_command(&["--cargo-plugin"])
        .stdin(folder)
        .output()
        .unwrap();
    assert_eq!(
        (out.status.code(), text(&out.stdout), text(&out.stderr)),
        (
            Some(1),
            "{\"v\":[1]}\n".to_owned(),
            "keyhelm: error: cannot read cargo's request: Is a directory (os error 21)\n"
                .to_owned()
        )
    );
}

#[test]
fn an_expired_stored_token_is_never_returned() {
    let s = Sandbox::new();
    let out = provider(&s, &[request("login", json!({"token": "old"}))]);
    assert_eq!(responses(&out), [json!({"Ok": {"kind": "login"}})]);
    // A token with an expiry (as a registry's own tooling might store it).
    let key = keyhelm::cargo::registry::Registry::parse(INDEX)
        .unwrap()
        .key();
    let set_expiry = |at: u64| {
        vault(&s)
            .update(|snap| {
                let mut c: Credential = snap.credential(&key).unwrap().clone();
                c.password_expiry_utc = Some(at);
                snap.put_credential(c);
                Ok::<_, keyhelm_vault::Error>(())
            })
            .unwrap();
    };
    set_expiry(4_102_444_800);
    let out = provider(&s, &[get()]);
    assert_eq!(
        responses(&out),
        [
            json!({"Ok": {"kind": "get", "token": "old", "cache": "expires", "expiration": 4_102_444_800u64, "operation_independent": true}})
        ]
    );
    set_expiry(1_000_000_000);
    let out = provider(&s, &[get()]);
    assert_eq!(responses(&out), [json!({"Err": {"kind": "not-found"}})]);
    assert_eq!(
        text(&out.stderr),
        "keyhelm: note: the token keyhelm stored for registry `testreg` expired 2001-09-09 \
         01:46:40 UTC\nkeyhelm: hint: log in again with `cargo login --registry testreg`\n"
    );
    // `keyhelm list` shows the registry's key, never the token.
    let list = s.keyhelm(&["list"], b"");
    assert!(
        text(&list.stdout).starts_with("cargo+sparse+https://r.example/index"),
        "{}",
        text(&list.stdout)
    );
    assert!(!text(&list.stdout).contains("old"));
}

#[test]
fn login_without_a_token_and_without_a_terminal_fails_cleanly() {
    let s = Sandbox::new();
    let mut cmd = s.command("setsid");
    cmd.arg("-w").arg(keyhelm_bin()).arg("--cargo-plugin");
    let out = support::run(
        &mut cmd,
        format!("{}\n", request("login", json!({}))).as_bytes(),
    );
    assert_eq!(
        responses(&out),
        [
            json!({"Err": {"kind": "other", "message": "cargo passed no token for registry `testreg` \
            and there is no terminal to ask for one (hint: give cargo the token on stdin: \
            `cargo login --registry testreg < token-file`)"}})
        ]
    );
    assert!(!s.vault_file().exists(), "nothing was written");
}

/// Installs the `good` test plugin into the sandbox and adds account `name`, whose token
/// (`tok-1`, one hour) comes from `service`; `seed` decides whether the service accepts.
fn add_account(s: &Sandbox, name: &str, service: &FakeService, matches: &str, seed: &str) {
    s.plugin_account_add(
        "good",
        &plugin_support::cdylib("dev", "good"),
        name,
        &service.base_url,
        &["--match", matches],
        &format!("seed={seed}\n"),
    );
}

#[test]
fn accounts_answer_for_registries() {
    let s = Sandbox::new();
    let service = FakeService::start();
    add_account(&s, "reg", &service, "https://r.example/index", "s33d");
    add_account(&s, "bad", &service, "https://bad.example", "wrong");

    // By URL pattern (the index URL's transport scheme), and by --account.
    let expiring = |out: &Output| {
        let r = responses(out);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0]["Ok"]["token"], "tok-1", "{r:?}");
        assert_eq!(r[0]["Ok"]["cache"], "expires");
        let at = r[0]["Ok"]["expiration"].as_u64().unwrap();
        let now = keyhelm::provider::now();
        assert!(at > now + 3000 && at <= now + 3600, "{at} vs {now}");
    };
    expiring(&provider(&s, &[get()]));
    let token_requests = service.requests().len();
    let other_registry = json!({"v": 1, "registry": {"index-url": "sparse+https://other.example/"}, "kind": "get", "operation": "read", "args": ["--account", "reg"]});
    expiring(&provider(&s, &[other_registry]));
    assert_eq!(
        service.requests().len(),
        token_requests,
        "the cached token was used"
    );

    // An account that cannot log in: a clear error for cargo.
    let out = provider(
        &s,
        &[
            json!({"v": 1, "registry": {"index-url": "sparse+https://bad.example/"}, "kind": "get", "operation": "read"}),
        ],
    );
    assert_eq!(
        responses(&out),
        [
            json!({"Err": {"kind": "other", "message": "account 'bad': the service refused the seed"}})
        ]
    );

    // login and logout name the account instead of storing a token.
    let out = provider(
        &s,
        &[
            request("login", json!({"token": "t", "args": ["--account", "reg"]})),
            request("logout", json!({"args": ["--account", "reg"]})),
            request("logout", json!({})),
        ],
    );
    let r = responses(&out);
    assert_eq!(
        r[0]["Err"]["message"],
        "registry `testreg` takes its token from account 'reg' (credential-provider argument \
         --account), so keyhelm keeps no token of its own for it (hint: use `keyhelm login reg` \
         for the account)"
    );
    assert_eq!(
        r[1]["Err"]["message"],
        "registry `testreg` takes its token from account 'reg' (credential-provider argument \
         --account), so keyhelm keeps no token of its own for it (hint: use `keyhelm logout reg` \
         for the account)"
    );
    assert_eq!(r[2], json!({"Err": {"kind": "not-found"}}));
    assert_eq!(
        text(&out.stderr),
        "keyhelm: note: registry `testreg` gets its token from account 'reg'\n\
         keyhelm: hint: log out of the account with `keyhelm logout reg`\n"
    );
    // A token stored by `cargo login` wins over the account.
    let out = provider(&s, &[request("login", json!({"token": "mine"})), get()]);
    assert_eq!(responses(&out)[1]["Ok"]["token"], "mine");
}

/// A binary crate depending on `hello-dep` from the registry named `testreg`.
fn consumer(s: &Sandbox, name: &str) -> PathBuf {
    let dir = s.env.work_dir().join(name);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\nhello-dep = {{ version = \"0.1\", registry = \"testreg\" }}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("src/main.rs"),
        "fn main() { println!(\"{}\", hello_dep::greeting()); }\n",
    )
    .unwrap();
    dir
}

fn cargo(s: &Sandbox, dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = s.command(cargo_program());
    cmd.current_dir(dir).args(args);
    support::run(&mut cmd, stdin)
}

/// `keyhelm setup cargo` for registry `testreg` at `registry`'s index, which must succeed.
fn setup_testreg(s: &Sandbox, registry: &CargoRegistry) -> Output {
    ok(
        s.keyhelm(
            &[
                "setup",
                "cargo",
                "--registry",
                "testreg",
                "--index",
                &registry.index_url(),
            ],
            b"",
        ),
        "setup",
    )
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

#[test]
fn real_cargo_logs_in_fetches_publishes_and_logs_out_through_keyhelm() {
    let registry = CargoRegistry::start(CargoAuthPolicy::token(TOKEN)).unwrap();
    registry.publish("hello-dep", "0.1.0").unwrap();
    let s = Sandbox::new();

    let out = setup_testreg(&s, &registry);
    let config = s.env.cargo_home().join("config.toml");
    assert_eq!(
        text(&out.stdout),
        format!(
            "cargo now asks keyhelm for the token of registry `testreg` \
             (registries.testreg.credential-provider in {}).\n\
             registries.testreg.index is now {}.\n\
             Log in with `cargo login --registry testreg`: the token goes into keyhelm's vault. \
             An account whose --match URL covers the index URL also answers.\n",
            config.display(),
            registry.index_url()
        )
    );
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(
        written.starts_with("# Written by keyhelm-testkit: tests must never contact crates.io.\n"),
        "{written}"
    );
    assert!(written.contains("[net]\nretry = 0\n"), "{written}");
    assert!(
        written.trim_end().ends_with(&format!(
            "[registries.testreg]\nindex = \"{}\"\ncredential-provider = [\"{}\"]",
            registry.index_url(),
            keyhelm_bin().canonicalize().unwrap().display()
        )),
        "{written}"
    );
    // Twice is once.
    let again = ok(
        s.keyhelm(&["setup", "cargo", "--registry", "testreg"], b""),
        "setup again",
    );
    assert!(
        text(&again.stdout)
            .starts_with("cargo already asks keyhelm for the token of registry `testreg`"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), written);

    // Nothing stored yet: cargo cannot fetch, and says why.
    let dir = consumer(&s, "consumer");
    let out = cargo(&s, &dir, &["fetch"], b"");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no token found for `testreg`"),
        "{}",
        text(&out.stderr)
    );

    // `cargo login` hands the token (read from its stdin) to keyhelm.
    ok(
        cargo(
            &s,
            &s.env.work_dir(),
            &["login", "--registry", "testreg"],
            format!("{TOKEN}\n").as_bytes(),
        ),
        "cargo login",
    );
    assert!(!s.env.cargo_home().join("credentials.toml").exists());
    let list = text(&s.keyhelm(&["list"], b"").stdout);
    assert!(
        list.contains(&format!(
            "cargo+sparse+http://{}/index",
            registry.url().trim_start_matches("http://")
        )),
        "{list}"
    );

    registry.clear_requests();
    ok(cargo(&s, &dir, &["fetch"], b""), "cargo fetch");
    let out = ok(
        cargo(&s, &dir, &["run", "--quiet", "--offline"], b""),
        "cargo run",
    );
    assert_eq!(text(&out.stdout), "hello from hello-dep 0.1.0\n");
    let tokens: Vec<String> = registry
        .tokens_seen()
        .iter()
        .map(|t| t.expose().to_owned())
        .collect();
    assert_eq!(tokens, [TOKEN]);
    assert_eq!(registry.counts().refused, 0);

    // Publishing asks keyhelm too (operation "publish").
    let crate_dir = s.env.work_dir().join("pubme");
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        "[package]\nname = \"pubme\"\nversion = \"0.2.0\"\nedition = \"2021\"\n\
         description = \"x\"\nlicense = \"MIT\"\n",
    )
    .unwrap();
    std::fs::write(crate_dir.join("src/lib.rs"), "").unwrap();
    ok(
        cargo(
            &s,
            &crate_dir,
            &[
                "publish",
                "--registry",
                "testreg",
                "--no-verify",
                "--allow-dirty",
            ],
            b"",
        ),
        "cargo publish",
    );
    assert!(registry.requests().iter().any(|r| r.method == "PUT"
        && r.path == "/api/v1/crates/new"
        && r.outcome == TokenOutcome::Accepted));

    // `keyhelm doctor` sees the set-up and the token.
    let doctor = text(&s.keyhelm(&["doctor"], b"").stdout);
    assert!(
        doctor.contains(
            "ok    cargo     registry `testreg` uses keyhelm (registries.testreg.credential-provider)\n\
             ok    cargo     registry `testreg`: a token from `cargo login` is stored\n"
        ),
        "{doctor}"
    );

    // `cargo logout` removes it from the vault; the next fetch has no token.
    ok(
        cargo(
            &s,
            &s.env.work_dir(),
            &["logout", "--registry", "testreg"],
            b"",
        ),
        "cargo logout",
    );
    assert!(!text(&s.keyhelm(&["list"], b"").stdout).contains("cargo+"));
    let out = cargo(
        &s,
        &s.env.work_dir(),
        &["logout", "--registry", "testreg"],
        b"",
    );
    assert!(
        text(&out.stderr).contains("not currently logged in to `testreg`"),
        "{}",
        text(&out.stderr)
    );
    let other = consumer(&s, "consumer2");
    let out = cargo(&s, &other, &["fetch"], b"");
    assert!(!out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no token found for `testreg`"),
        "{}",
        text(&out.stderr)
    );
    let doctor = text(&s.keyhelm(&["doctor"], b"").stdout);
    assert!(
        doctor.contains(&format!(
            "warn  cargo     registry `testreg`: keyhelm has no token for it\n{:16}hint: run \
             `cargo login --registry testreg`, or add an account with --match {}\n",
            "",
            registry.index_url()
        )),
        "{doctor}"
    );
}

#[test]
fn real_cargo_fetches_with_an_accounts_token() {
    let service = FakeService::start();
    let registry =
        CargoRegistry::start(CargoAuthPolicy::validator(|token| token == "tok-1")).unwrap();
    registry.publish("hello-dep", "0.1.0").unwrap();
    let s = Sandbox::new();
    // The account answers for the index URL (written with its transport scheme).
    let index_http = registry
        .index_url()
        .trim_start_matches("sparse+")
        .to_owned();
    add_account(&s, "reg", &service, &index_http, "s33d");
    setup_testreg(&s, &registry);
    let dir = consumer(&s, "consumer");
    ok(cargo(&s, &dir, &["fetch"], b""), "cargo fetch");
    assert!(registry.counts().accepted >= 3, "{:?}", registry.counts());
    let doctor = text(&s.keyhelm(&["doctor"], b"").stdout);
    assert!(
        doctor.contains("ok    cargo     registry `testreg`: tokens come from account 'reg'\n"),
        "{doctor}"
    );
}

#[test]
fn cargo_login_on_a_terminal_prompts_through_keyhelm() {
    let registry = CargoRegistry::start(CargoAuthPolicy::token(TOKEN)).unwrap();
    let s = Sandbox::new();
    setup_testreg(&s, &registry);
    let mut cmd = s.command(cargo_program());
    cmd.args(["login", "--registry", "testreg"]);
    let mut pty = Pty::spawn(&cmd).unwrap();
    pty.answer(
        &format!(
            "Token for registry `testreg` (get one at {}): ",
            registry.login_url()
        ),
        TOKEN,
    )
    .unwrap();
    let done = pty.finish().unwrap();
    assert!(done.status.success(), "{}", done.output);
    assert!(
        !done.output.contains(TOKEN),
        "the token is not echoed: {}",
        done.output
    );
    let out = provider(
        &s,
        &[
            json!({"v": 1, "registry": {"index-url": registry.index_url(), "name": "testreg"}, "kind": "get", "operation": "read"}),
        ],
    );
    assert_eq!(responses(&out)[0]["Ok"]["token"], TOKEN);
}

#[test]
fn setup_cargo_for_crates_io_keeps_the_file_and_refuses_bad_input() {
    let s = Sandbox::new();
    let config = s.env.cargo_home().join("config.toml");
    let before = std::fs::read_to_string(&config).unwrap();
    let out = ok(s.keyhelm(&["setup", "cargo"], b""), "setup");
    assert!(
        text(&out.stdout).starts_with(
            "cargo now asks keyhelm for the token of crates.io (registry.credential-provider in "
        ),
        "{}",
        text(&out.stdout)
    );
    let after = std::fs::read_to_string(&config).unwrap();
    assert!(after.starts_with(&before), "{after}");
    assert!(after.trim_end().ends_with(&format!(
        "[registry]\ncredential-provider = [\"{}\"]",
        keyhelm_bin().canonicalize().unwrap().display()
    )));

    let fail = |args: &[&str], message: &str| {
        let out = s.keyhelm(args, b"");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr), message, "{args:?}");
    };
    fail(
        &["setup", "cargo", "--registry", "a.b"],
        "keyhelm: error: 'a.b' is not a valid registry name\n\
         keyhelm: hint: cargo's registry names use letters, digits, '-' and '_'\n",
    );
    fail(
        &[
            "setup",
            "cargo",
            "--registry",
            "r",
            "--index",
            "https://u:s3cret@r.example/",
        ],
        "keyhelm: error: the --index URL is not a registry index URL: it must not contain a \
         user name or password\nkeyhelm: hint: give the index URL cargo uses, e.g. \
         sparse+https://registry.example/index/\n",
    );
    let out = s.keyhelm(
        &["setup", "cargo", "--index", "sparse+https://r.example/"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--registry <REGISTRY>"),
        "{}",
        text(&out.stderr)
    );

    // A registry without an index: a note. Another index than the configured one: refused.
    let out = ok(
        s.keyhelm(&["setup", "cargo", "--registry", "noindex"], b""),
        "setup",
    );
    assert!(
        text(&out.stdout).contains(&format!(
            "Note: {} does not set registries.noindex.index; cargo must find it in another \
             configuration file (such as the project's .cargo/config.toml), or run this again \
             with --index URL.\n",
            config.display()
        )),
        "{}",
        text(&out.stdout)
    );
    ok(
        s.keyhelm(
            &[
                "setup",
                "cargo",
                "--registry",
                "r",
                "--index",
                "sparse+https://r.example/",
            ],
            b"",
        ),
        "setup r",
    );
    let kept = std::fs::read_to_string(&config).unwrap();
    fail(
        &[
            "setup",
            "cargo",
            "--registry",
            "r",
            "--index",
            "sparse+https://other.example/",
        ],
        "keyhelm: error: registries.r.index is already set to another URL; keyhelm setup does \
         not change it\nkeyhelm: hint: drop --index to keep the configured index, or edit the \
         file yourself\n",
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), kept);

    // A broken file is named by its line, never quoted, and left alone.
    std::fs::write(&config, "[registry]\ntoken = s3cret\n").unwrap();
    let out = s.keyhelm(&["setup", "cargo"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "keyhelm: error: {} is not valid TOML (line 2)\nkeyhelm: hint: fix the file first; \
             keyhelm changed nothing\n",
            config.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "[registry]\ntoken = s3cret\n"
    );
    let doctor = s.keyhelm(&["doctor"], b"");
    assert!(
        text(&doctor.stdout).contains(&format!(
            "error cargo     {} is not valid TOML (line 2)\n",
            config.display()
        )),
        "{}",
        text(&doctor.stdout)
    );
    assert!(!text(&doctor.stdout).contains("s3cret"));

    // Another provider is replaced, with a note that its tokens stay behind.
    std::fs::write(
        &config,
        "[registry]\ncredential-provider = [\"cargo:token\"]\n",
    )
    .unwrap();
    let out = ok(s.keyhelm(&["setup", "cargo"], b""), "setup");
    assert_eq!(
        text(&out.stdout),
        format!(
            "cargo now asks keyhelm for the token of crates.io (registry.credential-provider in \
             {}).\nIt replaces the credential provider configured before; tokens that one kept \
             are not moved into keyhelm.\nLog in with `cargo login`: the token goes into \
             keyhelm's vault. An account whose --match URL covers the index URL also answers.\n",
            config.display()
        )
    );
}

#[test]
fn setup_cargo_needs_to_know_where_cargo_lives() {
    let mut s = Sandbox::new();
    s.env.remove_var("CARGO_HOME");
    s.env.remove_var("HOME");
    let out = s.keyhelm(&["setup", "cargo"], b"");
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (
            Some(1),
            "keyhelm: error: cannot tell where cargo's configuration is: neither CARGO_HOME nor \
             HOME is set\nkeyhelm: hint: set CARGO_HOME to cargo's folder\n"
                .to_owned()
        )
    );
}

#[test]
fn setup_cargo_edits_the_file_a_symlink_points_to() {
    let s = Sandbox::new();
    let real = s.dir().join("dotfiles-cargo.toml");
    std::fs::write(&real, "# kept\n").unwrap();
    let config = s.env.cargo_home().join("config.toml");
    std::fs::remove_file(&config).unwrap();
    std::os::unix::fs::symlink(&real, &config).unwrap();
    ok(s.keyhelm(&["setup", "cargo"], b""), "setup");
    assert!(
        std::fs::symlink_metadata(&config)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let text = std::fs::read_to_string(&real).unwrap();
    // A comment at the very end stays at the end.
    assert!(
        text.starts_with("[registry]\ncredential-provider = ["),
        "{text}"
    );
    assert!(text.ends_with("\n# kept\n"), "{text}");
}

#[test]
fn doctor_flags_a_provider_path_that_is_gone() {
    let s = Sandbox::new();
    s.env
        .write_cargo_config(
            "[registries.old]\nindex = \"sparse+https://old.example/\"\n\
             credential-provider = [\"/nonexistent/bin/keyhelm\"]\n",
        )
        .unwrap();
    let out = s.keyhelm(&["doctor"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains(&format!(
            "error cargo     registries.old.credential-provider runs /nonexistent/bin/keyhelm, \
             which does not exist\n{:16}hint: run `keyhelm setup cargo --registry old`\n",
            ""
        )),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn doctor_and_help_describe_the_cargo_set_up() {
    let s = Sandbox::new();
    let config = s.env.cargo_home().join("config.toml");
    let doctor = text(&s.keyhelm(&["doctor"], b"").stdout);
    assert!(
        doctor.contains(&format!(
            "warn  cargo     {} does not use keyhelm for any registry\n{:16}hint: run `keyhelm \
             setup cargo` (crates.io) or `keyhelm setup cargo --registry NAME --index URL`\n",
            config.display(),
            ""
        )),
        "{doctor}"
    );
    ok(s.keyhelm(&["setup", "cargo"], b""), "setup");
    let other = s.dir().join("other-keyhelm");
    std::fs::write(&other, "").unwrap();
    let other = other.with_file_name("keyhelm");
    std::fs::write(&other, "").unwrap();
    s.env
        .write_cargo_config(&format!(
            "[registries.two]\nindex = \"sparse+https://two.example/\"\n\
             credential-provider = [\"{}\"]\n",
            other.display()
        ))
        .unwrap();
    let doctor = text(&s.keyhelm(&["doctor"], b"").stdout);
    assert!(
        doctor.contains("ok    cargo     crates.io uses keyhelm (registry.credential-provider)\n"),
        "{doctor}"
    );
    assert!(
        doctor.contains(&format!(
            "warn  cargo     registries.two.credential-provider runs another keyhelm: {}\n\
             {:16}hint: run `keyhelm setup cargo --registry two` to use this one\n",
            other.display(),
            ""
        )),
        "{doctor}"
    );

    let help = text(&s.keyhelm(&["setup", "cargo", "--help"], b"").stdout);
    assert!(
        help.starts_with(
            "Make keyhelm cargo's credential provider for crates.io, or for one registry\n"
        ),
        "{help}"
    );
    assert!(help.contains("The registry's name in cargo's configuration (default: crates.io)"));
    assert!(help.contains("The registry's index URL, written when cargo's configuration has none"));
}

#[test]
fn doctor_checks_cargos_version_and_index_urls() {
    use std::os::unix::fs::PermissionsExt;
    let mut s = Sandbox::new();
    s.keyhelm(&["init"], b"");
    let config = s.env.cargo_home().join("config.toml");
    s.env
        .write_cargo_config(&format!(
            "[registries.bad]\nindex = \"sparse+https://me:s3cret@bad.example/\"\n\
             credential-provider = [\"{}\"]\n",
            keyhelm_bin().canonicalize().unwrap().display()
        ))
        .unwrap();
    let fake = s.dir().join("fake-cargo");
    std::fs::create_dir(&fake).unwrap();
    std::fs::write(
        fake.join("cargo"),
        "#!/bin/sh\n[ -e \"$0.broken\" ] && exit 1\necho 'cargo 1.70.0 (ec8a8a0ca 2023-04-25)'\n",
    )
    .unwrap();
    std::fs::set_permissions(fake.join("cargo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    s.env
        .set_var("PATH", format!("{}:/usr/bin:/bin", fake.display()));
    let doctor = text(&s.keyhelm(&["doctor"], b"").stdout);
    for expected in [
        format!(
            "warn  cargo     cargo 1.70.0 (ec8a8a0ca 2023-04-25): credential providers need cargo \
             1.74 or newer\n{:16}hint: upgrade cargo (rustup update)\n",
            ""
        ),
        format!(
            "error cargo     the index URL of registry `bad` is not usable: it must not contain a \
             user name or password\n{:16}hint: fix it in {}\n",
            "",
            config.display()
        ),
    ] {
        assert!(doctor.contains(&expected), "{doctor}");
    }
    assert!(!doctor.contains("s3cret"), "{doctor}");

    std::fs::write(fake.join("cargo.broken"), "").unwrap();
    let doctor = text(&s.keyhelm(&["doctor"], b"").stdout);
    assert!(
        doctor.contains(&format!(
            "warn  cargo     cargo is not installed or does not run\n{:16}hint: install Rust with \
             rustup, or check that `cargo --version` runs\n",
            ""
        )),
        "{doctor}"
    );
}
