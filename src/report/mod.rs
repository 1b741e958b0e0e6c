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

/// What the suite's requests cost Kratos: how many it completed, and the time
/// it took on them, summed (from its request log: `took:` of every "completed
/// handling request" line that carries the suite's scenario header).
pub fn server_time(log: &str) -> (usize, std::time::Duration) {
    static TOOK: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"took"?:\s*"?([0-9.]+)(ns|µs|us|ms|s|m)?"#).expect("valid"));
    let mut count = 0;
    let mut total = std::time::Duration::ZERO;
    for line in log.lines().filter(|l| l.contains("completed handling request") && l.contains(crate::client::http::SCENARIO_HEADER)) {
        let Some(took) = TOOK.captures(line) else { continue };
        let value: f64 = took[1].parse().unwrap_or_default();
        let seconds = match took.get(2).map(|u| u.as_str()) {
            Some("ns") | None => value / 1e9,
            Some("µs" | "us") => value / 1e6,
            Some("ms") => value / 1e3,
            Some("m") => value * 60.0,
            _ => value,
        };
        count += 1;
        total += std::time::Duration::from_secs_f64(seconds);
    }
    (count, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_time_reads_text_and_json_logs() {
        let log = "time=x level=info msg=completed handling request http_request=map[headers:map[x-conformance-scenario:abc]] http_response=map[status:200 took:2.5ms]\n\
                   {\"msg\":\"completed handling request\",\"http_request\":{\"headers\":{\"x-conformance-scenario\":\"abc\"}},\"http_response\":{\"took\":1500000}}\n\
                   time=x msg=completed handling request http_request=map[headers:map[accept:*/*]] took:9s";
        let (count, total) = server_time(log);
        assert_eq!(count, 2);
        assert_eq!(total, std::time::Duration::from_micros(4000));
    }
}
