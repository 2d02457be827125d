//! The context every command runs in: the environment, the folders, the configuration, and
//! the way to this device's identity and vault.

use std::cell::OnceCell;
use std::path::PathBuf;

use keyhelm_vault::{DeviceId, Identity, Location, Vault};

use crate::config::Config;
use crate::error::{Exit, Failure, Result};
use crate::paths::{Env, Paths, create_private_dir};

#[derive(Debug)]
pub struct Ctx {
    pub env: Env,
    pub paths: Paths,
    config: OnceCell<Config>,
}

impl Ctx {
    pub fn new(env: Env) -> Result<Ctx> {
        env.check()?;
        let paths = Paths::resolve(&env)?;
        Ok(Ctx {
            env,
            paths,
            config: OnceCell::new(),
        })
    }

    pub fn config(&self) -> Result<&Config> {
        if let Some(config) = self.config.get() {
            return Ok(config);
        }
        let config = Config::load(&self.paths.config_file())?;
        Ok(self.config.get_or_init(|| config))
    }

    pub fn vault_file(&self) -> Result<PathBuf> {
        Ok(match &self.config()?.vault.path {
            Some(path) => path.clone(),
            None => self.paths.default_vault_file(),
        })
    }

    pub fn location(&self) -> Result<Location> {
        Ok(Location {
            file: self.vault_file()?,
            state_dir: self.paths.state_dir.clone(),
        })
    }

    /// This device's identity, or `None` when keyhelm was never initialised here.
    pub fn identity(&self) -> Result<Option<Identity>> {
        let path = self.paths.identity_file();
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Failure::io("cannot read", &path, &e)),
        };
        check_private_file(&path, &meta)?;
        Ok(Some(Identity::from_file(&path)?))
    }

    /// The vault handle, or `None` when this device has no identity yet.
    pub fn vault(&self) -> Result<Option<Vault>> {
        let Some(identity) = self.identity()? else {
            return Ok(None);
        };
        Ok(Some(self.vault_with(identity)?))
    }

    /// The vault handle; creates this device's identity first when there is none, so that the
    /// first `store` is all the set-up a user needs. Returns whether an identity was created.
    pub fn vault_or_init(&self) -> Result<(Vault, bool)> {
        if let Some(identity) = self.identity()? {
            return Ok((self.vault_with(identity)?, false));
        }
        let identity = self.create_identity()?;
        Ok((self.vault_with(identity)?, true))
    }

    /// Generates and writes a new identity (0600, in a 0700 folder).
    pub fn create_identity(&self) -> Result<Identity> {
        create_private_dir(&self.paths.config_dir)?;
        let identity = Identity::generate();
        identity.write_new(&self.paths.identity_file())?;
        Ok(identity)
    }

    /// The vault handle for an identity already loaded.
    pub fn vault_with(&self, identity: Identity) -> Result<Vault> {
        let device = DeviceId::load_or_create(&self.paths.state_dir)?;
        Ok(Vault::new(self.location()?, identity, device))
    }
}

/// Refuses a secret file that others can read or write, as ssh does.
pub fn check_private_file(path: &std::path::Path, meta: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Failure::new(
            Exit::Identity,
            format!(
                "{} is accessible by other users (mode {mode:04o})",
                path.display()
            ),
        )
        .hint(format!("run `chmod 600 {}`", path.display())));
    }
    Ok(())
}
