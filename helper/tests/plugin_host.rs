//! End-to-end tests of the plugin host: real cdylibs (testkit/plugins/*), built by cargo
//! from the test, loaded through the real loader, talking to a real loopback HTTP server.

mod plugin_support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use keyhelm::plugin::{
    self, CallError, HostServices, LoadError, Op, Plugin, Sha256Pin, file_sha256, load_plugin,
    load_verified, verify_file,
};
use keyhelm::tty::Terminal;
use keyhelm_core::msg::{
    Account, CredentialRequest, ErrorKind, GetRequest, GetResponse, LogoutRequest, StateUpdate,
};
use keyhelm_core::secrecy::{ExposeSecret, SecretString};
use plugin_support::{FakeService, install, private_dir};

/// The good plugin, installed once into a private folder and loaded with its pin.
fn good() -> (&'static Plugin, &'static FakeService) {
    static GOOD: OnceLock<(&'static Plugin, FakeService, tempfile::TempDir)> = OnceLock::new();
    let (p, s, _) = GOOD.get_or_init(|| {
        let dir = private_dir();
        let path = install("good", "good", dir.path());
        let pin = file_sha256(&path).unwrap();
        let p = plugin::find_and_load("good", &[dir.path().to_path_buf()], Some(&pin)).unwrap();
        assert_eq!(p.sha256(), Some(pin));
        (p, FakeService::start(), dir)
    });
    (p, s)
}

fn account(base_url: Option<&str>) -> Account {
    let mut a = Account::new("work");
    a.base_url = base_url.map(str::to_owned);
    a.settings.insert("greeting".into(), "hi".into());
    a.secrets.insert("seed".into(), SecretString::from("s33d"));
    a
}

/// `get` for account `a`, with no credential request and no saved state.
fn get(p: &Plugin, svc: &HostServices, a: Account) -> Result<GetResponse, CallError> {
    p.get(svc, &GetRequest::new(a, CredentialRequest::default(), None))
}

fn services(server: &FakeService) -> HostServices {
    HostServices::new("work")
        .allow_origins_of([server.base_url.as_str()])
        .unwrap()
}

/// Installs `variant` under `name` in a fresh private folder and tries to load it.
fn try_load(
    variant: &str,
    name: &str,
) -> (
    Result<&'static Plugin, LoadError>,
    PathBuf,
    tempfile::TempDir,
) {
    let dir = private_dir();
    let path = install(variant, name, dir.path());
    (load_plugin(name, &path, None), path, dir)
}

#[test]
fn good_plugin_describes_itself() {
    let (p, server) = good();
    assert_eq!((p.name(), p.version(), p.abi_minor()), ("good", "0.1.0", 0));
    let d = p.describe(&services(server)).unwrap();
    assert_eq!(d.name, "good");
    assert_eq!(d.version, "0.1.0");
    assert_eq!(d.description.display_name, "Good test provider");
    let keys: Vec<_> = d
        .description
        .settings
        .iter()
        .map(|s| (s.key.as_str(), s.secret, s.required))
        .collect();
    assert_eq!(
        keys,
        [
            ("greeting", false, false),
            ("seed", true, true),
            ("ask", false, false),
            ("token_path", false, false)
        ]
    );
    assert_eq!(
        d.description.default_base_url.as_deref(),
        Some("https://good.example/api")
    );
    assert_eq!(d.description.url_patterns, ["https://good.example/*"]);
}

#[test]
fn good_plugin_gets_a_token_over_host_http_and_logs_out() {
    let (p, server) = good();
    let now_ms = 1_700_000_000_000;
    let svc = services(server).fixed_clock(now_ms);
    let state = Some(SecretString::from(r#"{"calls":4}"#));
    let req = GetRequest::new(
        account(Some(&server.base_url)),
        CredentialRequest::default(),
        state,
    );
    let r = p.get(&svc, &req).unwrap();
    assert_eq!(r.secret.expose_secret(), "tok-1");
    assert_eq!(r.authtype.as_deref(), Some("Bearer"));
    assert_eq!(r.username.as_deref(), Some("good-user"));
    assert_eq!(r.expires_at, Some(1_700_000_000 + 3600));
    assert_eq!(r.scopes, ["repo", "read:org"]);
    assert_eq!(r.info.get("calls").map(String::as_str), Some("5"));
    match &r.state {
        StateUpdate::Replace { value } => assert_eq!(value.expose_secret(), r#"{"calls":5}"#),
        other => panic!("unexpected state update {other:?}"),
    }
    assert!(
        !format!("{r:?}").contains("tok-1"),
        "Debug must redact the token"
    );

    let seen = server.requests();
    let token_call = seen
        .iter()
        .find(|s| s.path == "/token")
        .expect("a token request");
    assert_eq!(token_call.method, "POST");
    assert_eq!(
        token_call.body,
        "grant_type=client_credentials&client_secret=s33d"
    );
    assert!(
        token_call
            .headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/x-www-form-urlencoded")
    );

    let out = LogoutRequest::new(
        account(Some(&server.base_url)),
        CredentialRequest::default(),
        None,
        Some(SecretString::from("tok-1")),
    );
    let l = p.logout(&svc, &out).unwrap();
    assert!(l.revoked);
    assert!(matches!(l.state, StateUpdate::Clear));
    assert!(
        server
            .requests()
            .iter()
            .any(|s| s.path == "/revoke" && s.body == "token=tok-1")
    );
}

#[test]
fn without_a_base_url_no_http_is_needed() {
    let (p, _) = good();
    let r = get(p, &HostServices::new("work"), account(None)).unwrap();
    assert_eq!(r.secret.expose_secret(), "hi-s33d");
}

#[test]
fn http_outside_the_accounts_origins_is_refused_with_a_clear_error() {
    let (p, server) = good();
    let req = GetRequest::new(
        account(Some(&server.base_url)),
        CredentialRequest::default(),
        None,
    );
    let other = HostServices::new("work")
        .allow_origins_of(["https://good.example"])
        .unwrap();
    let e = p.get(&other, &req).unwrap_err();
    let pe = e
        .plugin_error()
        .expect("the plugin passes the host's refusal on");
    assert_eq!(pe.kind, ErrorKind::NotAllowed);
    assert_eq!(
        e.to_string(),
        format!(
            "good: account `work` does not allow plugin `good` to reach {} (allowed: https://good.example:443) (if this origin is expected, add it to the account's allowed origins)",
            server.base_url
        )
    );
}

#[test]
fn service_errors_reach_the_host_typed() {
    let (p, server) = good();
    let svc = services(server);
    let mut a = account(Some(&server.base_url));
    a.secrets.insert("seed".into(), SecretString::from("wrong"));
    let e = get(p, &svc, a).unwrap_err();
    assert_eq!(e.plugin_error().unwrap().kind, ErrorKind::AuthFailed);
    assert_eq!(e.to_string(), "good: the service refused the seed");

    let mut a = account(Some(&server.base_url));
    a.settings.insert("token_path".into(), "/limited".into());
    let e = get(p, &svc, a).unwrap_err();
    let pe = e.plugin_error().unwrap();
    assert_eq!((pe.kind, pe.retry_after), (ErrorKind::RateLimited, Some(7)));

    // A response over the host's size cap is refused by the host, never handed over.
    let mut a = account(Some(&server.base_url));
    a.settings.insert("token_path".into(), "/big".into());
    let e = get(p, &svc, a).unwrap_err();
    let pe = e.plugin_error().unwrap();
    assert_eq!(pe.kind, ErrorKind::ServiceError);
    assert!(
        pe.message
            .contains("is larger than the 4194304 bytes keyhelm accepts (5242880 bytes or more)"),
        "{pe}"
    );

    let mut a = account(None);
    a.secrets.clear();
    let e = get(p, &svc, a).unwrap_err();
    assert_eq!(e.plugin_error().unwrap().kind, ErrorKind::BadSettings);
    assert_eq!(
        e.to_string(),
        "good: the account has no `seed` (set it with `keyhelm account edit`)"
    );
}

#[derive(Clone, Default)]
struct Screen(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for Screen {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn prompts_go_through_the_host_and_fail_cleanly_when_not_allowed() {
    let (p, _) = good();
    let mut a = account(None);
    a.settings.insert("ask".into(), "secret".into());
    let req = GetRequest::new(a, CredentialRequest::default(), None);

    let screen = Screen::default();
    let term = Terminal::from_streams(std::io::Cursor::new("424242\n"), screen.clone());
    let svc = HostServices::new("work")
        .interactive(true)
        .prompter(Arc::new(term));
    let r = p.get(&svc, &req).unwrap();
    assert_eq!(r.secret.expose_secret(), "hi-s33d+424242");
    assert_eq!(
        String::from_utf8(screen.0.lock().unwrap().clone()).unwrap(),
        "Code for the good provider: "
    );

    let e = p.get(&HostServices::new("work"), &req).unwrap_err();
    let pe = e.plugin_error().unwrap();
    assert_eq!(pe.kind, ErrorKind::NeedsInteraction);
    assert_eq!(
        e.to_string(),
        "good: cannot ask for input: there is no terminal, or the calling tool does not allow prompts (log in from a terminal first: `keyhelm login work`)"
    );

    // Interactive, but this process has no terminal (CI, this sandbox): the same clean error.
    if Terminal::open().is_err() {
        let e = p
            .get(&HostServices::new("work").interactive(true), &req)
            .unwrap_err();
        assert_eq!(e.plugin_error().unwrap().kind, ErrorKind::NeedsInteraction);
        assert!(
            e.to_string()
                .starts_with("good: cannot ask for input: there is no terminal"),
            "{e}"
        );
    }
}

#[test]
fn loading_twice_returns_the_same_plugin_and_a_second_copy_is_refused() {
    let (p, _) = good();
    let again = plugin::loaded("good").unwrap();
    assert!(std::ptr::eq(p, again));
    let again = load_plugin("good", p.path(), None).unwrap();
    assert!(std::ptr::eq(p, again));

    let dir = private_dir();
    let path = install("good", "good", dir.path());
    let e = load_plugin("good", &path, None).unwrap_err();
    assert!(matches!(e, LoadError::AlreadyLoaded { .. }));
    assert_eq!(
        e.to_string(),
        format!(
            "plugin `good` is already loaded from {}, and a second copy at {} was requested; remove one of them",
            p.path().display(),
            path.display()
        )
    );
}

#[test]
fn a_missing_plugin_names_the_folders_searched() {
    let dir = private_dir();
    let e = plugin::find_and_load("absent", &[dir.path().to_path_buf()], None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "no plugin named `absent`: looked for libkeyhelm_absent.so in {}; install it into one of those folders, or set its path in the config",
            dir.path().display()
        )
    );
}

#[test]
fn another_abi_major_is_refused() {
    let (r, path, _d) = try_load("badmajor", "badmajor");
    let e = r.unwrap_err();
    assert!(
        matches!(
            e,
            LoadError::AbiMismatch {
                found_major: 2,
                expected: 1,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "plugin {} is built for plugin ABI 2.0, and this keyhelm speaks ABI 1.x; install a version of the plugin built for ABI 1",
            path.display()
        )
    );
}

#[test]
fn a_truncated_table_is_refused() {
    let (r, path, _d) = try_load("shorttable", "shorttable");
    let e = r.unwrap_err();
    assert!(
        matches!(
            e,
            LoadError::TableTooSmall {
                size: 48,
                min: 72,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "plugin {} is broken: its table is 48 bytes, smaller than the 72 bytes of ABI 1.0; rebuild it against keyhelm-core",
            path.display()
        )
    );
}

#[test]
fn a_library_without_the_entry_symbol_is_refused() {
    let (r, path, _d) = try_load("noentry", "noentry");
    let e = r.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} is not a keyhelm plugin for this version: it does not export `keyhelm_plugin_entry_v1`; it may be built for another plugin ABI, update it",
            path.display()
        )
    );
}

#[test]
fn a_file_that_is_not_a_library_is_refused_by_the_loader() {
    let dir = private_dir();
    let path = dir.path().join("libkeyhelm_text.so");
    std::fs::write(&path, b"#!/bin/sh\necho hi\n").unwrap();
    let e = load_plugin("text", &path, None).unwrap_err();
    assert!(matches!(e, LoadError::Dlopen { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("cannot load plugin {}: ", path.display())),
        "{msg}"
    );
    assert!(
        msg.ends_with("; is it a plugin built for this system and architecture?"),
        "{msg}"
    );
    assert!(
        !msg.contains("/proc/self/fd"),
        "the message names the user's path: {msg}"
    );
}

#[test]
fn a_plugin_whose_name_differs_from_its_file_is_refused() {
    let (r, path, _d) = try_load("good", "other");
    let e = r.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "plugin {} calls itself `good`, but `other` was expected; rename the file to match, or fix the config",
            path.display()
        )
    );
}

#[test]
fn a_group_writable_file_is_refused() {
    let dir = private_dir();
    let path = install("good", "gw", dir.path());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
    let e = load_plugin("gw", &path, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "refusing to load plugin {0}: the file {0} is writable by its group (mode 0664), so another user could change the code keyhelm runs; run `chmod go-w {0}`",
            path.display()
        )
    );
}

#[test]
fn a_file_in_a_world_writable_folder_is_refused() {
    let outer = private_dir();
    let open = outer.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let path = install("good", "ww", &open);
    let e = load_plugin("ww", &path, None).unwrap_err();
    let open = std::fs::canonicalize(&open).unwrap();
    assert_eq!(
        e.to_string(),
        format!(
            "refusing to load plugin {}: the folder {1} is writable by everyone (mode 0777), so another user could change the code keyhelm runs; run `chmod go-w {1}`",
            path.display(),
            open.display()
        )
    );
}

#[test]
fn a_file_owned_by_another_user_is_refused() {
    // Only root can give a file away; elsewhere the check is covered by the unit tests'
    // logic and this test has nothing to set up.
    let dir = private_dir();
    let path = install("good", "owned", dir.path());
    let chown = std::process::Command::new("chown")
        .arg("65534")
        .arg(&path)
        .status();
    if !chown.is_ok_and(|s| s.success()) {
        return;
    }
    let e = load_plugin("owned", &path, None).unwrap_err();
    assert!(
        matches!(
            e,
            LoadError::BadOwner {
                owner: 65534,
                is_folder: false,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().starts_with(&format!(
            "refusing to load plugin {0}: the file {0} is owned by user id 65534, not by you",
            path.display()
        )),
        "{e}"
    );
}

#[test]
fn a_symlink_is_refused() {
    let dir = private_dir();
    let real = install("good", "real", dir.path());
    let link = dir.path().join(plugin::plugin_file_name("linked"));
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let e = load_plugin("linked", &link, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "refusing to load plugin {}: it is a symbolic link; point the config at the real file, or copy the plugin into the plugin folder",
            link.display()
        )
    );
}

#[test]
fn a_file_swapped_after_the_check_cannot_win() {
    let dir = private_dir();
    let path = install("good", "good", dir.path());
    let checked = verify_file(&path, None).unwrap();

    // Swap in another library at the same path after the check (an attacker racing us).
    let swap_dir = private_dir();
    let evil = install("noisy", "good", swap_dir.path());
    std::fs::rename(&evil, &path).unwrap();

    // The checked inode is what gets loaded: the table still says `good`. Had the loader
    // opened the path again, it would have found `noisy` and refused a name mismatch.
    let p = load_verified(checked, "good").unwrap();
    assert_eq!(p.name(), "good");
    let e = load_verified(verify_file(&path, None).unwrap(), "good").unwrap_err();
    assert!(
        matches!(e, LoadError::NameMismatch { .. }),
        "the path now holds the other plugin: {e}"
    );
}

#[test]
fn a_changed_file_no_longer_matches_its_pin() {
    let dir = private_dir();
    let path = install("good", "pinned", dir.path());
    let pin = file_sha256(&path).unwrap();
    // The plugin is updated (or tampered with) after it was pinned.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"tampered");
    std::fs::write(&path, &bytes).unwrap();
    let actual = file_sha256(&path).unwrap();
    let e = load_plugin("pinned", &path, Some(&pin)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "refusing to load plugin {}: its sha256 is {actual}, but the config pins {pin}; if you updated the plugin on purpose, pin the new hash (`keyhelm plugin trust`)",
            path.display()
        )
    );
    let wrong: Sha256Pin = "00".repeat(32).parse().unwrap();
    assert!(matches!(
        load_plugin("pinned", &path, Some(&wrong)),
        Err(LoadError::PinMismatch { .. })
    ));
}

#[test]
fn a_panicking_plugin_is_contained_in_every_call() {
    let (r, _path, _d) = try_load("panics", "panics");
    let p = r.unwrap();
    let svc = HostServices::new("work");
    for _ in 0..2 {
        let e = p.describe(&svc).unwrap_err();
        assert!(
            matches!(
                e,
                CallError::Panicked {
                    op: Op::Describe,
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string().starts_with("plugin `panics` crashed during describe: the plugin panicked: describe exploded (at "),
            "{e}"
        );
        assert!(
            e.to_string()
                .ends_with("); this is a bug in the plugin, report it to its author"),
            "{e}"
        );

        let e = get(p, &svc, account(None)).unwrap_err();
        assert!(e.to_string().contains("index out of bounds"), "{e}");

        let req = LogoutRequest::new(account(None), CredentialRequest::default(), None, None);
        let e = p.logout(&svc, &req).unwrap_err();
        assert!(
            e.to_string().starts_with("plugin `panics` crashed during logout: the plugin panicked: a panic without a message"),
            "{e}"
        );
    }
}

#[test]
fn an_answer_that_is_not_json_is_refused_without_quoting_it() {
    let (r, _path, _d) = try_load("badjson", "badjson");
    let p = r.unwrap();
    let svc = HostServices::new("work");
    let e = p.describe(&svc).unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin `badjson` gave an answer to describe that keyhelm cannot read: it ends too early (line 1, column 21); the plugin is broken or built for another keyhelm, update it"
    );
    let e = get(p, &svc, account(None)).unwrap_err();
    assert!(matches!(e, CallError::InvalidAnswer { op: Op::Get, .. }));
    assert!(!e.to_string().contains("half") && !format!("{e:?}").contains("half"));
}

#[test]
fn a_huge_answer_is_refused_by_its_length() {
    let (r, _path, _d) = try_load("huge", "huge");
    let p = r.unwrap();
    let e = p.describe(&HostServices::new("work")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin `huge` gave an answer to describe of 67108864 bytes, more than the 1048576 keyhelm accepts; the plugin is broken, report it to its author"
    );
    // The cap is the caller's to set.
    let e = p
        .describe(&HostServices::new("work").max_answer_bytes(128 << 20))
        .unwrap_err();
    assert!(matches!(e, CallError::InvalidAnswer { .. }), "{e}");
}

#[test]
fn host_services_debug_output_names_no_secret() {
    let (_, server) = good();
    let svc = services(server).interactive(true);
    let dbg = format!("{svc:?}");
    assert!(dbg.contains("work") && dbg.contains("127.0.0.1"), "{dbg}");
}

/// Regression: the loader opens `/proc/self/fd/N`, and glibc matches loaded libraries by
/// that name. When N was closed after a load and reused for the next plugin file, the
/// second load silently returned the first library.
#[test]
fn consecutive_loads_never_return_a_previous_library() {
    let (r, _, _d1) = try_load("badmajor", "seq1");
    assert!(matches!(r, Err(LoadError::AbiMismatch { .. })));
    let (r, _, _d2) = try_load("shorttable", "seq2");
    assert!(
        matches!(r, Err(LoadError::TableTooSmall { .. })),
        "{:?}",
        r.err()
    );
    let (r, _, _d3) = try_load("noentry", "seq3");
    assert!(
        matches!(r, Err(LoadError::MissingEntry { .. })),
        "{:?}",
        r.err()
    );
}

/// The out-of-tree example, built as a third party builds it, works through the real
/// loader and host services.
#[test]
fn the_example_plugin_builds_on_its_own_and_works() {
    let server = FakeService::start();
    let dir = private_dir();
    let path = dir.path().join(plugin::plugin_file_name("hello"));
    std::fs::copy(plugin_support::built_example(), &path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = plugin::find_and_load("hello", &[dir.path().to_path_buf()], None).unwrap();
    let svc = services(&server).fixed_clock(1_000_000);
    let d = p.describe(&svc).unwrap();
    assert_eq!(d.description.display_name, "Hello (example)");

    let mut a = Account::new("demo");
    a.settings.insert("greeting".into(), "bonjour".into());
    a.settings
        .insert("check_url".into(), format!("{}/revoke", server.base_url));
    a.secrets.insert("seed".into(), SecretString::from("xyz"));
    let r = get(p, &svc, a).unwrap();
    assert_eq!(r.secret.expose_secret(), "bonjour-xyz");
    assert_eq!(r.expires_at, Some(1000 + 3600));
    assert_eq!(r.info.get("check").map(String::as_str), Some("HTTP 200"));
    let seen = server.requests();
    assert!(seen.iter().any(|s| {
        s.headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer bonjour-xyz")
    }));

    // The default logout of the SDK: nothing revoked, forget the state.
    let l = p
        .logout(
            &svc,
            &LogoutRequest::new(
                Account::new("demo"),
                CredentialRequest::default(),
                None,
                None,
            ),
        )
        .unwrap();
    assert!(!l.revoked && matches!(l.state, StateUpdate::Clear));
}

#[test]
fn broken_tables_are_refused_each_with_its_own_error() {
    for (variant, problem) in [
        ("nulltable", "its entry function returned no table"),
        ("nofns", "its table has no `get` function"),
        (
            "badname",
            "its name is not a valid plugin name ([a-z0-9_-], at most 64)",
        ),
    ] {
        let (r, path, _d) = try_load(variant, variant);
        assert_eq!(
            r.unwrap_err().to_string(),
            format!("plugin {} is broken: {problem}", path.display()),
            "{variant}"
        );
    }
}

#[test]
fn a_missing_file_is_reported_with_the_os_error() {
    let dir = private_dir();
    let path = dir.path().join(plugin::plugin_file_name("gone"));
    let e = load_plugin("gone", &path, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "cannot open plugin {}: No such file or directory (os error 2)",
            path.display()
        )
    );
}

#[test]
fn network_failures_and_timeouts_are_typed_and_name_only_the_origin() {
    let (p, _) = good();
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut a = account(Some(&closed_url));
    a.settings
        .insert("token_path".into(), "/token?secret=q".into());
    let svc = HostServices::new("work")
        .allow_origins_of([closed_url.as_str()])
        .unwrap();
    let e = get(p, &svc, a).unwrap_err();
    let pe = e.plugin_error().unwrap();
    assert_eq!(pe.kind, ErrorKind::Network);
    assert_eq!(
        pe.message,
        format!("request to {closed_url} failed: could not connect")
    );

    // A server that accepts and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    std::thread::spawn(move || {
        let _held: Vec<_> = silent.incoming().take(4).collect();
        std::thread::sleep(std::time::Duration::from_secs(30));
    });
    let mut limits = plugin::HttpLimits::default();
    limits.default_timeout = std::time::Duration::from_millis(300);
    let svc = HostServices::new("work")
        .allow_origins_of([silent_url.as_str()])
        .unwrap()
        .http_limits(limits);
    let e = get(p, &svc, account(Some(&silent_url))).unwrap_err();
    let pe = e.plugin_error().unwrap();
    assert_eq!(pe.kind, ErrorKind::Network);
    assert_eq!(
        pe.message,
        format!("request to {silent_url} failed: timed out after 0.3 s")
    );
}
