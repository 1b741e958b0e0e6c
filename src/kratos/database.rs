//! The database the suite's own Kratos instances run on (`KRATOS_DATABASE`):
//!
//! - `sqlite` (default): each instance its own in-memory SQLite (`DSN=memory`);
//!   it takes one request at a time;
//! - `postgres`: a private PostgreSQL the run starts for itself: `initdb` into a
//!   folder of the run under the report folder, the server on a unix socket only
//!   (nothing listens on a network), one database per instance, migrated with
//!   `kratos migrate sql` before `serve`. It dies with the run however the run
//!   ends (the server is the run's child, with a parent-death signal), and the
//!   next run removes a folder whose run is gone.
//!
//! PostgreSQL refuses to run as root; run as root, the suite runs it as the
//! `postgres` user that Debian's package creates.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use super::SetupError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl DatabaseKind {
    pub fn name(self) -> &'static str {
        match self {
            DatabaseKind::Sqlite => "sqlite",
            DatabaseKind::Postgres => "postgres",
        }
    }

    /// How many requests one instance is sent at once unless told otherwise:
    /// SQLite fails or stalls on concurrent writes; PostgreSQL takes them (8
    /// measured as the point past which a 2-core machine gains nothing).
    pub fn default_concurrency(self) -> usize {
        match self {
            DatabaseKind::Sqlite => 1,
            DatabaseKind::Postgres => 8,
        }
    }
}

/// Where a container finds the server's socket (its folder is mounted there).
pub const CONTAINER_SOCKET_DIR: &str = "/run/kratos-conformance-postgres";
/// The socket's port number (it is part of the socket's file name only).
const PORT: u16 = 5432;
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const LOCK_FILE: &str = "owner.lock";

/// The run's PostgreSQL server.
pub struct Postgres {
    /// The run's folder: `data/` (the cluster), `socket/`, the log and the lock.
    pub dir: PathBuf,
    pub socket_dir: PathBuf,
    bin: PathBuf,
    user: Option<(u32, u32)>,
    child: Mutex<Option<Child>>,
    /// Held open for the run's lifetime: its lock tells a later run that this
    /// folder's run is alive.
    _lock: std::fs::File,
    databases: std::sync::Mutex<Vec<String>>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Postgres {
    /// Initialises a cluster in `root/<run id>/` and starts it; removes the
    /// folders of earlier runs that are gone.
    pub async fn start(root: &Path, run_id: &str) -> Result<Postgres, SetupError> {
        let bin = bin_dir()?;
        let user = server_user()?;
        // The server (as the postgres user) and Kratos in containers (another
        // uid) must reach the cluster's folder and socket; a clone in a folder
        // closed to others (a home folder, `mktemp -d`) cannot give them that,
        // so the cluster goes to the system's temporary folder instead.
        let fallback;
        let root = if closed_to_others(root).is_some() {
            fallback = std::env::temp_dir().join("kratos-conformance-postgres");
            std::fs::create_dir_all(&fallback).map_err(|e| fail(format!("cannot create {}: {e}", fallback.display())))?;
            set_mode(&fallback, 0o711)?;
            fallback.as_path()
        } else {
            root
        };
        for removed in remove_stale(root) {
            eprintln!("kratos-conformance: removed the PostgreSQL folder {} of a run that is gone", removed.display());
        }
        let dir = root.join(run_id);
        let (data, socket_dir) = (dir.join("data"), dir.join("socket"));
        std::fs::create_dir_all(&socket_dir).map_err(|e| fail(format!("cannot create {}: {e}", socket_dir.display())))?;
        let lock = lock(&dir)?;
        if let Some((uid, gid)) = user {
            chown_all(&dir, uid, gid)?;
        }
        // Containers (uid 10000) connect through the socket too.
        set_mode(&socket_dir, 0o777)?;
        let initdb = Command::new(bin.join("initdb"))
            .args(["--auth=trust", "--encoding=UTF8", "--locale=C", "-U", "postgres", "-D"])
            .arg(&data)
            .stdin(Stdio::null())
            .output_as(user)
            .await
            .map_err(|e| fail(format!("cannot run initdb: {e}")))?;
        if !initdb.status.success() {
            return Err(fail(format!("initdb refused to create {}: {}", data.display(), last_line(&initdb.stderr))));
        }
        let log = std::fs::File::create(dir.join("postgres.log")).map_err(|e| fail(e.to_string()))?;
        let mut command = Command::new(bin.join("postgres"));
        command
            .arg("-D")
            .arg(&data)
            .args(["-c", "listen_addresses=", "-c", &format!("port={PORT}"), "-c"])
            .arg(format!("unix_socket_directories={}", socket_dir.display()))
            // A throw-away database: durability buys nothing and costs time.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| fail(e.to_string()))?)
            .stderr(log)
            .kill_on_drop(true);
        as_user_dying_with_parent(&mut command, user);
        let child = command.spawn().map_err(|e| fail(format!("cannot start postgres: {e}")))?;
        let postgres = Postgres {
            dir,
            socket_dir,
            bin,
            user,
            child: Mutex::new(Some(child)),
            _lock: lock,
            databases: Default::default(),
        };
        postgres.until_ready().await?;
        Ok(postgres)
    }

    async fn until_ready(&self) -> Result<(), SetupError> {
        let started = Instant::now();
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .arg("-h")
                .arg(&self.socket_dir)
                .args(["-p", &PORT.to_string(), "-q"])
                .status()
                .await
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            if let Some(child) = self.child.lock().await.as_mut()
                && let Ok(Some(status)) = child.try_wait() {
                    let log = std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
                    return Err(fail(format!("postgres stopped ({status}) before it was ready: {}", last_line(log.as_bytes()))));
                }
            if started.elapsed() > READY_TIMEOUT {
                return Err(fail(format!("postgres was not ready within {READY_TIMEOUT:?}; its log is {}", self.dir.join("postgres.log").display())));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new, empty database for one instance; its DSN as a process on this
    /// machine reaches it.
    pub async fn create_database(&self, instance: &str) -> Result<String, SetupError> {
        // The same rule as the launcher's `database_name`.
        let name: String = instance.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
        let output = Command::new(self.bin.join("psql"))
            .arg("-h")
            .arg(&self.socket_dir)
            .args(["-p", &PORT.to_string(), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c"])
            .arg(format!("CREATE DATABASE \"{name}\""))
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| fail(format!("cannot run psql: {e}")))?;
        if !output.status.success() {
            return Err(fail(format!("PostgreSQL refused to create the database {name}: {}", last_line(&output.stderr))));
        }
        self.databases.lock().expect("not poisoned").push(name.clone());
        Ok(self.dsn(&name, &self.socket_dir.display().to_string()))
    }

    /// The DSN of a database through the socket in `socket_dir` (where the
    /// client sees the socket folder).
    pub fn dsn(&self, database: &str, socket_dir: &str) -> String {
        format!("postgres://postgres@/{database}?host={socket_dir}&port={PORT}&sslmode=disable&max_conns=20&max_idle_conns=4")
    }

    /// Stops the server and removes the run's folder. A fast shutdown (SIGINT)
    /// first, so the server ends its own backends; killed if it takes long.
    pub async fn stop(&self) {
        if let Some(mut child) = self.child.lock().await.take() {
            if let Some(pid) = child.id() {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(pid as i32, libc::SIGINT) };
            }
            if tokio::time::timeout(Duration::from_secs(5), child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    pub fn describe(&self) -> String {
        let user = if self.user.is_some() { " as the postgres user" } else { "" };
        format!("PostgreSQL of the run ({}{user}), one database per instance", self.bin.display())
    }
}

/// The folder of PostgreSQL's server programs: Debian's
/// `/usr/lib/postgresql/<version>/bin` (the newest), or `initdb` on the PATH.
fn bin_dir() -> Result<PathBuf, SetupError> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("postgres").is_file())
        .collect();
    versions.sort_by_key(|p| p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok()));
    if let Some(newest) = versions.pop() {
        return Ok(newest);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file());
    on_path.ok_or_else(|| {
        fail("PostgreSQL's server is not installed (no initdb); run scripts/setup.sh, which installs Debian's postgresql, or use KRATOS_DATABASE=sqlite".into())
    })
}

/// Root may not run PostgreSQL: run it as the `postgres` user then.
fn server_user() -> Result<Option<(u32, u32)>, SetupError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = std::ffi::CString::new("postgres").expect("no NUL");
    // SAFETY: getpwnam returns a pointer into static storage or null; read at once.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return Err(fail(
            "PostgreSQL refuses to run as root, and there is no postgres user to run it as; install Debian's postgresql (scripts/setup.sh) or run the suite as another user".into(),
        ));
    }
    // SAFETY: not null, just checked.
    let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
    Ok(Some((uid, gid)))
}

/// Runs the command as `user` (when the suite is root), killed when the suite
/// dies: the parent-death signal is set after the change of user, which clears it.
fn as_user_dying_with_parent(command: &mut Command, user: Option<(u32, u32)>) {
    // SAFETY: setgid, setuid and prctl are async-signal-safe and touch no memory of the parent.
    unsafe {
        command.pre_exec(move || {
            if let Some((uid, gid)) = user
                && (libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0) {
                    return Err(std::io::Error::last_os_error());
                }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

trait OutputAs {
    async fn output_as(&mut self, user: Option<(u32, u32)>) -> std::io::Result<std::process::Output>;
}

impl OutputAs for Command {
    async fn output_as(&mut self, user: Option<(u32, u32)>) -> std::io::Result<std::process::Output> {
        as_user_dying_with_parent(self, user);
        self.output().await
    }
}

/// Takes the run's lock on its folder (released however the run ends).
fn lock(dir: &Path) -> Result<std::fs::File, SetupError> {
    let file = std::fs::File::create(dir.join(LOCK_FILE)).map_err(|e| fail(format!("cannot create the lock in {}: {e}", dir.display())))?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(fail(format!("{} is locked by another run", dir.display())));
    }
    Ok(file)
}

/// Removes the folders under `root` whose run no longer holds its lock.
fn remove_stale(root: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let dir = entry.path();
        let Ok(file) = std::fs::File::open(dir.join(LOCK_FILE)) else { continue };
        // SAFETY: flock on a file descriptor we own.
        let free = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if free && std::fs::remove_dir_all(&dir).is_ok() {
            removed.push(dir);
        }
    }
    removed
}

fn chown_all(dir: &Path, uid: u32, gid: u32) -> Result<(), SetupError> {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        std::os::unix::fs::chown(&path, Some(uid), Some(gid)).map_err(|e| fail(format!("cannot hand {} to the postgres user: {e}", path.display())))?;
        if path.is_dir() {
            pending.extend(std::fs::read_dir(&path).into_iter().flatten().flatten().map(|e| e.path()));
        }
    }
    // The server user must be able to reach its folder; the suite does not
    // change the permissions of folders it did not make.
    if let Some(closed) = dir.parent().and_then(closed_to_others) {
        return Err(fail(format!(
            "the postgres user cannot reach {}: {} is closed to others (chmod o+x it, or set KRATOS_REPORT_DIR to a folder it can reach)",
            dir.display(),
            closed.display()
        )));
    }
    Ok(())
}

/// The first of `path` and the folders above it that others may not pass
/// through (no `o+x`); `None` where all of them are open. A folder not made
/// yet is judged by the first one above it that exists.
fn closed_to_others(path: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    path.ancestors()
        .filter_map(|p| std::fs::metadata(p).ok().map(|m| (p, m)))
        .find(|(_, m)| m.permissions().mode() & 0o001 == 0)
        .map(|(p, _)| p.to_path_buf())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), SetupError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| fail(format!("cannot open {} to Kratos: {e}", path.display())))
}

fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().trim().to_string()
}

fn fail(message: String) -> SetupError {
    SetupError::Start(message)
}
