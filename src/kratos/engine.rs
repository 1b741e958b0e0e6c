//! The container engine testcontainers talks to: Docker, or Podman serving the
//! Docker API. Resolving it here (rather than letting the first container start
//! fail) is what turns "no engine" into one clear line within seconds.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use testcontainers::bollard::query_parameters::{
    CreateImageOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use testcontainers::bollard::{API_DEFAULT_VERSION, Docker};

use super::SetupError;

/// Label on every container the suite starts; its value is `<pid>`, the process
/// that owns it, so that a later run can tell an abandoned container from one
/// that belongs to a run still in progress.
pub const OWNER_LABEL: &str = "io.github.kratos-conformance.owner-pid";
pub const PROFILE_LABEL: &str = "io.github.kratos-conformance.profile";

const PING_TIMEOUT: Duration = Duration::from_secs(3);
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
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        if !host.trim().is_empty() {
            return Some(host);
        }
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

    /// Removes containers left behind by earlier runs that were killed before they
    /// could clean up (their owner process no longer exists).
    pub async fn remove_abandoned(&self) -> usize {
        let mut removed = 0;
        for (id, owner) in self.labelled_containers().await {
            let alive = owner.parse::<i32>().is_ok_and(process_exists);
            if !alive && self.remove(&id).await {
                removed += 1;
            }
        }
        removed
    }

    /// Removes every container this process started, including one whose start was
    /// interrupted before the suite got hold of it.
    pub async fn remove_owned(&self) {
        let me = std::process::id().to_string();
        for (id, owner) in self.labelled_containers().await {
            if owner == me {
                self.remove(&id).await;
            }
        }
    }

    async fn labelled_containers(&self) -> Vec<(String, String)> {
        let filters = HashMap::from([("label".to_string(), vec![OWNER_LABEL.to_string()])]);
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let Ok(Ok(list)) = tokio::time::timeout(PING_TIMEOUT, self.docker.list_containers(Some(options))).await else {
            return Vec::new();
        };
        list.into_iter()
            .filter_map(|c| Some((c.id?, c.labels?.get(OWNER_LABEL)?.clone())))
            .collect()
    }

    /// Kills (nothing of an abandoned or aborted container is worth a graceful stop)
    /// and removes a container.
    async fn remove(&self, id: &str) -> bool {
        let kill = self.docker.kill_container(id, None::<testcontainers::bollard::query_parameters::KillContainerOptions>);
        let _ = tokio::time::timeout(PING_TIMEOUT, kill).await;
        let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        matches!(
            tokio::time::timeout(Duration::from_secs(20), self.docker.remove_container(id, Some(options))).await,
            Ok(Ok(()))
        )
    }
}

fn split_image(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

fn process_exists(pid: i32) -> bool {
    // Signal 0 checks for existence without sending anything; EPERM means it exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_split_at_the_tag() {
        assert_eq!(split_image("docker.io/oryd/kratos:v1.3.1"), ("docker.io/oryd/kratos", "v1.3.1"));
        assert_eq!(split_image("localhost:5000/kratos"), ("localhost:5000/kratos", "latest"));
    }

    #[test]
    fn this_process_exists_and_a_reaped_one_does_not() {
        assert!(process_exists(std::process::id() as i32));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert!(!process_exists(pid));
    }
}
