//! docs/abi.md is implementable: a plugin written in C against the header printed at the
//! end of that page (extracted from the page by this test) loads and works.

mod plugin_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use keyhelm::plugin::{self, CallError, HostServices, Op};
use keyhelm_core::msg::{Account, CredentialRequest, GetRequest, LogoutRequest, StateUpdate};
use keyhelm_core::secrecy::ExposeSecret;

fn header_from_docs() -> String {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/abi.md"))
        .unwrap();
    let start = doc
        .find("```c\n/* keyhelm_plugin.h")
        .expect("the C header block in docs/abi.md");
    let body = &doc[start + "```c\n".len()..];
    body[..body.find("```").unwrap()].to_owned()
}

#[test]
fn a_c_plugin_built_from_the_documented_header_works() {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let build = plugin_support::private_dir();
    std::fs::write(build.path().join("keyhelm_plugin.h"), header_from_docs()).unwrap();
    let dir = plugin_support::private_dir();
    let so = dir.path().join(plugin::plugin_file_name("chello"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/c_hello.c");
    let st = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Werror", "-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg("-I")
        .arg(build.path())
        .arg(&src)
        .status()
        .unwrap_or_else(|e| panic!("this test needs a C compiler ({cc}, or set CC): {e}"));
    assert!(st.success(), "compiling the C plugin failed");
    std::fs::set_permissions(&so, std::fs::Permissions::from_mode(0o755)).unwrap();

    let p = plugin::find_and_load("chello", &[dir.path().to_path_buf()], None).unwrap();
    assert_eq!((p.name(), p.version()), ("chello", "1.2.3"));
    let svc = HostServices::new("c").fixed_clock(10_000);
    let d = p.describe(&svc).unwrap();
    assert_eq!(d.description.display_name, "C hello");
    assert!(d.description.settings[0].secret);

    let r = p
        .get(
            &svc,
            &GetRequest::new(Account::new("c"), CredentialRequest::default(), None),
        )
        .unwrap();
    assert_eq!(r.secret.expose_secret(), "c-token");
    assert_eq!(r.expires_at, Some(70));
    assert!(matches!(r.state, StateUpdate::Clear));

    let e = p
        .logout(
            &svc,
            &LogoutRequest::new(Account::new("c"), CredentialRequest::default(), None, None),
        )
        .unwrap_err();
    assert!(matches!(e, CallError::Unsupported { op: Op::Logout, .. }));
    assert_eq!(e.to_string(), "plugin `chello` does not support logout");
}
