//! The command line, as clap types. Nothing outside this module and `app` sees clap.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// keyhelm answers credential lookups for git, docker, cargo, kubectl and scripts from one
/// age-encrypted vault, and logs in to services through provider plugins.
#[derive(Debug, Parser)]
#[command(name = "keyhelm", version, about, max_term_width = 100)]
#[command(
    after_help = "Set-up: `keyhelm setup git` (or docker, cargo, kubectl). \
    Problems: `keyhelm doctor`. Files: KEYHELM_HOME moves every file keyhelm uses."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// git credential helper: answer a lookup read from stdin
    #[command(next_help_heading = "git credential helper")]
    Get,
    /// git credential helper: store the credential read from stdin
    Store,
    /// git credential helper: erase the credentials matching stdin
    Erase,
    /// git credential helper: list the capabilities keyhelm supports
    Capability,
    /// Create this device's identity and an empty vault (or join a vault with --join), and
    /// print the device's public key
    Init(InitArgs),
    /// Show the stored credentials (never their secrets)
    List(ListArgs),
    /// Write a tool's configuration so that it uses keyhelm
    #[command(subcommand)]
    Setup(SetupCommand),
    /// Check keyhelm's files and each tool's configuration, and say what is wrong
    Doctor,
    /// Manage accounts: a name bound to a provider plugin, its URL and settings
    #[command(subcommand)]
    Account(AccountCommand),
    /// Print a valid access token for an account on stdout (for scripts)
    Token {
        /// The account
        name: String,
    },
    /// Log in to an account now, even if a token is cached (prompts as the provider needs)
    Login {
        /// The account
        name: String,
    },
    /// Revoke the account's token where the service allows it, and forget it
    Logout {
        /// The account
        name: String,
    },
    /// Inspect, check and pin provider plugins
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// kubectl exec credential plugin: print an ExecCredential with an account's token
    Kube(KubeArgs),
    /// The vault shared by several devices: its recipients, and what this device trusts
    #[command(subcommand, next_help_heading = "several devices")]
    Vault(VaultCommand),
    /// Sync the vault: through its git remote (pull, merge, commit, push), or, in a shared
    /// folder, merge the conflict copies next to it
    Sync(SyncArgs),
    /// Unlock a passphrase-protected identity: ask for the passphrase once, and let an agent
    /// hold the key for a while so that lookups need no passphrase
    #[command(next_help_heading = "passphrase-protected identity")]
    Unlock(UnlockArgs),
    /// Make the agent forget the identity's key and stop
    Lock,
    /// Run the agent in the foreground (`keyhelm unlock` starts one in the background)
    Agent(AgentArgs),
}

#[derive(Debug, Args)]
pub struct KubeArgs {
    /// The account whose token kubectl gets (default: the account matching the cluster's URL,
    /// with provideClusterInfo: true)
    #[arg(long)]
    pub account: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Add an account; secrets are prompted for, or read from stdin, never taken from argv
    Add {
        /// A name for the account (letters, digits, '.', '_', '-')
        name: String,
        /// The provider plugin, e.g. intralinks, clinked, intellivoid
        #[arg(long)]
        provider: String,
        /// The provider API's base URL (default: the service's own)
        #[arg(long)]
        url: Option<String>,
        /// A URL the account answers for, e.g. https://git.example.com/team (repeatable;
        /// default: the base URL's origin)
        #[arg(long = "match", value_name = "URL")]
        matches: Vec<String>,
        /// A non-secret setting (repeatable)
        #[arg(long, value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Read the secret settings as KEY=VALUE lines from stdin instead of prompting
        #[arg(long)]
        secrets_from_stdin: bool,
    },
    /// List the accounts and the state of their tokens
    List {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Show one account (never its secrets)
    Show {
        /// The account
        name: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Remove an account with its cached token and provider state
    Remove {
        /// The account
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List the plugins keyhelm can find: name, version, ABI, pinned or not, path
    List {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Run every loader check on a plugin file and print what it describes
    Verify {
        /// The plugin file (libkeyhelm_<name>.so)
        path: std::path::PathBuf,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Pin a plugin to the sha256 of its current file (in config.toml)
    Trust {
        /// The provider name
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// List, add or remove the keys the vault is encrypted to
    #[command(subcommand)]
    Recipients(RecipientsCommand),
    /// Trust a vault fingerprint that `keyhelm vault recipients list` shows on a member's
    /// device (after two members removed recipients at the same time, or to switch vaults)
    Trust {
        /// The fingerprint (64 hexadecimal characters)
        fingerprint: String,
    },
    /// git merge driver for the vault file (configured by `keyhelm sync --init`)
    #[command(hide = true)]
    MergeDriver {
        /// The common ancestor's version (%O)
        base: std::path::PathBuf,
        /// This side's version, replaced by the result (%A)
        ours: std::path::PathBuf,
        /// The other side's version (%B)
        theirs: std::path::PathBuf,
        /// The file's path in the repository (%P)
        path: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RecipientsCommand {
    /// List the recipients (this device's key is marked) and the vault's fingerprint
    List {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Add a recipient: an age public key (age1...) or an ssh-ed25519 public key line;
    /// re-encrypts the vault
    Add {
        /// The public key (quote an ssh-ed25519 line)
        key: String,
    },
    /// Remove a recipient; re-encrypts the vault and rotates the vault secret
    Remove {
        /// The public key
        key: String,
    },
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Make the vault folder a git repository that syncs with REMOTE (a URL or a path), with
    /// keyhelm's merge driver, and sync
    #[arg(long, value_name = "REMOTE")]
    pub init: Option<String>,
    /// Internal: a background sync started after a write (`[sync] auto = true`)
    #[arg(long, hide = true, conflicts_with = "init")]
    pub auto: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Join an existing vault: a git remote (the vault folder becomes a clone of it) or a
    /// shared folder (it becomes `vault.path` in config.toml)
    #[arg(long, value_name = "REMOTE_OR_FOLDER")]
    pub join: Option<String>,
    /// Use this OpenSSH ed25519 private key (without a passphrase) as this device's identity
    /// (identity.txt becomes a link to it)
    #[arg(long, value_name = "PATH", conflicts_with = "passphrase")]
    pub ssh_key: Option<std::path::PathBuf>,
    /// Protect the identity with a passphrase (an existing plain identity is protected in
    /// place; lookups then need `keyhelm unlock`)
    #[arg(long)]
    pub passphrase: bool,
    /// Read the new passphrase as one line from stdin instead of asking twice on the terminal
    #[arg(long, requires = "passphrase")]
    pub passphrase_from_stdin: bool,
    /// The scrypt work factor (log2 of N) protecting the passphrase: 18 takes about a second
    /// and 256 MiB to unlock; each step doubles both
    #[arg(
        long,
        value_name = "LOG_N",
        requires = "passphrase",
        default_value_t = keyhelm_vault::DEFAULT_WORK_FACTOR,
        value_parser = clap::value_parser!(u8).range(
            i64::from(keyhelm_vault::MIN_WORK_FACTOR)..=i64::from(keyhelm_vault::MAX_WORK_FACTOR)
        ),
    )]
    pub scrypt_work_factor: u8,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// How long the agent keeps the key, counted from now (90s, 15m, 8h, 1d, 1h30m)
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = crate::agent::parse_ttl)]
    pub ttl: Duration,
    /// Read the passphrase as one line from stdin instead of asking on the terminal
    #[arg(long)]
    pub passphrase_from_stdin: bool,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub unlock: UnlockArgs,
    /// Internal: started by `keyhelm unlock`, which hands over the key on stdin
    #[arg(long, hide = true, conflicts_with = "passphrase_from_stdin")]
    pub handoff: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SetupCommand {
    /// Make keyhelm git's credential helper (global, or for one repository with --local)
    Git {
        /// Configure only the repository in the current folder
        #[arg(long)]
        local: bool,
    },
    /// Make keyhelm cargo's credential provider for crates.io, or for one registry
    Cargo {
        /// The registry's name in cargo's configuration (default: crates.io)
        #[arg(long)]
        registry: Option<String>,
        /// The registry's index URL, written when cargo's configuration has none
        #[arg(long, requires = "registry")]
        index: Option<String>,
    },
    /// Add a kubeconfig user whose token comes from a keyhelm account
    Kubectl {
        /// The keyhelm account
        #[arg(long)]
        account: String,
        /// The kubeconfig user's name (default: keyhelm-ACCOUNT)
        #[arg(long)]
        user: Option<String>,
        /// A kubeconfig context to switch to that user
        #[arg(long)]
        context: Option<String>,
    },
    /// Make keyhelm docker's credential store (credsStore), or one registry's helper
    /// (credHelpers) with --registry; keeps everything else in docker's config.json
    Docker {
        /// Use keyhelm only for this registry, e.g. ghcr.io (repeatable)
        #[arg(long = "registry", value_name = "HOST")]
        registries: Vec<String>,
    },
}

/// The subcommand names, for telling an unknown git operation from a typo.
pub fn subcommand_names() -> Vec<String> {
    use clap::CommandFactory;
    Cli::command()
        .get_subcommands()
        .flat_map(|c| {
            std::iter::once(c.get_name().to_owned()).chain(c.get_all_aliases().map(str::to_owned))
        })
        .chain(["help".to_owned()])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
