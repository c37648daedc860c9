//! `incident-mcp serve`: the MCP server over stdio, or streamable HTTP plus the REST API.

use std::{io::IsTerminal, net::SocketAddr};

use clap::Args;

use super::failure::{Failure, backend};
use crate::{
    config::Config,
    mcp::{IncidentServer, ToolPolicy},
    service::IncidentService,
};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen on this address for streamable HTTP at /mcp and the REST API at /api
    /// [default when given without a value: the configuration's server.http_addr]
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "")]
    pub http: Option<String>,
    /// Expose only read-only tools; REST refuses every request that changes something (403)
    #[arg(long)]
    pub read_only: bool,
    /// Hide destructive tools; REST refuses contain, recover, apply and approve (403)
    #[arg(long)]
    pub disable_destructive: bool,
    /// Leave TTL reverts and start-up reconciliation of interrupted actions to another
    /// replica (several replicas on one PostgreSQL database: exactly one runs them)
    #[arg(long)]
    pub no_response_tasks: bool,
    /// Also serve Prometheus metrics at http://ADDR/metrics (for stdio deployments; with
    /// --http they are at /metrics there too)
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

/// Starts the `--metrics-addr` listener, if one was asked for.
pub async fn metrics_listener(
    svc: &IncidentService,
    addr: Option<SocketAddr>,
) -> Result<Option<crate::http::MetricsListener>, Failure> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    crate::http::serve_metrics(svc.clone(), addr)
        .await
        .map(Some)
        .map_err(|e| backend(format!("--metrics-addr: cannot listen on {addr}: {e}")))
}

/// The HTTP address to listen on (`None`: stdio), checked before any store opens.
pub fn address(a: &ServeArgs, cfg: &Config) -> Result<Option<SocketAddr>, Failure> {
    let Some(given) = &a.http else {
        return Ok(None);
    };
    let raw = if given.is_empty() {
        cfg.server.http_addr.clone()
    } else {
        given.clone()
    };
    let addr: SocketAddr = raw
        .parse()
        .map_err(|_| Failure::input(format!("--http: `{raw}` is not an address like 127.0.0.1:8787")))?;
    crate::http::check_bind(&addr, cfg.api_key().is_some() || cfg.oauth.is_some()).map_err(Failure::input)?;
    Ok(Some(addr))
}

pub async fn run(
    svc: IncidentService,
    a: &ServeArgs,
    addr: Option<SocketAddr>,
    location: &crate::store::StoreLocation,
) -> Result<(), Failure> {
    let policy = ToolPolicy {
        read_only: a.read_only,
        disable_destructive: a.disable_destructive,
    };
    let _metrics = metrics_listener(&svc, a.metrics_addr).await?;
    let _outbox = svc.spawn_dispatcher()?;
    let _responder = match a.no_response_tasks {
        true => None,
        false => Some(crate::leader::start(&svc, location).await?),
    };
    match addr {
        Some(addr) => crate::http::serve(svc, addr, policy).await.map_err(backend),
        None => {
            if std::io::stdin().is_terminal() {
                eprintln!(
                    "incident-mcp: MCP server on stdio, waiting for an MCP client on stdin (JSON-RPC); this is \
                     what an MCP host starts. Ctrl-C to stop; `incident-mcp --help` lists the CLI commands."
                );
            }
            IncidentServer::new(svc, policy).serve_stdio().await.map_err(backend)
        }
    }
}
