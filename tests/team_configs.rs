//! The whole suite on the team configurations under `examples/` that no other
//! test runs (acme-customer runs in tests/team_repo.rs): each with the
//! `process` backend, as a team runs the command. Each must pass, with no
//! scenario failed; what is not applicable there, and why, is printed.

#[path = "support/suite_run.rs"]
mod suite_run;

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Differ from each other and from `kratos-config/` in what teams vary: see
/// each folder's README.
const FIXTURES: &[&str] = &["globex-workforce", "initech-partners", "umbrella-health"];

/// The fixtures that deliver a schema inline (`base64://` in kratos.yml), and
/// the readable source each inline copy must equal.
const INLINE_SCHEMAS: &[(&str, &str)] = &[("initech-partners", "partner.schema.json"), ("umbrella-health", "clinician.schema.json")];

fn main() -> ExitCode {
    let mut failed = Vec::new();
    for (fixture, source) in INLINE_SCHEMAS {
        if let Err(e) = inline_schema_is_its_source(fixture, source) {
            eprintln!("team_configs: {e}");
            failed.push("a fixture's inline schema");
        }
    }
    for fixture in FIXTURES {
        let started = Instant::now();
        let output = suite_run::without_suite_settings(env!("CARGO_BIN_EXE_kratos-conformance"))
            .args(["verify", "--backend", "process", "--config-dir"])
            .arg(Path::new(ROOT).join("examples").join(fixture))
            .arg("--report-dir")
            .arg(Path::new(ROOT).join("target/conformance-reports/team-configs").join(fixture))
            .output()
            .expect("the command runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let summary: Vec<&str> = stderr
            .lines()
            .chain(stdout.lines())
            .skip_while(|l| !l.starts_with("kratos-conformance summary"))
            .filter(|l| l.trim_start().starts_with("all ") || l.contains("not applicable to this deployment") || l.contains("failures by cause"))
            .collect();
        if output.status.success() {
            eprintln!("team_configs: {fixture}: passes in {:.1?}", started.elapsed());
            for line in summary {
                eprintln!("  {}", line.trim());
            }
        } else {
            eprintln!("team_configs: {fixture}: verify exited {} after {:.1?}\n{stdout}\n{stderr}", output.status, started.elapsed());
            failed.push(fixture);
        }
    }
    if failed.is_empty() { ExitCode::SUCCESS } else {
        eprintln!("team_configs: failed: {failed:?}");
        ExitCode::FAILURE
    }
}

/// A fixture that delivers a schema inline, as `base64://` in kratos.yml, keeps
/// its readable source beside it, which must say the same.
fn inline_schema_is_its_source(fixture: &str, source: &str) -> Result<(), String> {
    use base64::Engine as _;
    let dir = Path::new(ROOT).join("examples").join(fixture);
    let config = std::fs::read_to_string(dir.join("kratos.yml")).map_err(|e| e.to_string())?;
    let encoded = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("url: base64://"))
        .ok_or(format!("examples/{fixture}/kratos.yml has no base64:// schema URL"))?;
    let inline = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|e| format!("examples/{fixture}: its base64 does not decode: {e}"))?;
    let readable = std::fs::read(dir.join(source)).map_err(|e| e.to_string())?;
    if inline == readable {
        Ok(())
    } else {
        Err(format!("examples/{fixture}/kratos.yml's inline schema is not {source}; write it anew with `base64 -w0 {source}`"))
    }
}
