#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    incident_mcp::cli::main()
}
