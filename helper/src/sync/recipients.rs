//! `keyhelm vault recipients list|add|remove` and `keyhelm vault trust`.
//!
//! Every write encrypts the whole vault again to the recipients it lists, so adding or removing
//! one takes effect at once. Removing one also rotates the vault secret (the removed key knew
//! the old one), and the user is told what removal cannot do: the removed device keeps what it
//! could already read.

use std::io::Write;

use keyhelm_vault::Vault;
use serde::Serialize;

use crate::ctx::Ctx;
use crate::error::{Exit, Failure, Result};

fn vault(ctx: &Ctx) -> Result<Vault> {
    ctx.vault()?.ok_or_else(|| {
        Failure::new(
            Exit::Identity,
            "this device has no identity, and so no vault",
        )
        .hint("run `keyhelm init` (or `keyhelm init --join REMOTE_OR_FOLDER`)")
    })
}

#[derive(Serialize)]
struct Listed {
    vault: String,
    vault_id: String,
    fingerprint: String,
    recipients: Vec<Recipient>,
}

#[derive(Serialize)]
struct Recipient {
    key: String,
    this_device: bool,
}

/// `keyhelm vault recipients list [--json]`.
pub fn list(ctx: &Ctx, json: bool, output: &mut impl Write) -> Result<()> {
    let vault = vault(ctx)?;
    let snapshot = vault.read()?;
    let mine = vault.identity().publics();
    let listed = Listed {
        vault: vault.location().file.display().to_string(),
        vault_id: snapshot.vault_id(),
        fingerprint: snapshot.vault_secret_fingerprint(),
        recipients: snapshot
            .recipients()
            .into_iter()
            .map(|key| Recipient {
                this_device: mine.contains(&key),
                key,
            })
            .collect(),
    };
    let text = if json {
        let mut text = serde_json::to_string_pretty(&listed)
            .map_err(|e| Failure::other(format!("cannot encode the list: {e}")))?;
        text.push('\n');
        text
    } else {
        let mut text = format!("Recipients of {}:\n", listed.vault);
        for r in &listed.recipients {
            text.push_str("  ");
            text.push_str(&r.key);
            if r.this_device {
                text.push_str("  (this device)");
            }
            text.push('\n');
        }
        text.push_str(&format!("Vault fingerprint: {}\n", listed.fingerprint));
        text
    };
    crate::out::write_all(output, text.as_bytes())?;
    Ok(())
}

/// A key as a person would paste it into a command (quoted when it holds a space).
pub fn as_argument(key: &str) -> String {
    if key.contains(' ') {
        crate::sync::git::shell_quote(key)
    } else {
        key.to_owned()
    }
}

/// `keyhelm vault recipients add KEY`.
pub fn add(ctx: &Ctx, key: &str, output: &mut impl Write) -> Result<()> {
    let canonical = keyhelm_vault::normalize_recipient(key)?;
    let vault = vault(ctx)?;
    let (added, count) = vault.update(|s| {
        let added = s.add_recipient(&canonical)?;
        Ok::<_, Failure>((added, s.recipients().len()))
    })?;
    let text = if added {
        format!(
            "Added {canonical}.\nThe vault is now encrypted to {count} recipients. {}\n",
            next_step(ctx)?
        )
    } else {
        format!("{canonical} is already a recipient; nothing changed.\n")
    };
    crate::out::write_all(output, text.as_bytes())?;
    Ok(())
}

/// `keyhelm vault recipients remove KEY`.
pub fn remove(ctx: &Ctx, key: &str, output: &mut impl Write) -> Result<()> {
    let canonical = keyhelm_vault::normalize_recipient(key)?;
    let vault = vault(ctx)?;
    if vault.identity().publics().contains(&canonical) {
        return Err(Failure::usage(format!(
            "{canonical} is this device's own key: removing it would lock this device out"
        ))
        .hint("remove it from another device that is a recipient"));
    }
    let removed = vault.update(|s| match s.remove_recipient(&canonical) {
        Err(keyhelm_vault::Error::NoRecipients) => Err(Failure::usage(format!(
            "{canonical} is the vault's only recipient"
        ))),
        other => Ok(other?),
    })?;
    if !removed {
        return Err(
            Failure::not_found(format!("{canonical} is not a recipient of the vault"))
                .hint("`keyhelm vault recipients list` shows them"),
        );
    }
    let text = format!(
        "Removed {canonical}, and rotated the vault secret.\nFrom now on the vault is encrypted \
         without that key, and copies it writes are refused here. But the removed device can \
         still read the copies of the vault it already has, and older versions (git history, \
         backups, a synced folder's history): rotate the credentials stored in the vault \
         (passwords, tokens, account secrets). {}\n",
        next_step(ctx)?
    );
    crate::out::write_all(output, text.as_bytes())?;
    Ok(())
}

/// What to do after a change of recipients, by how the vault is shared.
fn next_step(ctx: &Ctx) -> Result<String> {
    let file = ctx.vault_file()?;
    let configured = ctx.config()?.vault.path.is_some();
    Ok(match super::sharing_of(&file, configured, false) {
        super::Sharing::Git(_) => "Run `keyhelm sync` to share the change.".to_owned(),
        super::Sharing::Folder => {
            "The shared folder carries the change to the other devices.".to_owned()
        }
        super::Sharing::Alone => {
            "This vault is not shared yet: see `keyhelm sync --init REMOTE` or `keyhelm init \
             --join FOLDER`."
                .to_owned()
        }
    })
}

/// `keyhelm vault trust FINGERPRINT`.
pub fn trust(ctx: &Ctx, fingerprint: &str, output: &mut impl Write) -> Result<()> {
    let vault = vault(ctx)?;
    vault.trust_fingerprint(fingerprint)?;
    let text = format!(
        "This device now also accepts a vault with the fingerprint {}.\n",
        fingerprint.trim().to_ascii_lowercase()
    );
    crate::out::write_all(output, text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_spaces_are_quoted_for_the_shell() {
        assert_eq!(as_argument("age1abc"), "age1abc");
        assert_eq!(
            as_argument("ssh-ed25519 AAAAC3Nz"),
            "'ssh-ed25519 AAAAC3Nz'"
        );
    }
}
