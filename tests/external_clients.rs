//! Real MCP and HTTP clients against the real binary, each driven by a script under
//! `tests/`: the official MCP conformance suite, the MCP Inspector CLI, the Python `mcp`
//! SDK and schemathesis. The scripts install their tools (npm / PyPI) into `.ci-tools/`.

use std::process::Command;

fn run_script(script: &str) {
    let root = env!("CARGO_MANIFEST_DIR");
    let status = Command::new("bash")
        .arg(format!("{root}/{script}"))
        .current_dir(root)
        .env("INCIDENT_MCP_BIN", env!("CARGO_BIN_EXE_incident-mcp"))
        .env_remove("OPENCLAW_API_KEY")
        .env_remove("INCIDENT_MCP_CONFIG")
        .env_remove("INCIDENT_MCP_DB")
        .status()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    assert!(status.success(), "{script} failed with {status}");
}

#[test]
fn mcp_conformance_suite() {
    run_script("tests/conformance/run.sh");
}

#[test]
fn mcp_inspector_cli() {
    run_script("tests/clients/inspector.sh");
}

#[test]
fn python_mcp_sdk_client() {
    run_script("tests/clients/python.sh");
}

#[test]
fn schemathesis_rest_api() {
    run_script("tests/rest/schemathesis.sh");
}
