//! The context every command runs in: the environment, the folders, the configuration, and
//! the way to this device's identity and vault.

use std::cell::{Cell, OnceCell};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use keyhelm_vault::{DeviceId, Identity, Location, Vault};
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::agent::{self, launch, passphrase};
use crate::config::Config;
use crate::error::{Exit, Failure, Result};
use crate::paths::{Env, Paths, create_private_dir};
use crate::tty::{Prompter as _, Terminal};

#[derive(Debug)]
pub struct Ctx {
    pub env: Env,
    pub paths: Paths,
    config: OnceCell<Config>,
    /// The text of a protected identity this process unlocked after a prompt, so that it is
    /// asked for once per process (`SecretString`: its `Debug` shows nothing).
    unlocked: OnceCell<SecretString>,
    /// Whether a locked identity may be unlocked by asking on the terminal.
    prompting: Cell<bool>,
}

/// Identity files are tiny; anything larger is refused (by the vault's parser, with a reason).
const MAX_IDENTITY_FILE: u64 = 1 << 20;

/// The identity file's bytes, read once.
pub struct IdentityFile {
    pub path: PathBuf,
    /// The whole file (plain key lines, or an age file); zeroized when dropped.
    pub bytes: Zeroizing<Vec<u8>>,
    /// Whether it is passphrase-protected (an age file) rather than plain key lines.
    pub protected: bool,
}

impl std::fmt::Debug for IdentityFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityFile")
            .field("path", &self.path)
            .field("protected", &self.protected)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl IdentityFile {
    /// sha256 of the file (hex): the agent holding its key says the same.
    pub fn digest(&self) -> String {
        agent::digest(&self.bytes)
    }
}

impl Ctx {
    pub fn new(env: Env) -> Result<Ctx> {
        env.check()?;
        let paths = Paths::resolve(&env)?;
        Ok(Ctx {
            env,
            paths,
            config: OnceCell::new(),
            unlocked: OnceCell::new(),
            prompting: Cell::new(true),
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

    /// The agent's socket.
    pub fn agent_socket(&self) -> PathBuf {
        self.paths.runtime_dir.join(agent::SOCKET_NAME)
    }

    /// Whether a locked identity may be unlocked by asking on the terminal (default: yes).
    /// `keyhelm doctor` turns it off.
    pub fn set_prompting(&self, allowed: bool) {
        self.prompting.set(allowed);
    }

    /// The identity file (checked to be private), or `None` when there is none.
    pub fn read_identity_file(&self) -> Result<Option<IdentityFile>> {
        let path = self.paths.identity_file();
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Failure::io("cannot read", &path, &e)),
        };
        check_private_file(&path, &meta)?;
        let file = std::fs::File::open(&path).map_err(|e| Failure::io("cannot read", &path, &e))?;
        // Sized from the file's length: growing the buffer would leave copies of a key behind.
        let room = meta.len().min(MAX_IDENTITY_FILE) as usize + 1;
        let mut bytes = Zeroizing::new(Vec::with_capacity(room));
        file.take(MAX_IDENTITY_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::io("cannot read", &path, &e))?;
        let protected = keyhelm_vault::is_protected(&bytes);
        Ok(Some(IdentityFile {
            path,
            bytes,
            protected,
        }))
    }

    /// This device's identity, or `None` when keyhelm was never initialised here.
    ///
    /// A passphrase-protected identity comes from the running agent (the key stays there;
    /// no scrypt here). Without an agent, the passphrase is asked on the terminal and an agent
    /// is started for the next lookups; without a terminal this fails with exit code 5 and
    /// "run `keyhelm unlock`".
    pub fn identity(&self) -> Result<Option<Identity>> {
        let Some(file) = self.read_identity_file()? else {
            return Ok(None);
        };
        if !file.protected {
            return Ok(Some(Identity::from_file(&file.path)?));
        }
        self.protected_identity(&file).map(Some)
    }

    fn protected_identity(&self, file: &IdentityFile) -> Result<Identity> {
        if let Some(text) = self.unlocked.get() {
            return Ok(Identity::from_secret_text(text, &file.path)?);
        }
        match agent::client::identity(&self.agent_socket(), &file.path, &file.digest()) {
            Ok(identity) => return Ok(identity),
            Err(e) if e.is_absent() => {}
            Err(e) => return Err(e.into()),
        }
        if !self.prompting.get() {
            return Err(agent::locked_failure(&file.path));
        }
        let Ok(terminal) = Terminal::open() else {
            return Err(agent::locked_failure(&file.path));
        };
        let (identity, text) = passphrase::ask_and_unlock(&terminal, &file.bytes, &file.path)?;
        // git runs `store` right after a `get` that worked: an agent spares a second prompt
        // (as ssh's AddKeysToAgent does). Failing to start one costs only that convenience.
        let note = match launch::start_detached(self, &text, &file.digest(), agent::DEFAULT_TTL) {
            Ok(started) => format!(
                "keyhelm: unlocked until {}; `keyhelm lock` forgets the key sooner",
                agent::format_expiry(started.expires_at)
            ),
            Err(f) => format!(
                "keyhelm: the agent did not start ({}); the passphrase will be asked again",
                f.message
            ),
        };
        let _ = terminal.message(&note);
        let _ = self.unlocked.set(text);
        Ok(identity)
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
        match self.create_identity()? {
            Some(identity) => Ok((self.vault_with(identity)?, true)),
            // Another keyhelm created it first (git runs several at once): use theirs.
            None => {
                let identity = self.identity()?.ok_or_else(|| {
                    Failure::other("the identity another keyhelm created has disappeared")
                })?;
                Ok((self.vault_with(identity)?, false))
            }
        }
    }

    /// Generates and writes a new identity (0600, in a 0700 folder). `None` when another
    /// process created one first.
    pub fn create_identity(&self) -> Result<Option<Identity>> {
        create_private_dir(&self.paths.config_dir)?;
        let identity = Identity::generate();
        match identity.write_new(&self.paths.identity_file()) {
            Ok(()) => Ok(Some(identity)),
            Err(keyhelm_vault::Error::AlreadyExists { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The vault handle for an identity the caller already has. With `[sync] auto = true`
    /// and a vault folder that is a git repository, every write starts a background sync.
    pub fn vault_with(&self, identity: Identity) -> Result<Vault> {
        let device = DeviceId::load_or_create(&self.paths.state_dir)?;
        let mut vault = Vault::new(self.location()?, identity, device);
        crate::sync::auto::attach(self, &mut vault)?;
        Ok(vault)
    }
}

/// Refuses a secret file that others can read or write, as ssh does.
pub fn check_private_file(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
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
