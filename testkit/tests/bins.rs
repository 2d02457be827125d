//! The build helpers and the isolated environment, with the real cargo and git.

mod support;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;

use keyhelm_testkit::bins::{
    ArtifactKind, IsolatedEnv, build_artifact, describe_failure, keyhelm_bin, output, run,
    run_failing,
};
use support::write_files;

#[test]
fn keyhelm_bin_is_built_once_and_runs() {
    let first = keyhelm_bin();
    assert!(first.is_absolute(), "{}", first.display());
    assert!(first.is_file(), "{}", first.display());
    assert_eq!(first.file_name().unwrap(), "keyhelm");
    assert_ne!(
        std::fs::metadata(&first).unwrap().permissions().mode() & 0o111,
        0
    );
    assert_eq!(keyhelm_bin(), first);
    let env = IsolatedEnv::new().unwrap();
    let mut cmd = env.command(&first);
    let out = output(&mut cmd).unwrap();
    assert!(
        out.status.code().is_some(),
        "{}",
        describe_failure(&cmd, &out)
    );
}

#[test]
fn run_wants_a_success_and_run_failing_a_failure() {
    let env = IsolatedEnv::new().unwrap();
    assert!(run(&mut env.command("true")).is_ok());
    assert_eq!(
        run(&mut env.command("false")).unwrap_err().to_string(),
        "`false ` exited with exit status: 1\n--- stdout ---\n\n--- stderr ---\n"
    );
    assert_eq!(
        run_failing(&mut env.command("false"))
            .unwrap()
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        run_failing(&mut env.command("true"))
            .unwrap_err()
            .to_string(),
        "expected a failure: `true ` exited with exit status: 0\n--- stdout ---\n\n--- stderr ---\n"
    );
}

/// A throw-away workspace with a cdylib and a binary package, built through the same code
/// path as `plugin_cdylib` and `keyhelm_bin`.
#[test]
fn artifacts_of_a_generated_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_files(
        root,
        &[
            (
                "Cargo.toml",
                "[workspace]\nresolver = \"2\"\nmembers = [\"plug\", \"tool\"]\n",
            ),
            (
                "plug/Cargo.toml",
                "[package]\nname = \"my-plug\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                 [lib]\ncrate-type = [\"cdylib\", \"rlib\"]\n",
            ),
            (
                "plug/src/lib.rs",
                "#[no_mangle] pub extern \"C\" fn answer() -> u32 { 42 }\n",
            ),
            (
                "tool/Cargo.toml",
                "[package]\nname = \"tool\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
            ),
            (
                "tool/src/main.rs",
                "fn main() { println!(\"tool ran\"); }\n",
            ),
        ],
    );
    let manifest = root.join("Cargo.toml");

    // Parallel callers in one process share one build.
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let manifest = manifest.clone();
            std::thread::spawn(move || {
                build_artifact(&manifest, "my-plug", &ArtifactKind::Cdylib).unwrap()
            })
        })
        .collect();
    let paths: BTreeSet<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(paths.len(), 1);
    let cdylib = paths.into_iter().next().unwrap();
    assert_eq!(
        cdylib.file_name().unwrap(),
        format!("libmy_plug{}", std::env::consts::DLL_SUFFIX).as_str()
    );
    assert!(cdylib.is_file());
    assert!(root.join("target/keyhelm-testkit-build.lock").exists());

    let tool = build_artifact(&manifest, "tool", &ArtifactKind::Bin("tool".into())).unwrap();
    let out = run(&mut std::process::Command::new(&tool)).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tool ran\n");

    let err = build_artifact(&manifest, "tool", &ArtifactKind::Cdylib)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "`cargo build -p tool` succeeded but reported no Cdylib artifact"
    );

    let err = build_artifact(&manifest, "absent", &ArtifactKind::Cdylib)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("`cargo build -p absent` failed (exit status: 101):\n"),
        "{err}"
    );
    assert!(err.contains("absent"), "{err}");
}

#[test]
#[should_panic(expected = "`cargo build -p keyhelm-no-such-plugin` failed")]
fn plugin_cdylib_panics_with_cargos_message() {
    keyhelm_testkit::bins::plugin_cdylib("keyhelm-no-such-plugin");
}

#[test]
fn the_environment_is_scrubbed() {
    let env = IsolatedEnv::new().unwrap();
    let out = run(&mut env.command("env")).unwrap();
    let seen: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_owned()))
        .collect();
    let expected: BTreeSet<String> = env
        .vars()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    // `env` itself may add nothing; the shell is not involved.
    assert_eq!(seen, expected);
    // The test process runs under cargo, which sets CARGO_PKG_NAME etc.; none leak.
    assert!(std::env::var_os("CARGO_PKG_NAME").is_some());
    assert!(!seen.contains("CARGO_PKG_NAME"));
    for key in [
        "HOME",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "XDG_CACHE_HOME",
        "XDG_RUNTIME_DIR",
        "KEYHELM_HOME",
        "CARGO_HOME",
        "KUBECONFIG",
        "GIT_CONFIG_NOSYSTEM",
        "GIT_TERMINAL_PROMPT",
        "GIT_ASKPASS",
        "PATH",
    ] {
        assert!(seen.contains(key), "{key} missing");
    }
    for key in [
        "HOME",
        "KEYHELM_HOME",
        "CARGO_HOME",
        "KUBECONFIG",
        "XDG_CONFIG_HOME",
    ] {
        let value = env.var(key).unwrap();
        assert!(std::path::Path::new(value).starts_with(env.root()), "{key}");
    }
    let mode = std::fs::metadata(env.home()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    assert_eq!(
        std::fs::metadata(env.root()).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert!(
        !env.keyhelm_home().exists(),
        "KEYHELM_HOME is left for keyhelm to create"
    );
}

#[test]
fn git_sees_no_configuration_but_ours() {
    let env = IsolatedEnv::new().unwrap();
    let out = output(
        env.command("git")
            .args(["config", "--list", "--show-origin"]),
    )
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    env.git_config("credential.helper", "!f() { echo username=u; }; f")
        .unwrap();
    let out = run(env
        .command("git")
        .args(["config", "--list", "--show-origin"]))
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.contains(&env.home().join(".gitconfig").display().to_string()),
        "{stdout}"
    );
}

#[test]
fn askpass_records_prompts_and_fails() {
    let env = IsolatedEnv::new().unwrap();
    let mut cmd = env.command("git");
    cmd.args(["credential", "fill"])
        .stdin(std::process::Stdio::piped());
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"protocol=https\nhost=example.com\n\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert_eq!(
        env.askpass_calls(),
        ["Username for 'https://example.com': "]
    );
}

#[test]
fn crates_io_is_never_contacted() {
    let env = IsolatedEnv::new().unwrap();
    let dir = env.work_dir().join("wants-serde");
    write_files(
        &dir,
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"wants-serde\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nserde = \"1\"\n",
            ),
            ("src/lib.rs", ""),
        ],
    );
    let out = run_failing(
        env.command(keyhelm_testkit::bins::cargo_program())
            .arg("fetch")
            .current_dir(&dir),
    )
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no matching package named `serde` found"),
        "{stderr}"
    );
    assert!(
        stderr.contains("which is replacing registry `crates-io`"),
        "{stderr}"
    );
}

#[test]
fn scripts_are_private_executables() {
    let env = IsolatedEnv::new().unwrap();
    let script = env
        .write_script("hello.sh", "#!/bin/sh\necho hi\n")
        .unwrap();
    assert_eq!(
        std::fs::metadata(&script).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let out = run(&mut env.command(&script)).unwrap();
    assert_eq!(out.stdout, b"hi\n");
    let err = env.write_script("../x", "").unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid script name \"../x\": a plain file name is expected"
    );
}

/// Two servers' CAs in one bundle: git and cargo trust both.
#[test]
fn trusting_several_test_cas() {
    use keyhelm_testkit::cargo_registry::{CargoAuthPolicy, CargoRegistry};
    use keyhelm_testkit::git_http::{GitAuthPolicy, GitHttpServer};
    let git = GitHttpServer::builder(GitAuthPolicy::basic("u", "p"))
        .tls(true)
        .repo("r.git")
        .start()
        .unwrap();
    let registry = CargoRegistry::builder(CargoAuthPolicy::token("t"))
        .tls(true)
        .start()
        .unwrap();
    let mut env = IsolatedEnv::new().unwrap();
    env.trust_ca(git.ca_pem().unwrap()).unwrap();
    let bundle = env.trust_ca(registry.ca_pem().unwrap()).unwrap();
    let text = std::fs::read_to_string(&bundle).unwrap();
    assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 2);
    assert_eq!(
        std::fs::metadata(&bundle).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for var in ["GIT_SSL_CAINFO", "CARGO_HTTP_CAINFO", "SSL_CERT_FILE"] {
        assert_eq!(env.var(var), Some(bundle.as_os_str()), "{var}");
    }
    env.git_config(
        "credential.helper",
        "!f() { echo username=u; echo password=p; }; f",
    )
    .unwrap();
    run(env
        .command("git")
        .args(["ls-remote", &git.repo_url("r.git")]))
    .unwrap();
}
