//! The Kratos under test: one per profile and run, started on first use and shared
//! by every scenario of that profile.
//!
//! Three backends provide it (`KRATOS_BACKEND`): a container of the pinned image
//! (default), a local process of the pinned binary, or an existing deployment.

pub mod config;
pub mod container;
pub mod engine;
pub mod ownership;
pub mod process;
pub mod ready;
pub mod settings;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use testcontainers::ContainerAsync;
use tokio::process::Child;
use tokio::sync::{Mutex, OnceCell, Semaphore};
use url::Url;

pub use config::KratosConfig;
use container::KratosImage;
pub use engine::Engine;
use ownership::{Kept, Leases, Sweep, Swept};
use ready::NotReady;
pub use settings::{Backend, Settings};

/// The profile of scenarios that do not name one with a `@profile:<name>` tag.
pub const DEFAULT_PROFILE: &str = "strict";
/// How many lines of Kratos' log a failure shows.
pub const LOG_TAIL_LINES: usize = 40;

/// Why the Kratos under test is not available. Each message is one line that says
/// what is wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Engine(String),
    #[error("{0}")]
    Image(String),
    #[error("{0}")]
    Start(String),
    #[error("{message}\n--- the last lines of Kratos' log ---\n{log_tail}")]
    NotReady { message: String, log_tail: String },
    #[error("{0}")]
    Unreachable(String),
}

/// The Kratos version this suite is pinned to: the `require github.com/ory/kratos`
/// line of kratos-build/go.mod, the one place it is written.
pub fn pinned_version() -> &'static str {
    static VERSION: LazyLock<String> = LazyLock::new(|| {
        version_in_go_mod(include_str!("../../kratos-build/go.mod"))
            .expect("kratos-build/go.mod requires github.com/ory/kratos")
    });
    &VERSION
}

fn version_in_go_mod(go_mod: &str) -> Option<String> {
    go_mod.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let first = words.next()?;
        let module = if first == "require" { words.next()? } else { first };
        (module == "github.com/ory/kratos").then(|| words.next().map(str::to_string)).flatten()
    })
}

/// The image scripts/setup.sh builds where nothing can be pulled.
pub fn local_image() -> String {
    format!("localhost/kratos-conformance/kratos:{}", pinned_version())
}

/// The official image, the default where it is available.
pub fn official_image() -> String {
    format!("docker.io/oryd/kratos:{}", pinned_version())
}

/// A running Kratos the suite talks to.
pub struct Kratos {
    pub profile: String,
    /// The public API, as the clients reach it (ends with `/`).
    pub public_url: Url,
    /// The admin API (ends with `/`); its routes start with `admin/`.
    pub admin_url: Url,
    /// The configuration it runs, which is what the scenarios expect.
    pub config: KratosConfig,
    pub backend: Backend,
    /// The image, binary or deployment, for reports.
    pub origin: String,
    /// How long it took from start to ready.
    pub startup: Duration,
    /// What `/admin/version` reports (`None` where the admin API is not reachable).
    pub version: Option<String>,
    /// Every request of the suite to this instance passes here. Kratos on SQLite
    /// (`dsn: memory`, or a file) fails concurrent writes with "database table is
    /// locked" or stalls on them, so by default it is sent one request at a time;
    /// scenarios still run concurrently, and their waits overlap.
    pub gate: Arc<Semaphore>,
    handle: Mutex<Handle>,
}

enum Handle {
    Container(Option<ContainerAsync<KratosImage>>),
    Process { child: Option<Child>, log: PathBuf },
    External,
}

impl std::fmt::Debug for Kratos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kratos")
            .field("profile", &self.profile)
            .field("public_url", &self.public_url.as_str())
            .field("admin_url", &self.admin_url.as_str())
            .field("origin", &self.origin)
            .finish()
    }
}

impl Kratos {
    /// A URL of the public API, e.g. `public("self-service/login/browser")`.
    pub fn public(&self, path: &str) -> Url {
        self.public_url.join(path.trim_start_matches('/')).expect("a relative path joins")
    }

    /// A URL of the admin API, e.g. `admin("admin/identities")`.
    pub fn admin(&self, path: &str) -> Url {
        self.admin_url.join(path.trim_start_matches('/')).expect("a relative path joins")
    }

    /// The last lines of its log, where the backend has one.
    pub async fn log_tail(&self, lines: usize) -> Option<String> {
        match &*self.handle.lock().await {
            Handle::Container(Some(container)) => Some(container::log_tail(container, lines).await),
            Handle::Process { log, .. } => Some(process::log_tail(log, lines)),
            _ => None,
        }
    }

    /// Stops and removes what the suite started; an external deployment is left alone.
    pub async fn stop(&self) {
        match &mut *self.handle.lock().await {
            Handle::Container(container) => {
                if let Some(container) = container.take() {
                    let _ = tokio::time::timeout(Duration::from_secs(20), container.rm()).await;
                }
            }
            Handle::Process { child, .. } => {
                if let Some(mut child) = child.take() {
                    let _ = child.kill().await;
                }
            }
            Handle::External => {}
        }
    }
}

type Slot = Arc<OnceCell<Result<Arc<Kratos>, Arc<SetupError>>>>;

/// The Kratos instances of this run, one per profile.
pub struct Instances {
    pub settings: Settings,
    pub engine: Option<Engine>,
    /// The image the container backend runs.
    pub image: Option<String>,
    /// What the look for other runs' abandoned containers removed or left alone.
    pub abandoned: Swept,
    /// The leases of this run's containers, renewed while it runs.
    leases: Option<Leases>,
    slots: std::sync::Mutex<HashMap<String, Slot>>,
}

static INSTANCES: OnceLock<Instances> = OnceLock::new();

/// The run's instances; [`Instances::install`] must have been called.
pub fn instances() -> &'static Instances {
    INSTANCES.get().expect("the runner installs the Kratos instances before any scenario runs")
}

impl Instances {
    /// Checks everything that can be checked before starting Kratos (the engine
    /// answers, the image exists, the binary exists, the config loads), so that a
    /// broken set-up fails in seconds with one line.
    pub async fn prepare(settings: Settings) -> Result<Instances, SetupError> {
        KratosConfig::load(&settings.config_dir, DEFAULT_PROFILE)?;
        let (mut engine, mut image, mut abandoned, mut leases) = (None, None, Swept::default(), None);
        match settings.backend {
            Backend::Container => {
                let connected = Engine::connect(engine::resolve_host()).await?;
                abandoned = connected.remove_abandoned(&Sweep::default()).await;
                let chosen = match &settings.image {
                    Some(image) => image.clone(),
                    None if connected.has_image(&local_image()).await => local_image(),
                    None => official_image(),
                };
                connected.ensure_image(&chosen).await?;
                leases = Some(Leases::start(connected.clone(), ownership::LEASE_RENEW));
                engine = Some(connected);
                image = Some(chosen);
            }
            Backend::Process => {
                if !settings.binary.is_file() {
                    return Err(SetupError::Config(format!(
                        "KRATOS_BIN={} does not exist; run scripts/setup.sh to build it, or point KRATOS_BIN at a Kratos binary",
                        settings.binary.display()
                    )));
                }
            }
            Backend::External => {}
        }
        Ok(Instances { settings, engine, image, abandoned, leases, slots: Default::default() })
    }

    /// Makes these the run's instances (see [`instances`]).
    pub fn install(self) -> &'static Instances {
        if INSTANCES.set(self).is_err() {
            panic!("the Kratos instances are installed once per run");
        }
        instances()
    }

    /// The Kratos of `profile`, started on first use. A failed start is kept, so
    /// every scenario of that profile reports the same error without trying again.
    pub async fn get(&self, profile: &str) -> Result<Arc<Kratos>, Arc<SetupError>> {
        let slot = self.slots.lock().expect("not poisoned").entry(profile.to_string()).or_default().clone();
        slot.get_or_init(|| async { self.start(profile).await.map(Arc::new).map_err(Arc::new) }).await.clone()
    }

    /// Every instance started so far.
    pub fn started(&self) -> Vec<Arc<Kratos>> {
        let slots = self.slots.lock().expect("not poisoned");
        let mut started: Vec<_> = slots.values().filter_map(|s| s.get()?.as_ref().ok().cloned()).collect();
        started.sort_by(|a, b| a.profile.cmp(&b.profile));
        started
    }

    /// Stops every instance this run started and removes its containers, also
    /// those whose start was still under way. With `TESTCONTAINERS_COMMAND=keep`
    /// the containers stay, marked kept, and are returned for the runner to list.
    pub async fn shutdown(&self) -> Vec<Kept> {
        if let Some(leases) = &self.leases {
            leases.stop().await;
        }
        if let Some(engine) = &self.engine
            && self.settings.keep_containers
        {
            return engine.keep_run(ownership::run_id()).await;
        }
        for kratos in self.started() {
            kratos.stop().await;
        }
        if let Some(engine) = &self.engine {
            engine.remove_run(ownership::run_id()).await;
        }
        Vec::new()
    }

    fn gate(&self) -> Arc<Semaphore> {
        Arc::new(Semaphore::new(self.settings.max_concurrent_requests))
    }

    async fn start(&self, profile: &str) -> Result<Kratos, SetupError> {
        let config = KratosConfig::load(&self.settings.config_dir, profile)?;
        let timeout = self.settings.startup_timeout;
        let mut kratos = match self.settings.backend {
            Backend::Container => self.start_container(config, timeout).await,
            Backend::Process => self.start_process(config, timeout).await,
            Backend::External => self.connect_external(config).await,
        }?;
        kratos.version = admin_version(&kratos.admin("admin/version")).await;
        Ok(kratos)
    }

    async fn start_container(&self, config: KratosConfig, timeout: Duration) -> Result<Kratos, SetupError> {
        let image = self.image.clone().expect("prepare chose an image");
        let started = container::start(&image, &config, timeout).await?;
        self.leases.as_ref().expect("prepare started the leases").hold(started.container.id());
        let waited = {
            let c = &started.container;
            ready::until_ready(&started.public_url, Some(&started.admin_url), timeout, || async move {
                match c.is_running().await {
                    Ok(false) => Some(match c.exit_code().await.ok().flatten() {
                        Some(code) => format!("the container exited with code {code}"),
                        None => "the container stopped".to_string(),
                    }),
                    _ => None,
                }
            })
            .await
        };
        match waited {
            Ok(startup) => Ok(Kratos {
                profile: config.profile.clone(),
                public_url: started.public_url,
                admin_url: started.admin_url,
                origin: format!("container {image} on {}", self.engine.as_ref().map(Engine::describe).unwrap_or_default()),
                config,
                backend: Backend::Container,
                startup,
                version: None,
                gate: self.gate(),
                handle: Mutex::new(Handle::Container(Some(started.container))),
            }),
            Err(not_ready) => {
                let log_tail = container::log_tail(&started.container, LOG_TAIL_LINES).await;
                // Kept, a Kratos that did not start is there to be looked at.
                if !self.settings.keep_containers {
                    let _ = tokio::time::timeout(Duration::from_secs(20), started.container.rm()).await;
                }
                Err(not_ready_error(&format!("Kratos in a container of {image} (profile {})", config.profile), not_ready, timeout, log_tail))
            }
        }
    }

    async fn start_process(&self, config: KratosConfig, timeout: Duration) -> Result<Kratos, SetupError> {
        let binary = &self.settings.binary;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut started = process::spawn(binary, &config)?;
            let waited = {
                let child = &mut started.child;
                ready::until_ready(&started.public_url, Some(&started.admin_url), timeout, || {
                    let exited = child.try_wait().ok().flatten();
                    async move { exited.map(|status| format!("the process exited ({status})")) }
                })
                .await
            };
            match waited {
                Ok(startup) => {
                    return Ok(Kratos {
                        profile: config.profile.clone(),
                        public_url: started.public_url,
                        admin_url: started.admin_url,
                        origin: format!("process {}", binary.display()),
                        config,
                        backend: Backend::Process,
                        startup,
                        version: None,
                        gate: self.gate(),
                        handle: Mutex::new(Handle::Process { child: Some(started.child), log: started.log }),
                    });
                }
                // A port taken between choosing and binding it: choose again.
                Err(NotReady::Died(_)) if attempts < 3 && process::is_port_conflict(&started.log) => continue,
                Err(not_ready) => {
                    let _ = started.child.kill().await;
                    let log_tail = process::log_tail(&started.log, LOG_TAIL_LINES);
                    return Err(not_ready_error(
                        &format!("Kratos from KRATOS_BIN={} (profile {})", binary.display(), config.profile),
                        not_ready,
                        timeout,
                        log_tail,
                    ));
                }
            }
        }
    }

    async fn connect_external(&self, config: KratosConfig) -> Result<Kratos, SetupError> {
        let urls = self.settings.external.clone().expect("settings require the URLs for external");
        if config.profile != self.settings.external_profile {
            return Err(SetupError::Config(format!(
                "this scenario needs profile {}, but the external deployment runs {} (KRATOS_PROFILE)",
                config.profile, self.settings.external_profile
            )));
        }
        // Somebody else runs it: it should already be up, so wait seconds, not minutes.
        let timeout = self.settings.startup_timeout.min(Duration::from_secs(5));
        let startup = ready::until_ready(&urls.public, None, timeout, || async { None }).await.map_err(|e| match e {
            NotReady::NotKratos(problem) => SetupError::Unreachable(format!(
                "KRATOS_PUBLIC_URL={} does not look like Kratos ({problem}); point it at Kratos' public API",
                urls.public
            )),
            NotReady::Died(problem) | NotReady::Timeout(problem) => SetupError::Unreachable(format!(
                "the Kratos at KRATOS_PUBLIC_URL={} is not ready after {timeout:?} ({problem}); start it, or fix the URL",
                urls.public
            )),
        })?;
        Ok(Kratos {
            profile: config.profile.clone(),
            public_url: urls.public.clone(),
            admin_url: urls.admin.clone(),
            origin: format!("external deployment at {}", urls.public),
            config,
            backend: Backend::External,
            startup,
            version: None,
            gate: self.gate(),
            handle: Mutex::new(Handle::External),
        })
    }
}

fn not_ready_error(what: &str, not_ready: NotReady, timeout: Duration, log_tail: String) -> SetupError {
    let message = match not_ready {
        NotReady::Died(how) => format!("{what} stopped before it was ready: {how}; its log below says why"),
        NotReady::Timeout(problem) | NotReady::NotKratos(problem) => format!(
            "{what} was not ready within {timeout:?} (KRATOS_STARTUP_TIMEOUT); last problem: {problem}"
        ),
    };
    SetupError::NotReady { message, log_tail }
}

/// The version the admin API reports, for reports; `None` if it does not answer.
async fn admin_version(url: &Url) -> Option<String> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().ok()?;
    let body: serde_json::Value = http.get(url.clone()).send().await.ok()?.json().await.ok()?;
    body.get("version")?.as_str().map(str::to_string)
}

/// A port on 127.0.0.1 that nothing listens on right now.
pub(crate) fn free_port() -> Result<u16, SetupError> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| SetupError::Start(format!("cannot find a free port on 127.0.0.1: {e}")))
}

pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_read_from_the_require_line() {
        assert_eq!(version_in_go_mod("module x\n\nrequire github.com/ory/kratos v1.3.1\n"), Some("v1.3.1".into()));
        assert_eq!(version_in_go_mod("require (\n\tgithub.com/ory/kratos v9.9.9 // indirect\n)"), Some("v9.9.9".into()));
        assert_eq!(pinned_version(), "v1.3.1");
    }

    #[test]
    fn docker_compose_runs_the_pinned_version() {
        let compose = include_str!("../../docker-compose.yml");
        assert!(
            compose.contains(&format!("oryd/kratos:{}", pinned_version())),
            "docker-compose.yml must default to oryd/kratos:{}",
            pinned_version()
        );
    }
}
