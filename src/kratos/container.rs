//! The container backend: Kratos as a testcontainers [`Image`], in the style of
//! testcontainers-rs-modules-community (a small struct with builder methods).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use testcontainers::bollard::models::PortBinding;
use testcontainers::core::{ContainerPort, IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::core::{ExecCommand, Mount};
use testcontainers::{ContainerAsync, CopyTargetOptions, CopyToContainer, Image, ImageExt};
use url::Url;

use super::engine::PROFILE_LABEL;
use super::ownership::{self, Lease, OWNER_LABEL, Owner, RUN_ID_LABEL};
use super::{Endpoint, Launch, SetupError, overrides};
use crate::deployment::config::CONTAINER_CONFIG_DIR;

pub const PUBLIC_PORT: u16 = 4433;
pub const ADMIN_PORT: u16 = 4434;

/// Ory Kratos, started with `serve [--dev]` and the suite's config copied in.
/// Works with the official `oryd/kratos` image and with the local one that
/// scripts/setup.sh builds: both have `kratos` as entrypoint.
#[derive(Debug, Clone)]
pub struct KratosImage {
    name: String,
    tag: String,
    cmd: Vec<String>,
    env: BTreeMap<String, String>,
    files: Vec<CopyToContainer>,
    mounts: Vec<Mount>,
}

impl KratosImage {
    /// `reference` is `name:tag`, e.g. `docker.io/oryd/kratos:v1.3.1`.
    pub fn new(reference: &str) -> Self {
        let (name, tag) = match reference.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, tag),
            _ => (reference, "latest"),
        };
        KratosImage {
            name: name.into(),
            tag: tag.into(),
            cmd: vec!["serve".into(), "--dev".into(), "--sqa-opt-out".into()],
            env: BTreeMap::new(),
            files: Vec::new(),
            mounts: Vec::new(),
        }
    }

    /// Copies the configuration folder into the container (where Kratos'
    /// quickstart mounts it, so `file:///etc/config/kratos/...` URLs resolve as
    /// they do in the team's deployment), serves with its files, and sets what
    /// the suite changes.
    pub fn with_launch(mut self, launch: &Launch) -> Result<Self, SetupError> {
        for (relative, path) in files_of(&launch.dir)? {
            let target = format!("{CONTAINER_CONFIG_DIR}/{relative}");
            // The official image runs as uid 10000: the files must be world-readable.
            self.files.push(CopyToContainer::new(path, CopyTargetOptions::new(target).with_mode(0o644)));
        }
        // A schema outside the folder gets a place of its own.
        let outside = |file: &std::path::Path| !file.starts_with(&launch.dir);
        for schema in launch.schemas.iter().filter_map(|s| s.local_file.as_ref()).filter(|f| outside(f)) {
            let name = schema.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let target = format!("{CONTAINER_CONFIG_DIR}/.schemas/{name}");
            self.files.push(CopyToContainer::new(schema.clone(), CopyTargetOptions::new(target).with_mode(0o644)));
        }
        for file in &launch.files {
            self.cmd.push("-c".into());
            self.cmd.push(format!("{CONTAINER_CONFIG_DIR}/{file}"));
        }
        for o in &launch.env {
            self.env.insert(o.name.clone(), o.value.clone());
        }
        self.mounts.extend(launch.mounts.iter().map(|(host, inside)| Mount::bind_mount(host.display().to_string(), inside.clone())));
        let schemas = overrides::identity_schemas(&launch.schemas, |local| match local.strip_prefix(&launch.dir) {
            Ok(relative) => format!("{CONTAINER_CONFIG_DIR}/{}", relative.display()),
            Err(_) => format!("{CONTAINER_CONFIG_DIR}/.schemas/{}", local.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()),
        });
        self.env.insert(schemas.name, schemas.value);
        Ok(self)
    }

    /// `serve --dev` or, as production runs it, without.
    pub fn with_dev(mut self, dev: bool) -> Self {
        self.cmd.retain(|c| c != "--dev");
        if dev {
            self.cmd.insert(1, "--dev".into());
        }
        self
    }

    /// Kratos builds `ui.action`, redirects and the CSRF cookie name from its public
    /// base URL: it must be the address the client uses.
    pub fn with_base_urls(mut self, public: &Url, admin: &Url) -> Self {
        self.env.insert("SERVE_PUBLIC_BASE_URL".into(), public.to_string());
        self.env.insert("SERVE_ADMIN_BASE_URL".into(), admin.to_string());
        self
    }
}

impl Image for KratosImage {
    fn name(&self) -> &str {
        &self.name
    }

    fn tag(&self) -> &str {
        &self.tag
    }

    /// None here: the launcher polls both health endpoints itself, which works
    /// through Podman too (testcontainers' HTTP wait resolves the host through the
    /// engine, which is wrong on hosts that look like containers).
    fn ready_conditions(&self) -> Vec<WaitFor> {
        Vec::new()
    }

    fn env_vars(&self) -> impl IntoIterator<Item = (impl Into<Cow<'_, str>>, impl Into<Cow<'_, str>>)> {
        self.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn copy_to_sources(&self) -> impl IntoIterator<Item = &CopyToContainer> {
        &self.files
    }

    fn mounts(&self) -> impl IntoIterator<Item = &Mount> {
        &self.mounts
    }

    fn cmd(&self) -> impl IntoIterator<Item = impl Into<Cow<'_, str>>> {
        self.cmd.iter().map(String::as_str)
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        const PORTS: [ContainerPort; 2] = [ContainerPort::Tcp(PUBLIC_PORT), ContainerPort::Tcp(ADMIN_PORT)];
        &PORTS
    }
}

/// Starts the container with both ports published on 127.0.0.1 at the host
/// ports of `endpoint` (chosen beforehand, so that the base URL Kratos is told
/// is the one the client uses). A port taken between choosing and binding it
/// is an error [`is_port_conflict`] recognises, for the caller to choose again.
pub async fn start(reference: &str, launch: &Launch, endpoint: &Endpoint, timeout: Duration) -> Result<ContainerAsync<KratosImage>, SetupError> {
    let (public_port, admin_port) = (endpoint.public_port, endpoint.admin_port);
    let request = KratosImage::new(reference)
        .with_dev(endpoint.dev)
        .with_launch(launch)?
        .with_base_urls(&endpoint.public_base, &endpoint.admin_base)
        .with_label(RUN_ID_LABEL, launch.run.id.clone())
        .with_label(OWNER_LABEL, Owner::this_process().label())
        .with_label(PROFILE_LABEL, launch.name.clone())
        // The first lease is copied in between create and start, so a container
        // is never without one for longer than its creation takes.
        .with_copy_to(CopyTargetOptions::new(ownership::lease_path()).with_mode(0o644), Lease::alive_now().render().into_bytes())
        .with_startup_timeout(timeout)
        .with_host_config_modifier(move |host_config| {
            // Podman 4.3 reports published ports with an empty HostIp, which
            // testcontainers ignores; binding explicitly to loopback with a
            // known host port sidesteps both that and the 0.0.0.0 DNAT hang.
            host_config.publish_all_ports = Some(false);
            host_config.port_bindings = Some(
                [(PUBLIC_PORT, public_port), (ADMIN_PORT, admin_port)]
                    .into_iter()
                    .map(|(inside, outside)| {
                        let binding = PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(outside.to_string()) };
                        (inside.tcp().to_string(), Some(vec![binding]))
                    })
                    .collect(),
            );
        });
    match tokio::time::timeout(timeout, request.start()).await {
        Ok(Ok(container)) => Ok(container),
        Ok(Err(e)) => Err(SetupError::Start(format!("could not start a container of {reference}: {}", super::one_line(&e.to_string())))),
        Err(_) => Err(SetupError::Start(format!("the container engine did not start {reference} within {timeout:?} (KRATOS_STARTUP_TIMEOUT)"))),
    }
}

/// Whether a start failed on a host port taken since it was chosen.
pub fn is_port_conflict(message: &str) -> bool {
    message.contains("address already in use") || message.contains("port is already allocated")
}

/// `kratos migrate sql -e --yes` in the started container, on its `DSN`.
pub async fn migrate(container: &ContainerAsync<KratosImage>, timeout: Duration) -> Result<(), SetupError> {
    let exec = async {
        let mut result = container
            .exec(ExecCommand::new(["/usr/bin/kratos", "migrate", "sql", "-e", "--yes"]))
            .await
            .map_err(|e| format!("cannot run kratos migrate sql in the container: {}", super::one_line(&e.to_string())))?;
        let stderr = result.stderr_to_vec().await.unwrap_or_default();
        let stdout = result.stdout_to_vec().await.unwrap_or_default();
        match result.exit_code().await {
            Ok(Some(0)) => Ok(()),
            exit => {
                let said = format!("{}{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
                let last = said.lines().rev().find(|l| !l.trim().is_empty()).map(str::to_string);
                Err(format!(
                    "kratos migrate sql failed in the container: {}",
                    last.unwrap_or_else(|| format!("no output, exit {:?} (the container may have stopped)", exit.ok().flatten()))
                ))
            }
        }
    };
    match tokio::time::timeout(timeout, exec).await {
        Ok(result) => result.map_err(SetupError::Start),
        Err(_) => Err(SetupError::Start(format!("kratos migrate sql took longer than {timeout:?} (KRATOS_STARTUP_TIMEOUT)"))),
    }
}

/// Everything Kratos logged in the container.
pub async fn log(container: &ContainerAsync<KratosImage>) -> String {
    let read = async {
        let mut all = container.stdout_to_vec().await.unwrap_or_default();
        all.extend(container.stderr_to_vec().await.unwrap_or_default());
        all
    };
    match tokio::time::timeout(Duration::from_secs(5), read).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => "(the container's log could not be read within 5 s)".into(),
    }
}

/// The files of a configuration folder, with their paths relative to it
/// (hidden files and anything over 1 MiB left out: a configuration is small).
fn files_of(dir: &std::path::Path) -> Result<Vec<(String, std::path::PathBuf)>, SetupError> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|e| SetupError::Config(format!("cannot read {}: {e}", folder.display())))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if path.metadata().is_ok_and(|m| m.len() <= 1 << 20) {
                let relative = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
                out.push((relative, path));
            }
        }
    }
    out.sort();
    Ok(out)
}
