//! One Kratos process or container of an instance: a replica. In the dev
//! topology an instance is one replica that clients reach directly; in the
//! production topology it is several, behind the reverse proxy
//! ([`super::proxy`]), each also reachable alone through the proxy's listener
//! for it. A replica the suite started can be killed and started again (the
//! scenarios about a replica that goes away in the middle of a login).

use std::path::PathBuf;
use std::time::Duration;

use testcontainers::ContainerAsync;
use tokio::process::Child;
use tokio::sync::Mutex;
use url::Url;

use super::container::{self, KratosImage};
use super::ready::{self, NotReady};
use super::{Launch, SetupError, process, tail, LOG_TAIL_LINES};

/// Where one Kratos listens and what it is told its addresses are.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Its public and admin ports on 127.0.0.1 (plain HTTP).
    pub public_port: u16,
    pub admin_port: u16,
    /// What it builds `ui.action`, redirects and the CSRF cookie name from: its
    /// own address, or the proxy's `https://` address in front of it.
    pub public_base: Url,
    pub admin_base: Url,
    /// `serve --dev`.
    pub dev: bool,
    /// The host the suite reaches it at directly (a name in the cookies'
    /// domain where they carry one; otherwise 127.0.0.1).
    pub direct_host: String,
}

impl Endpoint {
    /// A `serve --dev` Kratos on its own plain-HTTP address, as a developer runs it.
    pub fn dev(direct_host: &str, public_port: u16, admin_port: u16) -> Endpoint {
        let public_base = Url::parse(&format!("http://{direct_host}:{public_port}/")).expect("a host and port make a URL");
        let admin_base = Url::parse(&format!("http://127.0.0.1:{admin_port}/")).expect("a port makes a URL");
        Endpoint { public_port, admin_port, public_base, admin_base, dev: true, direct_host: direct_host.to_string() }
    }

    /// Where the suite reaches this Kratos itself, without a proxy.
    pub fn direct_url(&self) -> Url {
        Url::parse(&format!("http://{}:{}/", self.direct_host, self.public_port)).expect("a host and port make a URL")
    }

    pub fn admin_url(&self) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}/", self.admin_port)).expect("a port makes a URL")
    }
}

/// What runs a replica.
#[derive(Debug, Clone)]
pub enum Runner {
    Process { binary: PathBuf },
    Container { image: String, keep: bool },
}

// One per replica: the size of the container handle does not matter.
#[allow(clippy::large_enum_variant)]
enum Handle {
    Container(Option<ContainerAsync<KratosImage>>),
    Process { child: Option<Child>, log: PathBuf },
    External,
}

/// One Kratos process or container of an instance.
pub struct Replica {
    /// `strict`, or `strict/2` for the second replica of `strict`.
    pub name: String,
    /// Where a client reaches this replica alone: its listener at the proxy
    /// (production), its own address (one replica), or the URL a team named
    /// (`KRATOS_REPLICA_URLS`).
    pub public_url: Url,
    /// Its admin API (direct, never through the proxy).
    pub admin_url: Url,
    /// How long it took from start to ready.
    pub startup: Duration,
    handle: Mutex<Handle>,
    /// How it was started, to start it again; `None` for an external one.
    recipe: Option<(Runner, Launch, Endpoint)>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica").field("name", &self.name).field("public_url", &self.public_url.as_str()).finish_non_exhaustive()
    }
}

impl Replica {
    /// A replica somebody else runs, at `public_url`.
    pub fn external(name: String, public_url: Url, admin_url: Url) -> Replica {
        Replica { name, public_url, admin_url, startup: Duration::ZERO, handle: Mutex::new(Handle::External), recipe: None }
    }

    /// Starts Kratos as `runner` says, with `launch` and `endpoint`; migrates
    /// its database first where `migrate`; ready when both health endpoints
    /// answer at its direct address. `hold` is given a new container's id (its
    /// lease). A port taken since it was chosen is [`Started::PortTaken`].
    pub async fn start(runner: &Runner, launch: &Launch, endpoint: &Endpoint, migrate: bool, timeout: Duration, hold: &(dyn Fn(&str) + Sync)) -> Result<Started, SetupError> {
        let direct = endpoint.direct_url();
        let admin = endpoint.admin_url();
        let handle = match runner {
            Runner::Process { binary } => {
                if migrate {
                    process::migrate(binary, launch, timeout).await?;
                }
                let mut started = process::spawn(binary, launch, endpoint)?;
                let waited = until_process_ready(&mut started.child, &direct, &admin, timeout).await;
                match waited {
                    Ok(startup) => (startup, Handle::Process { child: Some(started.child), log: started.log }),
                    Err(NotReady::Died(_)) if process::is_port_conflict(&started.log) => return Ok(Started::PortTaken),
                    Err(not_ready) => {
                        let _ = started.child.kill().await;
                        let log_tail = tail(&process::read_log(&started.log), LOG_TAIL_LINES);
                        return Err(super::not_ready_error(&format!("Kratos from KRATOS_BIN={} ({})", binary.display(), launch.name), not_ready, timeout, log_tail));
                    }
                }
            }
            Runner::Container { image, keep } => {
                let started = match container::start(image, launch, endpoint, timeout).await {
                    Ok(started) => started,
                    Err(e) if container::is_port_conflict(&e.to_string()) => return Ok(Started::PortTaken),
                    Err(e) => return Err(e),
                };
                hold(started.id());
                let remove = |c: ContainerAsync<KratosImage>| async move {
                    if !*keep {
                        let _ = tokio::time::timeout(Duration::from_secs(20), c.rm()).await;
                    }
                };
                if migrate && let Err(e) = container::migrate(&started, timeout).await {
                    // Most often Kratos refused its configuration and the container is gone.
                    let log_tail = tail(&container::log(&started).await, LOG_TAIL_LINES);
                    remove(started).await;
                    let message = match super::kratos_said(&log_tail) {
                        Some(said) => format!("{e}; Kratos in a container of {image} ({}) says: {said}", launch.name),
                        None => format!("{e}; the container's log below says why"),
                    };
                    return Err(SetupError::NotReady { message, log_tail });
                }
                let waited = {
                    let c = &started;
                    ready::until_ready(&direct, Some(&admin), timeout, || async move { container_stopped(c).await }).await
                };
                match waited {
                    Ok(startup) => (startup, Handle::Container(Some(started))),
                    Err(not_ready) => {
                        let log_tail = tail(&container::log(&started).await, LOG_TAIL_LINES);
                        // Kept, a Kratos that did not start is there to be looked at.
                        remove(started).await;
                        return Err(super::not_ready_error(&format!("Kratos in a container of {image} ({})", launch.name), not_ready, timeout, log_tail));
                    }
                }
            }
        };
        let (startup, handle) = handle;
        Ok(Started::Ready(Replica {
            name: launch.name.clone(),
            public_url: direct,
            admin_url: admin,
            startup,
            handle: Mutex::new(handle),
            recipe: Some((runner.clone(), launch.clone(), endpoint.clone())),
        }))
    }

    /// Kills it outright (SIGKILL, or the container stopped without grace),
    /// as a node that goes away. Not for an external replica.
    pub async fn kill(&self) -> Result<(), String> {
        match &mut *self.handle.lock().await {
            Handle::Process { child, .. } => {
                if let Some(child) = child.as_mut() {
                    let _ = child.kill().await;
                }
                Ok(())
            }
            Handle::Container(Some(container)) => {
                container.stop_with_timeout(Some(0)).await.map_err(|e| format!("the engine did not stop {}: {e}", self.name))
            }
            _ => Err(format!("{} is not a replica the suite started", self.name)),
        }
    }

    /// Starts it again as it was started, and waits until it is ready (a
    /// process gets its ports back; a container keeps its own).
    pub async fn restart(&self, timeout: Duration) -> Result<Duration, String> {
        let Some((runner, launch, endpoint)) = &self.recipe else {
            return Err(format!("{} is not a replica the suite started", self.name));
        };
        let direct = endpoint.direct_url();
        let admin = endpoint.admin_url();
        let mut handle = self.handle.lock().await;
        match (&mut *handle, runner) {
            (Handle::Process { child, log }, Runner::Process { binary }) => {
                if let Some(mut old) = child.take() {
                    let _ = old.kill().await;
                    let _ = old.wait().await;
                }
                let mut started = process::spawn(binary, launch, endpoint).map_err(|e| e.to_string())?;
                *log = started.log.clone();
                let waited = until_process_ready(&mut started.child, &direct, &admin, timeout).await;
                *child = Some(started.child);
                waited.map_err(|e| format!("{} did not get ready again: {e:?}", self.name))
            }
            (Handle::Container(Some(container)), Runner::Container { .. }) => {
                container.start().await.map_err(|e| format!("the engine did not start {} again: {e}", self.name))?;
                let c = &*container;
                ready::until_ready(&direct, Some(&admin), timeout, || async move { container_stopped(c).await })
                    .await
                    .map_err(|e| format!("{} did not get ready again: {e:?}", self.name))
            }
            _ => Err(format!("{} cannot be started again", self.name)),
        }
    }

    /// Its log, where the backend has one.
    pub async fn log(&self) -> Option<String> {
        match &*self.handle.lock().await {
            Handle::Container(Some(container)) => Some(container::log(container).await),
            Handle::Process { log, .. } => Some(process::read_log(log)),
            _ => None,
        }
    }

    /// Whether the suite started it (it can be killed and started again).
    pub fn is_own(&self) -> bool {
        self.recipe.is_some()
    }

    /// Its own plain-HTTP address, behind the proxy (a replica the suite started).
    pub fn direct_url(&self) -> Option<Url> {
        self.recipe.as_ref().map(|(_, _, endpoint)| endpoint.direct_url())
    }

    /// Whether its process or container still runs (an external one is
    /// assumed to).
    pub async fn is_running(&self) -> bool {
        match &mut *self.handle.lock().await {
            Handle::Process { child: Some(child), .. } => matches!(child.try_wait(), Ok(None)),
            Handle::Process { child: None, .. } | Handle::Container(None) => false,
            Handle::Container(Some(container)) => container.is_running().await.unwrap_or(false),
            Handle::External => true,
        }
    }

    /// Stops and removes what the suite started; an external replica is left alone.
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

/// A scenario's hold on an instance's replicas ([`super::Kratos::hold_replicas`]).
#[derive(Debug)]
pub enum Hold {
    /// Its requests go to one replica: nobody may kill it meanwhile.
    Shared(tokio::sync::OwnedRwLockReadGuard<()>),
    /// It kills or restarts a replica.
    Exclusive(tokio::sync::OwnedRwLockWriteGuard<()>),
}

/// What [`Replica::start`] ended with.
// Returned once per replica start and unwrapped at once: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Started {
    Ready(Replica),
    /// A port chosen for it was taken before it bound it: choose again.
    PortTaken,
}

/// Ready when both health endpoints answer at its direct address; a process
/// that exits meanwhile is not waited for any longer.
async fn until_process_ready(child: &mut Child, direct: &Url, admin: &Url, timeout: Duration) -> Result<Duration, NotReady> {
    ready::until_ready(direct, Some(admin), timeout, || {
        let exited = child.try_wait().ok().flatten();
        async move { exited.map(|status| format!("the process exited ({status})")) }
    })
    .await
}

async fn container_stopped(c: &ContainerAsync<KratosImage>) -> Option<String> {
    match c.is_running().await {
        Ok(false) => Some(match c.exit_code().await.ok().flatten() {
            Some(code) => format!("the container exited with code {code}"),
            None => "the container stopped".to_string(),
        }),
        _ => None,
    }
}
