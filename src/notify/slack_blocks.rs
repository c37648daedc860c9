//! Block Kit messages about a plan awaiting approval: the `approval` notification (summary plus
//! Approve / Deny / Open page buttons) and the same message once a human decided (summary plus
//! the outcome, no buttons). Pure: no I/O.
//!
//! Everything that may come from telemetry or from the agent (incident title, target names,
//! notes) is escaped for Slack's mrkdwn (`&`, `<`, `>`), so it cannot form links, mentions
//! (`<!channel>`) or formatting of Slack's control sequences.

use serde_json::{Value, json};

use crate::{
    domain::{Incident, clip},
    store::StoredPlan,
};

/// `action_id` of the Approve button; its `value` is the plan id.
pub const APPROVE_ACTION: &str = "approve_plan";
/// `action_id` of the Deny button; its `value` is the plan id.
pub const DENY_ACTION: &str = "deny_plan";
/// `action_id` of the button that sends the presser (an approver) a one-time code for the
/// agent's approval dialog, privately; its `value` is the plan id.
pub const CODE_ACTION: &str = "get_code";
/// `action_id` of the Open page (URL) button: Slack reports its clicks too; they change nothing.
pub const OPEN_PAGE_ACTION: &str = "open_plan_page";

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
        }
    }

    /// The summary section's mrkdwn, every value escaped.
    fn summary(&self, heading: &str) -> String {
        let mut s = format!("*{heading}*");
        if let Some(i) = &self.incident {
            s.push_str(&format!("\n*Incident:* {}", escape(i)));
        }
        s.push_str(&format!(
            "\n*Action:* {}\n*Target:* {}\n*Env:* {}\n*Proposed by:* {}\n*Plan:* {}",
            escape(&self.action),
            escape(&self.target),
            escape(&self.env),
            escape(&self.proposer),
            escape(&self.plan_id)
        ));
        clip(&s, 2900)
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
    if let Some(n) = note.filter(|n| !n.is_empty()) {
        blocks.push(json!({ "type": "context", "elements": [
            { "type": "mrkdwn", "text": escape(&clip(n, 1500)) }
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
    let blocks = json!([
        section(&facts.summary("Approval request")),
        section(&clip(&escape(outcome), 2900)),
    ]);
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
        }
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
