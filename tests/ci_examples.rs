//! `examples/ci/`: the commands of the GitHub Actions and GitLab CI examples,
//! run as far as a machine without those CI services can: every
//! `kratos-conformance` command line is parsed by the command itself (an
//! unknown flag, a subcommand that does not exist, fail here), and the team
//! repository's `cargo test` line is the one `tests/team_repo.rs` runs.

use std::process::{Command, Stdio};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every `run:` / `script:` command of a CI file, continuation lines joined.
fn commands(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(format!("{ROOT}/examples/ci/{file}")).unwrap();
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{file} is not YAML: {e}"));
    let mut found = Vec::new();
    collect(&yaml, &mut found);
    found.iter().flat_map(|block| block.replace("\\\n", " ").lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect::<Vec<_>>()).collect()
}

fn collect(value: &serde_yaml_ng::Value, into: &mut Vec<String>) {
    use serde_yaml_ng::Value;
    match value {
        Value::Mapping(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    (Some("run"), Value::String(s)) => into.push(s.clone()),
                    (Some("script" | "before_script"), Value::Sequence(lines)) => into.extend(lines.iter().filter_map(|l| l.as_str().map(String::from))),
                    _ => collect(value, into),
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|v| collect(v, into)),
        _ => {}
    }
}

/// The words of a shell line, quotes removed (the examples use no nesting).
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ' ') => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// The command's own parser on a command line of an example: `--help` after
/// the example's arguments makes it check them and stop, starting nothing.
fn parses(args: &[String]) -> Result<(), String> {
    let output = Command::new(env!("CARGO_BIN_EXE_kratos-conformance")).args(args).arg("--help").stdin(Stdio::null()).output().unwrap();
    if output.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&output.stderr).into_owned()) }
}

#[test]
fn every_kratos_conformance_command_of_the_examples_is_one_the_command_takes() {
    let mut checked = 0;
    for file in ["github-actions.yml", "gitlab-ci.yml"] {
        for line in commands(file) {
            let words = words(&line);
            // `docker run … IMAGE verify …`: the image's entrypoint is the command.
            let start = match words.iter().position(|w| w == "kratos-conformance") {
                Some(i) if words.get(i.wrapping_sub(1)).is_none_or(|w| w != "--git") && !line.starts_with("cargo install") => Some(i + 1),
                _ => words.iter().position(|w| w.contains("kratos-conformance:")).map(|i| i + 1),
            };
            let Some(start) = start else { continue };
            let args = &words[start..];
            parses(args).unwrap_or_else(|e| panic!("{file}: `{line}` is not a command kratos-conformance takes: {e}"));
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} kratos-conformance command lines found in examples/ci");
}

#[test]
fn the_team_repository_job_runs_what_tests_team_repo_runs() {
    let runner = std::fs::read_to_string(format!("{ROOT}/tests/team_repo.rs")).unwrap();
    assert!(runner.contains(r#"["test", "--locked", "--test", "kratos"]"#), "tests/team_repo.rs no longer runs cargo test --locked --test kratos");
    for file in ["github-actions.yml", "gitlab-ci.yml"] {
        assert!(commands(file).iter().any(|c| c.contains("cargo test --locked --test kratos")), "{file} has no `cargo test --locked --test kratos` job");
    }
}
