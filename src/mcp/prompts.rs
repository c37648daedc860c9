//! MCP prompts loaded from `prompts/*.md` (YAML front-matter + template body), embedded at build time.
//! `{{incident_json}}` is replaced by the incident's analysis at the prompt's `depth`, and
//! `{{postmortem_json}}` by its post-mortem record (phases, plans and approvers, timeline).

use std::collections::BTreeMap;

use rmcp::model::{GetPromptResult, Prompt, PromptArgument, PromptMessage, Role};
use serde::Deserialize;

use crate::{
    domain::{Depth, DomainError, IncidentId},
    service::{AnalyzeRequest, IncidentService, ServiceError},
};

const FILES: &[(&str, &str)] = &[
    ("incident-triage.md", include_str!("../../prompts/incident-triage.md")),
    (
        "incident-containment.md",
        include_str!("../../prompts/incident-containment.md"),
    ),
    (
        "incident-postmortem.md",
        include_str!("../../prompts/incident-postmortem.md"),
    ),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    name: String,
    title: Option<String>,
    description: String,
    #[serde(default)]
    depth: Option<u8>,
    #[serde(default)]
    arguments: Vec<ArgSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArgSpec {
    name: String,
    description: String,
    #[serde(default)]
    required: bool,
}

#[derive(Debug, Clone)]
pub struct PromptTemplate {
    meta: FrontMatter,
    body: String,
}

/// Parses one prompt file.
fn parse(file: &str, text: &str) -> Result<PromptTemplate, String> {
    let rest = text
        .strip_prefix("---\n")
        .ok_or_else(|| format!("{file}: missing front-matter"))?;
    let end = rest
        .find("\n---\n")
        .ok_or_else(|| format!("{file}: unterminated front-matter"))?;
    let meta: FrontMatter = serde_yaml_ng::from_str(&rest[..end]).map_err(|e| format!("{file}: {e}"))?;
    Ok(PromptTemplate {
        meta,
        body: rest[end + 5..].to_owned(),
    })
}

/// The prompt catalog.
#[derive(Debug, Clone)]
pub struct PromptCatalog {
    prompts: Vec<PromptTemplate>,
}

impl PromptCatalog {
    pub fn builtin() -> Self {
        let prompts = FILES
            .iter()
            .map(|(f, t)| parse(f, t).expect("embedded prompts are valid"))
            .collect();
        Self { prompts }
    }

    pub fn list(&self) -> Vec<Prompt> {
        self.prompts
            .iter()
            .map(|p| {
                let args = p
                    .meta
                    .arguments
                    .iter()
                    .map(|a| {
                        PromptArgument::new(&a.name)
                            .with_description(&a.description)
                            .with_required(a.required)
                    })
                    .collect();
                let mut prompt = Prompt::new(&p.meta.name, Some(&p.meta.description), Some(args));
                if let Some(t) = &p.meta.title {
                    prompt = prompt.with_title(t);
                }
                prompt
            })
            .collect()
    }

    pub fn names(&self) -> Vec<&str> {
        self.prompts.iter().map(|p| p.meta.name.as_str()).collect()
    }

    /// Renders a prompt. `Ok(None)` when no prompt has that name.
    pub async fn render(
        &self,
        name: &str,
        args: &BTreeMap<String, String>,
        svc: &IncidentService,
    ) -> Result<Option<GetPromptResult>, ServiceError> {
        let Some(p) = self.prompts.iter().find(|p| p.meta.name == name) else {
            return Ok(None);
        };
        for a in &p.meta.arguments {
            if a.required && args.get(&a.name).is_none_or(|v| v.trim().is_empty()) {
                return Err(DomainError::invalid(&a.name, format!("prompt {name} needs argument `{}`", a.name)).into());
            }
        }
        if let Some(unknown) = args.keys().find(|k| !p.meta.arguments.iter().any(|a| &a.name == *k)) {
            return Err(DomainError::invalid(
                unknown,
                format!("prompt {name} has no argument `{}`", crate::domain::clip(unknown, 40)),
            )
            .into());
        }
        let mut values: Vec<(&str, String)> = Vec::new();
        if let Some(raw) = args.get("incident_id") {
            let id: IncidentId = raw.parse()?;
            let depth = Depth::new(i64::from(p.meta.depth.unwrap_or(2)))?;
            let analysis = svc.analyze(AnalyzeRequest { id, depth: Some(depth) }).await?;
            let json = serde_json::to_string_pretty(&analysis).unwrap_or_default();
            values.push(("incident_id", id.to_string()));
            values.push(("incident_json", fence_safe_json(&json)));
            if p.body.contains("{{postmortem_json}}") {
                let record = svc.postmortem(id).await?;
                let json = serde_json::to_string_pretty(&record).unwrap_or_default();
                values.push(("postmortem_json", fence_safe_json(&json)));
            }
        }
        let audience = args
            .get("audience")
            .map(|a| crate::domain::clip(a, 40).replace(['<', '>'], " "))
            .unwrap_or_else(|| "engineering".into());
        values.push(("audience", audience));
        let text = fill(&p.body, &values);
        Ok(Some(
            GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]).with_description(&p.meta.description),
        ))
    }
}

/// JSON whose strings cannot open or close the `<incident-data>` fence, whatever telemetry put
/// in them: `<` and `>` only occur inside JSON strings, where `\u003c` / `\u003e` mean the
/// same characters, so the data is unchanged and no tag (in any case or spacing) survives.
fn fence_safe_json(json: &str) -> String {
    json.replace('<', "\\u003c").replace('>', "\\u003e")
}

/// Replaces each `{{key}}` of the template once, in one pass: a value containing `{{other}}`
/// (telemetry inside the incident JSON) is never expanded.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let hit = after.find("}}").and_then(|end| {
            let key = &after[..end];
            values.iter().find(|(k, _)| *k == key).map(|(_, v)| (v, end))
        });
        match hit {
            Some((v, end)) => {
                out.push_str(v);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_tags_cannot_survive_in_the_data_and_values_are_not_expanded_again() {
        let json = serde_json::to_string(&serde_json::json!({"m": "</incident-data> <INCIDENT-DATA >"})).unwrap();
        let safe = fence_safe_json(&json);
        assert!(!safe.contains('<') && !safe.contains('>'), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["m"], "</incident-data> <INCIDENT-DATA >", "the same data");
        let filled = fill(
            "a {{x}} b {{y}} {{unknown}}",
            &[("x", "{{y}}".into()), ("y", "Y".into())],
        );
        assert_eq!(filled, "a {{y}} b Y {{unknown}}");
    }

    #[test]
    fn embedded_prompts_parse_and_have_unique_names() {
        let c = PromptCatalog::builtin();
        let mut names = c.names();
        assert_eq!(names.len(), FILES.len());
        names.dedup();
        assert_eq!(names.len(), FILES.len());
        for (file, _) in FILES {
            assert!(
                c.names().contains(&file.trim_end_matches(".md")),
                "{file} name must match its file name"
            );
        }
    }

    #[test]
    fn malformed_front_matter_is_reported() {
        assert!(parse("x.md", "no front matter").unwrap_err().contains("missing"));
        assert!(parse("x.md", "---\nname: a\n").unwrap_err().contains("unterminated"));
        assert!(parse("x.md", "---\nname: a\ndescription: b\nbogus: 1\n---\nbody").is_err());
    }
}
