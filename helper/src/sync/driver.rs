//! `keyhelm vault merge-driver %O %A %B %P`: git's merge driver for the vault file.
//!
//! git runs it when both sides changed the vault (`.gitattributes`: `vault.age
//! merge=keyhelm-vault -diff`; `.git/config`: `merge.keyhelm-vault.driver`). It decrypts both
//! sides with this device's identity, checks that the other side was written by a member,
//! merges them with the vault's merge (no common base needed, so `%O` is not read), and writes
//! the result, encrypted again, over `%A`. Exit 0 is a clean merge; any error leaves `%A` as
//! it was, and git reports a conflict (which `keyhelm sync` aborts).

use std::path::Path;

use keyhelm_vault::{Admission, merge};

use crate::ctx::Ctx;
use crate::error::{Failure, Result};

/// Runs the driver: `ours` (%A) is replaced by the merge of `ours` and `theirs` (%B).
pub fn run(ctx: &Ctx, ours_path: &Path, theirs_path: &Path, name: Option<&str>) -> Result<()> {
    let vault = ctx.vault()?.ok_or_else(|| {
        Failure::new(
            crate::error::Exit::Identity,
            "cannot merge the vault: this device has no identity",
        )
        .hint("run `keyhelm init --join REMOTE` on this device first")
    })?;
    let name = name.unwrap_or("vault.age");
    let context = |f: Failure| Failure {
        message: format!("cannot merge {name}: {}", f.message),
        ..f
    };
    let ours = vault.read_file(ours_path).map_err(|e| context(e.into()))?;
    let theirs = vault
        .read_file(theirs_path)
        .map_err(|e| context(e.into()))?;
    match vault
        .admit(&theirs, theirs_path)
        .map_err(|e| context(e.into()))?
    {
        Admission::Merge => {
            let merged = merge(&ours, &theirs).map_err(|e| context(e.into()))?;
            vault
                .write_file(ours_path, &merged)
                .map_err(|e| context(e.into()))?;
        }
        // Written by a device that had not seen a removal this device made or accepted: this
        // side stays as it is (that device's updates come back from its shadow copy).
        Admission::KeepOurs => {}
        _ => return Err(context(Failure::other("keyhelm does not know this case"))),
    }
    Ok(())
}
