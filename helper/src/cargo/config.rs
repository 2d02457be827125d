//! `keyhelm setup cargo` and the cargo part of `keyhelm doctor`.
//!
//! `setup` edits `$CARGO_HOME/config.toml` (or the legacy `config` when only that one exists)
//! with toml_edit, which keeps the file as it was, comments, order and formatting included,
//! and changes only the keys it sets:
//!
//! - crates.io: `registry.credential-provider = ["/abs/path/keyhelm"]`;
//! - another registry: `registries.NAME.credential-provider`, and `registries.NAME.index`
//!   with `--index` when the file does not define it yet.
//!
//! The array form carries a path with spaces safely (cargo splits the string form on white
//! space). A config file that is a symbolic link (dotfile managers) is edited where it points.

use std::io::Write;
use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, TableLike};

use super::registry::Registry;
use crate::cmd::doctor::{Check, Level};
use crate::cmd::setup::{keyhelm_exe, keyhelm_exe_text};
use crate::ctx::Ctx;
use crate::error::{Failure, Result};
use crate::paths::Env;

/// `$CARGO_HOME`, else `~/.cargo`.
pub fn cargo_home(env: &Env) -> Result<PathBuf> {
    match (&env.cargo_home, &env.home) {
        (Some(dir), _) => Ok(dir.clone()),
        (None, Some(home)) => Ok(home.join(".cargo")),
        (None, None) => Err(Failure::other(
            "cannot tell where cargo's configuration is: neither CARGO_HOME nor HOME is set",
        )
        .hint("set CARGO_HOME to cargo's folder")),
    }
}

/// The configuration file cargo reads in `home`: `config.toml`, or the legacy `config` when
/// only that one exists.
pub fn config_file(home: &Path) -> PathBuf {
    let toml = home.join("config.toml");
    let legacy = home.join("config");
    if !toml.exists() && legacy.is_file() {
        legacy
    } else {
        toml
    }
}

/// A registry name as cargo accepts it.
fn check_registry_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(
            Failure::usage(format!("'{name}' is not a valid registry name"))
                .hint("cargo's registry names use letters, digits, '-' and '_'"),
        )
    }
}

/// The 1-based line of a TOML syntax error. The message itself is not shown: it quotes the
/// offending line, and a cargo configuration can hold a token.
fn bad_toml(file: &Path, text: &str, e: &toml_edit::TomlError) -> Failure {
    let line = e
        .span()
        .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
    let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
    Failure::other(format!("{} is not valid TOML{at}", file.display()))
        .hint("fix the file first; keyhelm changed nothing")
}

/// The table at `key` in `parent`, created when missing (implicit: no header of its own
/// unless it gets keys).
fn table_in<'a>(
    parent: &'a mut dyn TableLike,
    key: &str,
    implicit: bool,
    name: &str,
) -> Result<&'a mut dyn TableLike> {
    if !parent.contains_key(key) {
        let mut table = toml_edit::Table::new();
        table.set_implicit(implicit);
        parent.insert(key, Item::Table(table));
    }
    parent
        .get_mut(key)
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| {
            Failure::other(format!("`{name}` in cargo's configuration is not a table"))
                .hint("fix the file first; keyhelm changed nothing")
        })
}

/// The program a `credential-provider` value runs: the first word of a string, the first
/// element of an array; a `[credential-alias]` name is resolved.
fn provider_program(item: &Item, aliases: Option<&dyn TableLike>) -> Option<String> {
    fn first(item: &Item) -> Option<String> {
        match item {
            Item::Value(toml_edit::Value::String(s)) => {
                s.value().split_whitespace().next().map(str::to_owned)
            }
            Item::Value(toml_edit::Value::Array(a)) => {
                a.get(0).and_then(|v| v.as_str()).map(str::to_owned)
            }
            _ => None,
        }
    }
    let program = first(item)?;
    match aliases.and_then(|a| a.get(&program)) {
        Some(alias) => first(alias),
        None => Some(program),
    }
}

/// Whether a program path is keyhelm: this very binary, or a file named `keyhelm`.
fn is_keyhelm(program: &str, exe: &Path) -> bool {
    let path = Path::new(program);
    path == exe
        || path.canonicalize().is_ok_and(|p| p == exe)
        || path.file_name().is_some_and(|n| n == "keyhelm")
}

fn is_this_keyhelm(program: &str, exe: &Path) -> bool {
    let path = Path::new(program);
    path == exe || path.canonicalize().is_ok_and(|p| p == exe)
}

/// What `setup` changes.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    Added,
    Replaced,
    Unchanged,
}

/// Sets the credential provider of crates.io (`registry` = None) or of a registry in the
/// document; returns what changed and whether the index was added.
fn edit(
    doc: &mut DocumentMut,
    registry: Option<&str>,
    index: Option<&str>,
    exe: &str,
) -> Result<(Change, bool)> {
    let exe_path = Path::new(exe);
    let is_ours = |item: &Item, aliases: Option<&dyn TableLike>| {
        provider_program(item, aliases).is_some_and(|p| is_this_keyhelm(&p, exe_path))
    };
    let aliases_have_ours = {
        let aliases = doc.get("credential-alias").and_then(Item::as_table_like);
        let current = match registry {
            None => doc
                .get("registry")
                .and_then(|r| r.get("credential-provider")),
            Some(name) => doc
                .get("registries")
                .and_then(|r| r.get(name))
                .and_then(|r| r.get("credential-provider")),
        };
        current.map(|item| is_ours(item, aliases))
    };
    let root = doc.as_table_mut() as &mut dyn TableLike;
    let table = match registry {
        None => table_in(root, "registry", false, "registry")?,
        Some(name) => {
            let registries = table_in(root, "registries", true, "registries")?;
            table_in(registries, name, false, &format!("registries.{name}"))?
        }
    };
    let mut index_added = false;
    if let Some(url) = index {
        match table.get("index").map(|i| i.as_str()) {
            None => {
                table.insert("index", toml_edit::value(url));
                index_added = true;
            }
            Some(Some(have))
                if Registry::parse(have).is_ok()
                    && Registry::parse(have) == Registry::parse(url) => {}
            Some(_) => {
                let name = registry.unwrap_or_default();
                return Err(Failure::usage(format!(
                    "registries.{name}.index is already set to another URL; keyhelm setup does not \
                     change it"
                ))
                .hint("drop --index to keep the configured index, or edit the file yourself"));
            }
        }
    }
    let change = match aliases_have_ours {
        Some(true) => Change::Unchanged,
        Some(false) => Change::Replaced,
        None => Change::Added,
    };
    if change != Change::Unchanged {
        let mut provider = toml_edit::Value::Array(std::iter::once(exe).collect());
        match table.get_mut("credential-provider") {
            // Replace the value in place, keeping the comment after it.
            Some(Item::Value(old)) => {
                *provider.decor_mut() = old.decor().clone();
                *old = provider;
            }
            _ => {
                table.insert("credential-provider", Item::Value(provider));
            }
        }
    }
    Ok((change, index_added))
}

/// `keyhelm setup cargo [--registry NAME [--index URL]]`.
pub fn setup(
    ctx: &Ctx,
    registry: Option<&str>,
    index: Option<&str>,
    output: &mut impl Write,
) -> Result<()> {
    if let Some(name) = registry {
        check_registry_name(name)?;
    }
    if let Some(url) = index {
        Registry::parse(url).map_err(|reason| {
            Failure::usage(format!(
                "the --index URL is not a registry index URL: {reason}"
            ))
            .hint("give the index URL cargo uses, e.g. sparse+https://registry.example/index/")
        })?;
    }
    let exe_text = keyhelm_exe_text(ctx, "cargo's configuration")?;
    let file = config_file(&cargo_home(&ctx.env)?);
    // Edit the file a symbolic link points to, and keep the link.
    let target = match std::fs::symlink_metadata(&file) {
        Ok(meta) if meta.file_type().is_symlink() => file
            .canonicalize()
            .map_err(|e| Failure::io("cannot follow the link", &file, &e))?,
        _ => file.clone(),
    };
    let text = match std::fs::read_to_string(&target) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Failure::io("cannot read", &target, &e)),
    };
    let mut doc: DocumentMut = text.parse().map_err(|e| bad_toml(&file, &text, &e))?;
    let (change, index_added) = edit(&mut doc, registry, index, &exe_text)?;
    if change != Change::Unchanged || index_added {
        crate::fsutil::write_private_atomic(&target, doc.to_string().as_bytes())?;
    }

    let (what, key, login) = match registry {
        None => (
            "crates.io".to_owned(),
            "registry.credential-provider".to_owned(),
            "cargo login".to_owned(),
        ),
        Some(name) => (
            format!("registry `{name}`"),
            format!("registries.{name}.credential-provider"),
            format!("cargo login --registry {name}"),
        ),
    };
    let mut report = String::new();
    if change == Change::Unchanged {
        report.push_str(&format!(
            "cargo already asks keyhelm for the token of {what} ({key} in {}).\n",
            file.display()
        ));
    } else {
        report.push_str(&format!(
            "cargo now asks keyhelm for the token of {what} ({key} in {}).\n",
            file.display()
        ));
        if change == Change::Replaced {
            report.push_str(
                "It replaces the credential provider configured before; tokens that one kept are \
                 not moved into keyhelm.\n",
            );
        }
    }
    if index_added {
        report.push_str(&format!(
            "registries.{}.index is now {}.\n",
            registry.unwrap_or_default(),
            index.unwrap_or_default()
        ));
    }
    if let Some(name) = registry {
        let has_index = doc
            .get("registries")
            .and_then(|r| r.get(name))
            .and_then(|r| r.get("index"))
            .is_some();
        if !has_index {
            report.push_str(&format!(
                "Note: {} does not set registries.{name}.index; cargo must find it in another \
                 configuration file (such as the project's .cargo/config.toml), or run this again \
                 with --index URL.\n",
                file.display()
            ));
        }
    }
    report.push_str(&format!(
        "Log in with `{login}`: the token goes into keyhelm's vault. An account whose --match \
         URL covers the index URL also answers.\n"
    ));
    crate::out::write_all(output, report.as_bytes())?;
    Ok(())
}

/// `cargo 1.95.0 (f2d3ce0bd 2026-03-21)` -> (1, 95).
fn cargo_version(text: &str) -> Option<(u32, u32)> {
    let v = text.strip_prefix("cargo ")?.split_whitespace().next()?;
    let mut parts = v.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// One registry whose credential provider is keyhelm, as the doctor reports it.
struct Uses {
    what: String,
    key: String,
    program: String,
    index: Option<String>,
    login: String,
    setup: String,
}

/// The cargo part of `keyhelm doctor`.
pub fn doctor(ctx: &Ctx, checks: &mut Vec<Check>) {
    let topic = "cargo";
    let installed = std::process::Command::new("cargo")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let Ok(home) = cargo_home(&ctx.env) else {
        return;
    };
    let file = config_file(&home);
    match &installed {
        None if !file.exists() => return, // No cargo here: nothing to check.
        None => checks.push(
            Check::new(Level::Warn, topic, "cargo is not installed or does not run")
                .hint("install Rust with rustup, or check that `cargo --version` runs"),
        ),
        Some(v) => match cargo_version(v) {
            Some(n) if n < (1, 74) => checks.push(
                Check::new(
                    Level::Warn,
                    topic,
                    format!("{v}: credential providers need cargo 1.74 or newer"),
                )
                .hint("upgrade cargo (rustup update)"),
            ),
            _ => checks.push(Check::new(Level::Ok, topic, v.clone())),
        },
    }
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            checks.push(Check::new(
                Level::Error,
                topic,
                format!("cannot read {}: {e}", file.display()),
            ));
            return;
        }
    };
    let doc: DocumentMut = match text.parse() {
        Ok(doc) => doc,
        Err(e) => {
            let f = bad_toml(&file, &text, &e);
            checks.push(Check::new(Level::Error, topic, f.message).hint("fix the file"));
            return;
        }
    };
    let Ok(exe) = keyhelm_exe(ctx) else {
        return;
    };
    let aliases = doc.get("credential-alias").and_then(Item::as_table_like);
    let mut uses = Vec::new();
    let registry = doc.get("registry");
    if let Some(program) = registry
        .and_then(|r| r.get("credential-provider"))
        .and_then(|item| provider_program(item, aliases))
        .filter(|p| is_keyhelm(p, &exe))
    {
        uses.push(Uses {
            what: "crates.io".into(),
            key: "registry.credential-provider".into(),
            program,
            index: Some(super::registry::CRATES_IO_SPARSE.into()),
            login: "cargo login".into(),
            setup: "keyhelm setup cargo".into(),
        });
    }
    if let Some(global) = registry
        .and_then(|r| r.get("global-credential-providers"))
        .and_then(Item::as_array)
    {
        for program in global.iter().filter_map(|v| {
            provider_program(&Item::Value(v.clone()), aliases).filter(|p| is_keyhelm(p, &exe))
        }) {
            uses.push(Uses {
                what: "every registry".into(),
                key: "registry.global-credential-providers".into(),
                program,
                index: None,
                login: "cargo login".into(),
                setup: "keyhelm setup cargo".into(),
            });
        }
    }
    if let Some(registries) = doc.get("registries").and_then(Item::as_table_like) {
        for (name, table) in registries.iter() {
            if let Some(program) = table
                .get("credential-provider")
                .and_then(|item| provider_program(item, aliases))
                .filter(|p| is_keyhelm(p, &exe))
            {
                uses.push(Uses {
                    what: format!("registry `{name}`"),
                    key: format!("registries.{name}.credential-provider"),
                    program,
                    index: table.get("index").and_then(Item::as_str).map(str::to_owned),
                    login: format!("cargo login --registry {name}"),
                    setup: format!("keyhelm setup cargo --registry {name}"),
                });
            }
        }
    }
    if uses.is_empty() {
        checks.push(
            Check::new(
                Level::Warn,
                topic,
                format!("{} does not use keyhelm for any registry", file.display()),
            )
            .hint(
                "run `keyhelm setup cargo` (crates.io) or `keyhelm setup cargo --registry NAME \
                 --index URL`",
            ),
        );
        return;
    }
    let snapshot = ctx
        .vault()
        .ok()
        .flatten()
        .and_then(|vault| vault.read().ok());
    for u in uses {
        if !is_this_keyhelm(&u.program, &exe) {
            if !Path::new(&u.program).is_file() {
                checks.push(
                    Check::new(
                        Level::Error,
                        topic,
                        format!("{} runs {}, which does not exist", u.key, u.program),
                    )
                    .hint(format!("run `{}`", u.setup)),
                );
                continue;
            }
            checks.push(
                Check::new(
                    Level::Warn,
                    topic,
                    format!("{} runs another keyhelm: {}", u.key, u.program),
                )
                .hint(format!("run `{}` to use this one", u.setup)),
            );
        } else {
            checks.push(Check::new(
                Level::Ok,
                topic,
                format!("{} uses keyhelm ({})", u.what, u.key),
            ));
        }
        let (Some(snapshot), Some(index)) = (&snapshot, &u.index) else {
            continue;
        };
        let reg = match Registry::parse(index) {
            Ok(reg) => reg,
            Err(reason) => {
                checks.push(
                    Check::new(
                        Level::Error,
                        topic,
                        format!("the index URL of {} is not usable: {reason}", u.what),
                    )
                    .hint(format!("fix it in {}", file.display())),
                );
                continue;
            }
        };
        if snapshot
            .credential(&reg.key())
            .is_some_and(|c| c.password.is_some())
        {
            checks.push(Check::new(
                Level::Ok,
                topic,
                format!("{}: a token from `cargo login` is stored", u.what),
            ));
        } else if let Some(account) = super::account_for(snapshot, &reg) {
            checks.push(Check::new(
                Level::Ok,
                topic,
                format!("{}: tokens come from account '{account}'", u.what),
            ));
        } else {
            checks.push(
                Check::new(
                    Level::Warn,
                    topic,
                    format!("{}: keyhelm has no token for it", u.what),
                )
                .hint(format!(
                    "run `{}`, or add an account with --match {}",
                    u.login,
                    reg.url()
                )),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXE: &str = "/opt/kh/bin/keyhelm";

    fn edited(text: &str, registry: Option<&str>, index: Option<&str>) -> (String, Change, bool) {
        let mut doc: DocumentMut = text.parse().unwrap();
        let (change, added) = edit(&mut doc, registry, index, EXE).unwrap();
        (doc.to_string(), change, added)
    }

    #[test]
    fn crates_io_in_an_empty_file() {
        let (text, change, _) = edited("", None, None);
        assert_eq!(
            text,
            "[registry]\ncredential-provider = [\"/opt/kh/bin/keyhelm\"]\n"
        );
        assert_eq!(change, Change::Added);
        let (again, change, _) = edited(&text, None, None);
        assert_eq!(again, text);
        assert_eq!(change, Change::Unchanged);
    }

    #[test]
    fn comments_and_other_keys_are_kept() {
        let before = "# my cargo config\n[net]\nretry = 0 # none\n\n# the registry\n\
                      [registries.testreg]\nindex = \"sparse+http://127.0.0.1:9/index/\"\n\
                      credential-provider = \"cargo:token\" # old\n\n[term]\ncolor = \"never\"\n";
        let (after, change, added) = edited(before, Some("testreg"), None);
        assert_eq!(change, Change::Replaced);
        assert!(!added);
        assert_eq!(
            after,
            "# my cargo config\n[net]\nretry = 0 # none\n\n# the registry\n\
             [registries.testreg]\nindex = \"sparse+http://127.0.0.1:9/index/\"\n\
             credential-provider = [\"/opt/kh/bin/keyhelm\"] # old\n\n[term]\ncolor = \"never\"\n"
        );
    }

    #[test]
    fn a_new_registry_gets_its_own_header_and_index() {
        let (after, change, added) = edited(
            "[net]\nretry = 0\n",
            Some("testreg"),
            Some("sparse+http://127.0.0.1:9/index/"),
        );
        assert_eq!((change, added), (Change::Added, true));
        assert_eq!(
            after,
            "[net]\nretry = 0\n\n[registries.testreg]\nindex = \"sparse+http://127.0.0.1:9/index/\"\n\
             credential-provider = [\"/opt/kh/bin/keyhelm\"]\n"
        );
        // The same index, spelled differently, is no conflict.
        let (_, change, added) = edited(
            &after,
            Some("testreg"),
            Some("sparse+http://127.0.0.1:9/index"),
        );
        assert_eq!((change, added), (Change::Unchanged, false));
        let mut doc: DocumentMut = after.parse().unwrap();
        let e = edit(&mut doc, Some("testreg"), Some("sparse+http://other/"), EXE).unwrap_err();
        assert_eq!(
            e.message,
            "registries.testreg.index is already set to another URL; keyhelm setup does not \
             change it"
        );
    }

    #[test]
    fn dotted_inline_and_alias_forms() {
        let (after, change, _) = edited(
            "registries.r1.index = \"sparse+https://r1.example/\"\n",
            Some("r1"),
            None,
        );
        assert_eq!(change, Change::Added);
        assert_eq!(
            after,
            "registries.r1.index = \"sparse+https://r1.example/\"\n\
             registries.r1.credential-provider = [\"/opt/kh/bin/keyhelm\"]\n"
        );
        let (after, _, _) = edited(
            "[registries]\nr2 = { index = \"sparse+https://r2.example/\" }\n",
            Some("r2"),
            None,
        );
        assert_eq!(
            after,
            "[registries]\nr2 = { index = \"sparse+https://r2.example/\" , credential-provider = [\"/opt/kh/bin/keyhelm\"] }\n"
        );
        // An alias that runs this keyhelm counts as set up.
        let (_, change, _) = edited(
            "[credential-alias]\nkh = [\"/opt/kh/bin/keyhelm\"]\n[registry]\ncredential-provider = \"kh\"\n",
            None,
            None,
        );
        assert_eq!(change, Change::Unchanged);
        let mut doc: DocumentMut = "registry = 3\n".parse().unwrap();
        let e = edit(&mut doc, None, None, EXE).unwrap_err();
        assert_eq!(
            e.message,
            "`registry` in cargo's configuration is not a table"
        );
    }

    #[test]
    fn syntax_errors_name_the_line_not_the_content() {
        let text = "[registry]\ntoken = s3cret\n";
        let e = text.parse::<DocumentMut>().unwrap_err();
        let f = bad_toml(Path::new("/c/config.toml"), text, &e);
        assert_eq!(f.message, "/c/config.toml is not valid TOML (line 2)");
        assert!(!f.to_string().contains("s3cret"));
    }

    #[test]
    fn names_and_versions() {
        check_registry_name("my-reg_2").unwrap();
        let e = check_registry_name("a.b").unwrap_err();
        assert_eq!(e.message, "'a.b' is not a valid registry name");
        assert_eq!(
            cargo_version("cargo 1.95.0 (f2d3ce0bd 2026-03-21)"),
            Some((1, 95))
        );
        assert_eq!(cargo_version("rustc 1.95.0"), None);
        assert_eq!(
            provider_program(&toml_edit::value("/a/keyhelm --x"), None).as_deref(),
            Some("/a/keyhelm")
        );
        assert!(is_keyhelm("/elsewhere/keyhelm", Path::new(EXE)));
        assert!(!is_keyhelm("cargo:token", Path::new(EXE)));
    }
}
