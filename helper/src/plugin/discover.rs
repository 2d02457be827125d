//! Finding plugin files in an ordered list of folders.
//!
//! A provider `<name>` lives in `libkeyhelm_<name>.so` (`libkeyhelm_<name>.dylib` on macOS,
//! `keyhelm_<name>.dll` on Windows): the file name cargo gives a `cdylib` crate whose
//! library is named `keyhelm_<name>`. The first folder that holds the file wins.

use std::path::{Path, PathBuf};

use super::LoadError;

#[cfg(all(unix, not(target_os = "macos")))]
const PREFIX: &str = "libkeyhelm_";
#[cfg(all(unix, not(target_os = "macos")))]
const SUFFIX: &str = ".so";
#[cfg(target_os = "macos")]
const PREFIX: &str = "libkeyhelm_";
#[cfg(target_os = "macos")]
const SUFFIX: &str = ".dylib";
#[cfg(windows)]
const PREFIX: &str = "keyhelm_";
#[cfg(windows)]
const SUFFIX: &str = ".dll";

/// Checks a provider name: `[a-z0-9_-]{1,64}`.
pub fn check_name(name: &str) -> Result<(), LoadError> {
    if keyhelm_core::sdk::is_valid_name(name) {
        Ok(())
    } else {
        Err(LoadError::InvalidName {
            name: name.to_owned(),
        })
    }
}

/// The file name of provider `name` on this platform, e.g. `libkeyhelm_github.so`.
pub fn plugin_file_name(name: &str) -> String {
    format!("{PREFIX}{name}{SUFFIX}")
}

/// The provider name a file name stands for, if it follows the naming scheme.
pub fn name_from_file_name(file_name: &str) -> Option<&str> {
    let name = file_name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    keyhelm_core::sdk::is_valid_name(name).then_some(name)
}

/// Finds provider `name` in `dirs`, in order. Only the file's presence is checked here;
/// [`super::verify_file`] decides whether it may be loaded.
pub fn find_plugin(name: &str, dirs: &[PathBuf]) -> Result<PathBuf, LoadError> {
    check_name(name)?;
    let file = plugin_file_name(name);
    for dir in dirs {
        let candidate = dir.join(&file);
        // symlink_metadata: a symlink is "present" here so that verification can refuse it
        // with a clear message instead of the search silently skipping it.
        if candidate.symlink_metadata().is_ok() {
            return Ok(candidate);
        }
    }
    Err(LoadError::NotFound {
        name: name.to_owned(),
        file,
        searched: dirs.to_vec(),
    })
}

/// A plugin file found by [`list_plugins`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FoundPlugin {
    /// The provider name (from the file name; the table is not read).
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Whether a folder earlier in the list holds a plugin of the same name, so this one is
    /// never used.
    pub shadowed: bool,
}

/// Lists every plugin file in `dirs`, in search order, without loading anything. Folders
/// that do not exist or cannot be read are skipped.
pub fn list_plugins(dirs: &[PathBuf]) -> Vec<FoundPlugin> {
    let mut out: Vec<FoundPlugin> = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut here: Vec<FoundPlugin> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let file_name = e.file_name();
                let name = name_from_file_name(file_name.to_str()?)?.to_owned();
                Some(FoundPlugin {
                    name,
                    path: e.path(),
                    shadowed: false,
                })
            })
            .collect();
        here.sort_by(|a, b| a.name.cmp(&b.name));
        for mut p in here {
            p.shadowed = out.iter().any(|o| o.name == p.name);
            out.push(p);
        }
    }
    out
}

/// The default search list, in order: the folder of the running binary,
/// `<exe_dir>/../lib/keyhelm/plugins`, then `plugin_home` (the caller passes
/// `$KEYHELM_HOME/plugins` or the XDG data folder's `keyhelm/plugins`), then `extra` (paths
/// named in the config). Nothing here reads the environment.
pub fn default_search_dirs(
    exe: Option<&Path>,
    plugin_home: Option<&Path>,
    extra: &[PathBuf],
) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(exe_dir) = exe.and_then(Path::parent) {
        dirs.push(exe_dir.to_path_buf());
        if let Some(prefix) = exe_dir.parent() {
            dirs.push(prefix.join("lib").join("keyhelm").join("plugins"));
        }
    }
    dirs.extend(plugin_home.map(Path::to_path_buf));
    dirs.extend(extra.iter().cloned());
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip_and_reject_odd_names() {
        let f = plugin_file_name("github");
        assert_eq!(name_from_file_name(&f), Some("github"));
        #[cfg(target_os = "linux")]
        assert_eq!(f, "libkeyhelm_github.so");
        assert_eq!(name_from_file_name("libkeyhelm_.so"), None);
        assert_eq!(name_from_file_name("libkeyhelm_Up.so"), None);
        assert_eq!(name_from_file_name("libother.so"), None);
        assert!(matches!(
            check_name("../x"),
            Err(LoadError::InvalidName { .. })
        ));
        assert_eq!(
            check_name("A").unwrap_err().to_string(),
            "`A` is not a valid plugin name; names use lower-case letters, digits, `_` and `-` (at most 64)"
        );
    }

    #[test]
    fn first_folder_wins_and_later_copies_are_shadowed() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let missing = a.path().join("missing");
        for d in [a.path(), b.path()] {
            std::fs::write(d.join(plugin_file_name("x")), b"").unwrap();
        }
        std::fs::write(b.path().join(plugin_file_name("y")), b"").unwrap();
        std::fs::write(b.path().join("README"), b"").unwrap();
        let dirs = vec![
            missing.clone(),
            a.path().to_path_buf(),
            b.path().to_path_buf(),
        ];

        assert_eq!(
            find_plugin("x", &dirs).unwrap(),
            a.path().join(plugin_file_name("x"))
        );
        assert_eq!(
            find_plugin("y", &dirs).unwrap(),
            b.path().join(plugin_file_name("y"))
        );

        let listed = list_plugins(&dirs);
        let summary: Vec<_> = listed
            .iter()
            .map(|p| (p.name.as_str(), p.shadowed))
            .collect();
        assert_eq!(summary, [("x", false), ("x", true), ("y", false)]);

        let err = find_plugin("z", &dirs[..2]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "no plugin named `z`: looked for {} in {}, {}; install it into one of those folders, or set its path in the config",
                plugin_file_name("z"),
                missing.display(),
                a.path().display()
            )
        );
        assert_eq!(
            find_plugin("z", &[]).unwrap_err().to_string(),
            format!(
                "no plugin named `z`: looked for {} in no folder (the search list is empty); install it into one of those folders, or set its path in the config",
                plugin_file_name("z")
            )
        );
    }

    #[test]
    fn default_search_dirs_follow_the_documented_order() {
        let dirs = default_search_dirs(
            Some(Path::new("/opt/kh/bin/keyhelm")),
            Some(Path::new("/home/u/.local/share/keyhelm/plugins")),
            &[PathBuf::from("/etc/keyhelm/plugins")],
        );
        assert_eq!(
            dirs,
            [
                PathBuf::from("/opt/kh/bin"),
                PathBuf::from("/opt/kh/lib/keyhelm/plugins"),
                PathBuf::from("/home/u/.local/share/keyhelm/plugins"),
                PathBuf::from("/etc/keyhelm/plugins"),
            ]
        );
    }
}
