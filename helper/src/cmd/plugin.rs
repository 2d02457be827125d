//! `keyhelm plugin list|verify|trust`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{Exit, Failure, Result};
use crate::plugin::{self, HostServices};
use crate::provider;

/// One plugin as `plugin list` shows it.
struct Row {
    name: String,
    path: PathBuf,
    /// `Ok((version, abi minor))` or the refusal.
    loaded: std::result::Result<(String, u32), String>,
    pinned: bool,
    shadowed: bool,
}

fn rows(ctx: &Ctx) -> Result<Vec<Row>> {
    let config = ctx.config()?;
    let mut found: Vec<(String, PathBuf, bool)> = config
        .plugins
        .paths
        .iter()
        .map(|(name, path)| (name.clone(), path.clone(), false))
        .collect();
    for p in plugin::list_plugins(&provider::plugin_dirs(ctx)?) {
        let shadowed = p.shadowed || config.plugins.paths.contains_key(&p.name);
        found.push((p.name, p.path, shadowed));
    }
    let mut rows = Vec::new();
    for (name, path, shadowed) in found {
        let loaded = if shadowed {
            Err("not used: an earlier folder or the config provides this plugin".to_owned())
        } else {
            provider::pin(ctx, &name)
                .map_err(|f| f.message)
                .and_then(|pin| {
                    plugin::load_plugin(&name, &path, pin.as_ref()).map_err(|e| e.to_string())
                })
                .map(|p| (p.version().to_owned(), p.abi_minor()))
        };
        let pinned = config.plugins.pins.contains_key(&name);
        rows.push(Row {
            name,
            path,
            loaded,
            pinned,
            shadowed,
        });
    }
    Ok(rows)
}

pub fn list(ctx: &Ctx, json: bool, output: &mut impl Write) -> Result<()> {
    let rows = rows(ctx)?;
    let text = if json {
        let items: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "path": r.path,
                    "version": r.loaded.as_ref().ok().map(|(v, _)| v),
                    "abi": r.loaded.as_ref().ok().map(|(_, minor)| format!("{}.{minor}", keyhelm_core::abi::ABI_MAJOR)),
                    "pinned": r.pinned,
                    "shadowed": r.shadowed,
                    "error": r.loaded.as_ref().err(),
                })
            })
            .collect();
        format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({ "plugins": items })).expect("JSON encodes")
        )
    } else if rows.is_empty() {
        let dirs = provider::plugin_dirs(ctx)?;
        format!(
            "No plugins found. keyhelm looks in: {}\n",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        let mut t = String::new();
        let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
        for r in &rows {
            let name = format!("{:width$}", r.name);
            let pin = if r.pinned { "pinned" } else { "not pinned" };
            match &r.loaded {
                Ok((version, minor)) => t.push_str(&format!(
                    "{name}  {version}  ABI {}.{minor}  {pin}  {}\n",
                    keyhelm_core::abi::ABI_MAJOR,
                    r.path.display()
                )),
                Err(e) if r.shadowed => {
                    t.push_str(&format!("{name}  ({e})  {}\n", r.path.display()))
                }
                Err(e) => t.push_str(&format!(
                    "{name}  REFUSED  {pin}  {}\n    {e}\n",
                    r.path.display()
                )),
            }
        }
        t
    };
    crate::out::write_all(output, text.as_bytes())?;
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Failure::io("cannot resolve", path, &e))
}

pub fn verify(ctx: &Ctx, path: &Path, json: bool, output: &mut impl Write) -> Result<()> {
    let path = absolute(path)?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let name = plugin::name_from_file_name(file_name).ok_or_else(|| {
        Failure::new(
            Exit::Plugin,
            format!("{} is not named like a keyhelm plugin", path.display()),
        )
        .hint(format!(
            "plugin files are named {}",
            plugin::plugin_file_name("<name>")
        ))
    })?;
    let pin = provider::pin(ctx, name)?;
    let mut file = plugin::verify_file(&path, pin.as_ref()).map_err(provider::load_failure)?;
    let sha = file
        .sha256()
        .map_err(|e| Failure::io("cannot read", &path, &e))?;
    let p = plugin::load_verified(file, name).map_err(provider::load_failure)?;
    let described = p
        .describe(&HostServices::new("verify"))
        .map_err(|e| Failure::new(Exit::Plugin, format!("{}: {e}", path.display())))?;
    let d = &described.description;
    let text = if json {
        let value = json!({
            "path": path,
            "name": p.name(),
            "version": p.version(),
            "abi": format!("{}.{}", keyhelm_core::abi::ABI_MAJOR, p.abi_minor()),
            "sha256": sha.to_string(),
            "pinned": pin.is_some(),
            "describe": serde_json::to_value(&described).unwrap_or_default(),
        });
        format!(
            "{}\n",
            serde_json::to_string_pretty(&value).expect("JSON encodes")
        )
    } else {
        let mut t = format!(
            "{}: all checks passed\nname      {}\nversion   {}\nABI       {}.{}\nsha256    {sha}{}\nprovider  {}\n",
            path.display(),
            p.name(),
            p.version(),
            keyhelm_core::abi::ABI_MAJOR,
            p.abi_minor(),
            if pin.is_some() {
                " (matches the pin)"
            } else {
                " (not pinned)"
            },
            d.display_name,
        );
        if let Some(url) = &d.default_base_url {
            t.push_str(&format!("url       {url} (default)\n"));
        }
        for u in &d.url_patterns {
            t.push_str(&format!("serves    {u}\n"));
        }
        for s in &d.settings {
            let mut notes = Vec::new();
            if s.secret {
                notes.push("secret".to_owned());
            }
            notes.push(if s.required {
                "required".to_owned()
            } else {
                "optional".to_owned()
            });
            if let Some(default) = &s.default {
                notes.push(format!("default {default}"));
            }
            t.push_str(&format!(
                "setting   {} ({}): {}\n",
                s.key,
                notes.join(", "),
                s.help
            ));
        }
        t
    };
    crate::out::write_all(output, text.as_bytes())?;
    Ok(())
}

pub fn trust(ctx: &Ctx, name: &str, output: &mut impl Write) -> Result<()> {
    plugin::check_name(name).map_err(provider::load_failure)?;
    let mut config = ctx.config()?.clone();
    let path = match config.plugins.paths.get(name) {
        Some(path) => path.clone(),
        None => plugin::find_plugin(name, &provider::plugin_dirs(ctx)?)
            .map_err(provider::load_failure)?,
    };
    // The file must pass every check except the pin before it is trusted.
    let mut file = plugin::verify_file(&path, None).map_err(provider::load_failure)?;
    let sha = file
        .sha256()
        .map_err(|e| Failure::io("cannot read", &path, &e))?;
    let previous = config.plugins.pins.insert(name.to_owned(), sha.to_string());
    config.save(&ctx.paths.config_file())?;
    let text = match previous {
        Some(old) if old == sha.to_string() => format!(
            "Plugin {name} ({}) was already pinned to sha256 {sha}.\n",
            path.display()
        ),
        Some(_) => format!(
            "Plugin {name} ({}) is now pinned to sha256 {sha} (the previous pin was replaced).\n",
            path.display()
        ),
        None => format!(
            "Plugin {name} ({}) is now pinned to sha256 {sha}.\n",
            path.display()
        ),
    };
    crate::out::write_all(output, text.as_bytes())?;
    Ok(())
}
