//! The suite's own image (`Containerfile`, built by `scripts/setup.sh` as
//! `localhost/kratos-conformance/suite:<version>`) verifying a Kratos outside
//! it, as a team's CI runs it: `podman run … verify --public-url …`.
//!
//! The Kratos is the pinned build, started here on this repository's
//! configuration on free ports; the image reaches it over the host's network
//! and reads the configuration from a mounted folder. Where the machine has
//! no container engine (a set-up with KRATOS_BACKEND=process or external),
//! there is no image: the test says so and passes.

#[path = "support/external_kratos.rs"]
mod external_kratos;

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn engine() -> Option<&'static str> {
    ["podman", "docker"].into_iter().find(|e| Command::new(e).arg("version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success()))
}

fn main() -> ExitCode {
    let image = format!("localhost/kratos-conformance/suite:{}", env!("CARGO_PKG_VERSION"));
    let Some(engine) = engine() else {
        eprintln!("image: skipped: no container engine on this machine (scripts/setup.sh builds {image} where Podman or Docker is)");
        return ExitCode::SUCCESS;
    };
    let exists = Command::new(engine).args(["image", "inspect", &image]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if !exists.is_ok_and(|s| s.success()) {
        eprintln!("image: {image} is missing; run scripts/setup.sh, which builds it");
        return ExitCode::FAILURE;
    }
    let work = PathBuf::from(ROOT).join("target/conformance-reports/image");
    let kratos = match external_kratos::ExternalKratos::start(&work, &[]) {
        Ok(kratos) => kratos,
        Err(e) => {
            eprintln!("image: {e}");
            return ExitCode::FAILURE;
        }
    };
    let reports = work.join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let started = Instant::now();
    let output = Command::new(engine)
        .args(["run", "--rm", "--network", "host"])
        .arg("-v")
        .arg(format!("{}:/config:ro", kratos.config.display()))
        .arg("-v")
        .arg(format!("{}:/reports", reports.display()))
        .arg(&image)
        .args(["verify", "--config-dir", "/config", "--profile", "strict", "--tags", "@smoke"])
        .args(["--public-url", &kratos.public_url(), "--admin-url", &kratos.admin_url()])
        .stdin(Stdio::null())
        .output()
        .expect("the engine runs");
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    print!("{said}");
    let verdict = if !output.status.success() {
        Err(format!("the image's verify failed ({})", output.status))
    } else if !said.contains("backend external") || !reports.join("junit.xml").is_file() {
        Err("the image ran, but not the external verification this test asked for (no summary of backend external, or no junit.xml)".to_string())
    } else {
        Ok(())
    };
    match verdict {
        Ok(()) => {
            eprintln!("image: {image} verified the Kratos on port {} in {:.1?}", kratos.public, started.elapsed());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("image: {e}");
            ExitCode::FAILURE
        }
    }
}
