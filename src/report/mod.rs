//! What a run tells people: the end-of-run summary, the JUnit report, failures
//! as they happen, the Kratos log lines of a failed scenario, and the flow
//! documentation recorded from real runs. Every event passes [`redacting`]
//! first.

pub mod docs;
pub mod junit;
pub mod normalize;
pub mod outcomes;
pub mod redacting;
pub mod summary;

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

use crate::client::Transcript;
use crate::kratos::Kratos;

/// How many of a scenario's log lines a failure shows.
pub const LOG_LINES: usize = 60;

/// What Kratos logged about a failed scenario's own requests: the lines that
/// carry the scenario's correlation header (every request of the suite sends
/// it), or an id of a flow, identity or session the scenario used. Other
/// scenarios running at the same time do not show up. Redacted.
pub async fn kratos_log_for_failure(kratos: &Kratos, transcript: &Transcript) -> String {
    static UUID: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").expect("valid"));
    let Some(log) = kratos.log().await else {
        return format!("(the log of Kratos {} is not available to the suite)", kratos.name);
    };
    let mut markers: BTreeSet<String> = BTreeSet::from([transcript.id().to_string()]);
    for exchange in transcript.all() {
        let text = format!("{} {}", exchange.url, exchange.body_text());
        markers.extend(UUID.find_iter(&text).map(|m| m.as_str().to_string()));
    }
    let lines: Vec<&str> = log.lines().filter(|line| markers.iter().any(|m| line.contains(m.as_str()))).collect();
    if lines.is_empty() {
        return format!("(Kratos {} logged nothing about this scenario's requests)", kratos.name);
    }
    let tail = &lines[lines.len().saturating_sub(LOG_LINES)..];
    crate::redact::text(&tail.join("\n"))
}
