//! keyhelm as kubectl's exec credential plugin: `keyhelm kube` by hand (KUBERNETES_EXEC_INFO
//! in, ExecCredential out), then the real kubectl against a local HTTPS API server that checks
//! the bearer token (testkit's KubeApi), set up by `keyhelm setup kubectl`, and failing with a
//! readable message when the account cannot log in.

mod plugin_support;
mod support;

use std::io::Read;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use keyhelm_testkit::kube_api::{ExecConfig, KubeApi, KubeAuthPolicy, KubeUser};
use keyhelm_vault::{CachedToken, DeviceId, Identity, Location, Vault};
use plugin_support::FakeService;
use serde_json::Value;
use support::{Sandbox, keyhelm_bin, text};

const V1: &str = "client.authentication.k8s.io/v1";
const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

fn exec_info(api: &str, interactive: bool) -> String {
    // kubectl ends it with a newline.
    format!(
        "{{\"apiVersion\":\"{api}\",\"kind\":\"ExecCredential\",\"spec\":{{\"interactive\":{interactive}}}}}\n"
    )
}

/// `keyhelm kube ARGS` with KUBERNETES_EXEC_INFO = `info`.
fn kube(s: &Sandbox, args: &[&str], info: Option<&str>) -> Output {
    let mut cmd = s.command(keyhelm_bin());
    cmd.arg("kube").args(args);
    if let Some(info) = info {
        cmd.env("KUBERNETES_EXEC_INFO", info);
    }
    support::run(&mut cmd, b"")
}

/// Installs the `good` test plugin and adds account `name` (token `tok-1`, one hour, from
/// `service`; `extra` are more arguments for `keyhelm account add`).
fn add_account(s: &Sandbox, name: &str, service: &FakeService, seed: &str, extra: &[&str]) {
    s.plugin_account_add(
        "good",
        &plugin_support::cdylib("dev", "good"),
        name,
        &service.base_url,
        extra,
        &format!("seed={seed}\n"),
    );
}

fn credential(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    serde_json::from_str(&stdout).unwrap()
}

fn failure(out: &Output, code: i32, stderr: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(text(&out.stderr), stderr);
}

#[test]
fn the_exec_plugin_by_hand() {
    let s = Sandbox::new();
    let service = FakeService::start();
    add_account(
        &s,
        "k8s",
        &service,
        "s33d",
        &["--match", "https://127.0.0.1:6443"],
    );

    let c = credential(&kube(
        &s,
        &["--account", "k8s"],
        Some(&exec_info(V1, false)),
    ));
    assert_eq!(c["apiVersion"], V1);
    assert_eq!(c["kind"], "ExecCredential");
    assert_eq!(c["status"]["token"], "tok-1");
    let at: jiff::Timestamp = c["status"]["expirationTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        c["status"]["expirationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let now = jiff::Timestamp::now();
    assert!(at > now && at.as_second() <= now.as_second() + 3600, "{at}");
    let logins = service.requests().len();

    // The v1beta1 API gets a v1beta1 answer; the cached token needs no login.
    let c = credential(&kube(
        &s,
        &["--account", "k8s"],
        Some(&exec_info(V1BETA1, false)),
    ));
    assert_eq!(c["apiVersion"], V1BETA1);
    assert_eq!(c["status"]["token"], "tok-1");
    // Without KUBERNETES_EXEC_INFO (run by hand): v1.
    let c = credential(&kube(&s, &["--account", "k8s"], None));
    assert_eq!(c["apiVersion"], V1);
    // provideClusterInfo: the account is found by the cluster's URL.
    let with_cluster = format!(
        "{{\"apiVersion\":\"{V1}\",\"kind\":\"ExecCredential\",\"spec\":{{\"interactive\":false,\
         \"cluster\":{{\"server\":\"https://127.0.0.1:6443\",\"certificate-authority-data\":\"AAAA\"}}}}}}"
    );
    let c = credential(&kube(&s, &[], Some(&with_cluster)));
    assert_eq!(c["status"]["token"], "tok-1");
    assert_eq!(service.requests().len(), logins, "answered from the cache");

    // A token without expiry: no expirationTimestamp.
    let home = s.keyhelm_home();
    let vault = Vault::new(
        Location {
            file: s.vault_file(),
            state_dir: home.join("state"),
        },
        Identity::from_file(&home.join("identity.txt")).unwrap(),
        DeviceId::load_or_create(&home.join("state")).unwrap(),
    );
    vault
        .update(|snap| {
            snap.put_token(CachedToken {
                account: "k8s".into(),
                secret: "forever".into(),
                username: None,
                authtype: None,
                expires_at: None,
                obtained_at: 0,
                info: Value::Null,
            });
            Ok::<_, keyhelm_vault::Error>(())
        })
        .unwrap();
    let c = credential(&kube(
        &s,
        &["--account", "k8s"],
        Some(&exec_info(V1, false)),
    ));
    assert_eq!(
        c,
        serde_json::json!({"apiVersion": V1, "kind": "ExecCredential", "status": {"token": "forever"}})
    );

    // Errors: non-zero, stdout empty, a readable stderr.
    failure(
        &kube(
            &s,
            &["--account", "k8s"],
            Some(&exec_info("client.authentication.k8s.io/v1alpha1", false)),
        ),
        3,
        "keyhelm: error: kubectl asks for an ExecCredential of apiVersion \
         'client.authentication.k8s.io/v1alpha1'; keyhelm answers client.authentication.k8s.io/v1 \
         and client.authentication.k8s.io/v1beta1\nkeyhelm: hint: set `apiVersion: \
         client.authentication.k8s.io/v1` in the exec section of the kubeconfig user (`keyhelm \
         setup kubectl` writes it)\n",
    );
    failure(
        &kube(&s, &["--account", "k8s"], Some("{\"spec\":")),
        3,
        "keyhelm: error: KUBERNETES_EXEC_INFO is not an ExecCredential (JSON error at column 8)\n\
         keyhelm: hint: keyhelm kube is run by kubectl, which sets it\n",
    );
    failure(
        &kube(&s, &["--account", "nope"], Some(&exec_info(V1, false))),
        9,
        "keyhelm: error: there is no account named 'nope'\nkeyhelm: hint: the accounts are: k8s\n",
    );
    failure(
        &kube(&s, &[], Some(&exec_info(V1, false))),
        2,
        "keyhelm: error: keyhelm kube needs --account NAME, or the cluster's URL to find the \
         account by\nkeyhelm: hint: add `--account NAME` to the exec args of the kubeconfig user \
         (`keyhelm setup kubectl --account NAME` does), or set `provideClusterInfo: true` there\n",
    );
    failure(
        &kube(&s, &[], Some(&with_cluster.replace("6443", "7443"))),
        9,
        "keyhelm: error: no account answers for the cluster at https://127.0.0.1:7443\n\
         keyhelm: hint: add `--account NAME` to the exec args of the kubeconfig user (`keyhelm \
         setup kubectl --account NAME`), or add an account with --match https://127.0.0.1:7443\n",
    );
    let empty = Sandbox::new();
    failure(
        &kube(&empty, &["--account", "k8s"], Some(&exec_info(V1, false))),
        9,
        "keyhelm: error: keyhelm has no vault on this device, so no account to log in with\n\
         keyhelm: hint: run `keyhelm init`, then `keyhelm account add NAME --provider P`\n",
    );
    let mut cmd = s.command(keyhelm_bin());
    cmd.args(["kube", "--account", "k8s"]).env(
        "KUBERNETES_EXEC_INFO",
        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"{\"spec\xff\":{}}"),
    );
    failure(
        &support::run(&mut cmd, b""),
        3,
        "keyhelm: error: KUBERNETES_EXEC_INFO is not UTF-8\n\
         keyhelm: hint: keyhelm kube is run by kubectl, which sets it\n",
    );
}

#[test]
fn a_login_that_needs_a_prompt_fails_cleanly_when_kubectl_says_not_interactive() {
    let s = Sandbox::new();
    let service = FakeService::start();
    add_account(&s, "ask", &service, "s33d", &["--set", "ask=secret"]);
    // stdin stays open: keyhelm must neither read it nor wait for it.
    for (info, with_terminal) in [(exec_info(V1, false), true), (exec_info(V1, true), false)] {
        let mut cmd = if with_terminal {
            s.command(keyhelm_bin())
        } else {
            // No controlling terminal at all: even kubectl's "interactive" cannot prompt.
            let mut c = s.command("setsid");
            c.args(["-w"]).arg(keyhelm_bin());
            c
        };
        cmd.args(["kube", "--account", "ask"])
            .env("KUBERNETES_EXEC_INFO", &info)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        // A guard against a hang, not a measurement.
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("keyhelm kube waited for input that kubectl does not give");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        drop(stdin);
        let mut stdout = String::new();
        let mut stderr = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(status.code(), Some(8), "{stderr}");
        assert_eq!(stdout, "");
        assert_eq!(
            stderr,
            "keyhelm: error: account 'ask': cannot ask for input: there is no terminal, or the \
             calling tool does not allow prompts\nkeyhelm: hint: log in from a terminal first: \
             `keyhelm login ask`\n"
        );
    }
}

/// A kube API that accepts only `tok-1`, a kubeconfig whose user has a static token.
fn cluster(s: &Sandbox) -> KubeApi {
    let api = KubeApi::start(KubeAuthPolicy::validator(|t| t == "tok-1")).unwrap();
    api.write_kubeconfig(&s.env.kubeconfig(), &KubeUser::token("not-valid"))
        .unwrap();
    api
}

fn kubectl(s: &Sandbox, args: &[&str]) -> Output {
    support::run(s.command("kubectl").args(args), b"")
}

#[test]
fn kubectl_gets_pods_with_the_accounts_token() {
    let s = Sandbox::new();
    let service = FakeService::start();
    add_account(&s, "k8s", &service, "s33d", &[]);
    let api = cluster(&s);
    let out = kubectl(&s, &["get", "pods"]);
    assert!(!out.status.success(), "the static token is refused");

    let setup = [
        "setup",
        "kubectl",
        "--account",
        "k8s",
        "--context",
        "keyhelm-test",
    ];
    let out = s.keyhelm(&setup, b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exe = keyhelm_bin().canonicalize().unwrap();
    assert_eq!(
        text(&out.stdout),
        format!(
            "Added the kubeconfig user 'keyhelm-k8s': kubectl runs `{} kube --account k8s` for \
             its token.\nThe context 'keyhelm-test' now uses it.\n",
            exe.display()
        )
    );
    let view: Value =
        serde_json::from_slice(&kubectl(&s, &["config", "view", "--raw", "-o", "json"]).stdout)
            .unwrap();
    let users = view["users"].as_array().unwrap();
    assert_eq!(users.len(), 2, "{view}");
    let ours = users.iter().find(|u| u["name"] == "keyhelm-k8s").unwrap();
    assert_eq!(ours["user"]["exec"]["command"], exe.to_str().unwrap());
    assert_eq!(
        ours["user"]["exec"]["args"],
        serde_json::json!(["kube", "--account", "k8s"])
    );
    assert_eq!(ours["user"]["exec"]["apiVersion"], V1);
    assert_eq!(ours["user"]["exec"]["interactiveMode"], "IfAvailable");
    // What was there is kept.
    let theirs = users.iter().find(|u| u["name"] == "keyhelm-test").unwrap();
    assert_eq!(theirs["user"]["token"], "not-valid");
    assert_eq!(view["clusters"][0]["cluster"]["server"], api.url());
    assert!(view["clusters"][0]["cluster"]["certificate-authority-data"].is_string());
    assert_eq!(view["contexts"][0]["context"]["namespace"], "default");

    let out = kubectl(&s, &["get", "pods"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("web-1"), "{}", text(&out.stdout));
    let logins = service.requests().len();
    let out = kubectl(&s, &["get", "pods", "-o", "name"]);
    assert_eq!(text(&out.stdout), "pod/web-1\npod/web-2\n");
    assert_eq!(
        service.requests().len(),
        logins,
        "the cached token is reused"
    );
    assert!(api.counts().authenticated > 0);

    // Twice is once; doctor sees it.
    let again = s.keyhelm(&setup, b"");
    assert_eq!(
        text(&again.stdout),
        "The kubeconfig user 'keyhelm-k8s' already runs keyhelm for account 'k8s'.\n\
         The context 'keyhelm-test' already uses it.\n"
    );
    let doctor = text(&s.keyhelm(&["doctor"], b"").stdout);
    assert!(
        doctor.contains(
            "ok    kubectl   user 'keyhelm-k8s' runs keyhelm for account 'k8s' (the current \
             context's user)\n"
        ),
        "{doctor}"
    );

    // A user with other credentials is never replaced; unknown accounts and contexts are
    // refused before anything is written.
    let before = std::fs::read(s.env.kubeconfig()).unwrap();
    let refuse = |args: &[&str], code: i32, stderr: &str| {
        let out = s.keyhelm(args, b"");
        assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
        assert_eq!(text(&out.stderr), stderr);
        assert_eq!(std::fs::read(s.env.kubeconfig()).unwrap(), before);
    };
    refuse(
        &[
            "setup",
            "kubectl",
            "--account",
            "k8s",
            "--user",
            "keyhelm-test",
        ],
        2,
        "keyhelm: error: the kubeconfig user 'keyhelm-test' already has other credentials \
         (token); keyhelm does not replace them\nkeyhelm: hint: choose another name with --user, \
         or remove that user first with `kubectl config delete-user keyhelm-test`\n",
    );
    refuse(
        &["setup", "kubectl", "--account", "nope"],
        9,
        "keyhelm: error: there is no account named 'nope'\nkeyhelm: hint: the accounts are: k8s\n",
    );
    refuse(
        &["setup", "kubectl", "--account", "k8s", "--context", "prod"],
        9,
        "keyhelm: error: the kubeconfig has no context named 'prod'\nkeyhelm: hint: the \
         contexts are: keyhelm-test\n",
    );
}

#[test]
fn kubectl_fails_readably_when_the_account_cannot_log_in() {
    let s = Sandbox::new();
    let service = FakeService::start();
    add_account(&s, "bad", &service, "wrong", &[]);
    add_account(&s, "ask", &service, "s33d", &["--set", "ask=secret"]);
    let api = cluster(&s);
    let setup = s.keyhelm(&["setup", "kubectl", "--account", "bad"], b"");
    assert_eq!(
        text(&setup.stdout),
        format!(
            "Added the kubeconfig user 'keyhelm-bad': kubectl runs `{} kube --account bad` for \
             its token.\nUse it in a context: `kubectl config set-context --current --user \
             keyhelm-bad`, or run this again with --context NAME.\n",
            keyhelm_bin().canonicalize().unwrap().display()
        )
    );
    let out = kubectl(
        &s,
        &[
            "config",
            "set-context",
            "--current",
            "--user",
            "keyhelm-bad",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = kubectl(&s, &["get", "pods"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("keyhelm: error: account 'bad': the service refused the seed\n"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("s33d") && !stderr.contains("wrong"),
        "{stderr}"
    );
    assert_eq!(api.counts().authenticated, 0);

    // A login that needs a prompt: kubectl runs keyhelm without a terminal here.
    let out = s.keyhelm(
        &[
            "setup",
            "kubectl",
            "--account",
            "ask",
            "--context",
            "keyhelm-test",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = kubectl(&s, &["get", "pods"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "keyhelm: error: account 'ask': cannot ask for input: there is no terminal, or the \
             calling tool does not allow prompts\nkeyhelm: hint: log in from a terminal first: \
             `keyhelm login ask`\n"
        ),
        "{stderr}"
    );
}

#[test]
fn doctor_reports_kubeconfig_users_that_run_keyhelm() {
    let s = Sandbox::new();
    let api = KubeApi::start(KubeAuthPolicy::token("x")).unwrap();
    let doctor = text(&s.keyhelm(&["doctor"], b"").stdout);
    assert!(
        doctor.contains(&format!(
            "warn  kubectl   no kubeconfig user runs keyhelm\n{:16}hint: run `keyhelm setup \
             kubectl --account NAME --context CONTEXT`\n",
            ""
        )),
        "{doctor}"
    );
    api.write_kubeconfig(
        &s.env.kubeconfig(),
        &KubeUser::Exec(ExecConfig::new("/gone/bin/keyhelm").args(["kube", "--account", "k8s"])),
    )
    .unwrap();
    let out = s.keyhelm(&["doctor"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains(&format!(
            "error kubectl   user 'keyhelm-test' runs /gone/bin/keyhelm, which does not exist\n\
             {:16}hint: run `keyhelm setup kubectl --account k8s --user keyhelm-test`\n",
            ""
        )),
        "{}",
        text(&out.stdout)
    );
    api.write_kubeconfig(
        &s.env.kubeconfig(),
        &KubeUser::Exec(ExecConfig::new(keyhelm_bin()).args(["kube", "--account", "k8s"])),
    )
    .unwrap();
    let out = s.keyhelm(&["doctor"], b"");
    assert!(
        text(&out.stdout).contains("ok    kubectl   user 'keyhelm-test' runs keyhelm for account 'k8s' (the current context's user)\n"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn doctor_flags_stanzas_keyhelm_cannot_serve_and_help_describes_kube() {
    let s = Sandbox::new();
    let api = KubeApi::start(KubeAuthPolicy::token("x")).unwrap();
    let service = FakeService::start();
    add_account(&s, "k8s", &service, "s33d", &[]);
    let check = |exec: ExecConfig, line: &str| {
        api.write_kubeconfig(&s.env.kubeconfig(), &KubeUser::Exec(exec))
            .unwrap();
        let doctor = text(&s.keyhelm(&["doctor"], b"").stdout);
        assert!(doctor.contains(line), "{doctor}");
        assert!(!doctor.contains("hint: \n"), "no empty hints: {doctor}");
    };
    let ours = || ExecConfig::new(keyhelm_bin());
    check(
        ours()
            .args(["kube", "--account", "k8s"])
            .api_version("client.authentication.k8s.io/v1alpha1"),
        "error kubectl   user 'keyhelm-test' asks keyhelm for apiVersion \
         'client.authentication.k8s.io/v1alpha1', which it does not answer\n",
    );
    check(
        ours()
            .args(["kube", "--account", "k8s"])
            .interactive_mode("Always"),
        "warn  kubectl   user 'keyhelm-test' has interactiveMode Always: kubectl refuses to run \
         keyhelm without a terminal\n",
    );
    check(
        ours().args(["kube", "--account", "gone"]),
        &format!(
            "error kubectl   user 'keyhelm-test' runs keyhelm for account 'gone', which does not \
             exist\n{:16}hint: add the account with `keyhelm account add`, or fix the user's \
             --account\n",
            ""
        ),
    );
    check(
        ours().args(["kube"]),
        "error kubectl   user 'keyhelm-test' runs keyhelm without --account or \
         provideClusterInfo\n",
    );
    check(
        ours().args(["kube"]).provide_cluster_info(true),
        "ok    kubectl   user 'keyhelm-test' runs keyhelm, which picks the account by the \
         cluster's URL\n",
    );

    let help = text(&s.keyhelm(&["kube", "--help"], b"").stdout);
    assert!(
        help.starts_with(
            "kubectl exec credential plugin: print an ExecCredential with an account's token\n"
        ),
        "{help}"
    );
    let help = text(&s.keyhelm(&["setup", "kubectl", "--help"], b"").stdout);
    assert!(
        help.starts_with("Add a kubeconfig user whose token comes from a keyhelm account\n"),
        "{help}"
    );
    for line in [
        "The keyhelm account",
        "The kubeconfig user's name (default: keyhelm-ACCOUNT)",
        "A kubeconfig context to switch to that user",
    ] {
        assert!(help.contains(line), "{help}");
    }
}

#[test]
fn setup_kubectl_refusals_say_what_to_do() {
    let mut s = Sandbox::new();
    let refuse = |s: &Sandbox, args: &[&str], code: i32, stderr: &str| {
        let mut all = vec!["setup", "kubectl"];
        all.extend_from_slice(args);
        let out = s.keyhelm(&all, b"");
        assert_eq!(
            (out.status.code(), text(&out.stdout), text(&out.stderr)),
            (Some(code), String::new(), stderr.to_owned()),
            "{args:?}"
        );
    };
    refuse(
        &s,
        &["--account", "k8s"],
        9,
        "keyhelm: error: there is no account named 'k8s'\nkeyhelm: hint: this device has no \
         vault yet: run `keyhelm init`, then `keyhelm account add NAME --provider P`\n",
    );
    let service = FakeService::start();
    add_account(&s, "k8s", &service, "s33d", &[]);
    refuse(
        &s,
        &["--account", "k8s", "--user", ""],
        2,
        "keyhelm: error: the kubeconfig user name must be a non-empty line of text\n",
    );
    // No kubeconfig yet: no contexts to name.
    refuse(
        &s,
        &["--account", "k8s", "--context", "prod"],
        9,
        "keyhelm: error: the kubeconfig has no context named 'prod'\nkeyhelm: hint: create the \
         context first, e.g. with your cluster's own set-up command\n",
    );
    // A kubeconfig kubectl cannot read.
    std::fs::write(s.env.kubeconfig(), "clusters: [\n").unwrap();
    let out = s.keyhelm(&["setup", "kubectl", "--account", "k8s"], b"");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "keyhelm: error: `kubectl config` failed: error loading config file \"{}\": ",
            s.env.kubeconfig().display()
        )) && stderr
            .ends_with("\nkeyhelm: hint: check the kubeconfig with `kubectl config view`\n")
            && stderr.lines().count() == 2,
        "{stderr}"
    );
    // A kubectl that prints no JSON.
    let fake = s.dir().join("fake-kubectl");
    std::fs::create_dir(&fake).unwrap();
    std::fs::write(fake.join("kubectl"), "#!/bin/sh\necho 'apiVersion: v1'\n").unwrap();
    std::fs::set_permissions(
        fake.join("kubectl"),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    s.env
        .set_var("PATH", format!("{}:/usr/bin:/bin", fake.display()));
    refuse(
        &s,
        &["--account", "k8s"],
        1,
        "keyhelm: error: `kubectl config view -o json` printed something other than JSON\n",
    );
}
