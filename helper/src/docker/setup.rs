//! `keyhelm setup docker [--registry HOST]...`: make docker ask keyhelm.
//!
//! Without `--registry`, sets `credsStore` to `keyhelm` (every registry); with it, sets
//! `credHelpers[HOST]` to `keyhelm` for each registry named. Every other key of
//! `config.json` stays as it was. The report says what was added, what was replaced (and
//! its previous value), and what still keeps docker from asking keyhelm: registries sent to
//! other helpers, plain-text credentials left in the file, a `docker-credential-keyhelm`
//! that docker cannot find on `PATH`.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::config::{Change, DockerConfig, config_dir, registry_key};
use super::{NAME, SUFFIX};
use crate::ctx::Ctx;
use crate::error::Result;

pub fn run(ctx: &Ctx, registries: &[String], output: &mut impl Write) -> Result<()> {
    let keys = registries
        .iter()
        .map(|r| registry_key(r))
        .collect::<Result<Vec<_>>>()?;
    let dir = config_dir(&ctx.env)?;
    let mut config = DockerConfig::load(&dir)?;
    let file = config.path.display().to_string();
    let mut report = String::new();
    let mut changed = false;
    if keys.is_empty() {
        match config.set_creds_store(SUFFIX) {
            Change::Unchanged => report.push_str(&format!(
                "docker already asks keyhelm for every registry (credsStore in {file}).\n"
            )),
            Change::Added => {
                changed = true;
                report.push_str(&format!(
                    "Set credsStore to \"{SUFFIX}\" in {file}: docker now asks keyhelm for every \
                     registry.\n"
                ));
            }
            Change::Replaced(old) => {
                changed = true;
                report.push_str(&format!(
                    "Replaced credsStore \"{old}\" with \"{SUFFIX}\" in {file}: docker now asks \
                     keyhelm for every registry.\n"
                ));
            }
        }
    }
    for key in &keys {
        match config.set_cred_helper(key, SUFFIX)? {
            Change::Unchanged => report.push_str(&format!(
                "docker already asks keyhelm for {key} (credHelpers in {file}).\n"
            )),
            Change::Added => {
                changed = true;
                report.push_str(&format!(
                    "Set credHelpers[\"{key}\"] to \"{SUFFIX}\" in {file}.\n"
                ));
            }
            Change::Replaced(old) => {
                changed = true;
                report.push_str(&format!(
                    "Replaced credHelpers[\"{key}\"] \"{old}\" with \"{SUFFIX}\" in {file}.\n"
                ));
            }
        }
    }
    if changed {
        config.save()?;
    }
    report.push_str(&notes(ctx, &config, &keys));
    crate::out::write_all(output, report.as_bytes())?;
    Ok(())
}

/// What still stands between docker and keyhelm, as `Note:` lines.
fn notes(ctx: &Ctx, config: &DockerConfig, keys: &[String]) -> String {
    let mut notes = String::new();
    if keys.is_empty() {
        let elsewhere: Vec<String> = config
            .cred_helpers()
            .into_iter()
            .filter(|(_, helper)| *helper != SUFFIX)
            .map(|(registry, helper)| format!("{registry} ({helper})"))
            .collect();
        if !elsewhere.is_empty() {
            notes.push_str(&format!(
                "Note: credHelpers sends these registries to other helpers: {}. Remove them from \
                 {} if keyhelm should answer for them.\n",
                elsewhere.join(", "),
                config.path.display()
            ));
        }
    }
    let plaintext = config.plaintext_auths_sent_to(SUFFIX);
    if !plaintext.is_empty() {
        notes.push_str(&format!(
            "Note: {} still holds plain-text credentials for {}; docker no longer reads them. \
             Run `docker logout REGISTRY` and `docker login REGISTRY` for each to move them into \
             keyhelm.\n",
            config.path.display(),
            plaintext.join(", ")
        ));
    }
    match helper_on_path(ctx) {
        HelperOnPath::Found => {}
        HelperOnPath::Missing { beside_keyhelm } => notes.push_str(&format!(
            "Note: docker runs {NAME} from PATH, and PATH does not have it: {}.\n",
            match beside_keyhelm {
                Some(path) => format!(
                    "add {} to PATH",
                    path.parent().unwrap_or(Path::new("/")).display()
                ),
                None => "install it (install.sh puts it next to keyhelm)".to_owned(),
            }
        )),
    }
    notes
}

/// Whether docker can run the helper.
#[derive(Debug)]
pub enum HelperOnPath {
    Found,
    /// Not on `PATH`; the copy installed next to this keyhelm, if there is one.
    Missing {
        beside_keyhelm: Option<PathBuf>,
    },
}

pub fn helper_on_path(ctx: &Ctx) -> HelperOnPath {
    if find_on_path(ctx.env.path.as_deref(), NAME).is_some() {
        return HelperOnPath::Found;
    }
    let beside_keyhelm = ctx
        .env
        .current_exe
        .as_deref()
        .and_then(Path::parent)
        .map(|dir| dir.join(NAME))
        .filter(|p| is_executable(p));
    HelperOnPath::Missing { beside_keyhelm }
}

/// The first executable file `name` in the absolute folders of `path`, as Go's
/// `exec.LookPath` finds it (docker's client runs helpers through it; relative entries are
/// refused there too).
pub fn find_on_path(path: Option<&OsStr>, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn finds_executables_on_absolute_path_entries_only() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let helper = bin.join(NAME);
        std::fs::write(&helper, "#!/bin/sh\n").unwrap();
        let path =
            std::env::join_paths(["relative", "/nonexistent", bin.to_str().unwrap()]).unwrap();
        assert_eq!(find_on_path(Some(&path), NAME), None);
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_on_path(Some(&path), NAME), Some(helper));
        assert_eq!(find_on_path(None, NAME), None);
    }
}
