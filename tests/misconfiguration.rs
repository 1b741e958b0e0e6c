//! The misconfigurations production makes possible, each brought about on
//! purpose, and the run that must refuse it in its first lines (exit 2, no
//! scenario run) with a message that names it ([`kratos_conformance::preflight`]):
//!
//! - on the production topology (`KRATOS_SELF_TEST_FAULT`): replicas whose
//!   cookie secrets differ, `serve.public.base_url` on `http://` behind TLS, a
//!   proxy that drops `X-Forwarded-Proto`, one that drops `Host`;
//! - on a team's configuration: a cookie domain the UI is not under;
//! - on an external Kratos started here with `--dev`: `SameSite=None` on a
//!   session cookie that is then not `Secure`.
//!
//! And the same configurations without the fault pass the check, so that
//! what is refused is the fault, not the set-up.

#[path = "support/suite_run.rs"]
mod suite_run;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const RUNNER: &str = "KRATOS_MISCONFIGURATION_RUNNER";
/// The misconfiguration must be said within this many lines of the run's output.
const FIRST_LINES: usize = 3;

fn main() -> ExitCode {
    if std::env::var_os(RUNNER).is_some() {
        return kratos_conformance::runner::main();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = root.join("target/misconfiguration");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("target/ is writable");
    let production = |fault: &'static str| {
        vec![("KRATOS_TOPOLOGY", "production".to_string()), ("KRATOS_BACKEND", "process".into()), ("KRATOS_SELF_TEST_FAULT", fault.into())]
    };
    type Case = (&'static str, Box<dyn Fn() -> Result<Vec<(&'static str, String)>, String>>, &'static str);
    let cases: Vec<Case> = vec![
        ("replicas with different cookie secrets", Box::new(move || Ok(production("replica-cookie-secret"))), "a session made on replica 1 is rejected by replica 2"),
        ("serve.public.base_url on http:// behind TLS", Box::new(move || Ok(production("http-base-url"))), "builds ui.action and its redirects on plain HTTP"),
        ("a proxy that drops X-Forwarded-Proto", Box::new(move || Ok(production("no-forwarded-proto"))), "does not send X-Forwarded-Proto: https"),
        ("a proxy that drops Host", Box::new(move || Ok(production("no-forwarded-host"))), "does not forward the client's Host"),
        ("a cookie domain the UI is not under", Box::new({
            let scratch = scratch.clone();
            move || cookie_domain_config(root, &scratch)
        }), "session.cookie.domain is acme.example, and the login UI is at localhost"),
    ];
    let mut failed = 0;
    for (name, env, expected) in &cases {
        let started = Instant::now();
        let verdict = env().and_then(|env| refused(&env, expected));
        failed += report(name, started, verdict);
    }
    let started = Instant::now();
    failed += report("SameSite=None on an external Kratos with --dev", started, same_site_none(root, &scratch));
    let started = Instant::now();
    failed += report("the production topology without a fault", started, passes(&[("KRATOS_TOPOLOGY", "production".into()), ("KRATOS_BACKEND", "process".into())]));
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn report(name: &str, started: Instant, verdict: Result<String, String>) -> usize {
    match verdict {
        Ok(said) => {
            println!("misconfiguration: {name}: ok ({:.1?}) — {said}", started.elapsed());
            0
        }
        Err(why) => {
            println!("misconfiguration: {name}: FAILED ({:.1?}) — {why}", started.elapsed());
            1
        }
    }
}

/// This binary as the conformance runner on the smoke scenarios, with the
/// suite's own variables cleared and these set.
fn runner(env: &[(&str, String)]) -> Command {
    let reports = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/misconfiguration/reports");
    let mut command = suite_run::command(RUNNER, env);
    // The caller's settings first, so that a test's own report folder wins.
    if !env.iter().any(|(name, _)| *name == "KRATOS_REPORT_DIR") {
        command.env("KRATOS_REPORT_DIR", reports);
    }
    command.args(["--tags", "@smoke"]);
    command
}

/// The run exits 2 before any scenario, and says `expected` within its first lines.
fn refused(env: &[(&str, String)], expected: &str) -> Result<String, String> {
    let output = runner(env).output().map_err(|e| format!("cannot run the suite: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let first: Vec<&str> = stderr.lines().take(FIRST_LINES).collect();
    let Some(line) = first.iter().find(|l| l.contains(expected)) else {
        return Err(format!("\"{expected}\" is not in the first {FIRST_LINES} lines of the run's output:\n{stderr}{stdout}"));
    };
    if output.status.code() != Some(2) {
        return Err(format!("the run should stop before any scenario (exit 2), it exited {:?}:\n{stderr}", output.status.code()));
    }
    if stdout.contains("Scenario") {
        return Err(format!("scenarios ran although the deployment is misconfigured:\n{stdout}"));
    }
    Ok(line.trim_start_matches("kratos-conformance: ").chars().take(160).collect::<String>() + "…")
}

fn passes(env: &[(&str, String)]) -> Result<String, String> {
    let output = runner(env).output().map_err(|e| format!("cannot run the suite: {e}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stderr), String::from_utf8_lossy(&output.stdout));
    if !output.status.success() || text.contains("✘ misconfiguration") || text.contains("kratos-conformance: note:") {
        return Err(format!("the run without a fault should pass and find nothing, it exited {:?}:\n{text}", output.status.code()));
    }
    Ok("the smoke scenarios pass, and nothing is reported, not even a check that could not be made".into())
}

/// `examples/acme-customer` with `session.cookie.domain: acme.example`,
/// which its UI at localhost is not under.
fn cookie_domain_config(root: &Path, scratch: &Path) -> Result<Vec<(&'static str, String)>, String> {
    let dir = copy_config(&root.join("examples/acme-customer"), &scratch.join("cookie-domain"))?;
    edit(&dir.join("kratos.yml"), "    name: acme_session\n", "    name: acme_session\n    domain: acme.example\n")?;
    Ok(vec![("KRATOS_BACKEND", "process".into()), ("KRATOS_CONFIG_DIR", dir.display().to_string())])
}

/// This repository's configuration with `session.cookie.same_site: None`,
/// served by Kratos with `--dev` as a team might run a staging deployment.
fn same_site_none(root: &Path, scratch: &Path) -> Result<String, String> {
    let dir = copy_config(&root.join("kratos-config"), &scratch.join("same-site-none"))?;
    edit(&dir.join("kratos.yml"), "session:\n  lifespan: 24h\n", "session:\n  lifespan: 24h\n  cookie:\n    same_site: None\n")?;
    let binary = root.join("target/kratos").join(kratos_conformance::kratos::pinned_version()).join("kratos");
    if !binary.exists() {
        return Err(format!("{} is missing: run scripts/setup.sh", binary.display()));
    }
    let port = |_| std::net::TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|e| e.to_string());
    let (public, admin) = (port(0)?, port(1)?);
    let schemas = format!(
        r#"[{{"id":"default","url":"file://{d}/identity.schema.json"}},{{"id":"no-totp-account-name","url":"file://{d}/identity-no-totp-account-name.schema.json"}}]"#,
        d = dir.display()
    );
    let log = std::fs::File::create(scratch.join("same-site-none.log")).map_err(|e| e.to_string())?;
    let mut kratos = Command::new(&binary)
        .current_dir(&dir)
        .args(["serve", "-c", "kratos.yml", "-c", "profiles/strict.yml", "--dev"])
        .env("DSN", "memory")
        .env("IDENTITY_SCHEMAS", schemas)
        .env("SERVE_PUBLIC_PORT", public.to_string())
        .env("SERVE_PUBLIC_HOST", "127.0.0.1")
        .env("SERVE_PUBLIC_BASE_URL", format!("http://127.0.0.1:{public}/"))
        .env("SERVE_ADMIN_PORT", admin.to_string())
        .env("SERVE_ADMIN_HOST", "127.0.0.1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    // The suite waits for it (its external backend allows 5 s); give it a head start.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", public)).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let verdict = refused(
        &[
            ("KRATOS_BACKEND", "external".into()),
            ("KRATOS_PUBLIC_URL", format!("http://127.0.0.1:{public}/")),
            ("KRATOS_ADMIN_URL", format!("http://127.0.0.1:{admin}/")),
            ("KRATOS_CONFIG_DIR", dir.display().to_string()),
        ],
        "session.cookie.same_site is None, and Kratos runs with --dev",
    );
    let _ = kratos.kill();
    let _ = kratos.wait();
    verdict
}

fn copy_config(from: &Path, to: &Path) -> Result<PathBuf, String> {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to.parent().expect("a folder in target/")).map_err(|e| e.to_string())?;
    let status = Command::new("cp").arg("-r").arg(from).arg(to).status().map_err(|e| format!("cannot run cp: {e}"))?;
    if !status.success() {
        return Err(format!("cp -r {} {} failed", from.display(), to.display()));
    }
    Ok(to.to_path_buf())
}

fn edit(file: &Path, from: &str, to: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    if !text.contains(from) {
        return Err(format!("{} no longer contains {from:?}: update this test", file.display()));
    }
    std::fs::write(file, text.replacen(from, to, 1)).map_err(|e| format!("cannot write {}: {e}", file.display()))
}
