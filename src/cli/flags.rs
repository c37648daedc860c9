//! Flags shared by several commands: the detect flags (`detect`, `watch`, `replay`, and their
//! REST forms) merged with an inputs file, and the `--name:` prefix of a flag's error.

use super::{failure::Failure, inputs::Inputs};
use crate::{
    config::Config,
    domain::{Depth, DomainError, Env, IncidentType, Threshold},
    service::{DetectRequest, ServiceError},
};

/// Names the flag in a domain error: `--status: ...`.
pub(crate) fn field(name: &str, mut e: DomainError) -> DomainError {
    e.field = name.to_owned();
    e.message = format!("--{name}: {}", e.message);
    e
}

/// An `--env` flag that must name a configured environment (as `detect` requires).
pub(crate) fn configured_env(cfg: &Config, raw: &str) -> Result<Env, Failure> {
    let env = Env::parse(raw)?;
    match cfg.env(&env) {
        Some(_) => Ok(env),
        None => Err(ServiceError::UnknownEnv {
            env: env.to_string(),
            known: cfg.env_names().join(", "),
        }
        .into()),
    }
}

/// The flags of `detect`, `watch` and `replay`; an inputs file fills what they leave out.
#[derive(Default)]
pub(crate) struct DetectFlags<'a> {
    pub env: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub threshold: Option<f64>,
    pub source: Option<String>,
    pub analyze_depth: Option<i64>,
}

/// The detect request built from flags and inputs; the environment is resolved (default
/// environment) and must be configured.
pub(crate) fn detect_request(
    cfg: &Config,
    f: DetectFlags<'_>,
    inputs: Option<&Inputs>,
) -> Result<DetectRequest, Failure> {
    let mut req = detect_request_as_given(f, inputs)?;
    let env = cfg.resolve_env(req.env.as_ref())?;
    req.env = Some(configured_env(cfg, env.as_str())?);
    Ok(req)
}

/// The detect request as flags and inputs give it (no environment: the server's default).
pub(crate) fn detect_request_as_given(f: DetectFlags<'_>, inputs: Option<&Inputs>) -> Result<DetectRequest, Failure> {
    let i = inputs.cloned().unwrap_or_default();
    let env = match f.env.map(str::to_owned).or(i.env) {
        Some(e) => Some(Env::parse(&e)?),
        None => None,
    };
    let types = i
        .types
        .iter()
        .map(|t| t.parse::<IncidentType>().map_err(|e| field("types", e)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DetectRequest {
        env,
        kind: f
            .kind
            .map(str::to_owned)
            .or(i.kind)
            .as_deref()
            .map(str::parse::<IncidentType>)
            .transpose()
            .map_err(|e| field("type", e))?,
        types,
        threshold: f.threshold.or(i.threshold).map(Threshold::new).transpose()?,
        source: f.source.or(i.source),
        analyze_depth: f
            .analyze_depth
            .or(i.analyze_depth)
            .map(Depth::new)
            .transpose()
            .map_err(|e| field("analyze-depth", e))?,
    })
}
