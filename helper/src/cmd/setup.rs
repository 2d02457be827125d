//! `keyhelm setup <tool>`: write a tool's configuration so that it uses keyhelm, without
//! clobbering what is already there.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ctx::Ctx;
use crate::error::{Failure, Result};

/// The running keyhelm binary, as an absolute path.
pub fn keyhelm_exe(ctx: &Ctx) -> Result<PathBuf> {
    let exe = ctx
        .env
        .current_exe
        .clone()
        .ok_or_else(|| Failure::other("cannot tell where the keyhelm binary is"))?;
    Ok(exe.canonicalize().unwrap_or(exe))
}

/// [`keyhelm_exe`] as text, for a configuration that holds only UTF-8 (`holder`, named in
/// the error).
pub fn keyhelm_exe_text(ctx: &Ctx, holder: &str) -> Result<String> {
    let exe = keyhelm_exe(ctx)?;
    exe.to_str().map(str::to_owned).ok_or_else(|| {
        Failure::other(format!(
            "the path of keyhelm, {}, is not UTF-8, which {holder} cannot hold",
            exe.display()
        ))
    })
}

/// The `credential.helper` value that runs `exe`. git runs an absolute path verbatim through
/// the shell, so a path with characters the shell would interpret is written as a quoted
/// `!` command instead.
pub fn git_helper_string(exe: &Path) -> String {
    let path = exe.to_string_lossy();
    let plain = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._+-,@%".contains(&b));
    if plain {
        path.into_owned()
    } else {
        format!("!'{}'", path.replace('\'', r"'\''"))
    }
}

/// The helpers git is configured with in `scope` (`--global`, `--local`, or none for the
/// effective list), in order.
pub fn git_helpers(scope: Option<&str>) -> Result<Vec<String>> {
    let mut cmd = Command::new("git");
    cmd.arg("config");
    if let Some(scope) = scope {
        cmd.arg(scope);
    }
    let out = cmd
        .args(["--get-all", "credential.helper"])
        .output()
        .map_err(|e| Failure::other(format!("cannot run git: {e}")).hint("install git"))?;
    match out.status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()),
        Some(1) => Ok(Vec::new()), // The key is not set.
        _ => Err(Failure::other(format!(
            "`git config {}--get-all credential.helper` failed: {}",
            scope.map(|s| format!("{s} ")).unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .hint("fix the git configuration file that git names, then try again")),
    }
}

/// Whether a configured helper string runs this keyhelm.
pub fn is_keyhelm_helper(helper: &str, exe: &Path) -> bool {
    helper == git_helper_string(exe) || Path::new(helper).canonicalize().is_ok_and(|p| p == exe)
}

pub fn git(ctx: &Ctx, local: bool, output: &mut impl Write) -> Result<()> {
    let scope = if local { "--local" } else { "--global" };
    let exe = keyhelm_exe(ctx)?;
    let helper = git_helper_string(&exe);
    let existing = git_helpers(Some(scope)).map_err(|e| {
        if local {
            e.hint("run it inside a git repository, or drop --local to configure git globally")
        } else {
            e
        }
    })?;
    let mut report = String::new();
    if existing.iter().any(|h| is_keyhelm_helper(h, &exe)) {
        report.push_str(&format!(
            "git already uses keyhelm ({scope} credential.helper).\n"
        ));
    } else {
        let status = Command::new("git")
            .args(["config", scope, "--add", "credential.helper", &helper])
            .status()
            .map_err(|e| Failure::other(format!("cannot run git: {e}")))?;
        if !status.success() {
            // Reading the --local list worked, so this is a repository.
            let hint = if local {
                "check that this repository's git configuration file (.git/config) is writable"
            } else {
                "check that your global git configuration file is writable"
            };
            return Err(Failure::other(format!(
                "`git config {scope} --add credential.helper` failed ({status})"
            ))
            .hint(hint));
        }
        report.push_str(&format!(
            "Added keyhelm to git's {scope} credential.helper list.\n"
        ));
    }
    let others: Vec<&String> = existing
        .iter()
        .filter(|h| !h.is_empty() && !is_keyhelm_helper(h, &exe))
        .collect();
    if !others.is_empty() {
        report.push_str(&format!(
            "Note: git asks these helpers before keyhelm: {}. Remove them with `git config {scope} \
             --unset-all credential.helper <value>` if keyhelm should answer first.\n",
            others
                .iter()
                .map(|h| format!("'{h}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    crate::out::write_all(output, report.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_that_is_not_utf8_is_refused_naming_the_configuration() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join(std::ffi::OsStr::from_bytes(b"kh\xffelm"));
        let ctx = Ctx::new(crate::paths::Env {
            keyhelm_home: Some(dir.path().to_path_buf()),
            home: Some(dir.path().to_path_buf()),
            current_exe: Some(exe.clone()),
            ..Default::default()
        })
        .unwrap();
        let e = keyhelm_exe_text(&ctx, "a kubeconfig").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "the path of keyhelm, {}, is not UTF-8, which a kubeconfig cannot hold",
                exe.display()
            )
        );
    }

    #[test]
    fn helper_string_quotes_only_when_needed() {
        assert_eq!(
            git_helper_string(Path::new("/usr/bin/keyhelm")),
            "/usr/bin/keyhelm"
        );
        assert_eq!(
            git_helper_string(Path::new("/home/a b/it's/keyhelm")),
            r"!'/home/a b/it'\''s/keyhelm'"
        );
    }
}
