//! `incident-mcp config`: print the documented default configuration, or check one.

use clap::Subcommand;

use super::failure::Failure;
use crate::config::{Config, DEFAULT_TOML};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the documented example configuration (the built-in default)
    Default,
    /// Validate a configuration (--config or the built-in) and list its environments
    Check,
}

/// `config default` (no configuration needed).
pub fn default() -> Result<(), Failure> {
    print!("{DEFAULT_TOML}");
    Ok(())
}

/// `config check` of the loaded configuration.
pub fn check(cfg: &Config) -> Result<(), Failure> {
    println!("configuration ok; environments: {}", cfg.env_names().join(", "));
    Ok(())
}
