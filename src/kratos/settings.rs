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

/// How the Kratos the suite starts is laid out (`KRATOS_TOPOLOGY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// One `kratos serve --dev` per instance on plain `http://` (the default:
    /// fast, and what most of the suite's scenarios are about).
    Dev,
    /// As production runs it: replicas of each instance without `--dev` on one
    /// PostgreSQL database, migrated once, behind a real reverse proxy that
    /// terminates TLS with a certificate of the run's own CA, under a host name
    /// that is not a loopback one.
    Production,
}

impl Topology {
    pub fn name(self) -> &'static str {
        match self {
            Topology::Dev => "dev",
            Topology::Production => "production",
        }
    }
}

/// How many replicas of each instance the production topology runs unless
/// `KRATOS_REPLICAS` says otherwise: two is the least that shows what moves
/// between replicas, and what a 2-core machine runs side by side well.
pub const DEFAULT_REPLICAS: usize = 2;

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
    /// `KRATOS_TOPOLOGY`: how the Kratos the suite starts is laid out.
    pub topology: Topology,
    /// `KRATOS_OTHER_SIDES`: `turn` (the default) runs the scenarios of the side
    /// of a setting the configuration does not take on an instance with that
    /// setting turned ([`crate::deployment::OtherSide`]); `skip` reports them
    /// not applicable, for a run of exactly what the team deploys.
    pub turn_other_sides: bool,
    /// `KRATOS_REPLICAS`: replicas per instance in the production topology.
    pub replicas: usize,
    /// `KRATOS_CA_CERT`: a PEM file of CA certificates HTTPS trusts besides
    /// the system's roots (already trusted once the settings are read).
    pub ca_cert: Option<PathBuf>,
    /// `TESTCONTAINERS_COMMAND=keep`: the run leaves its containers running, marked
    /// kept so that no later run removes them (`remove`, the default: it removes them).
    pub keep_containers: bool,
    /// `KRATOS_SELF_TEST_FAULT`: a misconfiguration the suite's own tests
    /// give the production topology on purpose.
    pub fault: Option<super::production::Fault>,
    /// `KRATOS_REPORT_DIR`: where the run writes its reports, and keeps its
    /// Kratos logs, SQLite files, PostgreSQL cluster and certificates
    /// ([`Settings::report_dir_from_env`]).
    pub report_dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct ExternalUrls {
    pub public: Url,
    pub admin: Url,
    /// `KRATOS_REPLICA_URLS`: each replica's own public URL, besides the
    /// load-balanced one (for the scenarios about what moves between replicas).
    pub replicas: Vec<Url>,
}

impl Settings {
    /// `KRATOS_REPORT_DIR`, absolute: Kratos runs in the configuration's folder,
    /// and the SQLite files and PostgreSQL socket it is pointed at live here (a
    /// relative `KRATOS_REPORT_DIR` made `kratos migrate` retry a database it
    /// could not open). By default in the `target/` of the package whose test
    /// runs (cargo says which at run time: a team's repository, not this
    /// library's), else in the current folder.
    pub fn report_dir_from_env() -> PathBuf {
        let dir: PathBuf = std::env::var_os("KRATOS_REPORT_DIR").map(Into::into).unwrap_or_else(|| {
            match std::env::var_os("CARGO_MANIFEST_DIR") {
                Some(package) => std::path::Path::new(&package).join("target/conformance-reports"),
                None => PathBuf::from("conformance-reports"),
            }
        });
        std::path::absolute(&dir).unwrap_or(dir)
    }

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
                replicas: replica_urls()?,
            }),
            _ => None,
        };
        let binary = var("KRATOS_BIN").map(PathBuf::from).unwrap_or_else(Settings::pinned_binary);
        let topology = match var("KRATOS_TOPOLOGY").as_deref() {
            None | Some("dev") => Topology::Dev,
            Some("production") if backend == Backend::External => {
                return Err(SetupError::Config(
                    "KRATOS_TOPOLOGY=production is for the Kratos the suite starts (process or container); an external deployment runs as it runs (name its replicas with KRATOS_REPLICA_URLS)".into(),
                ));
            }
            Some("production") => Topology::Production,
            Some(other) => return Err(SetupError::Config(format!("KRATOS_TOPOLOGY={other} is not one of: dev (default), production"))),
        };
        if var("KRATOS_REPLICA_URLS").is_some() && backend != Backend::External {
            return Err(SetupError::Config(
                "KRATOS_REPLICA_URLS names the replicas of an external deployment (KRATOS_BACKEND=external); the suite's own production topology knows its replicas (KRATOS_REPLICAS)".into(),
            ));
        }
        let replicas = match var("KRATOS_REPLICAS") {
            None => DEFAULT_REPLICAS,
            Some(_) if topology != Topology::Production => {
                return Err(SetupError::Config("KRATOS_REPLICAS is for KRATOS_TOPOLOGY=production; set that too, or unset KRATOS_REPLICAS".into()));
            }
            Some(v) => v.parse().ok().filter(|n| (2..=4).contains(n)).ok_or_else(|| {
                SetupError::Config(format!("KRATOS_REPLICAS={v} is not a whole number from 2 to 4"))
            })?,
        };
        let ca_cert = var("KRATOS_CA_CERT").map(PathBuf::from);
        if let Some(path) = &ca_cert {
            crate::net::tls::trust_file("KRATOS_CA_CERT", path).map_err(SetupError::Config)?;
        }
        let database = match var("KRATOS_DATABASE").as_deref() {
            None if topology == Topology::Production => super::database::DatabaseKind::Postgres,
            Some("sqlite") if topology == Topology::Production => {
                return Err(SetupError::Config(
                    "KRATOS_TOPOLOGY=production runs replicas on one shared database, and Kratos on SQLite cannot be shared: unset KRATOS_DATABASE (PostgreSQL is the default there) or set it to postgres".into(),
                ));
            }
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
            report_dir: Settings::report_dir_from_env(),
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
            topology,
            turn_other_sides: match var("KRATOS_OTHER_SIDES").as_deref() {
                None | Some("turn") => true,
                Some("skip") => false,
                Some(other) => {
                    return Err(SetupError::Config(format!(
                        "KRATOS_OTHER_SIDES={other} is not one of: turn (default: the scenarios of a setting's other side run with it turned), skip (they are not applicable)"
                    )));
                }
            },
            replicas,
            ca_cert,
            fault: match var("KRATOS_SELF_TEST_FAULT") {
                None => None,
                Some(_) if topology != Topology::Production => {
                    return Err(SetupError::Config("KRATOS_SELF_TEST_FAULT is for the suite's own tests of KRATOS_TOPOLOGY=production; unset it".into()));
                }
                Some(v) => Some(super::production::Fault::parse(&v).map_err(SetupError::Config)?),
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

/// `KRATOS_REPLICA_URLS`: URLs separated by commas or spaces.
fn replica_urls() -> Result<Vec<Url>, SetupError> {
    let Some(value) = var("KRATOS_REPLICA_URLS") else { return Ok(Vec::new()) };
    let mut urls = Vec::new();
    for item in value.split([',', ' ', '\n']).map(str::trim).filter(|s| !s.is_empty()) {
        let mut url = Url::parse(item).map_err(|e| SetupError::Config(format!("KRATOS_REPLICA_URLS: {item} is not a URL: {e}")))?;
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        urls.push(url);
    }
    if urls.len() < 2 {
        return Err(SetupError::Config(format!(
            "KRATOS_REPLICA_URLS={value} names {} replica; name each replica's public URL (at least two), separated by commas",
            urls.len()
        )));
    }
    Ok(urls)
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
