//! The process backend: the Kratos binary built by scripts/setup.sh (or
//! `KRATOS_BIN`), spawned on free loopback ports in the configuration folder.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};

use super::{Endpoint, Launch, SetupError, overrides};

/// How many runs' logs `target/kratos-logs/` keeps (older runs are pruned).
const KEPT_RUNS: usize = 5;

pub struct Started {
    pub child: Child,
    pub log: PathBuf,
}

/// Spawns `kratos serve -c kratos.yml [-c profiles/<variant>.yml] [--dev]` with
/// the overrides of `launch`, listening where `endpoint` says. Its log goes to
/// `kratos-logs/<run>/` (appended to: a replica started again keeps one log).
/// The child is killed when the suite's process dies, however it dies
/// (`PR_SET_PDEATHSIG`), so no Kratos outlives a run.
pub fn spawn(binary: &Path, launch: &Launch, endpoint: &Endpoint) -> Result<Started, SetupError> {
    if !binary.is_file() {
        return Err(SetupError::Config(format!(
            "KRATOS_BIN={} does not exist; run scripts/setup.sh to build it, or point KRATOS_BIN at a Kratos binary",
            binary.display()
        )));
    }
    let logs = run_log_dir(launch)?;
    let log = logs.join(format!("{}-{}.log", launch.name.replace(['/', ' '], "_"), endpoint.public_port));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| SetupError::Start(format!("cannot create {}: {e}", log.display())))?;
    let stderr = file.try_clone().map_err(|e| SetupError::Start(e.to_string()))?;

    let mut command = Command::new(binary);
    command.arg("serve");
    for file in &launch.files {
        command.arg("-c").arg(launch.dir.join(file));
    }
    if endpoint.dev {
        command.arg("--dev");
    }
    command
        .arg("--sqa-opt-out")
        // Relative file:// URLs in the configuration resolve against its folder.
        .current_dir(&launch.dir)
        .envs(launch.env.iter().map(|o| (o.name.as_str(), o.value.as_str())))
        .env("SERVE_PUBLIC_HOST", "127.0.0.1")
        .env("SERVE_PUBLIC_PORT", endpoint.public_port.to_string())
        .env("SERVE_PUBLIC_BASE_URL", endpoint.public_base.as_str())
        .env("SERVE_ADMIN_HOST", "127.0.0.1")
        .env("SERVE_ADMIN_PORT", endpoint.admin_port.to_string())
        .env("SERVE_ADMIN_BASE_URL", endpoint.admin_base.as_str())
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(stderr)
        .kill_on_drop(true);
    let schemas = overrides::identity_schemas(&launch.schemas, |local| local.display().to_string());
    command.env(&schemas.name, &schemas.value);
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
    Ok(Started { child, log })
}

/// `kratos migrate sql -e --yes` on the database of `launch` (its `DSN`), with
/// the same configuration and environment `serve` will have.
pub async fn migrate(binary: &Path, launch: &Launch, timeout: std::time::Duration) -> Result<(), SetupError> {
    let mut command = Command::new(binary);
    command.args(["migrate", "sql", "-e", "--yes"]);
    for file in &launch.files {
        command.arg("-c").arg(launch.dir.join(file));
    }
    command.current_dir(&launch.dir).envs(launch.env.iter().map(|o| (o.name.as_str(), o.value.as_str()))).stdin(Stdio::null()).kill_on_drop(true);
    let schemas = overrides::identity_schemas(&launch.schemas, |local| local.display().to_string());
    command.env(&schemas.name, &schemas.value);
    // Into a file, so that a migration that never ends can still say why
    // (Kratos retries a database it cannot reach instead of giving up).
    let log = run_log_dir(launch)?.join(format!("{}-migrate.log", launch.name.replace(['/', ' '], "_")));
    let file = std::fs::File::create(&log).map_err(|e| SetupError::Start(format!("cannot create {}: {e}", log.display())))?;
    let copy = file.try_clone().map_err(|e| SetupError::Start(format!("cannot write {}: {e}", log.display())))?;
    command.stdout(Stdio::from(copy)).stderr(Stdio::from(file));
    let last_words = || {
        let said = read_log(&log);
        said.lines().rev().find(|l| !l.trim().is_empty() && !l.starts_with(' ')).map(|l| crate::redact::text(l).chars().take(300).collect::<String>())
    };
    let status = tokio::time::timeout(timeout, command.status())
        .await
        .map_err(|_| {
            let said = last_words().map(|l| format!("; Kratos said last: {l}")).unwrap_or_default();
            SetupError::Start(format!("kratos migrate sql for {} took longer than {timeout:?} (KRATOS_STARTUP_TIMEOUT){said}", launch.name))
        })?
        .map_err(|e| SetupError::Start(format!("cannot run {} migrate sql: {e}", binary.display())))?;
    if !status.success() {
        return Err(SetupError::Start(format!("kratos migrate sql failed for {}: {}", launch.name, last_words().unwrap_or_default())));
    }
    Ok(())
}

/// The log folder of the run `launch` is part of, `kratos-logs/<run id>/` in
/// the report folder (`KRATOS_REPORT_DIR`), created on first use; older runs'
/// folders beyond the last [`KEPT_RUNS`] are removed then, so the logs do not
/// grow without limit.
fn run_log_dir(launch: &Launch) -> Result<PathBuf, SetupError> {
    let dir = launch.run.log_dir();
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir).map_err(|e| SetupError::Start(format!("cannot create {}: {e}", dir.display())))?;
        prune(&launch.run.report_dir.join("kratos-logs"), &dir);
    }
    Ok(dir)
}

/// Removes the oldest runs' folders in `root` beyond the last [`KEPT_RUNS`].
pub(super) fn prune(root: &Path, current: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    let mut runs: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p != current)
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .collect();
    runs.sort();
    let excess = (runs.len() + 1).saturating_sub(KEPT_RUNS);
    for (_, path) in runs.into_iter().take(excess) {
        let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
    }
}

pub fn read_log(log: &Path) -> String {
    match std::fs::read(log) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("(cannot read {}: {e})", log.display()),
    }
}

pub fn is_port_conflict(log: &Path) -> bool {
    std::fs::read_to_string(log).is_ok_and(|l| l.contains("address already in use"))
}
