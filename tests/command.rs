//! The command, `kratos-conformance`, as a team's CI calls it: its help, its
//! exit codes, `plan` (which starts nothing) and `verify` of a team's
//! configuration on the `process` backend. Each call gets none of this run's
//! `KRATOS_*` settings: the flags are all it is told.

use std::process::{Command, Output, Stdio};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn command(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kratos-conformance"));
    for (name, _) in std::env::vars() {
        if name.starts_with("KRATOS_") || name == "CUCUMBER_FILTER_TAGS" || name == "TESTCONTAINERS_COMMAND" {
            command.env_remove(name);
        }
    }
    command.args(args).stdin(Stdio::null()).output().expect("the command runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn help_names_every_command_and_the_exit_codes() {
    let output = command(&["--help"]);
    assert!(output.status.success());
    let help = text(&output);
    for word in ["verify", "plan", "record-docs", "schema-change", "Exit codes: 0"] {
        assert!(help.contains(word), "--help does not mention {word}:\n{help}");
    }
    let verify = text(&command(&["verify", "--help"]));
    assert!(verify.contains("[env: KRATOS_CONFIG_DIR"), "verify --help does not name the variable of --config-dir:\n{verify}");
}

#[test]
fn a_mistyped_option_exits_2_with_one_line_that_says_so() {
    let output = command(&["verify", "--backend", "kubernetes"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("invalid value 'kubernetes'"), "{}", text(&output));
}

#[test]
fn plan_prints_what_would_run_and_why_the_rest_would_not_without_starting_kratos() {
    let reports = format!("{ROOT}/target/conformance-reports/command-plan");
    let config = format!("{ROOT}/examples/acme-customer");
    let output = command(&["plan", "--backend", "process", "--config-dir", &config, "--report-dir", &reports]);
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    assert!(said.contains("scenarios would run"), "{said}");
    // acme has a unified login: the identifier-first scenarios run with the
    // login style turned, or, asked to skip that, are not applicable and say why.
    assert!(said.contains("runs on as configured+identifier-first-login: "), "{said}");
    assert!(!said.contains("ready in"), "plan started a Kratos:\n{said}");
    let output = command(&["plan", "--backend", "process", "--config-dir", &config, "--report-dir", &reports, "--other-sides", "skip"]);
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    assert!(said.contains("not applicable (5): it describes the identifier-first login"), "{said}");
    assert!(!said.contains("+identifier-first-login"), "{said}");
}

#[test]
fn plan_of_an_external_deployment_that_is_not_there_says_so_in_one_line() {
    let config = format!("{ROOT}/examples/acme-customer");
    let output = command(&["plan", "--backend", "external", "--config-dir", &config, "--public-url", "http://127.0.0.1:9/", "--admin-url", "http://127.0.0.1:9/"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
}

#[test]
fn verify_runs_the_smoke_scenarios_on_a_team_configuration() {
    let reports = format!("{ROOT}/target/conformance-reports/command-verify");
    let config = format!("{ROOT}/examples/acme-customer");
    let output = command(&["verify", "--backend", "process", "--config-dir", &config, "--report-dir", &reports, "--tags", "@smoke"]);
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    assert!(said.contains("scenarios (") && said.contains("passed"), "{said}");
    assert!(std::path::Path::new(&reports).join("junit.xml").is_file(), "no JUnit report in {reports}");
}
