//! `keyhelm init`: this device's identity and an empty vault.
//!
//! With `--passphrase`, the identity is stored protected by a passphrase (created so, or an
//! existing plain identity protected in place, keeping its key so the vault still opens).

use std::io::Write;

use keyhelm_vault::Identity;
use secrecy::SecretString;

use crate::agent::commands::PassphraseFrom;
use crate::agent::passphrase;
use crate::ctx::Ctx;
use crate::error::{Failure, Result};
use crate::tty::Terminal;

/// What `keyhelm init` was asked.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Protect the identity with a passphrase from this source.
    pub passphrase: Option<PassphraseFrom>,
    /// The scrypt work factor for a new protection.
    pub work_factor: u8,
}

/// Prints the public key alone on stdout (for scripts) and explains on stderr.
pub fn run(
    ctx: &Ctx,
    options: Options,
    output: &mut impl Write,
    err: &mut impl Write,
) -> Result<()> {
    let identity_file = ctx.paths.identity_file();
    let mut notes = Vec::new();
    let (vault, public) = match options.passphrase {
        None => {
            let (vault, created) = ctx.vault_or_init()?;
            let public = vault.identity().public();
            notes.push(if created {
                format!(
                    "created this device's identity in {}",
                    identity_file.display()
                )
            } else {
                format!(
                    "this device already has an identity in {}",
                    identity_file.display()
                )
            });
            (vault, public)
        }
        Some(from) => {
            let identity = protect(ctx, from, options.work_factor, &mut notes)?;
            let public = identity.public();
            (ctx.vault_with(identity)?, public)
        }
    };
    let vault_file = vault.location().file.clone();
    if vault.exists() {
        // Check that this device can open the vault it found (it may come from another device).
        match vault.read() {
            Ok(_) => notes.push(format!(
                "the vault {} opens on this device",
                vault_file.display()
            )),
            Err(keyhelm_vault::Error::NotARecipient { .. }) => notes.push(format!(
                "the vault {} is not encrypted to this device yet: run `keyhelm vault recipients \
                 add {}` on a device that can open it, then sync",
                vault_file.display(),
                crate::sync::recipients::as_argument(&public)
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
    if options.passphrase.is_some() {
        notes.push(
            "lookups need the identity unlocked: run `keyhelm unlock` (a lookup in a terminal \
             also asks for the passphrase)"
                .to_owned(),
        );
    }
    for note in notes {
        let _ = writeln!(err, "keyhelm: {note}");
    }
    let _ = writeln!(err, "keyhelm: this device's public key:");
    crate::out::write_all(output, format!("{public}\n").as_bytes())?;
    Ok(())
}

/// The new passphrase: asked twice on the terminal, or one line of stdin (read unbuffered, see
/// [`passphrase::RawStdin`]).
fn new_passphrase(from: PassphraseFrom, path: &std::path::Path) -> Result<SecretString> {
    match from {
        PassphraseFrom::Stdin => passphrase::from_stdin(&mut passphrase::RawStdin::open()?),
        PassphraseFrom::Terminal => {
            let terminal = Terminal::open().map_err(passphrase::tty_failure)?;
            passphrase::ask_new(&terminal, path)
        }
    }
}

/// Makes sure the identity file is protected by a passphrase; returns the identity.
fn protect(
    ctx: &Ctx,
    from: PassphraseFrom,
    work_factor: u8,
    notes: &mut Vec<String>,
) -> Result<Identity> {
    let path = ctx.paths.identity_file();
    match ctx.read_identity_file()? {
        Some(file) if file.protected => {
            notes.push(format!(
                "this device's identity in {} is already protected by a passphrase",
                path.display()
            ));
            ctx.identity()?
                .ok_or_else(|| Failure::other("the identity vanished while it was being read"))
        }
        Some(file) => {
            // Protect the existing key in place: the vault is encrypted to it.
            let identity = Identity::from_file(&file.path)?;
            let text = std::str::from_utf8(&file.bytes)
                .map_err(|_| Failure::other("the identity file is not text"))?;
            let mut exact = String::with_capacity(text.len());
            exact.push_str(text);
            let text = SecretString::from(exact);
            let pass = new_passphrase(from, &path)?;
            let bytes = keyhelm_vault::protect(&text, pass, work_factor, &path)?;
            crate::fsutil::write_private_atomic(&path, &bytes)?;
            notes.push(format!(
                "protected this device's identity in {} with a passphrase (same key)",
                path.display()
            ));
            Ok(identity)
        }
        None => {
            let identity = Identity::generate();
            let text = identity.secret_text(&path)?;
            let pass = new_passphrase(from, &path)?;
            let bytes = keyhelm_vault::protect(&text, pass, work_factor, &path)?;
            keyhelm_vault::write_new_private(&path, &bytes)?;
            notes.push(format!(
                "created this device's identity in {}, protected by a passphrase",
                path.display()
            ));
            Ok(identity)
        }
    }
}
