//! KubeApi against the real kubectl, with a static token and with a tiny exec credential
//! plugin script (no keyhelm involved).

use std::path::PathBuf;

use keyhelm_testkit::bins::{IsolatedEnv, run, run_failing};
use keyhelm_testkit::kube_api::{ExecConfig, KubeApi, KubeAuthPolicy, KubeOutcome, KubeUser};

const TOKEN: &str = "kube-t0ken";

fn kubectl(env: &IsolatedEnv, args: &[&str]) -> std::process::Command {
    let mut cmd = env.command("kubectl");
    cmd.args(args);
    cmd
}

/// An exec credential plugin that logs `KUBERNETES_EXEC_INFO` and prints a v1
/// ExecCredential carrying `token`.
fn exec_plugin(env: &IsolatedEnv, token: &str) -> (PathBuf, PathBuf) {
    let log = env.root().join("exec-plugin.log");
    let script = env
        .write_script(
            "exec-plugin.sh",
            &format!(
                "#!/bin/sh\nprintf '%s\\n' \"$KUBERNETES_EXEC_INFO\" >> '{}'\n\
                 printf '%s\\n' '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\
                 \"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{token}\"}}}}'\n",
                log.display()
            ),
        )
        .unwrap();
    (script, log)
}

#[test]
fn get_pods_with_a_static_token() {
    let api = KubeApi::start(KubeAuthPolicy::token(TOKEN)).unwrap();
    assert!(api.url().starts_with("https://127.0.0.1:"));
    let env = IsolatedEnv::new().unwrap();
    api.write_kubeconfig(&env.kubeconfig(), &KubeUser::token(TOKEN))
        .unwrap();
    let out = run(&mut kubectl(&env, &["get", "pods"])).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        [
            vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            vec!["web-1", "1/1", "Running", "0", "1d"],
            vec!["web-2", "1/1", "Running", "0", "1d"],
        ],
        "{stdout}"
    );
    let requests = api.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.outcome == KubeOutcome::Authenticated),
        "{requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.path == "/api/v1/namespaces/default/pods"
                && r.accept.contains("as=Table")
                && r.status == 200),
        "{requests:#?}"
    );
    let counts = api.counts();
    assert!(counts.authenticated >= 2, "{counts:?}");
    assert_eq!(counts.refused, 0, "{counts:?}");
}

#[test]
fn get_pods_with_an_exec_plugin() {
    let api = KubeApi::start(KubeAuthPolicy::token(TOKEN)).unwrap();
    let env = IsolatedEnv::new().unwrap();
    let (script, log) = exec_plugin(&env, TOKEN);
    api.write_kubeconfig(&env.kubeconfig(), &KubeUser::Exec(ExecConfig::new(&script)))
        .unwrap();
    let out = run(&mut kubectl(&env, &["get", "pods", "-o", "name"])).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "pod/web-1\npod/web-2\n"
    );

    let log = std::fs::read_to_string(log).unwrap();
    let first = log.lines().next().unwrap();
    let info: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(info["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(info["kind"], "ExecCredential");
    assert_eq!(info["spec"]["interactive"], false);
    assert_eq!(api.counts().refused, 0);
}

#[test]
fn a_wrong_token_is_refused() {
    let api = KubeApi::start(KubeAuthPolicy::token(TOKEN)).unwrap();
    let env = IsolatedEnv::new().unwrap();
    let (script, _log) = exec_plugin(&env, "wrong");
    api.write_kubeconfig(&env.kubeconfig(), &KubeUser::Exec(ExecConfig::new(&script)))
        .unwrap();
    let out = run_failing(&mut kubectl(&env, &["get", "pods"])).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("You must be logged in to the server"),
        "{stderr}"
    );
    let counts = api.counts();
    assert_eq!(counts.authenticated, 0, "{counts:?}");
    assert!(counts.refused >= 1, "{counts:?}");
    assert!(
        api.requests()
            .iter()
            .all(|r| r.outcome == KubeOutcome::Refused && r.status == 401)
    );
}

#[test]
fn get_raw_and_plain_lists() {
    let api = KubeApi::builder(KubeAuthPolicy::validator(|t| t == TOKEN))
        .pods([("default", "a"), ("kube-system", "b")])
        .start()
        .unwrap();
    let env = IsolatedEnv::new().unwrap();
    api.write_kubeconfig(&env.kubeconfig(), &KubeUser::token(TOKEN))
        .unwrap();

    let out = run(&mut kubectl(
        &env,
        &["get", "--raw", "/api/v1/namespaces/default/pods"],
    ))
    .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["kind"], "PodList");
    assert_eq!(list["items"][0]["metadata"]["name"], "a");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    let out = run(&mut kubectl(&env, &["get", "pods", "-A", "-o", "json"])).unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);

    let out = run(&mut kubectl(
        &env,
        &["get", "pod", "b", "-n", "kube-system", "-o", "name"],
    ))
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "pod/b\n");

    let out = run_failing(&mut kubectl(&env, &["get", "pod", "missing"])).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pods \"missing\" not found"), "{stderr}");

    let out = run(&mut kubectl(&env, &["get", "--raw", "/version"])).unwrap();
    let version: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(version["gitVersion"], "v1.32.4");
}

#[test]
fn legacy_discovery_also_works() {
    let api = KubeApi::builder(KubeAuthPolicy::token(TOKEN))
        .aggregated_discovery(false)
        .start()
        .unwrap();
    let env = IsolatedEnv::new().unwrap();
    api.write_kubeconfig(&env.kubeconfig(), &KubeUser::token(TOKEN))
        .unwrap();
    let out = run(&mut kubectl(&env, &["get", "pods", "-o", "name"])).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "pod/web-1\npod/web-2\n"
    );
    assert!(
        api.requests()
            .iter()
            .any(|r| r.path == "/api/v1" && r.status == 200),
        "{:#?}",
        api.requests()
    );
}

/// kubectl reads a user's credentials only for https servers: against plain HTTP it runs no
/// exec plugin and sends no Authorization header.
#[test]
fn kubectl_sends_no_credentials_to_a_plain_http_server() {
    let api = KubeApi::builder(KubeAuthPolicy::token(TOKEN))
        .tls(false)
        .start()
        .unwrap();
    assert!(api.url().starts_with("http://127.0.0.1:"));
    assert_eq!(api.ca_pem(), None);
    let env = IsolatedEnv::new().unwrap();
    let (script, log) = exec_plugin(&env, TOKEN);
    api.write_kubeconfig(&env.kubeconfig(), &KubeUser::Exec(ExecConfig::new(&script)))
        .unwrap();
    run_failing(&mut kubectl(&env, &["get", "pods"])).unwrap();
    assert!(!log.exists(), "the exec plugin ran");
    let counts = api.counts();
    assert_eq!(counts.authenticated, 0, "{counts:?}");
    assert_eq!(counts.missing, counts.refused, "{counts:?}");
}
