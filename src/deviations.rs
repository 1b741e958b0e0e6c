//! The known-deviations ledger (`features/deviations.yml`) and its check: every
//! `@deviation` scenario has an entry, and every entry names such a scenario.

use std::collections::BTreeSet;
use std::path::Path;

use cucumber::gherkin::{Feature, GherkinEnv};
use serde::Deserialize;

pub const TAG: &str = "deviation";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deviation {
    pub scenario: String,
    /// Every Kratos version the behaviour was seen on.
    pub kratos: Vec<String>,
    pub reason: String,
    pub upstream: String,
}

/// Reads the ledger and checks it against the features; the error lists every mismatch.
pub fn check(features_dir: &Path, ledger: &Path) -> Result<Vec<Deviation>, String> {
    let text = std::fs::read_to_string(ledger).map_err(|e| format!("cannot read {}: {e}", ledger.display()))?;
    let entries: Vec<Deviation> =
        serde_yaml_ng::from_str(&text).map_err(|e| format!("{} is not a valid ledger: {e}", ledger.display()))?;
    let tagged = deviation_scenarios(features_dir)?;
    let listed: BTreeSet<String> = entries.iter().map(|d| d.scenario.clone()).collect();
    let mut problems = Vec::new();
    for name in tagged.difference(&listed) {
        problems.push(format!("the @{TAG} scenario \"{name}\" has no entry in {}", ledger.display()));
    }
    for name in listed.difference(&tagged) {
        problems.push(format!("{} lists \"{name}\", but no @{TAG} scenario has that name", ledger.display()));
    }
    for entry in &entries {
        if entry.reason.trim().is_empty() || !entry.upstream.starts_with("https://") {
            problems.push(format!("the entry \"{}\" needs a reason and an upstream https:// link", entry.scenario));
        }
    }
    if problems.is_empty() { Ok(entries) } else { Err(problems.join("\n")) }
}

/// The names of the scenarios tagged (directly, or through their rule or feature) `@deviation`.
fn deviation_scenarios(features_dir: &Path) -> Result<BTreeSet<String>, String> {
    let mut names = BTreeSet::new();
    let mut paths: Vec<_> = std::fs::read_dir(features_dir)
        .map_err(|e| format!("cannot read {}: {e}", features_dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "feature"))
        .collect();
    paths.sort();
    for path in paths {
        let feature = Feature::parse_path(&path, GherkinEnv::default()).map_err(|e| format!("{}: {e}", path.display()))?;
        let tagged = |tags: &[String]| tags.iter().any(|t| t == TAG);
        let feature_tagged = tagged(&feature.tags);
        let scenarios = feature.scenarios.iter().map(|s| (s, false));
        let ruled = feature.rules.iter().flat_map(|r| r.scenarios.iter().map(move |s| (s, tagged(&r.tags))));
        for (scenario, rule_tagged) in scenarios.chain(ruled) {
            if feature_tagged || rule_tagged || tagged(&scenario.tags) {
                names.insert(scenario.name.clone());
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_matches_the_features() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        if let Err(problems) = check(&root.join("features"), &root.join("features/deviations.yml")) {
            panic!("{problems}");
        }
    }

    #[test]
    fn an_unlisted_deviation_and_a_stale_entry_are_both_reported() {
        let dir = std::env::temp_dir().join(format!("deviations-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("x.feature"),
            "Feature: x\n  @deviation\n  Scenario: odd\n    Given a step\n",
        )
        .unwrap();
        std::fs::write(dir.join("ledger.yml"), "- scenario: gone\n  kratos: [v1]\n  reason: r\n  upstream: https://x\n").unwrap();
        let problems = check(&dir, &dir.join("ledger.yml")).unwrap_err();
        assert!(problems.contains("\"odd\" has no entry"), "{problems}");
        assert!(problems.contains("lists \"gone\""), "{problems}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
