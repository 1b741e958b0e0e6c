//! Whether the suite's verdicts and output can be trusted, checked on real runs
//! of the suite (this binary runs itself as the conformance runner):
//!
//! 1. **redaction**: scenarios that fail on purpose in checks holding secrets,
//!    against a Kratos that logs sensitive values; the console, `junit.xml` and
//!    `cucumber.json` must contain none of the secrets the run knew;
//! 2. **green on nothing**: a filter that selects no scenario fails the run and
//!    names the filter;
//! 3. **two runs, two PID namespaces, one engine**: run side by side, each in
//!    its own `unshare --pid` namespace on the same container engine, both pass
//!    and neither removes the other's containers.
//!
//! A check whose prerequisite is missing here (no container engine, no
//! `unshare`) says so in one line and does not fail.

#[path = "support/suite_run.rs"]
mod suite_run;
#[path = "trust/steps.rs"]
mod trust_steps;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::time::{Duration, Instant};

const RUNNER: &str = "KRATOS_TRUST_RUNNER";

fn main() -> ExitCode {
    if std::env::var_os(RUNNER).is_some() {
        return kratos_conformance::runner::main();
    }
    type Check = (&'static str, fn() -> Result<String, String>);
    let checks: [Check; 3] = [
        ("redaction", redaction),
        ("green on nothing", green_on_nothing),
        ("two runs in two PID namespaces", two_namespaces),
    ];
    let mut failed = 0;
    for (name, check) in checks {
        let started = Instant::now();
        match check() {
            Ok(said) => println!("trust: {name}: ok ({:.1?}) — {said}", started.elapsed()),
            Err(why) => {
                failed += 1;
                println!("trust: {name}: FAILED ({:.1?}) — {why}", started.elapsed());
            }
        }
    }
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// This binary as the conformance runner, with a clean environment for the
/// suite's own variables and these on top.
fn runner(env: &[(&str, String)], args: &[&str]) -> Command {
    let mut command = suite_run::command(RUNNER, env);
    command.args(args);
    command
}

fn output_text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn redaction() -> Result<String, String> {
    let reports = root().join("target/trust/redaction");
    let _ = std::fs::remove_dir_all(&reports);
    std::fs::create_dir_all(&reports).map_err(|e| e.to_string())?;
    let secrets_file = reports.join("secrets.txt");
    let output = runner(
        &[
            ("KRATOS_BACKEND", "process".into()),
            ("KRATOS_FEATURES_DIR", root().join("tests/trust/redaction").display().to_string()),
            ("KRATOS_REPORT_DIR", reports.display().to_string()),
            ("KRATOS_CONFORMANCE_SECRETS_FILE", secrets_file.display().to_string()),
            // Kratos reads these: it logs headers, cookies and tokens as they are.
            ("LOG_LEAK_SENSITIVE_VALUES", "true".into()),
            ("LOG_LEVEL", "trace".into()),
        ],
        &["--concurrency", "2"],
    )
    .output()
    .map_err(|e| format!("cannot run the suite: {e}"))?;
    let console = output_text(&output);
    if output.status.code() != Some(1) {
        return Err(format!("the run should fail its six scenarios (exit 1), it exited {:?}:\n{console}", output.status.code()));
    }
    let junit = std::fs::read_to_string(reports.join("junit.xml")).map_err(|e| format!("no junit.xml: {e}"))?;
    let json = std::fs::read_to_string(reports.join("cucumber.json")).map_err(|e| format!("no cucumber.json: {e}"))?;
    if !junit.contains("failures=\"6\"") {
        return Err(format!("every scenario should fail on purpose; junit.xml says otherwise:\n{}", &junit[..junit.len().min(600)]));
    }
    if !junit.contains("what Kratos logged about this scenario's requests") {
        return Err("no failure carried Kratos' log lines, so they were not checked".into());
    }
    let secrets: Vec<String> = std::fs::read_to_string(&secrets_file)
        .map_err(|e| format!("the run wrote no secrets file: {e}"))?
        .lines()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let kinds = [
        ("session tokens", secrets.iter().any(|s| s.starts_with("ory_st_"))),
        ("logout tokens", secrets.iter().any(|s| s.starts_with("ory_lo_"))),
        ("TOTP secrets", secrets.iter().any(|s| s.len() >= 16 && s.chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)))),
        ("passwords", secrets.iter().any(|s| s.len() == 24 && s.chars().any(|c| "!#%+-=?@^_~".contains(c)))),
    ];
    if let Some((kind, _)) = kinds.iter().find(|(_, seen)| !seen) {
        return Err(format!("the run knew no {kind}, so the test would prove nothing about them"));
    }
    let mut leaks = Vec::new();
    for (name, text) in [("the console", &console), ("junit.xml", &junit), ("cucumber.json", &json)] {
        for secret in &secrets {
            if text.contains(secret.as_str()) {
                leaks.push(format!("{name} contains a secret of {} characters starting {:?}", secret.len(), &secret[..4.min(secret.len())]));
            }
        }
        if text.contains("data:image/png;base64,iVBOR") {
            leaks.push(format!("{name} contains a PNG (the QR code of a TOTP secret)"));
        }
    }
    if !leaks.is_empty() {
        return Err(leaks.join("; "));
    }
    Ok(format!("6 scenarios failed on purpose; none of the {} secrets the run knew is in the console, junit.xml or cucumber.json", secrets.len()))
}

fn green_on_nothing() -> Result<String, String> {
    let output = runner(&[("KRATOS_BACKEND", "process".into())], &["--tags", "@no-scenario-has-this-tag"])
        .output()
        .map_err(|e| format!("cannot run the suite: {e}"))?;
    let text = output_text(&output);
    if output.status.success() {
        return Err(format!("a run that selects nothing passed:\n{text}"));
    }
    if !text.contains("no scenario matches --tags '@no-scenario-has-this-tag'") {
        return Err(format!("the failure does not name the filter:\n{text}"));
    }
    Ok("a filter that selects nothing fails and names it".into())
}

fn two_namespaces() -> Result<String, String> {
    let unshare = Command::new("unshare").args(["--pid", "--fork", "--mount-proc", "true"]).status();
    if !unshare.is_ok_and(|s| s.success()) {
        return Ok("skipped: `unshare --pid --fork --mount-proc` does not work here (it needs root)".into());
    }
    let engine = kratos_conformance::kratos::engine::resolve_host();
    if engine.is_none() {
        return Ok("skipped: no container engine (run scripts/setup.sh)".into());
    }
    let start = |name: &str| -> Result<std::process::Child, String> {
        let reports: PathBuf = root().join("target/trust/namespace").join(name);
        let exe = std::env::current_exe().expect("the test binary knows its path");
        let mut command = runner(
            &[("KRATOS_BACKEND", "container".into()), ("KRATOS_REPORT_DIR", reports.display().to_string())],
            &["--tags", "@smoke"],
        );
        let inner = std::mem::replace(&mut command, Command::new("unshare"));
        command.args(["--pid", "--fork", "--mount-proc", "--kill-child"]).arg(exe).args(inner.get_args());
        for (name, value) in inner.get_envs() {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| format!("cannot start run {name}: {e}"))
    };
    let first = start("a")?;
    // The second run starts while the first one's containers are up: it is the
    // one that looks for abandoned containers.
    std::thread::sleep(Duration::from_secs(4));
    let second = start("b")?;
    let (a, b) = (first.wait_with_output().map_err(|e| e.to_string())?, second.wait_with_output().map_err(|e| e.to_string())?);
    let (a_text, b_text) = (output_text(&a), output_text(&b));
    for (name, output, text) in [("a", &a, &a_text), ("b", &b, &b_text)] {
        if !output.status.success() {
            return Err(format!("run {name} failed:\n{text}"));
        }
    }
    let run_id = |text: &str| text.lines().find_map(|l| l.strip_prefix("kratos-conformance: run ")).and_then(|r| r.split_whitespace().next()).map(str::to_string);
    let (Some(a_id), Some(b_id)) = (run_id(&a_text), run_id(&b_text)) else {
        return Err("a run did not say its run id".into());
    };
    for (name, text, other) in [("a", &a_text, &b_id), ("b", &b_text, &a_id)] {
        if let Some(line) = text.lines().find(|l| l.contains("removed") && l.contains(other.as_str())) {
            return Err(format!("run {name} removed a container of the other run: {line}"));
        }
    }
    Ok(format!("runs {a_id} and {b_id} passed side by side in two PID namespaces, neither touched the other's containers"))
}
