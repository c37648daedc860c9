//! The interaction Slack posts when a button of one of our messages is pressed: a form body
//! (`application/x-www-form-urlencoded`) whose `payload` field is JSON of type `block_actions`.
//! Only the fields used are read: `user.id`, `actions[0].action_id` and `.value`,
//! `container.channel_id` and `.message_ts` (falling back to `channel.id` and `message.ts`).
//! `response_url` is ignored on purpose: answers go through the configured Web API only.
//! Pure: no I/O.

use serde_json::Value;

use crate::domain::clip;

/// One button press.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockAction {
    pub user_id: String,
    pub action_id: String,
    pub value: Option<String>,
    pub channel_id: String,
    pub message_ts: String,
}

/// A Slack id (`U…`, `W…`, `C…`): upper-case letters and digits.
fn slack_id(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    ((1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
        .then(|| s.to_owned())
}

/// A message timestamp: `1548426417.840180`.
fn message_ts(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    ((1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')).then(|| s.to_owned())
}

/// Parses the body, or says which part is wrong (without echoing more than a clipped value).
pub fn parse(body: &[u8]) -> Result<BlockAction, String> {
    let payload = form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .ok_or("the form body has no `payload` field")?;
    let v: Value = serde_json::from_str(&payload).map_err(|_| "`payload` is not JSON".to_owned())?;
    match v["type"].as_str() {
        Some("block_actions") => {}
        other => {
            return Err(format!(
                "payload type `{}` is not handled (only block_actions)",
                clip(other.unwrap_or("(none)"), 40)
            ));
        }
    }
    let user_id = slack_id(&v["user"]["id"]).ok_or("payload.user.id is missing or not a Slack user id")?;
    let action = v["actions"].get(0).ok_or("payload.actions is empty")?;
    let action_id = action["action_id"]
        .as_str()
        .filter(|a| (1..=255).contains(&a.len()))
        .ok_or("payload.actions[0].action_id is missing")?
        .to_owned();
    let value = action["value"].as_str().map(|s| clip(s, 2000));
    let channel_id = slack_id(&v["container"]["channel_id"])
        .or_else(|| slack_id(&v["channel"]["id"]))
        .ok_or("payload.container.channel_id is missing (not a message button?)")?;
    let message_ts = message_ts(&v["container"]["message_ts"])
        .or_else(|| message_ts(&v["message"]["ts"]))
        .ok_or("payload.container.message_ts is missing (not a message button?)")?;
    Ok(BlockAction {
        user_id,
        action_id,
        value,
        channel_id,
        message_ts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(payload: &Value) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish()
            .into_bytes()
    }

    #[test]
    fn a_button_press_is_read_and_broken_ones_are_named() {
        let p = json!({
            "type": "block_actions", "user": {"id": "U0ALICE", "username": "alice"},
            "container": {"type": "message", "channel_id": "C024BE91L", "message_ts": "1700000000.000100"},
            "response_url": "https://hooks.slack.com/actions/T0/1/x",
            "actions": [{"action_id": "approve_plan", "value": "plan-0123456789abcdef", "type": "button"}],
        });
        let a = parse(&form(&p)).unwrap();
        assert_eq!(
            a,
            BlockAction {
                user_id: "U0ALICE".into(),
                action_id: "approve_plan".into(),
                value: Some("plan-0123456789abcdef".into()),
                channel_id: "C024BE91L".into(),
                message_ts: "1700000000.000100".into(),
            }
        );
        for (mutate, needle) in [
            (json!({"type": "view_submission"}), "view_submission"),
            (json!({"user": {"id": "u<script>"}}), "user.id"),
            (json!({"actions": []}), "actions"),
            (json!({"container": {}}), "channel_id"),
        ] {
            let mut bad = p.clone();
            for (k, v) in mutate.as_object().unwrap() {
                bad[k] = v.clone();
            }
            let e = parse(&form(&bad)).unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
        assert!(parse(b"token=x").unwrap_err().contains("payload"));
        assert!(parse(b"payload=%7Bnot").unwrap_err().contains("JSON"));
    }
}
