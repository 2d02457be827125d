//! `keyhelm setup kubectl` and the kubectl part of `keyhelm doctor`.
//!
//! The kubeconfig is changed by kubectl itself (`kubectl config set-credentials`, and
//! `kubectl config set-context` with `--context`), not by a YAML library:
//!
//! - kubectl owns the format and its rules: `KUBECONFIG` may list several files, and kubectl
//!   knows which one a new user goes to and which one holds an existing one; it takes its
//!   own lock on the file while it writes.
//! - It keeps every cluster, context, user, preference and extension it knows, exactly as
//!   every later `kubectl config use-context` would.
//! - What it drops, comments and fields no kubectl knows, it drops on every one of its own
//!   `kubectl config` edits as well; no maintained Rust YAML crate keeps comments either, and
//!   an edit that kubectl then rewrites differently would gain nothing.
//!
//! keyhelm reads the merged kubeconfig with `kubectl config view -o json` (without `--raw`,
//! so kubectl redacts the secrets in it), never changes a user that has other credentials,
//! and does nothing when the user is already set up.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::API_V1;
use crate::cmd::doctor::{Check, Level};
use crate::cmd::setup::{keyhelm_exe, keyhelm_exe_text};
use crate::ctx::Ctx;
use crate::error::{Failure, Result};
use crate::provider;

/// The `interactiveMode` keyhelm writes: prompt when kubectl has a terminal, fail cleanly
/// otherwise.
pub const INTERACTIVE_MODE: &str = "IfAvailable";

/// The exec `args` that run keyhelm for `account`.
pub fn exec_args(account: &str) -> Vec<String> {
    vec!["kube".into(), "--account".into(), account.into()]
}

/// Runs `kubectl ARGS` and returns its stdout.
fn kubectl(args: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new("kubectl")
        .args(args)
        .output()
        .map_err(|e| Failure::other(format!("cannot run kubectl: {e}")).hint("install kubectl"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().next().unwrap_or("").trim();
        // kubectl starts its messages with "error: "; keyhelm's own line says so already.
        let first = ["error: ", "Error: "]
            .iter()
            .find_map(|p| first.strip_prefix(p))
            .unwrap_or(first);
        return Err(Failure::other(format!(
            "`kubectl {}` failed: {}",
            args.first().copied().unwrap_or_default(),
            if first.is_empty() {
                "no message"
            } else {
                first
            }
        ))
        .hint("check the kubeconfig with `kubectl config view`"));
    }
    Ok(out.stdout)
}

/// The merged kubeconfig, secrets redacted by kubectl.
fn view() -> Result<Value> {
    let out = kubectl(&["config", "view", "-o", "json"])?;
    serde_json::from_slice(&out).map_err(|_| {
        Failure::other("`kubectl config view -o json` printed something other than JSON")
    })
}

fn named<'a>(config: &'a Value, list: &str, name: &str) -> Option<&'a Value> {
    config[list]
        .as_array()?
        .iter()
        .find(|item| item["name"] == name)
}

fn names(config: &Value, list: &str) -> Vec<String> {
    config[list]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The credential kinds a kubeconfig user holds (`token`, `exec`, ...).
fn auth_kinds(user: &Value) -> Vec<&str> {
    user.as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| !v.is_null() && *v != "")
                .map(|(k, _)| k.as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether an exec stanza runs a keyhelm (this one, or any program named `keyhelm`).
fn runs_keyhelm(exec: &Value, exe: &Path) -> bool {
    exec["command"].as_str().is_some_and(|c| {
        let p = Path::new(c);
        p == exe
            || p.canonicalize().is_ok_and(|p| p == exe)
            || p.file_name().is_some_and(|n| n == "keyhelm")
    })
}

/// `--account NAME` in exec args.
fn account_of(exec: &Value) -> Option<String> {
    let args: Vec<&str> = exec["args"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    args.iter().enumerate().find_map(|(i, a)| {
        if *a == "--account" {
            args.get(i + 1).map(|s| (*s).to_owned())
        } else {
            a.strip_prefix("--account=").map(str::to_owned)
        }
    })
}

/// Whether `exec` is exactly what setup writes for `account`.
fn is_current(exec: &Value, exe: &str, account: &str) -> bool {
    exec["command"] == exe
        && exec["apiVersion"] == API_V1
        && exec["interactiveMode"] == INTERACTIVE_MODE
        && exec["args"].as_array().is_some_and(|a| {
            *a == exec_args(account)
                .into_iter()
                .map(Value::from)
                .collect::<Vec<_>>()
        })
}

/// `keyhelm setup kubectl --account NAME [--user USER] [--context CONTEXT]`.
pub fn setup(
    ctx: &Ctx,
    account: &str,
    user: Option<&str>,
    context: Option<&str>,
    output: &mut impl Write,
) -> Result<()> {
    crate::cmd::account::check_account_name(account)?;
    // The account must exist: a typo would only show up at kubectl's next request.
    let vault = ctx.vault()?.ok_or_else(|| {
        Failure::not_found(format!("there is no account named '{account}'")).hint(
            "this device has no vault yet: run `keyhelm init`, then `keyhelm account add NAME \
                 --provider P`",
        )
    })?;
    provider::account(&vault.read()?, account)?;
    let default_user = format!("keyhelm-{account}");
    let user = user.unwrap_or(&default_user);
    if user.is_empty() || user.chars().any(char::is_control) {
        return Err(Failure::usage(
            "the kubeconfig user name must be a non-empty line of text",
        ));
    }
    let exe = &keyhelm_exe_text(ctx, "a kubeconfig")?;
    let config = view()?;
    if let Some(context) = context
        && named(&config, "contexts", context).is_none()
    {
        let known = names(&config, "contexts");
        return Err(
            Failure::not_found(format!("the kubeconfig has no context named '{context}'")).hint(
                if known.is_empty() {
                    "create the context first, e.g. with your cluster's own set-up command"
                        .to_owned()
                } else {
                    format!("the contexts are: {}", known.join(", "))
                },
            ),
        );
    }
    let mut report = String::new();
    let existing = named(&config, "users", user).map(|u| &u["user"]);
    let write = match existing {
        None => {
            report.push_str(&format!(
                "Added the kubeconfig user '{user}': kubectl runs `{exe} kube --account {account}` \
                 for its token.\n"
            ));
            true
        }
        Some(u) if is_current(&u["exec"], exe, account) && auth_kinds(u) == ["exec"] => {
            report.push_str(&format!(
                "The kubeconfig user '{user}' already runs keyhelm for account '{account}'.\n"
            ));
            false
        }
        Some(u) if auth_kinds(u) == ["exec"] && runs_keyhelm(&u["exec"], Path::new(exe)) => {
            report.push_str(&format!(
                "Updated the kubeconfig user '{user}': kubectl runs `{exe} kube --account \
                 {account}` for its token.\n"
            ));
            true
        }
        Some(u) => {
            let kinds = auth_kinds(u);
            return Err(Failure::usage(format!(
                "the kubeconfig user '{user}' already has other credentials ({}); keyhelm does \
                 not replace them",
                if kinds.is_empty() {
                    "none readable".to_owned()
                } else {
                    kinds.join(", ")
                }
            ))
            .hint(format!(
                "choose another name with --user, or remove that user first with `kubectl config \
                 delete-user {user}`"
            )));
        }
    };
    if write {
        kubectl(&[
            "config",
            "set-credentials",
            user,
            &format!("--exec-command={exe}"),
            &format!("--exec-api-version={API_V1}"),
            "--exec-arg=kube",
            "--exec-arg=--account",
            &format!("--exec-arg={account}"),
            &format!("--exec-interactive-mode={INTERACTIVE_MODE}"),
        ])?;
    }
    match context {
        Some(context) => {
            let current = named(&config, "contexts", context)
                .and_then(|c| c["context"]["user"].as_str())
                == Some(user);
            if current {
                report.push_str(&format!("The context '{context}' already uses it.\n"));
            } else {
                kubectl(&["config", "set-context", context, &format!("--user={user}")])?;
                report.push_str(&format!("The context '{context}' now uses it.\n"));
            }
        }
        None => report.push_str(&format!(
            "Use it in a context: `kubectl config set-context --current --user {user}`, or run \
             this again with --context NAME.\n"
        )),
    }
    crate::out::write_all(output, report.as_bytes())?;
    Ok(())
}

/// The kubectl part of `keyhelm doctor`: every kubeconfig user that runs keyhelm.
pub fn doctor(ctx: &Ctx, checks: &mut Vec<Check>) {
    let topic = "kubectl";
    let installed = Command::new("kubectl")
        .args(["version", "--client", "-o", "json"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        return; // No kubectl here: nothing to check.
    }
    let config = match view() {
        Ok(config) => config,
        Err(e) => {
            checks
                .push(Check::new(Level::Error, topic, e.message).hint(e.hint.unwrap_or_default()));
            return;
        }
    };
    let Ok(exe) = keyhelm_exe(ctx) else {
        return;
    };
    let snapshot = ctx.vault().ok().flatten().and_then(|v| v.read().ok());
    let users: Vec<(&str, &Value)> = config["users"]
        .as_array()
        .map(|users| {
            users
                .iter()
                .filter_map(|u| Some((u["name"].as_str()?, &u["user"]["exec"])))
                .filter(|(_, exec)| runs_keyhelm(exec, &exe))
                .collect()
        })
        .unwrap_or_default();
    if users.is_empty() {
        checks.push(
            Check::new(Level::Warn, topic, "no kubeconfig user runs keyhelm")
                .hint("run `keyhelm setup kubectl --account NAME --context CONTEXT`"),
        );
        return;
    }
    let current_user = config["current-context"]
        .as_str()
        .and_then(|c| named(&config, "contexts", c))
        .and_then(|c| c["context"]["user"].as_str());
    for (name, exec) in users {
        let account = account_of(exec);
        let fix = format!(
            "run `keyhelm setup kubectl --account {} --user {name}`",
            account.as_deref().unwrap_or("NAME")
        );
        let command = exec["command"].as_str().unwrap_or_default();
        if !Path::new(command).is_file() {
            checks.push(
                Check::new(
                    Level::Error,
                    topic,
                    format!("user '{name}' runs {command}, which does not exist"),
                )
                .hint(fix),
            );
            continue;
        }
        let api = exec["apiVersion"].as_str().unwrap_or_default();
        if api != API_V1 && api != super::API_V1BETA1 {
            checks.push(
                Check::new(
                    Level::Error,
                    topic,
                    format!("user '{name}' asks keyhelm for apiVersion '{api}', which it does not answer"),
                )
                .hint(fix),
            );
            continue;
        }
        if exec["interactiveMode"] == "Always" {
            checks.push(
                Check::new(
                    Level::Warn,
                    topic,
                    format!("user '{name}' has interactiveMode Always: kubectl refuses to run keyhelm without a terminal"),
                )
                .hint(fix.clone()),
            );
        }
        let Some(account) = account else {
            if exec["provideClusterInfo"] == true {
                checks.push(Check::new(
                    Level::Ok,
                    topic,
                    format!(
                        "user '{name}' runs keyhelm, which picks the account by the cluster's URL"
                    ),
                ));
            } else {
                checks.push(
                    Check::new(
                        Level::Error,
                        topic,
                        format!(
                            "user '{name}' runs keyhelm without --account or provideClusterInfo"
                        ),
                    )
                    .hint(fix),
                );
            }
            continue;
        };
        if let Some(snapshot) = &snapshot
            && snapshot.account(&account).is_none()
        {
            checks.push(
                Check::new(
                    Level::Error,
                    topic,
                    format!(
                        "user '{name}' runs keyhelm for account '{account}', which does not exist"
                    ),
                )
                .hint("add the account with `keyhelm account add`, or fix the user's --account"),
            );
            continue;
        }
        let current = if current_user == Some(name) {
            " (the current context's user)"
        } else {
            ""
        };
        checks.push(Check::new(
            Level::Ok,
            topic,
            format!("user '{name}' runs keyhelm for account '{account}'{current}"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exec_stanzas_are_recognised() {
        let ours = json!({
            "command": "/opt/kh/keyhelm",
            "args": ["kube", "--account", "work"],
            "apiVersion": API_V1,
            "interactiveMode": "IfAvailable",
            "env": null,
        });
        assert!(is_current(&ours, "/opt/kh/keyhelm", "work"));
        assert!(!is_current(&ours, "/opt/kh/keyhelm", "home"));
        assert!(!is_current(&ours, "/usr/bin/keyhelm", "work"));
        assert!(runs_keyhelm(&ours, Path::new("/usr/bin/keyhelm")));
        assert!(!runs_keyhelm(
            &json!({"command": "gke-gcloud-auth-plugin"}),
            Path::new("/usr/bin/keyhelm")
        ));
        assert_eq!(account_of(&ours).as_deref(), Some("work"));
        assert_eq!(
            account_of(&json!({"args": ["kube", "--account=w2"]})).as_deref(),
            Some("w2")
        );
        assert_eq!(account_of(&json!({"args": ["kube"]})), None);
        assert_eq!(auth_kinds(&json!({"exec": ours, "token": ""})), ["exec"]);
        assert_eq!(
            auth_kinds(&json!({"token": "REDACTED", "exec": {}})),
            ["exec", "token"]
        );
    }
}
