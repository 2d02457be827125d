//! `keyhelm list`: what the vault holds, never a secret.

use std::io::Write;

use keyhelm_vault::Credential;
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::Result;

pub fn run(ctx: &Ctx, json: bool, output: &mut impl Write) -> Result<()> {
    let snapshot = match ctx.vault()? {
        None => None,
        Some(vault) => match vault.read() {
            Ok(s) => Some(s),
            Err(keyhelm_vault::Error::Missing { .. }) => None,
            Err(e) => return Err(e.into()),
        },
    };
    let credentials: Vec<&Credential> = snapshot
        .as_ref()
        .map(|s| s.credentials().collect())
        .unwrap_or_default();
    let text = if json {
        let items: Vec<_> = credentials.iter().map(|c| credential_json(c)).collect();
        let mut text = serde_json::to_string_pretty(&json!({ "credentials": items }))
            .expect("JSON values always encode");
        text.push('\n');
        text
    } else if credentials.is_empty() {
        "No stored credentials.\n".to_owned()
    } else {
        let mut text = String::new();
        for c in &credentials {
            text.push_str(&credential_line(c));
            text.push('\n');
        }
        text
    };
    crate::out::write_all(output, text.as_bytes())?;
    Ok(())
}

/// `protocol://user@host/path`, the way git shows a credential's context.
pub fn credential_url(c: &Credential) -> String {
    let k = &c.key;
    let user = k
        .username
        .as_deref()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let path = k
        .path
        .as_deref()
        .map(|p| format!("/{p}"))
        .unwrap_or_default();
    format!("{}://{user}{}{path}", k.protocol, k.host)
}

fn credential_line(c: &Credential) -> String {
    if let Some(docker) = crate::docker::describe(c) {
        return docker;
    }
    let mut notes = Vec::new();
    if let Some(authtype) = &c.authtype {
        notes.push(format!("{authtype} credential"));
    }
    if let Some(expiry) = c.password_expiry_utc {
        notes.push(format!("expires {}", crate::cmd::format_time(expiry)));
    }
    if c.oauth_refresh_token.is_some() {
        notes.push("refresh token".to_owned());
    }
    if notes.is_empty() {
        credential_url(c)
    } else {
        format!("{}  ({})", credential_url(c), notes.join(", "))
    }
}

fn credential_json(c: &Credential) -> serde_json::Value {
    let k = &c.key;
    json!({
        "protocol": k.protocol,
        "host": k.host,
        "path": k.path,
        "username": k.username,
        "has_password": c.password.is_some(),
        "password_expiry_utc": c.password_expiry_utc,
        "has_refresh_token": c.oauth_refresh_token.is_some(),
        "authtype": c.authtype,
        "has_credential": c.credential.is_some(),
    })
}
