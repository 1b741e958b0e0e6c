//! Two runs of the suite in one process, at the same time, each with its own
//! instances, outcomes, flow recording, report folder and containers' run id
//! (issue 19, item 8: the run's state is a value the World carries, not a
//! process-wide static). A team's test binary may run our suite and its own.
//!
//! Both run on the `process` backend against this repository's
//! configuration, and both in a real browser of their own: one the scenarios
//! about a change (its instances are restarted across one), the other CORS
//! and the password policy. Each must pass with exactly its own features in
//! its own JUnit report, the browser's among them (so the first to end has
//! not stopped the other's browser).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kratos_conformance::runner::Suite;

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let binary = kratos_conformance::kratos::Settings::pinned_binary();
    if std::env::var_os("KRATOS_BIN").is_none() && !binary.is_file() {
        println!("two runs: skipped: no Kratos binary at {} (run scripts/setup.sh)", binary.display());
        return ExitCode::SUCCESS;
    }
    let reports = std::env::var_os("KRATOS_REPORT_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target/conformance-reports"));
    // Each run's tags, and the features (by the start of their name) its JUnit
    // report must hold, and no others (the flow documentation's check is every
    // run's).
    const BROWSER: &str = "Login in a real browser";
    const DOCS: &str = "Flow documentation";
    let runs: [(&str, &str, &[&str]); 2] = [
        ("change", "@schema-change or @real-browser", &["Existing identities after a change", BROWSER, DOCS]),
        ("cors-and-passwords", "@real-browser or @cors or @password-policy", &["CORS on Kratos", "A new password is held", BROWSER, DOCS]),
    ];
    // Everything the runs read from the environment is set before either starts.
    // SAFETY: no other thread runs yet.
    unsafe {
        std::env::set_var("KRATOS_BACKEND", "process");
        std::env::remove_var("KRATOS_REPORT_DIR");
        std::env::remove_var("KRATOS_CONFIG_DIR");
        if let Some(host) = kratos_conformance::kratos::engine::resolve_host() {
            std::env::set_var("DOCKER_HOST", host);
        }
    }
    let started: Vec<_> = runs
        .iter()
        .map(|(name, tags, features)| {
            let dir = reports.join("two-runs").join(name);
            let _ = std::fs::remove_dir_all(&dir);
            let suite = Suite::new().report_dir(&dir).cucumber_args(["--tags", tags]);
            (*name, *features, dir, std::thread::spawn(move || suite.run()))
        })
        .collect();
    let mut failed = Vec::new();
    for (name, features, dir, run) in started {
        let code = run.join().expect("a run does not panic");
        let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap_or_default();
        let cases = junit.matches("<testcase ").count();
        println!("two runs: {name}: {code:?}, {cases} test cases in {}", dir.join("junit.xml").display());
        if code != ExitCode::SUCCESS {
            failed.push(format!("{name} did not pass ({code:?})"));
        }
        if cases == 0 || junit.contains("<failure") {
            failed.push(format!("{name}: its JUnit report has {cases} test cases and {} failures", junit.matches("<failure").count()));
        }
        let suites: Vec<&str> = junit.split("<testsuite name=\"").skip(1).filter_map(|rest| rest.split('"').next()).collect();
        for suite in &suites {
            if !features.iter().any(|feature| suite.starts_with(feature)) {
                failed.push(format!("{name}: its JUnit report holds a feature of another run: {suite}"));
            }
        }
        for feature in features {
            if !suites.iter().any(|suite| suite.starts_with(feature)) {
                failed.push(format!("{name}: its JUnit report has no feature \"{feature}…\""));
            }
        }
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        for failure in &failed {
            println!("two runs: FAILED: {failure}");
        }
        ExitCode::FAILURE
    }
}
