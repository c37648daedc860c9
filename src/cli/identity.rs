//! Who the human at this terminal is, for `approve` and `deny`: a configured approver
//! (`--as NAME`, checked against their password hash when they have one), or, on a server
//! with no `[[approvers]]`, the operating-system user. Recorded as `human:<name>`.

use std::io::IsTerminal;

use crate::service::{ApproverDirectory, human};

/// The identity of the human at the terminal, or why it cannot be established.
pub(crate) fn terminal_approver(dir: &ApproverDirectory, as_name: Option<&str>) -> Result<String, String> {
    let names: Vec<&str> = dir.names().collect();
    if names.is_empty() {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_default();
        let user: String = user
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
            .take(64)
            .collect();
        return match (as_name, user.is_empty()) {
            (Some(n), _) => Err(format!(
                "--as {}: no [[approvers]] are configured; without them the approver is the operating-system user",
                crate::domain::clip(n, 64)
            )),
            (None, true) => Ok(human("terminal")),
            (None, false) => Ok(human(&user)),
        };
    }
    let name = match as_name {
        Some(n) => n.to_owned(),
        None if names.len() == 1 => names[0].to_owned(),
        None => {
            return Err(format!(
                "say who you are with --as NAME (one of the configured approvers: {})",
                names.join(", ")
            ));
        }
    };
    if !dir.is_approver(&name) {
        return Err(format!(
            "`{}` is not a configured approver (known: {})",
            crate::domain::clip(&name, 64),
            names.join(", ")
        ));
    }
    if dir.has_password(&name) {
        if !std::io::stdin().is_terminal() {
            return Err("stdin is not a terminal: the approver's password is read from an interactive terminal".into());
        }
        let config = rpassword::ConfigBuilder::new()
            .input_file_path("/dev/stdin")
            .output_writer(std::io::stderr())
            .password_feedback_hide()
            .build();
        let password = rpassword::prompt_password_with_config(format!("Password for approver {name}: "), config)
            .map_err(|e| format!("cannot read the password from the terminal: {e}"))?;
        if dir.check_password(&name, &password).is_none() {
            return Err(format!("wrong password for approver {name}"));
        }
    }
    Ok(human(&name))
}
