//! Dispatch: from argv to a command, and from its result to an exit code.

use std::ffi::OsString;
use std::io::{BufRead, Write};

use clap::Parser;

use crate::agent::commands::{self, PassphraseFrom};
use crate::cli::{
    AccountCommand, Cli, Command, PluginCommand, RecipientsCommand, SetupCommand, UnlockArgs,
    VaultCommand,
};
use crate::ctx::Ctx;
use crate::error::{Exit, Result};
use crate::paths::Env;

/// Runs keyhelm with the given arguments and streams; returns the exit code.
pub fn run(
    args: &[OsString],
    env: Env,
    input: &mut impl BufRead,
    output: &mut impl Write,
    err: &mut impl Write,
) -> u8 {
    init_logging(&env);
    // cargo runs its credential providers as `PATH --cargo-plugin`.
    if args
        .get(1)
        .is_some_and(|a| a == crate::cargo::CARGO_PLUGIN_FLAG)
    {
        return crate::cargo::main(args, env, input, output, err);
    }
    let command = match git_operation(args) {
        Some(command) => command,
        None => match Cli::try_parse_from(args) {
            Ok(cli) => cli.command,
            Err(e) => return clap_error(args, &env, &e, output, err),
        },
    };
    let result = Ctx::new(env).and_then(|ctx| dispatch(&ctx, command, input, output, err));
    match result {
        Ok(()) => Exit::Ok.code(),
        Err(failure) => {
            failure.report(err);
            failure.exit.code()
        }
    }
}

/// `keyhelm get|store|erase|capability`, exactly as git runs it: known without building the
/// command-line parser, which costs more than the rest of start-up (every git operation starts
/// keyhelm). Anything else (an option, a second argument) goes through clap.
fn git_operation(args: &[OsString]) -> Option<Command> {
    let [_, op] = args else { return None };
    match op.to_str()? {
        "get" => Some(Command::Get),
        "store" => Some(Command::Store),
        "erase" => Some(Command::Erase),
        "capability" => Some(Command::Capability),
        _ => None,
    }
}

fn dispatch(
    ctx: &Ctx,
    command: Command,
    input: &mut impl BufRead,
    output: &mut impl Write,
    err: &mut impl Write,
) -> Result<()> {
    match command {
        Command::Get => crate::git::run(ctx, "get", input, output),
        Command::Store => crate::git::run(ctx, "store", input, output),
        Command::Erase => crate::git::run(ctx, "erase", input, output),
        Command::Capability => crate::git::run(ctx, "capability", input, output),
        Command::Init(args) => {
            let options = crate::cmd::init::Options {
                passphrase: args.passphrase.then_some(if args.passphrase_from_stdin {
                    PassphraseFrom::Stdin
                } else {
                    PassphraseFrom::Terminal
                }),
                work_factor: args.scrypt_work_factor,
            };
            if let Some(key) = &args.ssh_key {
                crate::sync::join::use_ssh_key(ctx, key)?;
            }
            match &args.join {
                Some(source) => crate::sync::join::run(ctx, source, options, output, err),
                None => crate::cmd::init::run(ctx, options, output, err),
            }
        }
        Command::Vault(cmd) => vault(ctx, cmd, output),
        Command::Sync(args) => crate::sync::run(
            ctx,
            crate::sync::Options {
                init: args.init,
                auto: args.auto,
            },
            output,
        ),
        Command::List(args) => crate::cmd::list::run(ctx, args.json, output),
        Command::Setup(SetupCommand::Git { local }) => crate::cmd::setup::git(ctx, local, output),
        Command::Setup(SetupCommand::Cargo { registry, index }) => {
            crate::cargo::config::setup(ctx, registry.as_deref(), index.as_deref(), output)
        }
        Command::Setup(SetupCommand::Kubectl {
            account,
            user,
            context,
        }) => {
            crate::kube::config::setup(ctx, &account, user.as_deref(), context.as_deref(), output)
        }
        Command::Kube(args) => crate::kube::run(ctx, args.account.as_deref(), output),
        Command::Setup(SetupCommand::Docker { registries }) => {
            crate::docker::setup::run(ctx, &registries, output)
        }
        Command::Doctor => crate::cmd::doctor::run(ctx, output),
        Command::Account(cmd) => account(ctx, cmd, input, output),
        Command::Token { name } => crate::cmd::account::token(ctx, &name, output),
        Command::Login { name } => crate::cmd::account::login(ctx, &name, output),
        Command::Logout { name } => crate::cmd::account::logout(ctx, &name, output),
        Command::Plugin(PluginCommand::List { json }) => {
            crate::cmd::plugin::list(ctx, json, output)
        }
        Command::Plugin(PluginCommand::Verify { path, json }) => {
            crate::cmd::plugin::verify(ctx, &path, json, output)
        }
        Command::Plugin(PluginCommand::Trust { name }) => {
            crate::cmd::plugin::trust(ctx, &name, output)
        }
        // These read secrets from stdin themselves, unbuffered (see passphrase::RawStdin).
        Command::Unlock(args) => commands::unlock(ctx, unlock_options(&args), err),
        Command::Lock => commands::lock(ctx, err),
        Command::Agent(args) if args.handoff => {
            let mut stdin = crate::agent::passphrase::RawStdin::open()?;
            crate::agent::launch::serve_handoff(ctx, &mut stdin, output)
        }
        Command::Agent(args) => commands::agent(ctx, unlock_options(&args.unlock), err),
    }
}

fn vault(ctx: &Ctx, cmd: VaultCommand, output: &mut impl Write) -> Result<()> {
    use crate::sync::{driver, recipients};
    match cmd {
        VaultCommand::Recipients(RecipientsCommand::List { json }) => {
            recipients::list(ctx, json, output)
        }
        VaultCommand::Recipients(RecipientsCommand::Add { key }) => {
            recipients::add(ctx, &key, output)
        }
        VaultCommand::Recipients(RecipientsCommand::Remove { key }) => {
            recipients::remove(ctx, &key, output)
        }
        VaultCommand::Trust { fingerprint } => recipients::trust(ctx, &fingerprint, output),
        VaultCommand::MergeDriver {
            base: _,
            ours,
            theirs,
            path,
        } => driver::run(ctx, &ours, &theirs, path.as_deref()),
    }
}

fn unlock_options(args: &UnlockArgs) -> commands::UnlockOptions {
    commands::UnlockOptions {
        ttl: args.ttl,
        passphrase: if args.passphrase_from_stdin {
            PassphraseFrom::Stdin
        } else {
            PassphraseFrom::Terminal
        },
    }
}

fn account(
    ctx: &Ctx,
    cmd: AccountCommand,
    input: &mut impl BufRead,
    output: &mut impl Write,
) -> Result<()> {
    use crate::cmd::account;
    match cmd {
        AccountCommand::Add {
            name,
            provider,
            url,
            matches,
            set,
            secrets_from_stdin,
        } => {
            let req = account::AddRequest {
                name,
                provider,
                url,
                matches,
                set,
                secrets_from_stdin,
            };
            account::add(ctx, req, input, output)
        }
        AccountCommand::List { json } => account::list(ctx, json, output),
        AccountCommand::Show { name, json } => account::show(ctx, &name, json, output),
        AccountCommand::Remove { name } => account::remove(ctx, &name, output),
    }
}

/// Help and version go to stdout with exit 0; a bad command line is exit 2, except that an
/// unknown single word while stdin is not a terminal is a git operation from the future,
/// which a helper must ignore silently (exit 0).
fn clap_error(
    args: &[OsString],
    env: &Env,
    e: &clap::Error,
    output: &mut impl Write,
    err: &mut impl Write,
) -> u8 {
    use clap::error::ErrorKind;
    if e.kind() == ErrorKind::InvalidSubcommand
        && !env.stdin_is_terminal
        && is_future_git_operation(args)
    {
        return Exit::Ok.code();
    }
    let text = e.render().to_string();
    if e.use_stderr() {
        let _ = err.write_all(text.as_bytes());
        Exit::Usage.code()
    } else {
        let _ = crate::out::write_all(output, text.as_bytes());
        Exit::Ok.code()
    }
}

fn is_future_git_operation(args: &[OsString]) -> bool {
    let [_, word] = args else { return false };
    let Some(word) = word.to_str() else {
        return false;
    };
    !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'_')
        && !crate::cli::subcommand_names().iter().any(|n| n == word)
}

pub fn init_logging(env: &Env) {
    // Off unless asked for, so that a lookup pays nothing for it.
    let Some(filter) = &env.log else { return };
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unwinder is linked statically (helper/build.rs): a panic still unwinds, runs
    /// destructors and is caught.
    #[test]
    fn panics_unwind() {
        struct Flag<'a>(&'a std::cell::Cell<bool>);
        impl Drop for Flag<'_> {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let dropped = std::cell::Cell::new(false);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _flag = Flag(&dropped);
            std::panic::resume_unwind(Box::new("unwinding"));
        }));
        assert!(caught.is_err() && dropped.get());
    }

    /// The shortcut gives exactly what clap gives, and only for a bare git operation.
    #[test]
    fn git_operations_skip_clap_with_the_same_result() {
        let args = |words: &[&str]| -> Vec<OsString> {
            std::iter::once("keyhelm")
                .chain(words.iter().copied())
                .map(OsString::from)
                .collect()
        };
        for op in ["get", "store", "erase", "capability"] {
            let fast = git_operation(&args(&[op])).unwrap();
            let clap = Cli::try_parse_from(args(&[op])).unwrap().command;
            assert_eq!(format!("{fast:?}"), format!("{clap:?}"));
        }
        for other in [
            &["get", "--help"][..],
            &["--help"],
            &["get", "x"],
            &["list"],
            &["Get"],
            &[],
        ] {
            assert!(git_operation(&args(other)).is_none(), "{other:?}");
        }
    }
}
