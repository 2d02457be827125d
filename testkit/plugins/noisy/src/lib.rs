//! A provider that prints to stdout (and stderr) in every call, as careless code does. The
//! host must keep those bytes out of its protocol output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use keyhelm_core::sdk::*;

#[derive(Default)]
struct Noisy;

impl Provider for Noisy {
    const NAME: &'static str = "noisy";

    fn describe(&self) -> Description {
        println!("NOISY-STDOUT describe");
        Description::new("Noisy test provider")
    }

    fn get(&self, _host: &Host<'_>, _req: GetRequest) -> Result<GetResponse> {
        println!("NOISY-STDOUT get");
        eprintln!("NOISY-STDERR get");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        Ok(GetResponse::new("noisy-token"))
    }
}

keyhelm_core::export_provider!(Noisy);
