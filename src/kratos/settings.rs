//! Every environment variable the suite reads, in one place (the README's table
//! mirrors this file).

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::SetupError;

/// How the Kratos under test is provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A container of `KRATOS_IMAGE`, started and removed by the suite.
    Container,
    /// `KRATOS_BIN` spawned as a local process on free ports.
    Process,
    /// A deployment nobody here started: nothing is started or stopped.
    External,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Container => "container",
            Backend::Process => "process",
            Backend::External => "external",
        }
    }
}

/// The run's settings, read once from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub backend: Backend,
    /// `KRATOS_IMAGE`: the image for the container backend; `None` picks the default.
    pub image: Option<String>,
    /// `KRATOS_BIN`: the binary for the process backend.
    pub binary: PathBuf,
    /// `KRATOS_PUBLIC_URL` / `KRATOS_ADMIN_URL`: the external deployment.
    pub external: Option<ExternalUrls>,
    /// `KRATOS_PROFILE`: the variant (`profiles/<name>.yml`) an external
    /// deployment runs, where the configuration has variants.
    pub variant: Option<String>,
    /// `KRATOS_CONFIG_DIR`: kratos.yml, its variants, schemas and conformance.yml.
    pub config_dir: PathBuf,
    /// `KRATOS_PREVIOUS_CONFIG_DIR`: the configuration before a change, laid out
    /// like `config_dir` (see [`crate::schema_change`]).
    pub previous_config_dir: Option<PathBuf>,
    /// `KRATOS_STARTUP_TIMEOUT` (seconds): how long Kratos may take to become ready.
    pub startup_timeout: Duration,
    /// `KRATOS_HTTP_TIMEOUT` (seconds): the limit for every HTTP call of the suite.
    pub http_timeout: Duration,
    /// `KRATOS_MAX_CONCURRENT_REQUESTS`: how many requests one Kratos instance is
    /// sent at the same time (scenarios still run concurrently).
    pub max_concurrent_requests: usize,
    /// `KRATOS_DATABASE`: what the suite's own Kratos instances run on.
    pub database: super::database::DatabaseKind,
    /// `KRATOS_SHARDS`: how many instances of one variant share its scenarios
    /// where each instance takes one request at a time (the suite's own Kratos
    /// on SQLite); 1 elsewhere.
    pub shards: usize,
    /// `TESTCONTAINERS_COMMAND=keep`: the run leaves its containers running, marked
    /// kept so that no later run removes them (`remove`, the default: it removes them).
    pub keep_containers: bool,
}

#[derive(Debug, Clone)]
pub struct ExternalUrls {
    pub public: Url,
    pub admin: Url,
}

impl Settings {
    pub fn from_env() -> Result<Self, SetupError> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let backend = match var("KRATOS_BACKEND").as_deref() {
            None | Some("container") => Backend::Container,
            Some("process") => Backend::Process,
            Some("external") => Backend::External,
            Some(other) => {
                return Err(SetupError::Config(format!(
                    "KRATOS_BACKEND={other} is not one of: container (default), process, external"
                )));
            }
        };
        let external = match backend {
            Backend::External => Some(ExternalUrls {
                public: url_var("KRATOS_PUBLIC_URL")?,
                admin: url_var("KRATOS_ADMIN_URL")?,
            }),
            _ => None,
        };
        let binary = var("KRATOS_BIN").map(PathBuf::from).unwrap_or_else(Settings::pinned_binary);
        let database = match var("KRATOS_DATABASE").as_deref() {
            None | Some("sqlite") => super::database::DatabaseKind::Sqlite,
            Some("postgres") if backend == Backend::External => {
                return Err(SetupError::Config(
                    "KRATOS_DATABASE=postgres is for the Kratos the suite runs; an external deployment has its own database (set KRATOS_MAX_CONCURRENT_REQUESTS for how much it may take at once)".into(),
                ));
            }
            Some("postgres") => super::database::DatabaseKind::Postgres,
            Some(other) => return Err(SetupError::Config(format!("KRATOS_DATABASE={other} is not one of: sqlite (default), postgres"))),
        };
        Ok(Settings {
            backend,
            image: var("KRATOS_IMAGE"),
            binary,
            external,
            variant: var("KRATOS_PROFILE"),
            config_dir: var("KRATOS_CONFIG_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("kratos-config")),
            previous_config_dir: var("KRATOS_PREVIOUS_CONFIG_DIR").map(PathBuf::from),
            startup_timeout: seconds_var("KRATOS_STARTUP_TIMEOUT", 60)?,
            http_timeout: seconds_var("KRATOS_HTTP_TIMEOUT", 10)?,
            database,
            shards: match var("KRATOS_SHARDS") {
                None => DEFAULT_SHARDS,
                Some(v) => v.parse().ok().filter(|n| (1..=8).contains(n)).ok_or_else(|| {
                    SetupError::Config(format!("KRATOS_SHARDS={v} is not a whole number from 1 to 8"))
                })?,
            },
            max_concurrent_requests: match var("KRATOS_MAX_CONCURRENT_REQUESTS") {
                None => database.default_concurrency(),
                Some(v) => v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    SetupError::Config(format!("KRATOS_MAX_CONCURRENT_REQUESTS={v} is not a positive whole number"))
                })?,
            },
            // testcontainers reads it too (and fails on other values when a container starts).
            keep_containers: match var("TESTCONTAINERS_COMMAND").as_deref() {
                None | Some("remove") => false,
                Some("keep") => true,
                Some(other) => {
                    return Err(SetupError::Config(format!(
                        "TESTCONTAINERS_COMMAND={other} is not one of: remove (default), keep"
                    )));
                }
            },
        })
    }
}

/// Two instances of a variant: Kratos on SQLite answers one request at a time,
/// so the scenarios of the primary variant (most of the suite) queue at one
/// instance; two halve the queue (and a machine with two cores runs both).
pub const DEFAULT_SHARDS: usize = 2;

impl Settings {
    /// How many instances share a variant's scenarios: only where the suite
    /// runs Kratos itself and each instance takes one request at a time.
    pub fn effective_shards(&self) -> usize {
        if self.backend == Backend::External || self.max_concurrent_requests > 1 { 1 } else { self.shards }
    }

    /// Where scripts/setup.sh puts the Kratos it builds at the pinned version.
    pub fn pinned_binary() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/kratos").join(super::pinned_version()).join("kratos")
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn url_var(name: &str) -> Result<Url, SetupError> {
    let value = var(name).ok_or_else(|| {
        SetupError::Config(format!(
            "KRATOS_BACKEND=external needs {name} (for example http://127.0.0.1:4433/ and http://127.0.0.1:4434/)"
        ))
    })?;
    let mut url = Url::parse(&value).map_err(|e| SetupError::Config(format!("{name}={value} is not a URL: {e}")))?;
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(url)
}

fn seconds_var(name: &str, default: u64) -> Result<Duration, SetupError> {
    match var(name) {
        None => Ok(Duration::from_secs(default)),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|s| *s > 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| SetupError::Config(format!("{name}={v} is not a positive number of seconds"))),
    }
}
