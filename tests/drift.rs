//! An external deployment that does not run the configuration the suite is
//! given: the pinned Kratos on this repository's configuration, started with
//! another TOTP issuer, whoami's AAL rule turned to `aal1` and CORS open to
//! every origin behind the configuration's back. The run must name both as drift in its first lines,
//! before any scenario.

#[path = "support/suite_run.rs"]
mod suite_run;

#[path = "support/external_kratos.rs"]
mod external_kratos;

use std::path::PathBuf;
use std::process::ExitCode;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn main() -> ExitCode {
    let work = PathBuf::from(ROOT).join("target/conformance-reports/drift");
    let kratos = match external_kratos::ExternalKratos::start(
        &work,
        &[
            ("SELFSERVICE_METHODS_TOTP_CONFIG_ISSUER", "Drifted Corp"),
            ("SESSION_WHOAMI_REQUIRED_AAL", "aal1"),
            ("SERVE_PUBLIC_CORS_ENABLED", "true"),
            ("SERVE_PUBLIC_CORS_ALLOWED_ORIGINS", r#"["*"]"#),
        ],
    ) {
        Ok(kratos) => kratos,
        Err(e) => {
            eprintln!("drift: {e}");
            return ExitCode::FAILURE;
        }
    };
    let output = suite_run::without_suite_settings(env!("CARGO_BIN_EXE_kratos-conformance"))
        .args(["verify", "--backend", "external", "--profile", "strict", "--tags", "@smoke"])
        .arg("--config-dir")
        .arg(&kratos.config)
        .arg("--report-dir")
        .arg(work.join("reports"))
        .args(["--public-url", &kratos.public_url(), "--admin-url", &kratos.admin_url()])
        .output()
        .expect("the command runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let expected = [
        "the TOTP issuer is \"kratos-conformance\" in the configuration (selfservice.methods.totp.config.issuer), and the deployment's pairing shows \"Drifted Corp\"",
        "session.whoami.required_aal is highest_available in the configuration, and the deployment's whoami accepts",
        "CORS does not allow the origin https://unlisted.conformance.invalid in the configuration (serve.public.cors), and the deployment allows it",
    ];
    // The first lines: before anything a scenario reports (its failure, the progress).
    let first_scenario_line = lines.iter().position(|l| l.contains("✘ FAILED") || l.contains("scenarios finished so far")).unwrap_or(lines.len());
    let drift: Vec<(usize, &str)> = lines.iter().enumerate().filter(|(_, l)| l.contains("⚠ drift")).map(|(i, l)| (i, *l)).collect();
    let named_first = |e: &str| drift.iter().any(|(i, l)| l.contains(e) && *i < first_scenario_line);
    let missing: Vec<&str> = expected.iter().copied().filter(|e| !named_first(e)).collect();
    if missing.is_empty() {
        eprintln!("drift: every difference named before any scenario:");
        for (_, line) in &drift {
            eprintln!("  {line}");
        }
        ExitCode::SUCCESS
    } else {
        eprintln!("drift: not named first: {missing:?}; the run said:\n{stderr}");
        ExitCode::FAILURE
    }
}
