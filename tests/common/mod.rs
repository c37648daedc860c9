//! Shared test harness: a temp SQLite store, the service, and MCP clients over
//! `tokio::io::duplex` and over real HTTP on 127.0.0.1:0.
#![allow(dead_code)]

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use incident_mcp::{
    IncidentService,
    config::Config,
    mcp::{IncidentServer, ToolPolicy},
    store::SqliteStore,
};
use rmcp::{
    ClientHandler, ClientLifecycleMode, RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult, ClientConfig, JsonObject, ProtocolVersion},
    service::{ClientServiceExt, RunningService},
    transport::{StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig},
};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::canary_value;
#[allow(unused_imports)] // each test binary uses a subset
pub use canary_value::{canary, secret};

/// Sends this test process's own logs (the in-process server's included) to the suite's log file
/// when `INCIDENT_MCP_LOG_FILE` names one, at its filter: the canary scan reads them too.
pub fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let file = incident_mcp::logging::file_from_env();
        let targets = incident_mcp::logging::LogTargets {
            stderr_default: None,
            file: file.as_deref(),
        };
        incident_mcp::logging::init(&targets).expect("open the suite log file");
    });
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub store: Arc<SqliteStore>,
    pub svc: IncidentService,
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_config(Config::builtin()).await
    }

    pub async fn with_config(cfg: Config) -> Self {
        init_logs();
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("incidents.db");
        let store = Arc::new(SqliteStore::open(&db).await.expect("open store"));
        // Wired like the process (notifier, clock), without the config's backends: tests pick
        // theirs (`with_backends`, `config_backends`).
        let svc = incident_mcp::app::assemble(store.clone(), cfg, incident_mcp::app::Environment::process())
            .expect("wire the service")
            .with_backends(incident_mcp::service::Backends::default());
        Self { dir, db, store, svc }
    }

    /// The backends the harness's config describes (`Backends::from_config` over its store).
    pub fn config_backends(&self) -> incident_mcp::service::Backends {
        let store: Arc<dyn incident_mcp::store::Store> = self.store.clone();
        incident_mcp::service::Backends::from_config(self.svc.config(), &store)
    }

    /// An MCP client connected in-process over `tokio::io::duplex`.
    pub async fn duplex_client<C: ClientHandler>(
        &self,
        policy: ToolPolicy,
        proto: Proto,
        client: C,
    ) -> RunningService<RoleClient, C> {
        let (server_io, client_io) = tokio::io::duplex(1 << 20);
        let server = IncidentServer::new(self.svc.clone(), policy);
        tokio::spawn(async move {
            if let Ok(running) = server.serve(server_io).await {
                let _ = running.waiting().await;
            }
        });
        client
            .serve_with_lifecycle(client_io, proto.lifecycle())
            .await
            .expect("client connects over duplex")
    }

    /// Serves the whole HTTP app on 127.0.0.1:0; the server stops when the guard drops.
    pub async fn http_server(&self, policy: ToolPolicy) -> HttpServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let ct = CancellationToken::new();
        let app = incident_mcp::http::app(self.svc.clone(), policy, ct.child_token());
        let stop = ct.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        });
        HttpServer { addr, ct }
    }
}

/// The whole HTTP app on 127.0.0.1:0 over the built-in config with bearer key `key`, changed
/// by `tweak` first.
pub async fn keyed_app(key: &str, tweak: impl FnOnce(&mut Config)) -> (Harness, HttpServer) {
    let mut cfg = Config::builtin();
    cfg.api_key = Some(secrecy::SecretString::from(key));
    tweak(&mut cfg);
    let harness = Harness::with_config(cfg).await;
    let server = harness.http_server(ToolPolicy::default()).await;
    (harness, server)
}

pub struct HttpServer {
    pub addr: SocketAddr,
    ct: CancellationToken,
}

impl HttpServer {
    /// `http://127.0.0.1:PORT`, the base of the REST routes.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn mcp_url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    pub async fn client<C: ClientHandler>(
        &self,
        key: Option<&str>,
        proto: Proto,
        client: C,
    ) -> RunningService<RoleClient, C> {
        let mut cfg = StreamableHttpClientTransportConfig::with_uri(self.mcp_url());
        if let Some(k) = key {
            cfg = cfg.auth_header(k);
        }
        client
            .serve_with_lifecycle(StreamableHttpClientTransport::from_config(cfg), proto.lifecycle())
            .await
            .expect("client connects over HTTP")
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.ct.cancel();
    }
}

/// Which protocol revision a test client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// 2025-11-25: `initialize` handshake, sessions over HTTP, `resources/subscribe`.
    Legacy,
    /// 2026-07-28: `server/discover`, stateless, per-request metadata, `subscriptions/listen`.
    Modern,
}

impl Proto {
    fn lifecycle(self) -> ClientLifecycleMode {
        match self {
            Proto::Legacy => ClientLifecycleMode::Initialize,
            Proto::Modern => ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        }
    }
}

/// Client info for a 2025-11-25 client.
pub fn legacy_client() -> ClientConfig {
    ClientConfig::default().with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
}

/// Client info for a 2026-07-28 client.
pub fn modern_client() -> ClientConfig {
    ClientConfig::default()
}

pub fn args(v: Value) -> JsonObject {
    v.as_object().cloned().expect("arguments must be a JSON object")
}

pub async fn call<C: ClientHandler>(
    client: &RunningService<RoleClient, C>,
    tool: &str,
    arguments: Value,
) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args(arguments)))
        .await
        .unwrap_or_else(|e| panic!("{tool} failed at the protocol level: {e}"))
}

/// The structured content of a successful tool result.
pub fn ok(result: &CallToolResult) -> Value {
    assert_ne!(
        result.is_error,
        Some(true),
        "tool returned an error: {:?}",
        result.content
    );
    result.structured_content.clone().expect("structured content")
}

/// The text of an error tool result.
pub fn err_text(result: &CallToolResult) -> String {
    assert_eq!(
        result.is_error,
        Some(true),
        "expected a tool error, got {:?}",
        result.structured_content
    );
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Path to the built binary (for black-box tests).
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_incident-mcp"))
}

/// Runs `cmd` with stdin on a real pseudo-terminal, as a human at a terminal runs it, and types
/// `typed` and Enter there; stdout and stderr stay pipes. Returns (exit code, stdout, stderr).
pub fn at_terminal(mut cmd: std::process::Command, typed: &str) -> (i32, String, String) {
    use std::io::Write;
    let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal");
    let child = cmd
        .stdin(std::process::Stdio::from(pty.slave))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Kept open until the child exited: its terminal must not hang up under it.
    let mut terminal = std::fs::File::from(pty.master);
    writeln!(terminal, "{typed}").expect("type into the terminal");
    let out = child.wait_with_output().expect("wait");
    drop(terminal);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Spawns `cmd`, a `serve --http 127.0.0.1:0` command line (stdin and stdout are nulled, stderr
/// is read here), and returns the child and its MCP URL once the server announced its bound
/// address. Every stderr line, before and after that, goes to `on_line`; reading on keeps the
/// server from blocking on a full pipe.
pub fn spawn_http_server(
    mut cmd: std::process::Command,
    mut on_line: impl FnMut(&str) + Send + 'static,
) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .env_remove("OPENCLAW_API_KEY")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
    let mut line = String::new();
    let url = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).expect("read server stderr") > 0,
            "server exited before listening"
        );
        on_line(&line);
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break format!("http://{}/mcp", rest.split_whitespace().next().expect("address"));
        }
    };
    std::thread::spawn(move || {
        for l in stderr.lines().map_while(Result::ok) {
            on_line(&(l + "\n"));
        }
    });
    (child, url)
}
