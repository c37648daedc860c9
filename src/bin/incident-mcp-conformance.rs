//! The same CLI as `incident-mcp`, built with the `conformance` feature: the server also
//! exposes the MCP conformance suite's fixture tools, resources and prompts. Test use only.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    incident_mcp::cli::main()
}
