//! A writer process for keyhelm-vault's multi-process and crash tests (vault/tests/).
//!
//! ```text
//! vault-writer <vault-file> <state-dir> <identity-file> <prefix> <count>
//! ```
//!
//! Stores `count` credentials for hosts `<prefix>-<i>.example`, one `Vault::update` each,
//! and prints `ok <i>` on stdout after each update has returned (the write is on disk). The
//! passwords are derived from the host, so no secret travels in argv.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use keyhelm_vault::{Credential, CredentialKey, DeviceId, Identity, Location, Vault};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, state_dir, identity, prefix, count] = args.as_slice() else {
        let _ = writeln!(
            std::io::stderr(),
            "usage: vault-writer <vault-file> <state-dir> <identity-file> <prefix> <count>"
        );
        return ExitCode::from(2);
    };
    match run(file, state_dir, identity, prefix, count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "vault-writer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    file: &str,
    state_dir: &str,
    identity: &str,
    prefix: &str,
    count: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let count: u64 = count.parse()?;
    let location = Location {
        file: PathBuf::from(file),
        state_dir: PathBuf::from(state_dir),
    };
    let identity = Identity::from_file(identity.as_ref())?;
    let device = DeviceId::load_or_create(&location.state_dir)?;
    let vault = Vault::new(location, identity, device);
    let mut out = std::io::stdout().lock();
    for i in 0..count {
        let host = format!("{prefix}-{i}.example");
        vault.update(|snapshot| {
            snapshot.put_credential(Credential {
                key: CredentialKey {
                    protocol: "https".into(),
                    host: host.clone(),
                    path: None,
                    username: Some("writer".into()),
                },
                password: Some(format!("secret-for-{host}").into()),
                password_expiry_utc: None,
                oauth_refresh_token: None,
                authtype: None,
                credential: None,
            });
            Ok::<_, keyhelm_vault::Error>(())
        })?;
        writeln!(out, "ok {i}")?;
        out.flush()?;
    }
    Ok(())
}
