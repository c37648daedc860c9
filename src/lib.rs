//! incident-mcp: an MCP server (plus CLI and REST API) for the incident-response
//! lifecycle. See ARCHITECTURE.md for the module map and invariants.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod cluster;
pub mod config;
/// MCP conformance-suite fixtures (feature `conformance`, test builds only).
#[cfg(feature = "conformance")]
mod conformance;
pub mod detect;
pub mod domain;
pub mod http;
pub mod leader;
pub mod logging;
pub mod mcp;
pub mod metrics;
pub mod notify;
pub mod oauth;
pub mod service;
pub mod store;
pub mod ui;

pub use service::{Caller, IncidentService, ServiceError};
