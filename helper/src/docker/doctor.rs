//! The docker part of `keyhelm doctor`: does docker ask keyhelm, can it run the helper, and
//! does its configuration still hold plain-text credentials.

use crate::cmd::doctor::{Check, Level};
use crate::ctx::Ctx;

use super::config::{DockerConfig, config_dir};
use super::setup::{HelperOnPath, find_on_path, helper_on_path};
use super::{NAME, SUFFIX};

const TOPIC: &str = "docker";

/// Appends the docker findings. Nothing when docker is neither installed nor configured.
pub fn checks(ctx: &Ctx, checks: &mut Vec<Check>) {
    let dir = match config_dir(&ctx.env) {
        Ok(dir) => dir,
        Err(e) => {
            checks.push(Check::new(Level::Warn, TOPIC, e.message));
            return;
        }
    };
    let config = match DockerConfig::load(&dir) {
        Ok(config) => config,
        Err(e) => {
            checks
                .push(Check::new(Level::Error, TOPIC, e.message).hint(e.hint.unwrap_or_default()));
            return;
        }
    };
    let file = config.path.display().to_string();
    let ours: Vec<&str> = config
        .cred_helpers()
        .into_iter()
        .filter(|(_, helper)| *helper == SUFFIX)
        .map(|(registry, _)| registry)
        .collect();
    let store = config.creds_store() == Some(SUFFIX);
    if !store && ours.is_empty() {
        let installed = find_on_path(ctx.env.path.as_deref(), "docker").is_some();
        if installed || config.exists {
            checks.push(
                Check::new(Level::Warn, TOPIC, format!("{file} does not use keyhelm"))
                    .hint("run `keyhelm setup docker` (or `--registry HOST` for one registry)"),
            );
        }
        return;
    }
    if store {
        checks.push(Check::new(
            Level::Ok,
            TOPIC,
            format!("credsStore sends every registry to keyhelm ({file})"),
        ));
    }
    if !ours.is_empty() {
        checks.push(Check::new(
            Level::Ok,
            TOPIC,
            format!("credHelpers sends {} to keyhelm ({file})", ours.join(", ")),
        ));
    }
    match helper_on_path(ctx) {
        HelperOnPath::Found => {}
        HelperOnPath::Missing { beside_keyhelm } => {
            let hint = match beside_keyhelm {
                Some(path) => format!(
                    "add {} to PATH",
                    path.parent()
                        .map(|d| d.display().to_string())
                        .unwrap_or_default()
                ),
                None => format!("install {NAME} on PATH (install.sh puts it next to keyhelm)"),
            };
            checks.push(
                Check::new(
                    Level::Error,
                    TOPIC,
                    format!("{NAME} is not on PATH, so docker cannot run it"),
                )
                .hint(hint),
            );
        }
    }
    let plaintext = config.plaintext_auths_sent_to(SUFFIX);
    if !plaintext.is_empty() {
        checks.push(
            Check::new(
                Level::Warn,
                TOPIC,
                format!(
                    "{file} still holds plain-text credentials for {}",
                    plaintext.join(", ")
                ),
            )
            .hint("run `docker logout REGISTRY` and `docker login REGISTRY` to move each into keyhelm"),
        );
    }
}
