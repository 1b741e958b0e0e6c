//! The container engine testcontainers talks to: Docker, or Podman serving the
//! Docker API. Resolving it here (rather than letting the first container start
//! fail) is what turns "no engine" into one clear line within seconds.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use testcontainers::bollard::errors::Error as BollardError;
use testcontainers::bollard::query_parameters::{
    CreateImageOptionsBuilder, DownloadFromContainerOptionsBuilder, KillContainerOptions, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use testcontainers::bollard::{API_DEFAULT_VERSION, Docker, body_full};

use super::SetupError;
use super::ownership::{
    self, Candidate, Kept, Labelled, Lease, LeaseRead, Liveness, OWNER_LABEL, Owner, RUN_ID_LABEL, Sweep, Swept, Verdict,
};

pub const PROFILE_LABEL: &str = "io.github.kratos-conformance.profile";

/// How long an engine may take to answer a version or image query. Podman
/// answers in milliseconds when idle, but its service serializes calls behind
/// container removals: on a loaded CI machine (load 11, another run's cleanup in
/// progress) a 3 s limit once reported a working engine as absent. A socket
/// nobody listens on still fails at once.
const PING_TIMEOUT: Duration = Duration::from_secs(15);
/// Podman 4.3 writes a lease in a few milliseconds and reads one in about 0.1 s.
const LEASE_TIMEOUT: Duration = Duration::from_secs(5);
const REMOVE_TIMEOUT: Duration = Duration::from_secs(20);
/// The client's limit for any one API call; each call here has a shorter one of its own
/// except removal, which may wait for a container to stop.
const API_TIMEOUT: Duration = Duration::from_secs(30);
const PULL_TIMEOUT: Duration = Duration::from_secs(600);
const SETUP_HINT: &str = "run scripts/setup.sh (it installs and starts Podman where there is no Docker), \
     or use KRATOS_BACKEND=process (a local Kratos binary) or KRATOS_BACKEND=external (an existing deployment)";

/// The Docker API sockets tried, in order, when `DOCKER_HOST` is not set.
fn candidate_sockets() -> Vec<String> {
    let mut sockets = vec!["/var/run/docker.sock".to_string(), "/run/podman/podman.sock".to_string()];
    if let Ok(dir) = std::env::var("XDG_RUNTIME_DIR") {
        sockets.push(format!("{dir}/podman/podman.sock"));
        sockets.push(format!("{dir}/docker.sock"));
    }
    sockets
}

/// `DOCKER_HOST`, or the first Docker API socket that exists. Synchronous, so
/// that `main` can export it before any thread (and testcontainers) starts.
pub fn resolve_host() -> Option<String> {
    if let Ok(host) = std::env::var("DOCKER_HOST")
        && !host.trim().is_empty() {
            return Some(host);
        }
    candidate_sockets().into_iter().find(|s| Path::new(s).exists()).map(|s| format!("unix://{s}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Docker,
    Podman,
}

#[derive(Debug, Clone)]
pub struct Engine {
    pub host: String,
    pub kind: EngineKind,
    pub version: String,
    docker: Docker,
}

impl Engine {
    pub async fn connect(host: Option<String>) -> Result<Engine, SetupError> {
        let Some(host) = host else {
            return Err(SetupError::Engine(format!(
                "no container engine: DOCKER_HOST is not set and none of {} exists; {SETUP_HINT}",
                candidate_sockets().join(", ")
            )));
        };
        let unreachable =
            |why: String| SetupError::Engine(format!("no container engine answers at DOCKER_HOST={host} ({why}); {SETUP_HINT}"));
        let docker = if let Some(path) = host.strip_prefix("unix://") {
            Docker::connect_with_unix(path, API_TIMEOUT.as_secs(), API_DEFAULT_VERSION)
        } else if host.starts_with("tcp://") || host.starts_with("http://") {
            Docker::connect_with_http(&host, API_TIMEOUT.as_secs(), API_DEFAULT_VERSION)
        } else {
            return Err(unreachable("only unix:// and tcp:// hosts are supported".into()));
        }
        .map_err(|e| unreachable(e.to_string()))?;
        let version = tokio::time::timeout(PING_TIMEOUT, docker.version())
            .await
            .map_err(|_| unreachable(format!("no answer within {PING_TIMEOUT:?}")))?
            .map_err(|e| unreachable(e.to_string()))?;
        let podman = version.components.iter().flatten().any(|c| c.name.contains("Podman"));
        Ok(Engine {
            kind: if podman { EngineKind::Podman } else { EngineKind::Docker },
            version: version.version.unwrap_or_default(),
            host,
            docker,
        })
    }

    pub fn describe(&self) -> String {
        let kind = match self.kind {
            EngineKind::Docker => "Docker",
            EngineKind::Podman => "Podman",
        };
        format!("{kind} {} at {}", self.version, self.host)
    }

    pub async fn has_image(&self, image: &str) -> bool {
        matches!(tokio::time::timeout(PING_TIMEOUT, self.docker.inspect_image(image)).await, Ok(Ok(_)))
    }

    /// Makes sure `image` is present, pulling it if it is not. A missing image
    /// that cannot be pulled is a setup error that says how to get one.
    pub async fn ensure_image(&self, image: &str) -> Result<(), SetupError> {
        if self.has_image(image).await {
            return Ok(());
        }
        let (name, tag) = split_image(image);
        let options = CreateImageOptionsBuilder::default().from_image(name).tag(tag).build();
        let pull = async {
            let mut progress = self.docker.create_image(Some(options), None, None);
            while let Some(step) = progress.next().await {
                step.map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        };
        let failed = match tokio::time::timeout(PULL_TIMEOUT, pull).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e,
            Err(_) => format!("no progress within {PULL_TIMEOUT:?}"),
        };
        Err(SetupError::Image(format!(
            "the image {image} is not in {} and could not be pulled ({failed}); run scripts/setup.sh to build {} from source, or set KRATOS_IMAGE to an image you have",
            self.describe(),
            super::local_image()
        )))
    }

    /// Removes the containers of other runs whose owner is provably gone: a process
    /// of this host, boot and PID namespace that no longer runs, or a lease older
    /// than `sweep.ttl`. Containers of a live owner, or of one that cannot be told
    /// gone, stay; so do kept ones, which are reported.
    pub async fn remove_abandoned(&self, sweep: &Sweep) -> Swept {
        let mut swept = Swept::default();
        let containers = match self.labelled_containers(None).await {
            Ok(containers) => containers,
            Err(e) => {
                swept.failures.push(format!("could not look for abandoned kratos containers: {e}"));
                return swept;
            }
        };
        let others = containers.into_iter().filter(|c| sweep.looks_at(&c.run_id));
        let read = futures::future::join_all(others.map(|c| async { (self.read_lease(&c.id).await, c) })).await;
        let now = ownership::unix_now();
        for (lease, container) in read {
            if lease == LeaseRead::ContainerGone {
                continue;
            }
            let liveness = container.owner.as_ref().map_or(Liveness::Undecidable, |o| ownership::liveness(o, Owner::this_process()));
            let candidate = Candidate { owner: container.owner.clone(), lease, created: container.created };
            match ownership::judge(&candidate, liveness, now, sweep.ttl) {
                Verdict::InUse => {}
                Verdict::Kept { since } => {
                    let remove_command = self.remove_command(&container.id);
                    swept.kept.push(Kept { container, since, remove_command });
                }
                Verdict::Abandoned(reason) => match self.remove(&container.id).await {
                    Ok(Removed::Now) => swept.removed.push((container, reason)),
                    Ok(Removed::AlreadyGone) => {}
                    Err(e) => swept.failures.push(format!(
                        "could not remove {} ({reason}): {e}; remove it with `{}`",
                        container.describe(),
                        self.remove_command(&container.id)
                    )),
                },
            }
        }
        swept
    }

    /// Removes every container of run `run`, including one whose start was
    /// interrupted before the suite got hold of it.
    pub async fn remove_run(&self, run: &str) {
        for container in self.labelled_containers(Some(run)).await.unwrap_or_default() {
            let _ = self.remove(&container.id).await;
        }
    }

    /// Marks every container of run `run` kept (its lease says `kept`, so no
    /// later run removes it) and says how to remove each.
    pub async fn keep_run(&self, run: &str) -> Vec<Kept> {
        let mut kept = Vec::new();
        for container in self.labelled_containers(Some(run)).await.unwrap_or_default() {
            let since = ownership::unix_now();
            let remove_command = self.remove_command(&container.id);
            if let Err(e) = self.write_lease(&container.id, Lease::Kept { at: since }).await {
                if e.container_gone {
                    continue;
                }
                eprintln!(
                    "kratos-conformance: could not mark container {} kept ({}); a later run will remove it once its lease is {} s old",
                    ownership::short_id(&container.id),
                    e.message,
                    ownership::LEASE_TTL.as_secs()
                );
            }
            kept.push(Kept { container, since, remove_command });
        }
        kept
    }

    /// Writes the lease file into a container through the archive API (extracting a
    /// one-file tar into its /tmp); works on running, stopped and created ones.
    pub async fn write_lease(&self, container: &str, lease: Lease) -> Result<(), CallError> {
        let options = UploadToContainerOptionsBuilder::default().path(ownership::LEASE_DIR).build();
        let upload = self.docker.upload_to_container(container, Some(options), body_full(lease.to_tar().into()));
        match tokio::time::timeout(LEASE_TIMEOUT, upload).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(CallError::from(e)),
            Err(_) => Err(CallError { container_gone: false, message: format!("no answer within {LEASE_TIMEOUT:?}") }),
        }
    }

    /// Reads a container's lease through the archive API.
    pub async fn read_lease(&self, container: &str) -> LeaseRead {
        let options = DownloadFromContainerOptionsBuilder::default().path(&ownership::lease_path()).build();
        let download = async {
            let mut archive = Vec::new();
            let mut chunks = self.docker.download_from_container(container, Some(options));
            while let Some(chunk) = chunks.next().await {
                archive.extend_from_slice(&chunk?);
            }
            Ok::<_, BollardError>(archive)
        };
        match tokio::time::timeout(LEASE_TIMEOUT, download).await {
            Ok(Ok(archive)) => match Lease::from_tar(&archive) {
                Some(lease) => LeaseRead::Found(lease),
                None => LeaseRead::Unreadable(format!("{} is not a lease", ownership::lease_path())),
            },
            Ok(Err(e)) => {
                let not_found = matches!(e, BollardError::DockerResponseServerError { status_code: 404, .. });
                match CallError::from(e) {
                    CallError { container_gone: true, .. } => LeaseRead::ContainerGone,
                    _ if not_found => LeaseRead::Missing,
                    CallError { message, .. } => LeaseRead::Unreadable(message),
                }
            }
            Err(_) => LeaseRead::Unreadable(format!("no answer within {LEASE_TIMEOUT:?}")),
        }
    }

    /// The command a person runs to remove a container, e.g. `podman rm -f 3f2a1b2c3d4e`.
    pub fn remove_command(&self, container: &str) -> String {
        let cli = match self.kind {
            EngineKind::Docker => "docker",
            EngineKind::Podman => "podman",
        };
        format!("{cli} rm -f {}", ownership::short_id(container))
    }

    /// The suite's containers: every run's, or those of `run`.
    pub async fn labelled_containers(&self, run: Option<&str>) -> Result<Vec<Labelled>, String> {
        let label = match run {
            Some(run) => format!("{RUN_ID_LABEL}={run}"),
            None => RUN_ID_LABEL.to_string(),
        };
        let filters = HashMap::from([("label".to_string(), vec![label])]);
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let list = tokio::time::timeout(PING_TIMEOUT, self.docker.list_containers(Some(options)))
            .await
            .map_err(|_| format!("{} did not list its containers within {PING_TIMEOUT:?}", self.describe()))?
            .map_err(|e| format!("{} did not list its containers: {e}", self.describe()))?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels?;
                Some(Labelled {
                    id: c.id?,
                    run_id: labels.get(RUN_ID_LABEL)?.clone(),
                    owner: labels.get(OWNER_LABEL).and_then(|l| Owner::parse(l)),
                    profile: labels.get(PROFILE_LABEL).cloned(),
                    created: c.created.and_then(|t| u64::try_from(t).ok()),
                })
            })
            .collect())
    }

    /// Kills (nothing of an abandoned or aborted container is worth a graceful stop)
    /// and removes a container.
    async fn remove(&self, id: &str) -> Result<Removed, String> {
        let kill = self.docker.kill_container(id, None::<KillContainerOptions>);
        let _ = tokio::time::timeout(PING_TIMEOUT, kill).await;
        let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        match tokio::time::timeout(REMOVE_TIMEOUT, self.docker.remove_container(id, Some(options))).await {
            Ok(Ok(())) => Ok(Removed::Now),
            Ok(Err(e)) => match CallError::from(e) {
                CallError { container_gone: true, .. } => Ok(Removed::AlreadyGone),
                CallError { message, .. } => Err(message),
            },
            Err(_) => Err(format!("no answer within {REMOVE_TIMEOUT:?}")),
        }
    }
}

enum Removed {
    Now,
    /// Somebody else removed it first.
    AlreadyGone,
}

/// A failed engine call about one container.
#[derive(Debug)]
pub struct CallError {
    /// The container no longer exists (Docker: "No such container", Podman: "no
    /// such container"); any other 404 is about a path inside it.
    pub container_gone: bool,
    pub message: String,
}

impl From<BollardError> for CallError {
    fn from(e: BollardError) -> Self {
        let message = super::one_line(&e.to_string());
        let container_gone = matches!(&e, BollardError::DockerResponseServerError { status_code: 404, message }
            if message.to_lowercase().contains("no such container"));
        CallError { container_gone, message }
    }
}

fn split_image(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_split_at_the_tag() {
        assert_eq!(split_image("docker.io/oryd/kratos:v1.3.1"), ("docker.io/oryd/kratos", "v1.3.1"));
        assert_eq!(split_image("localhost:5000/kratos"), ("localhost:5000/kratos", "latest"));
    }
}
