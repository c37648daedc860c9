//! `incident-mcp config`: print the documented default configuration, or check one, including
//! what only this machine can tell (kubeconfig files exist, approver key variables are set).

use std::path::Path;

use clap::Subcommand;
use serde::Serialize;

use super::{
    failure::Failure,
    output::{Format, Output, emit},
};
use crate::config::{Config, DEFAULT_TOML, SourceConfig};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the documented example configuration (the built-in default)
    Default,
    /// Validate a configuration (--config or the built-in): its syntax and rules, that every
    /// kubeconfig file it names exists, and that every approver's key variable is set; lists
    /// its environments
    Check {
        #[command(flatten)]
        out: Output,
    },
}

/// `config default` (no configuration needed).
pub fn default() -> Result<(), Failure> {
    print!("{DEFAULT_TOML}");
    Ok(())
}

#[derive(Serialize)]
struct Checked<'a> {
    ok: bool,
    environments: Vec<&'a str>,
    summary: String,
}

/// `config check` of the loaded configuration.
pub fn check(cfg: &Config, out: &Output) -> Result<(), Failure> {
    machine_checks(cfg).map_err(|m| Failure {
        field: Some("config".into()),
        ..Failure::input(format!("invalid config: {m}"))
    })?;
    let environments = cfg.env_names();
    let summary = format!("configuration ok; environments: {}", environments.join(", "));
    // A person reads this: text unless JSON is asked for.
    let out = Output {
        format: Some(out.format.unwrap_or(Format::Table)),
    };
    emit(
        &out,
        &Checked {
            ok: true,
            environments,
            summary,
        },
        |c| c.summary.clone(),
    )
}

/// What the file alone cannot show: named kubeconfig files exist (relative to the config file's
/// directory) and approver key variables (and the OIDC client secret's) are set. Messages name variables, never their values.
fn machine_checks(cfg: &Config) -> Result<(), String> {
    let exists = |raw: &str| {
        let p = Path::new(raw);
        match (p.is_relative(), &cfg.base_dir) {
            (true, Some(base)) => base.join(p).is_file(),
            _ => p.is_file(),
        }
    };
    for (name, env) in &cfg.environments {
        if let Some(k) = env.cluster.as_ref().and_then(|c| c.kubeconfig.as_deref())
            && !exists(k)
        {
            return Err(format!("environments.{name}.cluster.kubeconfig: no such file `{k}`"));
        }
        for s in &env.sources {
            if let SourceConfig::K8sLogs(src) = s
                && let Some(k) = src.kubeconfig.as_deref()
                && !exists(k)
            {
                return Err(format!(
                    "environments.{name}.sources.{}.kubeconfig: no such file `{k}`",
                    src.name
                ));
            }
        }
    }
    for a in &cfg.approvers {
        if let Some(var) = &a.key_env
            && std::env::var_os(var).is_none_or(|v| v.is_empty())
        {
            return Err(format!(
                "approvers.{}.key_env: the environment variable {var} is not set in this process",
                a.name
            ));
        }
    }
    if let Some(var) = cfg
        .oauth
        .as_ref()
        .and_then(|o| o.sign_in.as_ref())
        .and_then(|s| s.client_secret_env.as_deref())
        && std::env::var_os(var).is_none_or(|v| v.is_empty())
    {
        return Err(format!(
            "oauth.sign_in.client_secret_env: the environment variable {var} is not set in this process"
        ));
    }
    Ok(())
}
