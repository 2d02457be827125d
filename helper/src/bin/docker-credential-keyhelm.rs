//! `docker-credential-keyhelm`: docker's credential helper (see `keyhelm::docker`).

fn main() -> std::process::ExitCode {
    keyhelm::docker::main()
}
