//! `intellivoid`: the keyhelm provider for Intellivoid Accounts, logging in with COA
//! ("Cross-Over Authentication") in Application Placeholder mode.
//!
//! **Who this is for:** keyhelm loads the `cdylib` (`libkeyhelm_intellivoid.so`) for accounts
//! added with `--provider intellivoid`. The `rlib` exists for this crate's tests; its Rust API
//! is not stable.
//!
//! An account needs the `application_id` and the `secret_key` of an Intellivoid application
//! in placeholder mode. The first `get` asks Intellivoid for a login request, shows its
//! authentication URL (keyhelm offers to open the browser), and polls until the user
//! approves; the access token is then the credential (`Bearer`), and the plugin asks keyhelm
//! to keep it as state. There is no refresh grant: the token lives for as long as it is used
//! (48 h after each use), so a later `get` uses the saved token again, and a new approval is
//! needed only when it was revoked or left unused too long. The user guide is
//! `docs/providers/intellivoid.md`.
//!
//! Modules: [`settings`] (the account's settings), [`api`] (requests and the classification
//! of answers), [`errors`] (what each error means for the user), [`state`] (what is saved),
//! [`flow`] (login and renewal).
#![forbid(unsafe_code)]

pub mod api;
pub mod errors;
pub mod flow;
pub mod settings;
pub mod state;

use keyhelm_core::sdk::{
    Description, GetRequest, GetResponse, Host, LogoutRequest, LogoutResponse, Provider, Result,
};

/// The provider.
#[derive(Debug, Default)]
pub struct Intellivoid;

/// What `logout` tells the user: there is nothing to call.
pub const LOGOUT_MESSAGE: &str = "Intellivoid has no API to revoke an access token, so keyhelm only forgot it; \
     to revoke keyhelm's access, remove the application from your account at https://accounts.intellivoid.net";

impl Provider for Intellivoid {
    const NAME: &'static str = "intellivoid";

    fn describe(&self) -> Description {
        settings::specs().into_iter().fold(
            Description::new("Intellivoid Accounts (COA)")
                .default_base_url(settings::DEFAULT_BASE_URL),
            Description::setting,
        )
    }

    fn get(&self, host: &Host<'_>, req: GetRequest) -> Result<GetResponse> {
        flow::get(host, &req)
    }

    fn logout(&self, _host: &Host<'_>, _req: LogoutRequest) -> Result<LogoutResponse> {
        Ok(LogoutResponse::new(false).message(LOGOUT_MESSAGE))
    }
}

keyhelm_core::export_provider!(Intellivoid);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_its_settings_and_default_url() {
        let d = Intellivoid.describe();
        assert_eq!(d.display_name, "Intellivoid Accounts (COA)");
        assert_eq!(
            d.default_base_url.as_deref(),
            Some("https://api.intellivoid.net/intellivoid/v1")
        );
        assert_eq!(d.settings, settings::specs());
        assert!(d.url_patterns.is_empty());
    }
}
