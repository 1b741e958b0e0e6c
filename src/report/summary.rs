//! The summary at the end of a run: per feature passed / failed / skipped, why
//! scenarios were not applicable, failures grouped by cause (before the
//! details), the Kratos under test, and the wall time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::outcomes::{self, Outcome, Status};
use crate::deviations::Deviation;
use crate::kratos::Instances;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// Scenario outcomes per feature, in the order features first ended a scenario.
pub fn counts(outcomes: &[Outcome]) -> Vec<(String, Counts)> {
    let mut per_feature: Vec<(String, Counts)> = Vec::new();
    for outcome in outcomes {
        let index = match per_feature.iter().position(|(f, _)| *f == outcome.feature) {
            Some(i) => i,
            None => {
                per_feature.push((outcome.feature.clone(), Counts::default()));
                per_feature.len() - 1
            }
        };
        let counts = &mut per_feature[index].1;
        match outcome.status {
            Status::Passed => counts.passed += 1,
            Status::Failed { .. } => counts.failed += 1,
            Status::Skipped { .. } => counts.skipped += 1,
        }
    }
    per_feature
}

/// Where a run's wall time went.
#[derive(Debug, Clone, Copy)]
pub struct Phases {
    /// From the start to every instance ready and the plan made.
    pub ready: Duration,
    pub scenarios: Duration,
    /// Stopping Kratos, the browser and the database, removing containers.
    pub stopping: Duration,
    pub documentation: Duration,
}

/// What the suite's requests cost Kratos, over every instance with a log.
pub struct ServerTime {
    pub requests: usize,
    pub total: Duration,
    pub by_instance: Vec<(String, usize, Duration)>,
}

/// The text printed at the end of the run.
pub fn render(outcomes: &[Outcome], instances: &Instances, wall: Duration, phases: Phases, server: Option<&ServerTime>, reports: &Path) -> String {
    let mut out = String::from("\nkratos-conformance summary\n");
    let started = instances.started();
    let version = started.iter().find_map(|k| k.version.clone()).unwrap_or_else(|| "of unknown version (its admin API did not answer)".into());
    let _ = writeln!(out, "  Kratos {version}, backend {}", instances.settings.backend.name());
    if let Some(image) = &instances.image {
        let engine = instances.engine.as_ref().map(|e| e.describe()).unwrap_or_default();
        let _ = writeln!(out, "  image {image} on {engine}");
    }
    let names: Vec<String> = started.iter().map(|k| format!("{} ({:.1?} to ready)", k.name, k.startup)).collect();
    let _ = writeln!(out, "  instances: {}", names.join(", "));
    let per_feature = counts(outcomes);
    let width = per_feature.iter().map(|(n, _)| n.chars().count()).max().unwrap_or(7).max(7);
    let _ = writeln!(out, "  {:<width$}  passed  failed  skipped", "feature");
    let mut total = Counts::default();
    for (name, c) in &per_feature {
        let _ = writeln!(out, "  {name:<width$}  {:>6}  {:>6}  {:>7}", c.passed, c.failed, c.skipped);
        total.passed += c.passed;
        total.failed += c.failed;
        total.skipped += c.skipped;
    }
    let _ = writeln!(out, "  {:<width$}  {:>6}  {:>6}  {:>7}", "all", total.passed, total.failed, total.skipped);

    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for outcome in outcomes {
        if let Status::Skipped { reason } = &outcome.status {
            let reason = reason.strip_prefix("not applicable to this deployment: ").unwrap_or(reason);
            for part in reasons_in(reason) {
                *reasons.entry(part).or_default() += 1;
            }
        }
    }
    if total.skipped > 0 {
        let listed: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} ({n})")).collect();
        let _ = writeln!(out, "  not applicable to this deployment: {} — {}", total.skipped, listed.join("; "));
    }
    let groups = outcomes::failure_groups(outcomes);
    if !groups.is_empty() {
        let _ = writeln!(out, "  failures by cause:");
        for (cause, members) in &groups {
            let _ = writeln!(out, "    {} × {cause}", members.len());
            for member in members {
                let _ = writeln!(out, "        {} — {}", member.location(), member.scenario);
            }
        }
    }
    if let Some(server) = server.filter(|s| s.requests > 0) {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let floor = server.total.as_secs_f64() / cores as f64;
        let ratio = if floor > 0.0 { phases.scenarios.as_secs_f64() / floor } else { 0.0 };
        let parts: Vec<String> = server.by_instance.iter().map(|(name, n, t)| format!("{name} {t:.1?}/{n}")).collect();
        let _ = writeln!(
            out,
            "  server time {:.1?} over {} requests ({}); the scenarios took {ratio:.2} × (server time ÷ {cores} cores)",
            server.total,
            server.requests,
            parts.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "  wall time {:.1?} (Kratos ready {:.1?}, scenarios {:.1?}, stopping {:.1?}, flow documentation {:.1?}); reports in {}",
        wall,
        phases.ready,
        phases.scenarios,
        phases.stopping,
        phases.documentation,
        reports.display()
    );
    out
}

/// The reasons a scenario was not applicable, joined by "; " where the
/// scenario had several; a "; " inside parentheses belongs to its reason.
fn reasons_in(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ';' if depth <= 0 && text[i..].starts_with("; ") => {
                parts.push(&text[start..i]);
                start = i + 2;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// What a run says about the known deviations: one seen on a Kratos version the
/// ledger does not list yet, or one whose scenario failed (Kratos may have
/// fixed it).
pub fn deviation_notes(ledger: &[Deviation], outcomes: &[Outcome], version: Option<&str>) -> Vec<String> {
    let mut notes = Vec::new();
    for entry in ledger {
        // An outline's name has <placeholders>; its runs have values there.
        let pattern = regex::Regex::new(&format!(
            "^{}( \\(.*\\))?$",
            regex::escape(&entry.scenario).replace("<", "(?:<").replace(">", ">|.+?)")
        ));
        let matches = |name: &str| pattern.as_ref().map(|p| p.is_match(name)).unwrap_or(name == entry.scenario);
        let runs: Vec<&Outcome> = outcomes.iter().filter(|o| matches(&o.scenario)).collect();
        if runs.iter().any(|o| matches!(o.status, Status::Failed { .. })) {
            notes.push(format!(
                "the known deviation \"{}\" failed: if Kratos {} no longer behaves this way, remove its @deviation tag and its entry in features/deviations.yml",
                entry.scenario,
                version.unwrap_or("(of unknown version)")
            ));
        } else if let Some(version) = version
            && runs.iter().any(|o| o.status == Status::Passed) && !entry.kratos.iter().any(|v| v == version) {
                notes.push(format!("the known deviation \"{}\" was seen on Kratos {version}, which features/deviations.yml does not list for it yet: add it", entry.scenario));
            }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_split_where_they_were_joined_not_inside_parentheses() {
        let text = "lookup_secret is disabled (selfservice.methods.lookup_secret.enabled); it sends requests at the same moment (Kratos on sqlite; run with KRATOS_DATABASE=postgres)";
        assert_eq!(
            reasons_in(text),
            ["lookup_secret is disabled (selfservice.methods.lookup_secret.enabled)", "it sends requests at the same moment (Kratos on sqlite; run with KRATOS_DATABASE=postgres)"]
        );
    }
}
