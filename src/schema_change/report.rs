//! The migration report: what each kind of existing identity could do before
//! the change and can do after it, as Markdown to paste into a pull request
//! (`<report dir>/schema-change.md`), and its verdict in one line for the summary.

use std::fmt::Write as _;
use std::path::Path;

use super::{ChangeRecord, Observed, Outcome};

/// The report of an instance's change.
pub fn render(change: &ChangeRecord) -> String {
    let (rows, diff, same) = change.snapshot();
    let mut out = String::from("# What existing identities experience after the change\n\n");
    if same {
        out.push_str("The previous configuration is the current one: every answer must be the same.\n\n");
    }
    let changes = diff.lines();
    if changes.is_empty() {
        let _ = writeln!(out, "Identity schema `{}`: no trait changed.\n", diff.schema_id);
    } else {
        let _ = writeln!(out, "Identity schema `{}`:\n", diff.schema_id);
        for line in changes {
            let _ = writeln!(out, "- {line}");
        }
        out.push('\n');
    }
    for (kind, before, after) in rows {
        let _ = writeln!(out, "## With {}\n\n_{}_\n", kind.name(), kind.origin());
        out.push_str("| | before the change | after the change | |\n|---|---|---|---|\n");
        for (what, before, after) in lines(&before, after.as_ref()) {
            let (after_cell, verdict) = match &after {
                None => ("not asked in this run".to_string(), ""),
                // What the scenarios fail on (`Existing::expect_as_before`).
                Some(a) if before.works() && *a != before => (cell(a), "**broken**"),
                Some(a) if *a != before => (cell(a), "changed"),
                Some(a) => (cell(a), "same"),
            };
            let _ = writeln!(out, "| {what} | {} | {after_cell} | {verdict} |", cell(&before));
        }
        out.push('\n');
    }
    out
}

/// The rows of one kind: what was asked, the answer before, and the answer
/// after (`None`: not asked in this run).
fn lines(before: &Observed, after: Option<&Observed>) -> Vec<(String, Outcome, Option<Outcome>)> {
    before.iter().map(|(aspect, outcome)| (aspect.describe(), outcome.clone(), after.and_then(|a| a.get(aspect)).cloned())).collect()
}

fn cell(outcome: &Outcome) -> String {
    let text = match outcome {
        Outcome::Works(what) => format!("✓ {what}"),
        Outcome::Refused(why) => format!("✗ {why}"),
    };
    text.replace('|', "\\|")
}

/// Writes the report to `dir/schema-change.md`; the file's path, if it wrote one.
pub fn write(change: &ChangeRecord, dir: &Path) -> Option<std::path::PathBuf> {
    let text = render(change);
    let path = dir.join("schema-change.md");
    std::fs::write(&path, crate::redact::text(&text)).ok()?;
    Some(path)
}

/// One line for the summary: how many checks broke, by kind.
pub fn verdict(change: &ChangeRecord) -> String {
    let (rows, diff, _) = change.snapshot();
    let mut broken: Vec<String> = Vec::new();
    for (kind, before, after) in &rows {
        let n = lines(before, after.as_ref())
            .into_iter()
            .filter(|(_, b, a)| b.works() && a.as_ref().is_some_and(|a| a != b))
            .count();
        if n > 0 {
            broken.push(format!("{} ({n})", kind.name()));
        }
    }
    let changed = if diff.lines().is_empty() { "no trait changed".to_string() } else { diff.lines().join("; ") };
    if broken.is_empty() {
        format!("after the change ({changed}) every existing identity still does what it did")
    } else {
        format!("after the change ({changed}) existing identities lost what they could do: {}", broken.join(", "))
    }
}
