//! The suite-wide secret canary. Every secret the tests configure (API keys, webhook signing
//! secrets, vendor tokens, routing keys, cluster tokens, database passwords) is derived from one
//! value chosen per run by the nextest setup script (`scripts/canary-setup`), so that
//! `scripts/canary-scan` can look for it in everything the suite produced: every server's log
//! file at debug level (tool results, REST responses, CLI output and audit rows included) and
//! every test's captured output. Run outside nextest, a per-process value stands in.
#![allow(dead_code)]

use std::sync::OnceLock;

/// Environment variable the setup script exports.
pub const CANARY_ENV: &str = "INCIDENT_MCP_TEST_CANARY";

/// This run's canary.
pub fn canary() -> &'static str {
    static VALUE: OnceLock<String> = OnceLock::new();
    VALUE.get_or_init(|| {
        std::env::var(CANARY_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            // Deterministic per process, so copies of this module in one test binary agree.
            .unwrap_or_else(|| format!("cnry{:08x}local", std::process::id()))
    })
}

/// A secret for `label`: the canary plus a suffix, so each secret is distinct and every one of
/// them contains the canary.
pub fn secret(label: &str) -> String {
    format!("{}-{label}", canary())
}
