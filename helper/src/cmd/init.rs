//! `keyhelm init`: this device's identity and an empty vault.

use std::io::Write;

use crate::ctx::Ctx;
use crate::error::{Failure, Result};

/// Prints the public key alone on stdout (for scripts) and explains on stderr.
pub fn run(ctx: &Ctx, output: &mut impl Write, err: &mut impl Write) -> Result<()> {
    let identity_file = ctx.paths.identity_file();
    let (vault, created) = ctx.vault_or_init()?;
    let public = ctx
        .identity()?
        .ok_or_else(|| Failure::other("the identity vanished while it was being created"))?
        .public();
    let vault_file = vault.location().file.clone();
    let mut notes = Vec::new();
    if created {
        notes.push(format!(
            "created this device's identity in {}",
            identity_file.display()
        ));
    } else {
        notes.push(format!(
            "this device already has an identity in {}",
            identity_file.display()
        ));
    }
    if vault.exists() {
        // Check that this device can open the vault it found (it may come from another device).
        match vault.read() {
            Ok(_) => notes.push(format!(
                "the vault {} opens on this device",
                vault_file.display()
            )),
            Err(keyhelm_vault::Error::NotARecipient { .. }) => notes.push(format!(
                "the vault {} is not encrypted to this device yet: run `keyhelm vault recipients \
                 add {public}` on a device that can open it, then sync",
                vault_file.display()
            )),
            Err(e) => return Err(e.into()),
        }
    } else {
        vault.create()?;
        notes.push(format!(
            "created an empty vault in {}",
            vault_file.display()
        ));
    }
    for note in notes {
        let _ = writeln!(err, "keyhelm: {note}");
    }
    let _ = writeln!(err, "keyhelm: this device's public key:");
    crate::out::write_all(output, format!("{public}\n").as_bytes())?;
    Ok(())
}
