//! The command line, as clap types. Nothing outside this module and `app` sees clap.

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
    /// Create this device's identity and an empty vault, and print the device's public key
    Init(InitArgs),
    /// Show the stored credentials (never their secrets)
    List(ListArgs),
    /// Write a tool's configuration so that it uses keyhelm
    #[command(subcommand)]
    Setup(SetupCommand),
    /// Check keyhelm's files and each tool's configuration, and say what is wrong
    Doctor,
}

#[derive(Debug, Args)]
pub struct InitArgs {}

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
