//! The JUnit report (`junit.xml`): one test suite per feature, one test case per
//! scenario, written from the collected outcomes, so that what cucumber never
//! ran is there too: scenarios that are not applicable to the deployment
//! (`<skipped message="...">` with the reason) and the flow documentation check.
//! Everything in it already passed the redaction point.

use std::fmt::Write as _;
use std::path::Path;

use super::outcomes::{Outcome, Status};

/// Writes `junit.xml` to `path`.
pub fn write(path: &Path, outcomes: &[Outcome]) -> std::io::Result<()> {
    std::fs::write(path, render(outcomes))
}

pub fn render(outcomes: &[Outcome]) -> String {
    let mut features: Vec<(&str, Vec<&Outcome>)> = Vec::new();
    for outcome in outcomes {
        match features.iter_mut().find(|(f, _)| *f == outcome.feature) {
            Some((_, members)) => members.push(outcome),
            None => features.push((&outcome.feature, vec![outcome])),
        }
    }
    let count = |list: &[&Outcome], f: fn(&Status) -> bool| list.iter().filter(|o| f(&o.status)).count();
    let failed = |s: &Status| matches!(s, Status::Failed { .. });
    let skipped = |s: &Status| matches!(s, Status::Skipped { .. });
    let all: Vec<&Outcome> = outcomes.iter().collect();
    let seconds = |list: &[&Outcome]| list.iter().map(|o| o.duration.as_secs_f64()).sum::<f64>();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"kratos-conformance\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        all.len(),
        count(&all, failed),
        count(&all, skipped),
        seconds(&all)
    );
    for (feature, members) in &features {
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
            attribute(feature),
            members.len(),
            count(members, failed),
            count(members, skipped),
            seconds(members)
        );
        for outcome in members {
            let name = match &outcome.rule {
                Some(rule) => format!("{rule}: {}", outcome.scenario),
                None => outcome.scenario.clone(),
            };
            let _ = writeln!(
                xml,
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{}\" time=\"{:.3}\">",
                attribute(&name),
                attribute(feature),
                attribute(&outcome.feature_file),
                outcome.line,
                outcome.duration.as_secs_f64()
            );
            match &outcome.status {
                Status::Passed => {}
                Status::Failed { step, message } => {
                    let first = message.lines().next().unwrap_or_default();
                    let mut body = format!("{step}\n{message}");
                    if !outcome.artifacts.is_empty() {
                        body.push_str(&format!("\n--- left in the report folder ---\n{}", outcome.artifacts.join("\n")));
                    }
                    if let Some(log) = &outcome.kratos_log {
                        body.push_str(&format!("\n--- what Kratos logged about this scenario's requests ---\n{log}"));
                    }
                    let _ = writeln!(xml, "      <failure message=\"{}\" type=\"step failed\">{}</failure>", attribute(first), cdata(&body));
                }
                Status::Skipped { reason } => {
                    let _ = writeln!(xml, "      <skipped message=\"{}\"/>", attribute(reason));
                }
            }
            // `[[ATTACHMENT|path]]`: how Jenkins and GitLab find a test's files.
            let attached: Vec<String> = match &outcome.status {
                Status::Failed { .. } => outcome
                    .artifacts
                    .iter()
                    .filter_map(|a| a.strip_prefix("screenshot: ").or_else(|| a.strip_prefix("browser console: ")))
                    .map(|path| format!("[[ATTACHMENT|{path}]]"))
                    .collect(),
                _ => Vec::new(),
            };
            if !outcome.steps.is_empty() || !attached.is_empty() {
                let mut out = outcome.steps.clone();
                out.extend(attached);
                let _ = writeln!(xml, "      <system-out>{}</system-out>", cdata(&out.join("\n")));
            }
            xml.push_str("    </testcase>\n");
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// Text for an XML attribute (control characters other than tab and newline dropped).
fn attribute(text: &str) -> String {
    valid_xml(text).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\n', "&#10;")
}

/// Text as CDATA; a `]]>` inside is split across two sections.
fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", valid_xml(text).replace("]]>", "]]]]><![CDATA[>"))
}

fn valid_xml(text: &str) -> String {
    text.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn outcome(scenario: &str, status: Status) -> Outcome {
        Outcome {
            feature: "Login & <friends>".into(),
            feature_file: "features/login.feature".into(),
            rule: None,
            scenario: scenario.into(),
            line: 7,
            status,
            duration: Duration::from_millis(1500),
            kratos_log: None,
            artifacts: vec!["screenshot: target/conformance-reports/browser/x.png".into()],
            steps: vec!["✔ Given a native client".into()],
        }
    }

    #[test]
    fn failures_skips_with_reasons_and_escaping() {
        let xml = render(&[
            outcome("passes", Status::Passed),
            outcome("fails \"here\"", Status::Failed { step: "Then x".into(), message: "expected 1, got 2\n]]> <oops>".into() }),
            outcome("skipped", Status::Skipped { reason: "not applicable to this deployment: lookup_secret is disabled".into() }),
        ]);
        assert!(xml.contains("tests=\"3\" failures=\"1\" skipped=\"1\""), "{xml}");
        assert!(xml.contains("name=\"Login &amp; &lt;friends&gt;\""));
        assert!(xml.contains("<skipped message=\"not applicable to this deployment: lookup_secret is disabled\"/>"));
        assert!(xml.contains("<failure message=\"expected 1, got 2\""));
        assert!(xml.contains("]]]]><![CDATA[>"));
        assert!(xml.contains("name=\"fails &quot;here&quot;\""));
        assert!(xml.contains("[[ATTACHMENT|target/conformance-reports/browser/x.png]]"));
        assert!(xml.contains("--- left in the report folder ---\nscreenshot: target/conformance-reports/browser/x.png"));
    }
}
