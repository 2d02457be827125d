//! CargoRegistry against the real cargo, with cargo's own credential providers (no keyhelm
//! involved).

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use keyhelm_testkit::bins::{IsolatedEnv, cargo_program, describe_failure, run, run_failing};
use keyhelm_testkit::cargo_registry::{CargoAuthPolicy, CargoRegistry, TokenOutcome, index_path};

use support::write_files;

const TOKEN: &str = "s3cret-registry-token";

/// `cargo publish` to the registry named `testreg`, as is.
const PUBLISH: [&str; 5] = [
    "publish",
    "--registry",
    "testreg",
    "--no-verify",
    "--allow-dirty",
];

/// A binary crate depending on `hello-dep` from the registry named `testreg`.
fn consumer(env: &IsolatedEnv) -> PathBuf {
    let dir = env.work_dir().join("consumer");
    write_files(
        &dir,
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"consumer\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
                 [dependencies]\nhello-dep = { version = \"0.1\", registry = \"testreg\" }\n",
            ),
            (
                "src/main.rs",
                "fn main() { println!(\"{}\", hello_dep::greeting()); }\n",
            ),
        ],
    );
    dir
}

/// A registry that wants [`TOKEN`], with `hello-dep` 0.1.0 published.
fn registry_with_hello_dep() -> CargoRegistry {
    let registry = CargoRegistry::start(CargoAuthPolicy::token(TOKEN)).unwrap();
    registry.publish("hello-dep", "0.1.0").unwrap();
    registry
}

/// An environment whose cargo knows `registry` as `testreg`, with these credential providers.
fn env_for(registry: &CargoRegistry, providers: &[&str]) -> IsolatedEnv {
    let env = IsolatedEnv::new().unwrap();
    env.write_cargo_config(&registry.cargo_config("testreg", providers))
        .unwrap();
    env
}

fn cargo(env: &IsolatedEnv, dir: &Path) -> std::process::Command {
    let mut cmd = env.command(cargo_program());
    cmd.current_dir(dir);
    cmd
}

#[test]
fn fetch_build_and_run_with_the_cargo_token_provider() {
    let registry = CargoRegistry::start(CargoAuthPolicy::token(TOKEN)).unwrap();
    let published = registry.publish("hello-dep", "0.1.0").unwrap();
    assert_eq!(published.cksum.len(), 64);
    let index = registry.index_file("hello-dep").unwrap();
    assert!(
        index.contains(&format!("\"cksum\":\"{}\"", published.cksum)),
        "{index}"
    );

    let mut env = env_for(&registry, &["cargo:token"]);
    env.set_var("CARGO_REGISTRIES_TESTREG_TOKEN", TOKEN);
    let dir = consumer(&env);

    run(cargo(&env, &dir).arg("fetch")).unwrap();
    let out = run(cargo(&env, &dir).args(["run", "--quiet", "--offline"])).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from hello-dep 0.1.0\n"
    );

    let requests = registry.requests();
    // cargo asks for config.json without a token first, gets 401, then retries with one.
    assert_eq!(requests[0].path, "/index/config.json", "{requests:#?}");
    assert_eq!(requests[0].outcome, TokenOutcome::Missing);
    assert_eq!(requests[0].status, 401);
    let accepted: Vec<&str> = requests
        .iter()
        .filter(|r| r.outcome == TokenOutcome::Accepted)
        .map(|r| r.path.as_str())
        .collect();
    assert!(accepted.contains(&"/index/config.json"), "{accepted:?}");
    assert!(
        accepted.contains(&format!("/index/{}", index_path("hello-dep")).as_str()),
        "{accepted:?}"
    );
    assert!(
        accepted.contains(&"/dl/hello-dep/0.1.0/download"),
        "{accepted:?}"
    );
    let tokens: Vec<String> = registry
        .tokens_seen()
        .iter()
        .map(|t| t.expose().to_owned())
        .collect();
    assert_eq!(tokens, [TOKEN]);
    assert!(
        !format!("{requests:?}").contains(TOKEN),
        "tokens must print redacted"
    );
    assert_eq!(registry.counts().refused, 0);
}

#[test]
fn fetch_with_token_from_stdout() {
    let registry = registry_with_hello_dep();
    let env = env_for(&registry, &["cargo:token-from-stdout", "echo", TOKEN]);
    let dir = consumer(&env);
    run(cargo(&env, &dir).arg("fetch")).unwrap();
    let counts = registry.counts();
    assert!(counts.accepted >= 3, "{counts:?}");
    assert_eq!(counts.refused, 0, "{counts:?}");
}

#[test]
fn a_wrong_token_is_refused() {
    let registry = registry_with_hello_dep();
    let env = env_for(&registry, &["cargo:token-from-stdout", "echo", "wrong"]);
    let dir = consumer(&env);
    let out = run_failing(cargo(&env, &dir).arg("fetch")).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("token rejected for `testreg`"), "{stderr}");
    let counts = registry.counts();
    assert_eq!(counts.accepted, 0, "{counts:?}");
    assert!(counts.refused >= 1, "{counts:?}");
    assert!(
        !dir.join("Cargo.lock").exists()
            || !std::fs::read_to_string(dir.join("Cargo.lock"))
                .unwrap()
                .contains("hello-dep")
    );
}

#[test]
fn a_validator_decides_per_request() {
    let registry = CargoRegistry::start(CargoAuthPolicy::validator(|token| {
        token.starts_with("good-")
    }))
    .unwrap();
    registry.publish("abc", "1.0.0").unwrap();
    let env = env_for(&registry, &["cargo:token-from-stdout", "echo", "good-1"]);
    let dir = env.work_dir().join("c3");
    write_files(
        &dir,
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"c3\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                 [dependencies]\nabc = { version = \"1\", registry = \"testreg\" }\n",
            ),
            ("src/lib.rs", ""),
        ],
    );
    run(cargo(&env, &dir).arg("fetch")).unwrap();
    assert!(
        registry
            .requests()
            .iter()
            .any(|r| r.path == "/index/3/a/abc" && r.status == 200)
    );
}

#[test]
fn login_publish_and_logout_with_cargo_token() {
    let registry = CargoRegistry::start(CargoAuthPolicy::token(TOKEN)).unwrap();
    let env = env_for(&registry, &["cargo:token"]);

    // `cargo login` reads the token from stdin (never from argv).
    let mut login = cargo(&env, &env.work_dir());
    login
        .args(["login", "--registry", "testreg"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = login.spawn().unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{TOKEN}").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", describe_failure(&login, &out));
    // cargo 1.95 only reads config.json (unauthenticated, for the login_url) and hands the
    // token to the provider; it calls no web API for login.
    assert!(
        registry
            .requests()
            .iter()
            .all(|r| r.path == "/index/config.json"),
        "{:#?}",
        registry.requests()
    );
    let credentials = std::fs::read_to_string(env.cargo_home().join("credentials.toml")).unwrap();
    assert!(credentials.contains(TOKEN));

    // Publish a crate through the web API.
    let dir = env.work_dir().join("pubme");
    write_files(
        &dir,
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"pubme\"\nversion = \"0.2.0\"\nedition = \"2021\"\n\
                 description = \"x\"\nlicense = \"MIT\"\n",
            ),
            ("src/lib.rs", ""),
        ],
    );
    run(cargo(&env, &dir).args(PUBLISH)).unwrap();
    let index = registry.index_file("pubme").unwrap();
    assert!(index.contains("\"vers\":\"0.2.0\""), "{index}");
    assert!(
        registry.requests().iter().any(|r| r.method == "PUT"
            && r.path == "/api/v1/crates/new"
            && r.outcome == TokenOutcome::Accepted
            && r.status == 200),
        "{:#?}",
        registry.requests()
    );

    // Publishing the same version again is refused with the registry's message.
    let out = run_failing(cargo(&env, &dir).args(PUBLISH)).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already"), "{stderr}");

    run(cargo(&env, &env.work_dir()).args(["logout", "--registry", "testreg"])).unwrap();
    let credentials =
        std::fs::read_to_string(env.cargo_home().join("credentials.toml")).unwrap_or_default();
    assert!(!credentials.contains(TOKEN), "{credentials}");
}

#[test]
fn fetch_over_https_trusting_the_test_ca() {
    let registry = CargoRegistry::builder(CargoAuthPolicy::token(TOKEN))
        .tls(true)
        .start()
        .unwrap();
    assert!(
        registry
            .index_url()
            .starts_with("sparse+https://127.0.0.1:")
    );
    registry.publish("hello-dep", "0.1.0").unwrap();
    let mut env = env_for(&registry, &["cargo:token-from-stdout", "echo", TOKEN]);
    env.trust_ca(registry.ca_pem().unwrap()).unwrap();
    let dir = consumer(&env);
    run(cargo(&env, &dir).arg("fetch")).unwrap();
    assert!(registry.counts().accepted >= 3);
}

/// A credential provider speaking cargo's JSON protocol (a shell script): cargo sends it the
/// 401's headers and `"operation": "read"` for a fetch.
#[test]
fn a_script_provider_sees_the_read_operation() {
    let registry = registry_with_hello_dep();
    let env = IsolatedEnv::new().unwrap();
    let log = env.root().join("provider.log");
    let provider = env
        .write_script(
            "provider.sh",
            &format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{log}'\necho '{{\"v\":[1]}}'\nread -r request\n\
                 printf '%s\\n' \"$request\" >> '{log}'\n\
                 echo '{{\"Ok\":{{\"kind\":\"get\",\"token\":\"{TOKEN}\",\"cache\":\"session\",\"operation_independent\":true}}}}'\n",
                log = log.display()
            ),
        )
        .unwrap();
    env.write_cargo_config(
        &registry.cargo_config("testreg", &[provider.to_str().unwrap(), "extra-arg"]),
    )
    .unwrap();
    let dir = consumer(&env);
    run(cargo(&env, &dir).arg("fetch")).unwrap();
    assert!(registry.counts().accepted >= 3);

    let log = std::fs::read_to_string(&log).unwrap();
    let mut lines = log.lines();
    // Config arguments travel in the JSON request, not in argv.
    assert_eq!(lines.next(), Some("--cargo-plugin"));
    let request: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(request["v"], 1);
    assert_eq!(request["kind"], "get");
    assert_eq!(request["operation"], "read");
    assert_eq!(request["args"], serde_json::json!(["extra-arg"]));
    assert_eq!(request["registry"]["index-url"], registry.index_url());
    assert_eq!(request["registry"]["name"], "testreg");
    let headers: Vec<&str> = request["registry"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    // Header names arrive as the server wrote them (hyper writes them in lower case).
    let challenge = format!(
        "www-authenticate: Cargo login_url=\"{}\"",
        registry.login_url()
    );
    assert!(
        headers.iter().any(|h| h.eq_ignore_ascii_case(&challenge)),
        "{headers:?}"
    );
}

#[test]
fn an_auth_required_registry_needs_a_credential_provider() {
    let registry = registry_with_hello_dep();
    let mut env = IsolatedEnv::new().unwrap();
    env.write_cargo_config(&format!(
        "[registries.testreg]\nindex = \"{}\"\n",
        registry.index_url()
    ))
    .unwrap();
    env.set_var("CARGO_REGISTRIES_TESTREG_TOKEN", TOKEN);
    let dir = consumer(&env);
    let out = run_failing(cargo(&env, &dir).arg("fetch")).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("authenticated registries require a credential-provider to be configured"),
        "{stderr}"
    );
    assert_eq!(registry.counts().accepted, 0);
}
