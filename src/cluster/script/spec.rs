//! `[[scripts]]` entries: validated when the config loads (absolute path, pinned sha256,
//! argument schema with compiled, anchored regexes, unknown keys rejected), the argument
//! checks and the file hash the backend runs before planning and before every `exec`.

use std::{
    collections::BTreeMap,
    os::unix::fs::PermissionsExt,
    path::{Component, Path, PathBuf},
    time::Duration,
};

use regex::Regex;
use serde::Deserialize;

use crate::cluster::BackendError;
use crate::domain::{k8s_names::is_dns1123_label, safe_component, sha256_hex};

const MAX_ARG_LEN: usize = 4096;

/// `[[scripts]]` as written in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    id: String,
    path: PathBuf,
    sha256: String,
    #[serde(default)]
    args: Vec<RawArg>,
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
    #[serde(default = "default_max_output")]
    max_output_bytes: usize,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    working_dir: Option<PathBuf>,
    #[serde(default)]
    inverse: Option<ScriptInverse>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArg {
    name: String,
    pattern: String,
    #[serde(default)]
    required: bool,
    #[serde(default = "default_max_len")]
    max_len: usize,
}

fn default_timeout() -> u64 {
    30
}
fn default_max_output() -> usize {
    65536
}
fn default_max_len() -> usize {
    253
}

/// The script that undoes a script: its id, and for each of its arguments the argument of
/// the forward script whose value it takes (`args = { container = "container" }`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptInverse {
    pub script: String,
    #[serde(default)]
    pub args: BTreeMap<String, String>,
}

/// One argument of a script's schema. Arguments are positional in declared order; an absent
/// optional argument is passed as an empty string so positions never shift.
#[derive(Debug, Clone)]
pub struct ScriptArg {
    pub name: String,
    /// The configured pattern, matched against the whole value (`\A(?:pattern)\z`).
    pub pattern: Regex,
    pub required: bool,
    pub max_len: usize,
}

/// A validated `[[scripts]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawScript")]
pub struct ScriptConfig {
    pub id: String,
    pub path: PathBuf,
    pub sha256: String,
    pub args: Vec<ScriptArg>,
    pub timeout: Duration,
    pub max_output_bytes: usize,
    pub env: BTreeMap<String, String>,
    pub working_dir: PathBuf,
    pub inverse: Option<ScriptInverse>,
}

fn is_clean_absolute(p: &Path) -> bool {
    p.is_absolute()
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
}

impl TryFrom<RawScript> for ScriptConfig {
    type Error = String;

    fn try_from(r: RawScript) -> Result<Self, String> {
        let at = format!("scripts.{}", safe_component(&r.id));
        if !is_dns1123_label(&r.id) {
            return Err(format!("{at}: id must be a DNS-1123 label"));
        }
        if !is_clean_absolute(&r.path) || r.working_dir.as_deref().is_some_and(|d| !is_clean_absolute(d)) {
            return Err(format!(
                "{at}: path and working_dir must be absolute, without `.` or `..`"
            ));
        }
        if r.sha256.len() != 64 || !r.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{at}: sha256 must be 64 hex digits"));
        }
        if r.timeout_secs == 0 || r.timeout_secs > 3600 || r.max_output_bytes == 0 {
            return Err(format!(
                "{at}: timeout_secs must be in 1..=3600 and max_output_bytes above 0"
            ));
        }
        let env_key = |k: &str| {
            k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if let Some((k, _)) = r
            .env
            .iter()
            .find(|(k, v)| !env_key(k) || v.chars().any(char::is_control))
        {
            return Err(format!(
                "{at}.env.{}: names are [A-Za-z_][A-Za-z0-9_]*, values without control characters",
                safe_component(k)
            ));
        }
        let mut args: Vec<ScriptArg> = Vec::new();
        for a in r.args {
            if !is_dns1123_label(&a.name) || args.iter().any(|b| b.name == a.name) {
                return Err(format!("{at}.args: `{}` must be a unique DNS-1123 label", a.name));
            }
            if a.max_len == 0 || a.max_len > MAX_ARG_LEN {
                return Err(format!("{at}.args.{}: max_len must be in 1..={MAX_ARG_LEN}", a.name));
            }
            let pattern = regex::RegexBuilder::new(&format!(r"\A(?:{})\z", a.pattern))
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("{at}.args.{}: invalid regex: {e}", a.name))?;
            args.push(ScriptArg {
                name: a.name,
                pattern,
                required: a.required,
                max_len: a.max_len,
            });
        }
        if let Some(inv) = &r.inverse
            && let Some(from) = inv.args.values().find(|v| !args.iter().any(|a| &a.name == *v))
        {
            return Err(format!("{at}.inverse.args: `{from}` is not an argument of {}", r.id));
        }
        Ok(Self {
            id: r.id,
            path: r.path,
            sha256: r.sha256.to_ascii_lowercase(),
            args,
            timeout: Duration::from_secs(r.timeout_secs),
            max_output_bytes: r.max_output_bytes,
            env: r.env,
            working_dir: r.working_dir.unwrap_or_else(|| PathBuf::from("/")),
            inverse: r.inverse,
        })
    }
}

/// Checks the `[[scripts]]` list as a whole: unique ids, inverses that name a configured
/// script and give it every required argument.
pub fn validate_scripts(scripts: &[ScriptConfig]) -> Result<(), String> {
    for (i, s) in scripts.iter().enumerate() {
        if scripts[..i].iter().any(|o| o.id == s.id) {
            return Err(format!("scripts.{}: duplicate id", s.id));
        }
        let Some(inv) = &s.inverse else { continue };
        let Some(target) = scripts.iter().find(|o| o.id == inv.script) else {
            return Err(format!("scripts.{}.inverse: no script with id `{}`", s.id, inv.script));
        };
        let unknown = inv.args.keys().find(|k| !target.args.iter().any(|a| &a.name == *k));
        let missing = target
            .args
            .iter()
            .find(|a| a.required && !inv.args.contains_key(&a.name));
        if let Some(name) = unknown.or(missing.map(|a| &a.name)) {
            return Err(format!(
                "scripts.{}.inverse.args: `{name}` must be an argument of {}, and every required one is mapped",
                s.id, target.id
            ));
        }
    }
    Ok(())
}

/// Checks one argument value against its schema; the error names the argument. Control
/// characters (newline, NUL, ...), a leading `-` and over-long values are refused whatever
/// the pattern says.
pub fn check_arg(script: &str, arg: &ScriptArg, value: &str) -> Result<(), BackendError> {
    let bad = |why: &str| BackendError::Invalid(format!("argument {} of script {script} {why}", arg.name));
    if value.chars().any(char::is_control) {
        return Err(bad("contains a control character (newline, NUL, ...)"));
    }
    if value.len() > arg.max_len {
        return Err(bad(&format!("is longer than {} bytes", arg.max_len)));
    }
    if value.starts_with('-') {
        return Err(bad("starts with `-`, which a program would take for an option"));
    }
    if !arg.pattern.is_match(value) {
        let shown = arg.pattern.as_str();
        return Err(bad(&format!(
            "does not match its pattern {}",
            &shown[5..shown.len() - 3]
        )));
    }
    Ok(())
}

impl ScriptConfig {
    /// The argv for named values: declared order, absent optional arguments as `""`.
    pub fn argv(&self, values: &BTreeMap<String, String>) -> Result<Vec<String>, BackendError> {
        if let Some(name) = values.keys().find(|k| !self.args.iter().any(|a| &a.name == *k)) {
            let shown = safe_component(name);
            return Err(BackendError::Invalid(format!(
                "script {} has no argument {shown}",
                self.id
            )));
        }
        let mut argv = Vec::with_capacity(self.args.len());
        for a in &self.args {
            match values.get(&a.name) {
                Some(v) => check_arg(&self.id, a, v)?,
                None if a.required => {
                    let m = format!(
                        "argument {} of script {} is required (param arg.{})",
                        a.name, self.id, a.name
                    );
                    return Err(BackendError::Invalid(m));
                }
                None => {}
            }
            argv.push(values.get(&a.name).cloned().unwrap_or_default());
        }
        Ok(argv)
    }

    /// Refuses a file that is not a regular file or that is, or whose directory is,
    /// group/world-writable; then hashes it.
    pub(super) async fn current_hash(&self) -> Result<String, BackendError> {
        let shown = self.path.display();
        let meta = tokio::fs::metadata(&self.path)
            .await
            .map_err(|e| BackendError::NotFound {
                what: format!("script file {shown} ({})", e.kind()),
            })?;
        if !meta.is_file() {
            return Err(BackendError::Refused(format!(
                "script file {shown} is not a regular file"
            )));
        }
        if meta.permissions().mode() & 0o022 != 0 {
            return Err(BackendError::Refused(format!(
                "script file {shown} is group- or world-writable; it must be writable by root only"
            )));
        }
        // A writable directory lets anyone swap the file between the hash and `exec`.
        let dir = self.path.parent().unwrap_or(Path::new("/"));
        let dir_mode = tokio::fs::metadata(dir).await.map(|m| m.permissions().mode());
        if dir_mode.is_ok_and(|m| m & 0o022 != 0) {
            return Err(BackendError::Refused(format!(
                "the directory of script file {shown} is group- or world-writable; it must be writable by root only"
            )));
        }
        let bytes = tokio::fs::read(&self.path)
            .await
            .map_err(|e| BackendError::Unavailable(format!("cannot read script file {shown}: {}", e.kind())))?;
        Ok(sha256_hex(&bytes))
    }

    /// Hashes the file and refuses it unless it equals `pinned`.
    pub(super) async fn check_hash(&self, pinned: &str) -> Result<(), BackendError> {
        let now = self.current_hash().await?;
        if now != pinned || pinned != self.sha256 {
            return Err(BackendError::Changed {
                what: format!("script {}", self.id),
                detail: format!("sha256 of {} is {now}, pinned {pinned}", self.path.display()),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_values_and_hard_rules_apply_whatever_the_pattern() {
        let arg = |name: &str, pattern: &str| RawArg {
            name: name.into(),
            pattern: pattern.into(),
            required: true,
            max_len: 8,
        };
        let raw = |args| RawScript {
            id: "s".into(),
            path: "/opt/s.sh".into(),
            sha256: "A".repeat(64),
            args,
            timeout_secs: 30,
            max_output_bytes: 10,
            env: BTreeMap::new(),
            working_dir: None,
            inverse: None,
        };
        let s = ScriptConfig::try_from(raw(vec![arg("a", "web"), arg("b", ".*")])).unwrap();
        assert_eq!(s.sha256, "a".repeat(64), "pins are compared in lowercase");
        assert!(check_arg("s", &s.args[0], "web").is_ok());
        for v in ["xweb", "webx", "web\n"] {
            assert!(
                check_arg("s", &s.args[0], v).is_err(),
                "{v:?}: an unanchored pattern is anchored"
            );
        }
        for v in ["a\nb", "\0", "\r", "\u{7f}", "-x", "123456789"] {
            let e = check_arg("s", &s.args[1], v).unwrap_err().to_string();
            assert!(e.starts_with("argument b of script s "), "{v:?}: {e}");
        }
        let values = BTreeMap::from([("a".to_owned(), "web".to_owned())]);
        assert!(s.argv(&values).is_err(), "both are required");
    }

    #[test]
    fn scripts_are_validated_when_the_config_loads() {
        let ok = format!("id = 'r'\npath = '/opt/s.sh'\nsha256 = '{}'\n", "a".repeat(64));
        let cases: Vec<(String, &str)> = vec![
            (ok.replace("/opt/s.sh", "s.sh"), "must be absolute"),
            (ok.replace("/opt/s.sh", "/opt/../bin/sh"), "must be absolute"),
            (ok.replace(&"a".repeat(64), "abc"), "64 hex digits"),
            (ok.replace(&"a".repeat(64), &"g".repeat(64)), "64 hex digits"),
            (format!("{ok}args = [{{ name = 'c', pattern = '(' }}]"), "invalid regex"),
            (
                format!("{ok}args = [{{ name = 'c', pattern = 'x', max_length = 3 }}]"),
                "max_length",
            ),
            (format!("{ok}shell = true"), "shell"),
            (format!("{ok}env = {{ 'A B' = 'x' }}"), "env"),
            (format!("{ok}timeout_secs = 0"), "timeout_secs"),
            (
                format!("{ok}inverse = {{ script = 'nope' }}"),
                "no script with id `nope`",
            ),
            (
                format!("{ok}inverse = {{ script = 'r', args = {{ c = 'missing' }} }}"),
                "`missing` is not an argument",
            ),
            (ok.replace("'r'", "'Bad_Id'"), "DNS-1123"),
            (format!("{ok}\n[[scripts]]\n{ok}"), "duplicate id"),
        ];
        for (body, why) in cases {
            let err = crate::config::Config::parse_str(&format!("[[scripts]]\n{body}\n"), "toml", "t")
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{body}\n=> {err}");
        }
        let cfg = crate::config::Config::parse_str(&format!("[[scripts]]\n{ok}"), "toml", "t").unwrap();
        let s = &cfg.scripts[0];
        assert_eq!(
            (s.timeout, s.max_output_bytes, s.working_dir.as_path()),
            (Duration::from_secs(30), 65536, Path::new("/"))
        );
    }
}
