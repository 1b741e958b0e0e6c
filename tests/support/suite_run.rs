//! The suite run again by one of its own tests: this test binary, started as
//! the runner (the variable `runner` set), with none of the caller's
//! `KRATOS_*` settings, so that what a test provokes is all the run sees.
//! Shared by the tests that judge whole runs (`#[path]`-included: it is not a
//! test target of its own).
// Each test that includes it uses part of it.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::process::{Command, Stdio};

/// `program` with none of the caller's settings of the suite (`KRATOS_*`, a
/// tag filter, testcontainers' command) and no standard input.
pub fn without_suite_settings(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars() {
        if name.starts_with("KRATOS_") || name == "CUCUMBER_FILTER_TAGS" || name == "TESTCONTAINERS_COMMAND" {
            command.env_remove(name);
        }
    }
    command.stdin(Stdio::null());
    command
}

/// This binary as the suite's runner, with `env` and nothing of the caller's
/// configuration of the suite.
pub fn command(runner: &str, env: &[(&str, String)]) -> Command {
    let mut command = without_suite_settings(std::env::current_exe().expect("the test binary knows its path"));
    command.env(runner, "1");
    for (name, value) in env {
        command.env(name, value);
    }
    command
}
