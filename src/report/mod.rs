//! What a run tells people: the end-of-run summary, the Kratos log attached to a
//! failure, and the flow documentation recorded from real runs.

pub mod docs;
pub mod normalize;
pub mod summary;

use std::time::SystemTime;

use crate::kratos::{Kratos, LOG_TAIL_LINES};

/// What Kratos logged while a failed scenario ran: its log lines from the
/// scenario's first request on (Kratos stamps each line `time=<RFC 3339>`, to the
/// second), at most the last [`LOG_TAIL_LINES`], redacted.
pub async fn kratos_log_for_failure(kratos: &Kratos, since: Option<SystemTime>) -> String {
    let Some(log) = kratos.log_tail(2000).await else {
        return format!("(the log of Kratos {} is not available to the suite)", kratos.profile);
    };
    let since = since.map(|t| humantime::format_rfc3339_seconds(t).to_string());
    let lines: Vec<&str> = log
        .lines()
        // Start-up chatter: a scenario of a just-started instance shares its second.
        .filter(|line| !line.contains("migration_file="))
        .filter(|line| match (&since, line.strip_prefix("time=")) {
            (Some(since), Some(rest)) => rest.get(..since.len()).is_some_and(|stamp| stamp >= since.as_str()),
            (Some(_), None) => false,
            (None, _) => true,
        })
        .collect();
    if lines.is_empty() {
        return format!("(Kratos {} logged nothing while the scenario ran)", kratos.profile);
    }
    let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
    crate::redact::text(&tail.join("\n"))
}
