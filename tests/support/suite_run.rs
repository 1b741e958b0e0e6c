//! The suite run again by one of its own tests: this test binary, started as
//! the runner (the variable `runner` set), with none of the caller's
//! `KRATOS_*` settings, so that what a test provokes is all the run sees.
//! Shared by the tests that judge whole runs (`#[path]`-included: it is not a
//! test target of its own).

use std::process::{Command, Stdio};

/// This binary as the suite's runner, with `env` and nothing of the caller's
/// configuration of the suite.
pub fn command(runner: &str, env: &[(&str, String)]) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary knows its path"));
    for (name, _) in std::env::vars() {
        if name.starts_with("KRATOS_") || name == "CUCUMBER_FILTER_TAGS" || name == "TESTCONTAINERS_COMMAND" {
            command.env_remove(name);
        }
    }
    command.env(runner, "1").stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    command
}
