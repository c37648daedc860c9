//! Block Kit messages about a plan awaiting approval: the `approval` notification (summary plus
//! Approve / Deny / Open page buttons) and the same message once a human decided (summary plus
//! the outcome, no buttons). Pure: no I/O.
//!
//! Everything that may come from telemetry or from the agent (incident title, target names,
//! notes) is escaped for Slack's mrkdwn (`&`, `<`, `>`), so it cannot form links, mentions
//! (`<!channel>`) or formatting of Slack's control sequences.
//!
//! The incident's runbook, dashboard and generator links (`domain::runbook`) are shown where the
//! approver decides: each is checked again (`sanitize_url`: absolute http(s), none of `<>|`)
//! and only then written as a plain Slack link `<url>`; one that fails is shown as code text.
//! The alert's description is untrusted text in a code block.

use serde_json::{Value, json};

use crate::{
    domain::{
        Incident, clip,
        runbook::{LinkKind, LinkSource, Runbooks, sanitize_url},
    },
    store::StoredPlan,
};

/// Longest text of a section block (Slack's limit is 3000 characters).
const SECTION_MAX: usize = 2900;
/// Characters of the approval message's note (a context element; Slack allows 3000).
const NOTE_MAX: usize = 1500;
/// Runbook links shown in a message at most.
const MAX_LINKS: usize = 10;

/// `action_id` of the Approve button; its `value` is the plan id.
pub const APPROVE_ACTION: &str = "approve_plan";
/// `action_id` of the Deny button; its `value` is the plan id.
pub const DENY_ACTION: &str = "deny_plan";
/// `action_id` of the button that sends the presser (an approver) a one-time code for the
/// agent's approval dialog, privately; its `value` is the plan id.
pub const CODE_ACTION: &str = "get_code";
/// `action_id` of the Open page (URL) button: Slack reports its clicks too; they change nothing.
pub const OPEN_PAGE_ACTION: &str = "open_plan_page";

/// `text` cut to `max` characters (line breaks kept), `…` marking a cut.
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Text for inside a code span or block: escaped, with backticks (which would end it) replaced.
fn code_text(text: &str) -> String {
    escape(text).replace('`', "'")
}

/// [`code_text`] of `text`, at most `max` characters once escaped (`…` marking a cut), so that
/// escaping cannot push a block past Slack's limit.
fn code_text_within(text: &str, max: usize) -> String {
    escaped_within(text, max, code_text)
}

/// `escape_with` of `text`, at most `max` characters once escaped (`…` marking a cut): the
/// limit holds for the text Slack receives, and no escape sequence is cut in two.
fn escaped_within(text: &str, max: usize, escape_with: fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut len = 0;
    let mut buf = [0u8; 4];
    for c in text.chars() {
        let piece = escape_with(c.encode_utf8(&mut buf));
        let n = piece.chars().count();
        if len + n > max {
            out.push('…');
            break;
        }
        out.push_str(&piece);
        len += n;
    }
    out
}

/// Escapes the three characters Slack's mrkdwn treats as control characters.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// What a human needs to see about a plan, as plain (unescaped) text.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanFacts {
    pub plan_id: String,
    /// `INC-000001: <title>` when the plan belongs to an incident.
    pub incident: Option<String>,
    pub action: String,
    pub target: String,
    pub env: String,
    pub proposer: String,
    /// The incident's runbooks, dashboards and alert description (data).
    pub runbooks: Runbooks,
}

impl PlanFacts {
    pub fn of(stored: &StoredPlan, incident: Option<&Incident>) -> Self {
        let p = &stored.plan;
        let action = p.action().to_string();
        let target = match p.targets.first() {
            Some(t) => {
                let mut s = format!("{}/{}", t.kind, t.name);
                if let Some(ns) = &t.namespace {
                    s.push_str(&format!(" in namespace {ns}"));
                }
                if p.targets.len() > 1 {
                    s.push_str(&format!(" (+{} more)", p.targets.len() - 1));
                }
                s
            }
            None if p.resource.is_empty() => "(none)".to_owned(),
            None => p.resource.clone(),
        };
        Self {
            plan_id: stored.id.clone(),
            incident: incident.map(|i| format!("{}: {}", i.id, clip(&i.title, 200))),
            action,
            target,
            env: p.env.to_string(),
            proposer: p.principal.clone(),
            runbooks: Runbooks::default(),
        }
    }

    /// These facts with the incident's runbooks.
    pub fn with_runbooks(mut self, runbooks: Runbooks) -> Self {
        self.runbooks = runbooks;
        self
    }

    /// The summary section's mrkdwn, every value escaped.
    fn summary(&self, heading: &str) -> String {
        let value = |v: &str| escape(&clip(v, 300));
        let mut s = format!("*{heading}*");
        if let Some(i) = &self.incident {
            s.push_str(&format!("\n*Incident:* {}", value(i)));
        }
        s.push_str(&format!(
            "\n*Action:* {}\n*Target:* {}\n*Env:* {}\n*Proposed by:* {}\n*Plan:* {}",
            value(&self.action),
            value(&self.target),
            value(&self.env),
            value(&self.proposer),
            value(&self.plan_id)
        ));
        truncate(&s, SECTION_MAX)
    }

    /// The runbooks' blocks: a section of links (each a plain `<url>` once it passes
    /// `sanitize_url` again, else code text) and a section with the alert's description as
    /// code; none when there are no runbooks.
    fn runbook_blocks(&self) -> Vec<Value> {
        let r = &self.runbooks;
        let mut blocks = Vec::new();
        if !r.links.is_empty() {
            let mut text = "*Runbooks and dashboards* (data from the alerts and the configuration: check where a \
                            link points before opening it)"
                .to_owned();
            let mut shown = 0;
            for l in r.links.iter().take(MAX_LINKS) {
                let source = match l.source {
                    LinkSource::Alert => "alert",
                    LinkSource::Config => "config",
                };
                let kind = match l.kind {
                    LinkKind::Runbook => "runbook",
                    LinkKind::Dashboard => "dashboard",
                    LinkKind::Generator => "generator",
                };
                let shown_url = match sanitize_url(&l.url) {
                    Ok(url) => format!("<{}>", escape(&url)),
                    Err(_) => format!("`{}` (not a plain http(s) link)", code_text(&clip(&l.url, 200))),
                };
                let line = format!("\n• {kind} ({source}, {}): {shown_url}", escape(&clip(&l.rule, 100)));
                // A link is never cut in half: past the limit, the rest are counted instead.
                if text.chars().count() + line.chars().count() > SECTION_MAX - 60 {
                    break;
                }
                text.push_str(&line);
                shown += 1;
            }
            if shown < r.links.len() {
                text.push_str(&format!("\n(+{} more on the approval page)", r.links.len() - shown));
            }
            blocks.push(section(&text));
        }
        if let Some(d) = r.description.as_deref().filter(|d| !d.trim().is_empty()) {
            blocks.push(section(&format!(
                "*Alert description* (untrusted telemetry, shown as text):\n```{}```",
                code_text_within(&d.replace(|c: char| c.is_control() && c != '\n', " "), 2000)
            )));
        }
        blocks
    }

    /// One line for notifications and clients without Block Kit.
    fn line(&self, what: &str) -> String {
        escape(&clip(
            &format!(
                "{what}: {} {} in {} ({}, proposed by {})",
                self.action, self.target, self.env, self.plan_id, self.proposer
            ),
            600,
        ))
    }
}

fn section(mrkdwn: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": mrkdwn } })
}

fn plain(text: &str) -> Value {
    json!({ "type": "plain_text", "text": clip(text, 75) })
}

/// The `approval` message: `text` (fallback) and `blocks`. `buttons` adds Approve and Deny
/// (interactivity configured); `page` (the plan's URL on the approval page) adds Open page.
/// `note` (how else to approve) goes in a context line.
pub fn approval_message(facts: &PlanFacts, note: Option<&str>, buttons: bool, page: Option<&str>) -> (String, Value) {
    let mut blocks = vec![section(&facts.summary("Approval needed"))];
    blocks.extend(facts.runbook_blocks());
    if let Some(n) = note.filter(|n| !n.is_empty()) {
        blocks.push(json!({ "type": "context", "elements": [
            { "type": "mrkdwn", "text": escaped_within(n, NOTE_MAX, escape) }
        ] }));
    }
    let mut elements = Vec::new();
    if buttons {
        let confirm_text = clip(
            &format!(
                "{} {} in {}? Nothing changes until the proposer applies it.",
                facts.action, facts.target, facts.env
            ),
            290,
        );
        elements.push(json!({
            "type": "button", "action_id": APPROVE_ACTION, "value": facts.plan_id, "style": "primary",
            "text": plain("Approve"),
            "confirm": {
                "title": plain("Approve this plan?"),
                "text": plain(&confirm_text),
                "confirm": plain("Approve"),
                "deny": plain("Cancel"),
            },
        }));
        elements.push(json!({
            "type": "button", "action_id": DENY_ACTION, "value": facts.plan_id, "style": "danger",
            "text": plain("Deny"),
        }));
        elements.push(json!({
            "type": "button", "action_id": CODE_ACTION, "value": facts.plan_id,
            "text": plain("Code for the agent's dialog"),
        }));
    }
    if let Some(url) = page {
        elements.push(json!({
            "type": "button", "action_id": OPEN_PAGE_ACTION, "value": facts.plan_id, "url": url,
            "text": plain("Open page"),
        }));
    }
    if !elements.is_empty() {
        blocks.push(json!({ "type": "actions", "elements": elements }));
    }
    (facts.line("Approval needed"), Value::Array(blocks))
}

/// The approval message after a decision: the same summary, the outcome, no buttons.
pub fn decided_message(facts: &PlanFacts, outcome: &str) -> (String, Value) {
    let mut blocks = vec![section(&facts.summary("Approval request"))];
    blocks.extend(facts.runbook_blocks());
    blocks.push(section(&clip(&escape(outcome), SECTION_MAX)));
    let blocks = Value::Array(blocks);
    (escape(&clip(&format!("{outcome} ({})", facts.plan_id), 600)), blocks)
}

/// The plan's page on the approval site, under `public_url`.
pub fn page_url(public_url: &str, plan_id: &str) -> String {
    format!("{}/ui/plans/{plan_id}", public_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> PlanFacts {
        PlanFacts {
            plan_id: "plan-0123456789abcdef".into(),
            incident: Some("INC-000001: <!channel> & <https://evil.example|click>".into()),
            action: "isolate".into(),
            target: "pod/web-1 in namespace shop".into(),
            env: "dev".into(),
            proposer: "mcp:claude".into(),
            runbooks: Runbooks::default(),
        }
    }

    fn link(kind: LinkKind, source: LinkSource, url: &str) -> crate::domain::runbook::RunbookLink {
        crate::domain::runbook::RunbookLink {
            kind,
            url: url.into(),
            source,
            rule: "HighErrorRate <!here>".into(),
        }
    }

    #[test]
    fn runbooks_are_plain_links_and_anything_else_is_text() {
        let runbooks = Runbooks {
            links: vec![
                link(LinkKind::Runbook, LinkSource::Config, "https://wiki.example.com/5xx"),
                link(
                    LinkKind::Dashboard,
                    LinkSource::Alert,
                    "https://g.example.com/d?a=1&b=2",
                ),
                // Stored values are checked when kept; one that is not (a tampered row) is text.
                link(
                    LinkKind::Runbook,
                    LinkSource::Alert,
                    "javascript:alert(1)//<https://x|y>`",
                ),
            ],
            description: Some("5xx at 12% ```<!channel>``` <https://evil.example|click>\nline 2".into()),
            note: String::new(),
        };
        let f = facts().with_runbooks(runbooks);
        let (_, blocks) = approval_message(&f, None, true, None);
        let links = blocks[1]["text"]["text"].as_str().unwrap();
        assert_eq!(
            links,
            "*Runbooks and dashboards* (data from the alerts and the configuration: check where a link points before \
             opening it)\n\
             • runbook (config, HighErrorRate &lt;!here&gt;): <https://wiki.example.com/5xx>\n\
             • dashboard (alert, HighErrorRate &lt;!here&gt;): <https://g.example.com/d?a=1&amp;b=2>\n\
             • runbook (alert, HighErrorRate &lt;!here&gt;): `javascript:alert(1)//&lt;https://x|y&gt;'` (not a plain \
             http(s) link)"
        );
        let description = blocks[2]["text"]["text"].as_str().unwrap();
        assert_eq!(
            description,
            "*Alert description* (untrusted telemetry, shown as text):\n```5xx at 12% '''&lt;!channel&gt;''' \
             &lt;https://evil.example|click&gt;\nline 2```"
        );
        assert_eq!(blocks[3]["type"], "actions");
        let (_, decided) = decided_message(&f, "Approved by alice");
        assert_eq!(decided[1], blocks[1]);
        assert_eq!(decided[2], blocks[2]);
        assert_eq!(decided[3]["text"]["text"], "Approved by alice");
    }

    #[test]
    fn many_long_links_are_counted_not_cut() {
        let long = format!("https://x.example/{}", "a".repeat(1500));
        let runbooks = Runbooks {
            links: (0..12)
                .map(|_| link(LinkKind::Runbook, LinkSource::Alert, &long))
                .collect(),
            description: None,
            note: String::new(),
        };
        let (_, blocks) = approval_message(&facts().with_runbooks(runbooks), None, false, None);
        let text = blocks[1]["text"]["text"].as_str().unwrap();
        assert!(text.chars().count() <= SECTION_MAX, "{}", text.len());
        assert_eq!(text.matches("<https://x.example/").count(), 1);
        assert!(text.ends_with("(+11 more on the approval page)"), "{text}");
    }

    #[test]
    fn an_escaped_note_stays_within_its_context_element() {
        let (_, blocks) = approval_message(&facts(), Some(&"<&>".repeat(1000)), false, None);
        let text = blocks
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "context")
            .map(|b| b["elements"][0]["text"].as_str().unwrap().to_owned())
            .unwrap();
        assert!(text.chars().count() <= NOTE_MAX, "{}", text.chars().count());
        assert!(text.starts_with("&lt;&amp;&gt;") && text.ends_with('…') && !text.contains('<'));
        assert!(text.trim_end_matches('…').ends_with(';'), "no escape cut in two");
    }

    #[test]
    fn an_escaped_description_stays_within_a_block() {
        let runbooks = Runbooks {
            links: Vec::new(),
            description: Some("<&>`".repeat(2000)),
            note: String::new(),
        };
        let (_, blocks) = approval_message(&facts().with_runbooks(runbooks), None, false, None);
        let text = blocks[1]["text"]["text"].as_str().unwrap();
        assert!(text.chars().count() <= SECTION_MAX, "{}", text.chars().count());
        assert!(text.ends_with("…```") && !text.contains('<') && !text.contains("````"));
        assert_eq!(text.matches("```").count(), 2, "only the block's own fences");
    }

    #[test]
    fn telemetry_cannot_form_mentions_or_links() {
        assert_eq!(escape("a<b>&c"), "a&lt;b&gt;&amp;c");
        let (text, blocks) = approval_message(&facts(), Some("see <@U1>"), true, None);
        let all = format!("{text}{blocks}");
        assert!(
            !all.contains("<!channel>") && !all.contains("<https://") && !all.contains("<@U1>"),
            "{all}"
        );
        assert!(
            all.contains("&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"),
            "{all}"
        );
    }

    #[test]
    fn buttons_carry_the_plan_id_and_the_page_button_needs_a_url() {
        let (_, blocks) = approval_message(&facts(), None, true, Some("https://x.example/ui/plans/p"));
        let els = &blocks[1]["elements"];
        assert_eq!(els[0]["action_id"], APPROVE_ACTION);
        assert_eq!(els[1]["action_id"], DENY_ACTION);
        assert_eq!(els[2]["action_id"], CODE_ACTION);
        assert_eq!(els[3]["url"], "https://x.example/ui/plans/p");
        for e in els.as_array().unwrap() {
            assert_eq!(e["value"], "plan-0123456789abcdef");
        }
        let (_, blocks) = approval_message(&facts(), None, true, None);
        assert_eq!(blocks[1]["elements"].as_array().unwrap().len(), 3);
        let (_, blocks) = approval_message(&facts(), None, false, None);
        assert_eq!(blocks.as_array().unwrap().len(), 1, "no actions block without buttons");
        let (_, decided) = decided_message(&facts(), "Denied by alice");
        assert!(decided.as_array().unwrap().iter().all(|b| b["type"] != "actions"));
        assert_eq!(
            page_url("https://x.example/", "plan-1"),
            "https://x.example/ui/plans/plan-1"
        );
    }
}
