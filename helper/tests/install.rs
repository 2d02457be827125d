//! The README's install command builds keyhelm and the three provider plugins and installs
//! them where keyhelm finds them: `keyhelm plugin list` shows them right after.

mod support;

use support::{Sandbox, text};

#[test]
fn install_sh_puts_the_plugins_where_keyhelm_finds_them() {
    let s = Sandbox::new();
    let prefix = s.dir().join("prefix");
    let root = keyhelm_testkit::bins::workspace_root();
    // A `dev` build: the same script as the README's, without a second, release build.
    let out = std::process::Command::new("sh")
        .arg(root.join("install.sh"))
        .env("PREFIX", &prefix)
        .env("KEYHELM_INSTALL_PROFILE", "dev")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let installed = prefix.join("bin/keyhelm");
    let list = support::run(s.command(&installed).args(["plugin", "list"]), b"");
    assert!(list.status.success(), "{}", text(&list.stderr));
    let plugins = prefix.join("lib/keyhelm/plugins");
    for name in ["clinked    ", "intellivoid", "intralinks "] {
        let file = plugins.join(format!("libkeyhelm_{}.so", name.trim()));
        let line = format!("{name}  0.1.0  ABI 1.0  not pinned  {}\n", file.display());
        assert!(
            text(&list.stdout).contains(&line),
            "missing {line:?} in:\n{}",
            text(&list.stdout)
        );
    }
    // Nothing else was installed as a plugin (the test plugins stay in the build folder).
    let names: Vec<String> = std::fs::read_dir(&plugins)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}
