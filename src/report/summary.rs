//! The summary at the end of a run, read from the Cucumber JSON report: per
//! feature passed / failed / skipped, the Kratos under test, and the wall time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::kratos::Instances;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// Scenario outcomes per feature name, in report order.
pub fn counts(cucumber_json: &Path) -> Result<Vec<(String, Counts)>, String> {
    let text = std::fs::read_to_string(cucumber_json).map_err(|e| format!("cannot read {}: {e}", cucumber_json.display()))?;
    let report: Value = serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", cucumber_json.display()))?;
    let mut order = Vec::new();
    let mut by_feature: BTreeMap<String, Counts> = BTreeMap::new();
    for feature in report.as_array().into_iter().flatten() {
        let name = feature["name"].as_str().unwrap_or_default().to_string();
        if !by_feature.contains_key(&name) {
            order.push(name.clone());
        }
        let counts = by_feature.entry(name).or_default();
        for element in feature["elements"].as_array().into_iter().flatten() {
            let statuses: Vec<&str> = ["before", "steps", "after"]
                .iter()
                .flat_map(|k| element[*k].as_array().into_iter().flatten())
                .filter_map(|s| s.pointer("/result/status").and_then(Value::as_str))
                .collect();
            if statuses.iter().any(|s| *s == "failed") {
                counts.failed += 1;
            } else if statuses.iter().any(|s| *s != "passed") {
                counts.skipped += 1;
            } else {
                counts.passed += 1;
            }
        }
    }
    Ok(order.into_iter().map(|name| {
        let counts = by_feature[&name];
        (name, counts)
    }).collect())
}

/// The text printed at the end of the run.
pub fn render(per_feature: &[(String, Counts)], instances: &Instances, wall: Duration, reports: &Path) -> String {
    let mut out = String::from("\nkratos-conformance summary\n");
    let started = instances.started();
    let version = started.iter().find_map(|k| k.version.clone()).unwrap_or_else(|| "unknown (admin API not reachable)".into());
    let _ = writeln!(out, "  Kratos {version}, backend {}", instances.settings.backend.name());
    if let Some(image) = &instances.image {
        let engine = instances.engine.as_ref().map(|e| e.describe()).unwrap_or_default();
        let _ = writeln!(out, "  image {image} on {engine}");
    }
    let profiles: Vec<String> = started.iter().map(|k| format!("{} ({:.1?} to ready)", k.profile, k.startup)).collect();
    let _ = writeln!(out, "  profiles: {}", profiles.join(", "));
    let width = per_feature.iter().map(|(n, _)| n.len()).max().unwrap_or(7).max(7);
    let _ = writeln!(out, "  {:<width$}  passed  failed  skipped", "feature");
    let mut total = Counts::default();
    for (name, c) in per_feature {
        let _ = writeln!(out, "  {name:<width$}  {:>6}  {:>6}  {:>7}", c.passed, c.failed, c.skipped);
        total.passed += c.passed;
        total.failed += c.failed;
        total.skipped += c.skipped;
    }
    let _ = writeln!(out, "  {:<width$}  {:>6}  {:>6}  {:>7}", "all", total.passed, total.failed, total.skipped);
    let _ = writeln!(out, "  wall time {:.1?}; reports in {}", wall, reports.display());
    out
}
