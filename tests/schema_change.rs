//! The schema-change scenarios on the fixture pairs of `examples/schema-change/`
//! (the previous configuration, and seven changes of it), so that a suite
//! that stopped telling a breaking change from a compatible one fails CI. This
//! binary runs itself as the conformance runner, once per pair, side by side,
//! on the `process` backend, and asserts which scenarios failed and that each
//! failure names the kind of identity and the trait.

#[path = "support/suite_run.rs"]
mod suite_run;


use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

const RUNNER: &str = "KRATOS_SCHEMA_CHANGE_RUNNER";

/// A change and what it must break: (scenario name, words its failure must say).
struct Pair {
    change: &'static str,
    breaks: &'static [(&'static str, &'static [&'static str])],
}

/// A change that breaks every scenario: each failure must say these words.
const EVERY: &str = "every scenario";

const PAIRS: [Pair; 7] = [
    Pair { change: "optional-trait-added", breaks: &[] },
    Pair {
        change: "identifier-renamed",
        // Kratos keeps the stored identifier (the login with `username` still
        // works), but an identity whose traits no longer validate cannot be
        // updated: saving the profile and using up a recovery code both fail.
        breaks: &[
            ("a password only save their profile unchanged", &["a password only", "\"username\" not allowed", "username was removed"]),
            ("a password and an authenticator app save their profile unchanged", &["a password and an authenticator app", "username was removed"]),
            (
                "a password, an authenticator app and recovery codes save their profile unchanged",
                &["a password, an authenticator app and recovery codes", "username was removed"],
            ),
            ("a self-service registration save their profile unchanged", &["a self-service registration", "username was removed"]),
            (
                "existing second factors still reach AAL2: identities with recovery codes reach AAL2 with one they have not used",
                &["recovery codes", "Unable to update identity", "traits removed: username"],
            ),
        ],
    },
    Pair {
        change: "identifier-dropped",
        breaks: &[
            (
                "identities with a password only that save their profile log in with each identifier they had",
                &["a password only", "`username` once its profile is saved", "username is no longer a password identifier"],
            ),
            (
                "identities with a password and an authenticator app that save their profile log in with each identifier they had",
                &["a password and an authenticator app", "`username` once its profile is saved", "username is no longer a password identifier"],
            ),
        ],
    },
    Pair {
        change: "trait-required",
        // Only the identity created with the required traits alone lacks `phone`.
        breaks: &[("a password only save their profile unchanged", &["a password only", "traits.phone", "phone is now required"])],
    },
    Pair {
        change: "account-name-moved",
        breaks: &[
            (
                "a new pairing shows the account name users know: pairing an authenticator app shows identities with a password only the account name it showed before",
                &["a password only", "trait email", "trait username"],
            ),
            (
                "a new pairing shows the account name users know: pairing an authenticator app shows identities with a self-service registration the account name it showed before",
                &["a self-service registration", "trait email", "trait username"],
            ),
        ],
    },
    Pair {
        change: "pattern-tightened",
        // As with a renamed trait: the stored username still logs in, but an
        // identity whose username no longer validates cannot be updated.
        breaks: &[
            ("a password only save their profile unchanged", &["a password only", "does not match pattern", "username's pattern changed"]),
            ("a password and an authenticator app save their profile unchanged", &["a password and an authenticator app", "username's pattern changed"]),
            (
                "a password, an authenticator app and recovery codes save their profile unchanged",
                &["a password, an authenticator app and recovery codes", "username's pattern changed"],
            ),
            ("a self-service registration save their profile unchanged", &["a self-service registration", "username's pattern changed"]),
            (
                "existing second factors still reach AAL2: identities with recovery codes reach AAL2 with one they have not used",
                &["recovery codes", "Unable to update identity", "username's pattern changed"],
            ),
        ],
    },
    Pair {
        change: "schema-id-renamed",
        // Identities keep the schema id they were made with; Kratos then
        // refuses their password as if it were wrong (4000006).
        breaks: &[(EVERY, &["4000006", "the schema \"member\" is gone from the configuration"])],
    },
];

fn main() -> ExitCode {
    if std::env::var_os(RUNNER).is_some() {
        return kratos_conformance::runner::main();
    }
    let started = Instant::now();
    let runs: Vec<_> = PAIRS.iter().map(|pair| (pair, std::thread::spawn(move || run(pair.change)))).collect();
    let mut failed = 0;
    for (pair, run) in runs {
        let verdict = run.join().expect("a run thread does not panic").and_then(|(code, reports)| check(pair, code, &reports));
        match verdict {
            Ok(said) => println!("schema change: {}: ok — {said}", pair.change),
            Err(why) => {
                failed += 1;
                println!("schema change: {}: FAILED — {why}", pair.change);
            }
        }
    }
    println!("schema change: {} pairs in {:.1?}", PAIRS.len(), started.elapsed());
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The runner on one pair; its exit code and report folder.
fn run(change: &str) -> Result<(Option<i32>, PathBuf), String> {
    let examples = root().join("examples/schema-change");
    let reports = root().join("target/conformance-reports/schema-change").join(change);
    let _ = std::fs::remove_dir_all(&reports);
    let output = suite_run::without_suite_settings(std::env::current_exe().map_err(|e| e.to_string())?)
        .env(RUNNER, "1")
        .env("KRATOS_BACKEND", "process")
        .env("KRATOS_CONFIG_DIR", examples.join(change))
        .env("KRATOS_PREVIOUS_CONFIG_DIR", examples.join("previous"))
        .env("KRATOS_REPORT_DIR", &reports)
        .args(["--tags", "@schema-change"])
        .output()
        .map_err(|e| format!("cannot run the suite: {e}"))?;
    std::fs::write(reports.join("console.txt"), [output.stdout, output.stderr].concat()).map_err(|e| e.to_string())?;
    Ok((output.status.code(), reports))
}

/// The failed scenarios are exactly those the change breaks, and each failure
/// says the words it must.
fn check(pair: &Pair, code: Option<i32>, reports: &Path) -> Result<String, String> {
    let console = reports.join("console.txt");
    let junit = std::fs::read_to_string(reports.join("junit.xml"))
        .map_err(|_| format!("the run (exit {code:?}) wrote no junit.xml; see {}", console.display()))?;
    let cases = test_cases(&junit);
    let ran = cases.iter().filter(|(name, _)| !name.starts_with("What Kratos sends")).count();
    if ran < 19 {
        return Err(format!("only {ran} schema-change scenarios ran, expected 19; see {}", console.display()));
    }
    let failed: Vec<&(String, Option<String>)> = cases.iter().filter(|(_, failure)| failure.is_some()).collect();
    let expected_code = if pair.breaks.is_empty() { 0 } else { 1 };
    if code != Some(expected_code) {
        return Err(format!("the run exited {code:?}, expected {expected_code}; see {}", console.display()));
    }
    if let [(EVERY, _)] = pair.breaks
        && failed.len() != ran
    {
        return Err(format!("{} of {ran} scenarios failed, and the change breaks every one; see {}", failed.len(), console.display()));
    }
    for (name, failure) in &failed {
        let Some((_, words)) = pair.breaks.iter().find(|(suffix, _)| *suffix == EVERY || name.ends_with(suffix)) else {
            return Err(format!("\"{name}\" failed, and the change does not break it: {}", failure.as_deref().unwrap_or_default()));
        };
        let text = failure.as_deref().unwrap_or_default();
        if let Some(missing) = words.iter().find(|w| !text.contains(**w)) {
            return Err(format!("the failure of \"{name}\" does not say {missing:?}: {text}"));
        }
    }
    if let Some((missing, _)) = pair.breaks.iter().find(|(suffix, _)| *suffix != EVERY && !failed.iter().any(|(name, _)| name.ends_with(suffix))) {
        return Err(format!("the scenario ending \"{missing}\" passed, and the change breaks it; see {}", console.display()));
    }
    let report = std::fs::read_to_string(reports.join("schema-change.md")).map_err(|_| "no migration report was written".to_string())?;
    let broken = report.matches("**broken**").count();
    Ok(format!("{} of {ran} scenarios failed as they must; the migration report marks {broken} answers broken", failed.len()))
}

/// Each test case's name and, where it failed, its failure text (the message
/// and the details), from the runner's junit.xml.
fn test_cases(junit: &str) -> Vec<(String, Option<String>)> {
    junit
        .split("<testcase ")
        .skip(1)
        .map(|case| {
            let case = case.split("</testcase>").next().unwrap_or(case);
            let name = attribute(case, "name").unwrap_or_default();
            let failure = case.find("<failure").map(|at| unescape(&case[at..]));
            (unescape(&name), failure)
        })
        .collect()
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_string())
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&apos;", "'").replace("&amp;", "&")
}
