//! The integration suite, compiled as one test binary.
//!
//! Each file beside this one is a module of it, named after the file (`respond_e2e`,
//! `notify_vendors`...), so nextest names a test `respond_e2e::contain_then_recover`. One
//! binary instead of one per file: the suite links once (each test binary carries the whole
//! dependency tree: kube, rustls, sqlx), which keeps a fresh CI build's disk use and link
//! time small. nextest still runs every test in its own process.

// Shared support, each file loaded once; the test modules `use crate::...` what they need.
mod common;
mod notify_common;
mod support;
use support::{
    alert_fixtures, canary as canary_value, fake_kube, fake_kube_api as fake, hst_common, kube_fixtures as fixtures,
    kube_respond, kube_server, oidc_provider, pg, procs, recording_backend, respond,
};

mod agent_approval;
mod alert_groups;
mod alertmanager_e2e;
mod alerts_api;
mod analysis;
mod app_wiring;
mod approvals;
mod approve_cli;
mod approvers;
mod audit;
mod canary_scan;
mod cli;
mod cli_surface;
mod containments;
mod contract;
mod crash;
mod dedup;
mod deploy;
mod external_clients;
mod hooks_guard;
mod hst_river;
mod incident_read;
mod kube_backend;
mod kube_context;
mod leader_election;
mod log_sources;
mod manage;
mod manifest;
mod manifest_remote;
mod manifest_with_a_cluster;
mod mcp_conversation;
mod mcp_meta_session;
mod mcp_notifications;
mod metrics;
mod module_cycles;
mod notify_cli;
mod notify_e2e;
mod notify_hooks;
mod notify_hooks_mcp;
mod notify_outbox;
mod notify_outbox_retry;
mod notify_rest;
mod notify_vendors;
mod oauth;
mod oauth_browser;
mod oauth_sign_in;
mod pagination;
mod plans_rest;
mod policy_gate;
mod postgres_source;
mod postmortem_record;
mod progress;
mod prompt_fence;
mod quickstart;
mod refusal_audit;
mod respond_cli;
mod respond_crash;
mod respond_e2e;
mod respond_kube_e2e;
mod respond_kube_verify;
mod respond_ttl;
mod respond_verify_query;
mod rest_api;
mod runbooks_approver;
mod safety_gate;
mod sandbox;
mod sandbox_store;
mod score_cli;
mod script_backend;
mod server_modes;
mod slack_interactions;
mod stdio_approval;
mod store_postgres;
mod tool_schemas;
mod transport_http;
mod transport_stdio;
mod ttl_undo_failure;
mod ui_browser;
mod ui_page;
mod undo_first;
mod vocabulary;
mod watch;
