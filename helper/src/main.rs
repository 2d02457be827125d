fn main() -> std::process::ExitCode {
    keyhelm::main()
}
