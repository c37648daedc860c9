//! incident-mcp: an MCP server (plus CLI and REST API) for the incident-response
//! lifecycle. See ARCHITECTURE.md for the module map and invariants.
#![forbid(unsafe_code)]

pub mod cli;
mod cli_approve;
mod cli_audit;
mod cli_failure;
mod cli_identity;
mod cli_inputs;
mod cli_notify;
mod cli_progress;
mod cli_remote;
mod cli_remote_commands;
mod cli_respond;
mod cli_score;
mod cli_table;
mod cli_watch;
pub mod cluster;
pub mod config;
pub mod detect;
pub mod domain;
pub mod http;
pub mod logging;
pub mod mcp;
pub mod notify;
pub mod service;
pub mod store;
pub mod ui;

pub use service::{Caller, IncidentService, ServiceError};
