//! Inputs files and the `hook` shorthand, as the OpenClaw manifest writes them.
//!
//! `--config FILE` names the server configuration, or an *inputs file*: a JSON, YAML or TOML
//! object whose top-level keys are all inputs (`env`, `type`, `types`, `threshold`, `source`,
//! `analyze_depth`, `hooks`). The two sets of keys are disjoint, so the keys decide; a file
//! mixing them is refused. With an inputs file the server configuration comes from
//! `INCIDENT_MCP_CONFIG` (when it names another file) or is the built-in one. Flags given on the
//! command line win over the file's values. `detect`, `watch` and `replay` read `env`, `type`,
//! `types`, `threshold` (and detect `source`, `analyze_depth`); `hook` reads `hooks`.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::failure::Failure;
use crate::{service::IncidentService, store::RegisteredHook};

/// The keys of an inputs file.
pub const INPUT_KEYS: &[&str] = &["env", "type", "types", "threshold", "source", "analyze_depth", "hooks"];

/// Values for flags, read from a file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    pub env: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub types: Vec<String>,
    pub threshold: Option<f64>,
    pub source: Option<String>,
    pub analyze_depth: Option<i64>,
    #[serde(default)]
    pub hooks: Vec<HookInput>,
}

/// One webhook of a hooks file: `hooks: [{url, events}]` (name and secret variable optional).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookInput {
    pub url: String,
    pub events: Vec<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub secret_env: Option<String>,
}

fn parse_value(path: &Path, text: &str) -> Result<Value, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("toml")
        .to_ascii_lowercase();
    match ext.as_str() {
        "json" => serde_json::from_str(text).map_err(|e| e.to_string()),
        "yaml" | "yml" => serde_yaml_ng::from_str(text).map_err(|e| e.to_string()),
        _ => toml::from_str(text).map_err(|e| e.to_string()),
    }
}

/// `Some(inputs)` when `path` is an inputs file, `None` when it is a server configuration (or
/// unreadable: loading it as one reports that). A file mixing both kinds of keys is an error.
pub fn inputs_file(path: &Path) -> Result<Option<Inputs>, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    let Ok(Value::Object(map)) = parse_value(path, &text) else {
        return Ok(None);
    };
    let (inputs, other): (Vec<&String>, Vec<&String>) = map.keys().partition(|k| INPUT_KEYS.contains(&k.as_str()));
    if inputs.is_empty() {
        return Ok(None);
    }
    let shown = path.display();
    if !other.is_empty() {
        let list = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        return Err(format!(
            "--config {shown}: mixes inputs ({}) with configuration keys ({}); keep them in two files",
            list(&inputs),
            list(&other)
        ));
    }
    serde_json::from_value(Value::Object(map))
        .map(Some)
        .map_err(|e| format!("--config {shown}: invalid inputs file: {e}"))
}

/// A webhook name from a URL's host: `https://your-k8s-webhook.com/x` → `your-k8s-webhook-com`.
pub fn hook_name_from_url(url: &str) -> Option<String> {
    let host = reqwest::Url::parse(url).ok()?.host_str()?.to_ascii_lowercase();
    let mut name = String::new();
    for c in host.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    let name: String = name.trim_end_matches('-').chars().take(64).collect();
    (!name.is_empty()).then_some(name)
}

/// A registered hook as the CLI prints it (the URL's origin only, like `GET /api/hooks`).
#[derive(Debug, Serialize, Deserialize)]
pub struct HookShown {
    pub name: String,
    pub origin: String,
    /// Environment variable holding the signing secret (the name, never the value).
    pub secret_env: String,
    pub events: Vec<String>,
    /// Who registered it: `cli` (a human at the server's shell) or `rest` (the agent's key).
    #[serde(default)]
    pub added_by: Option<String>,
}

/// Hooks as the CLI prints them, like `GET /api/hooks`.
#[derive(Debug, Serialize, Deserialize)]
pub struct HookListShown {
    pub hooks: Vec<HookShown>,
    pub count: usize,
}

impl From<Vec<HookShown>> for HookListShown {
    fn from(hooks: Vec<HookShown>) -> Self {
        Self {
            count: hooks.len(),
            hooks,
        }
    }
}

impl From<RegisteredHook> for HookShown {
    fn from(h: RegisteredHook) -> Self {
        let origin = reqwest::Url::parse(&h.url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        Self {
            name: h.name,
            origin,
            secret_env: h.secret_env,
            events: h.events,
            added_by: h.added_by,
        }
    }
}

/// The hook a `hook --url` shorthand or a hooks file entry registers. Every hook is signed:
/// without a secret variable it gets the same default as `POST /api/hooks`.
pub fn hook_from(input: &HookInput, default_secret_env: &str) -> Result<RegisteredHook, String> {
    let name = match &input.name {
        Some(n) => n.clone(),
        None => hook_name_from_url(&input.url)
            .ok_or_else(|| format!("--url {}: not a URL with a host", crate::domain::clip(&input.url, 80)))?,
    };
    Ok(RegisteredHook {
        name,
        url: input.url.clone(),
        secret_env: input
            .secret_env
            .clone()
            .unwrap_or_else(|| default_secret_env.to_owned()),
        events: input.events.clone(),
        added_by: None,
    })
}

/// Registers hooks (a shorthand or a hooks file); warns on stderr when the signing secret's
/// variable is not set in this process (deliveries fail until the sender has it).
pub async fn register(svc: &IncidentService, hooks: &[HookInput]) -> Result<Vec<HookShown>, Failure> {
    let mut out = Vec::new();
    for h in hooks {
        let hook = hook_from(h, &svc.config().notify.default_hook_secret_env())
            .map_err(|m| Failure::from(crate::domain::DomainError::invalid("url", m)))?;
        let var = hook.secret_env.clone();
        let saved = svc.register_hook(hook, crate::service::Caller::CLI).await?;
        if std::env::var_os(&var).is_none_or(|v| v.is_empty()) {
            eprintln!(
                "warning: webhook {} is signed with the secret in {var}, which is not set here; \
                 deliveries fail until the process sending them has it",
                saved.name
            );
        }
        out.push(saved.into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_host() {
        assert_eq!(
            hook_name_from_url("https://your-k8s-webhook.com").as_deref(),
            Some("your-k8s-webhook-com")
        );
        assert_eq!(
            hook_name_from_url("https://PagerDuty.com/x?y").as_deref(),
            Some("pagerduty-com")
        );
        assert_eq!(
            hook_name_from_url("https://127.0.0.1:8443/h").as_deref(),
            Some("127-0-0-1")
        );
        assert_eq!(hook_name_from_url("not a url"), None);
    }

    #[test]
    fn inputs_files_are_told_apart_by_their_keys() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let p = write("c.json", r#"{"env": "staging", "types": ["app-vuln", "network"]}"#);
        let i = inputs_file(&p).unwrap().unwrap();
        assert_eq!((i.env.as_deref(), i.types.len()), (Some("staging"), 2));
        let p = write(
            "h.yaml",
            "hooks:\n  - url: https://pagerduty.com\n    events: [detect, analyze]\n",
        );
        assert_eq!(inputs_file(&p).unwrap().unwrap().hooks[0].events, ["detect", "analyze"]);
        let p = write("s.toml", "[environments.x]\n");
        assert!(inputs_file(&p).unwrap().is_none());
        let p = write("m.json", r#"{"env": "x", "environments": {}}"#);
        assert!(inputs_file(&p).unwrap_err().contains("mixes inputs (env)"));
        let p = write("u.json", r#"{"env": "x", "thresold": 1}"#);
        assert!(inputs_file(&p).unwrap_err().contains("mixes"));
        let p = write("t.json", r#"{"env": 5}"#);
        assert!(inputs_file(&p).unwrap_err().contains("invalid inputs file"));
    }
}
