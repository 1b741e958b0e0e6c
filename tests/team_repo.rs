//! `examples/team-repo/`, a team's repository that depends on this crate,
//! run as its team runs it: `cargo test` inside it, its own `Cargo.lock`
//! (`--locked`), on the `process` backend. It runs the suite's built-in
//! features and its own (`features/acme.feature`, with a step of its own)
//! against its configuration (`kratos/`, Acme's customer sign-in).
//!
//! This proves what a unit test cannot: that a crate outside this one collects
//! our steps, mixes them with its own on one World, and passes on its config.
//! Its build goes to `target/team-repo/` (another workspace cannot share this
//! one's target folder while `cargo test` holds it), its reports to
//! `target/conformance-reports/team-repo/`.

use std::process::{Command, ExitCode, Stdio};

fn main() -> ExitCode {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.args(["test", "--locked", "--test", "kratos"]).current_dir(format!("{root}/examples/team-repo"));
    // None of this run's settings: the team's repository says what it runs.
    for (name, _) in std::env::vars() {
        if name.starts_with("KRATOS_") || name.starts_with("CARGO_") || name == "CUCUMBER_FILTER_TAGS" || name == "RUSTFLAGS" {
            cargo.env_remove(name);
        }
    }
    cargo
        .env("CARGO_TARGET_DIR", format!("{root}/target/team-repo"))
        .env("KRATOS_BACKEND", "process")
        .env("KRATOS_REPORT_DIR", format!("{root}/target/conformance-reports/team-repo"))
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    let output = match cargo.output() {
        Ok(output) => output,
        Err(e) => {
            eprintln!("team_repo: cannot run cargo in examples/team-repo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    // The team's feature ran, all three of its scenarios, beside ours.
    let team_row = stdout.lines().find(|l| l.trim_start().starts_with("Acme's customers reach AAL2 and have accepted the terms"));
    let counts: Vec<&str> = team_row.map(|l| l.split_whitespace().rev().take(3).collect()).unwrap_or_default();
    let verdict = match (output.status.success(), counts.as_slice()) {
        (true, ["0", "0", "3"]) => Ok(()),
        (true, _) => Err(format!("the team's own feature did not pass its 3 scenarios (its row: {team_row:?})")),
        (false, _) => Err(format!("cargo test in examples/team-repo failed ({})", output.status)),
    };
    match verdict {
        Ok(()) => {
            eprintln!("team_repo: examples/team-repo passes: the built-in features and the team's own, on its configuration");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("team_repo: {e}");
            ExitCode::FAILURE
        }
    }
}
