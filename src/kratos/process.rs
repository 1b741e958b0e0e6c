//! The process backend: the Kratos binary built by scripts/setup.sh (or
//! `KRATOS_BIN`), spawned on free loopback ports.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};
use url::Url;

use super::config::KratosConfig;
use super::{SetupError, free_port};

pub struct Started {
    pub child: Child,
    pub log: PathBuf,
    pub public_url: Url,
    pub admin_url: Url,
}

/// Spawns `kratos serve --dev` with the config and its profile overlay. Its log
/// goes to `target/kratos-logs/`. The child is killed when the suite's process
/// dies, however it dies (`PR_SET_PDEATHSIG`), so no Kratos outlives a run.
pub fn spawn(binary: &Path, config: &KratosConfig) -> Result<Started, SetupError> {
    if !binary.is_file() {
        return Err(SetupError::Config(format!(
            "KRATOS_BIN={} does not exist; run scripts/setup.sh to build it, or point KRATOS_BIN at a Kratos binary",
            binary.display()
        )));
    }
    let (public_port, admin_port) = (free_port()?, free_port()?);
    let public_url = Url::parse(&format!("http://127.0.0.1:{public_port}/")).expect("valid URL");
    let admin_url = Url::parse(&format!("http://127.0.0.1:{admin_port}/")).expect("valid URL");
    let logs = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/kratos-logs");
    std::fs::create_dir_all(&logs).map_err(|e| SetupError::Start(format!("cannot create {}: {e}", logs.display())))?;
    let log = logs.join(format!("{}-{}-{public_port}.log", config.profile, std::process::id()));
    let file = std::fs::File::create(&log).map_err(|e| SetupError::Start(format!("cannot create {}: {e}", log.display())))?;
    let stderr = file.try_clone().map_err(|e| SetupError::Start(e.to_string()))?;

    let mut command = Command::new(binary);
    command
        .arg("serve")
        .arg("-c")
        .arg(config.dir.join("kratos.yml"))
        .arg("-c")
        .arg(config.dir.join("profiles").join(format!("{}.yml", config.profile)))
        .args(["--dev", "--sqa-opt-out"])
        .env("SERVE_PUBLIC_HOST", "127.0.0.1")
        .env("SERVE_PUBLIC_PORT", public_port.to_string())
        .env("SERVE_PUBLIC_BASE_URL", public_url.as_str())
        .env("SERVE_ADMIN_HOST", "127.0.0.1")
        .env("SERVE_ADMIN_PORT", admin_port.to_string())
        .env("SERVE_ADMIN_BASE_URL", admin_url.as_str())
        // kratos.yml names the schemas at their container path; point at the files here.
        .env("IDENTITY_SCHEMAS", config.local_identity_schemas()?.to_string())
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(stderr)
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| SetupError::Start(format!("cannot run KRATOS_BIN={}: {e}", binary.display())))?;
    Ok(Started { child, log, public_url, admin_url })
}

pub fn log_tail(log: &Path, lines: usize) -> String {
    match std::fs::read(log) {
        Ok(bytes) => super::tail(&String::from_utf8_lossy(&bytes), lines),
        Err(e) => format!("(cannot read {}: {e})", log.display()),
    }
}

pub fn is_port_conflict(log: &Path) -> bool {
    std::fs::read_to_string(log).is_ok_and(|l| l.contains("address already in use"))
}
