//! The Kratos launcher: the instances of the deployment under test, started
//! before the first scenario and shared by every scenario that runs on them.
//!
//! Three backends provide them (`KRATOS_BACKEND`): a container of the pinned
//! image (default), a local process of the pinned binary, or an existing
//! deployment. The first two run the team's configuration as it is, with only
//! what is not under test changed ([`overrides`]).

pub mod container;
pub mod database;
pub mod engine;
pub mod overrides;
pub mod ownership;
pub mod process;
pub mod production;
pub mod proxy;
pub mod ready;
pub mod replica;
pub mod settings;

use std::any::Any;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;

use tokio::sync::Semaphore;
use url::Url;

pub use engine::Engine;
pub use replica::{Endpoint, Replica};
use ownership::{Kept, Leases, Sweep, Swept};
use ready::NotReady;
pub use settings::{Backend, Settings, Topology};

use crate::deployment::needs::RunFacts;
use crate::deployment::{ConfigDir, CookieSecrets, Derivation, Deployment, IdentitySchema, RawConfig, SuiteOrigins};

/// The variant that is primary where a configuration has several and
/// `KRATOS_PROFILE` names none (this repository's `kratos-config/` has `strict`
/// and `lax`).
pub const DEFAULT_VARIANT: &str = "strict";
/// How many lines of Kratos' log a failure shows.
pub use crate::error::{SetupError, one_line};

pub const LOG_TAIL_LINES: usize = 40;

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

/// A running Kratos the suite talks to: one instance of the deployment under test.
pub struct Kratos {
    /// The instance's name: its variant and derivations (see [`InstanceSpec`]).
    pub name: String,
    /// The public API, as the clients reach it (ends with `/`).
    pub public_url: Url,
    /// The admin API (ends with `/`); its routes start with `admin/`.
    pub admin_url: Url,
    /// What its configuration makes Kratos do: what the scenarios expect.
    pub deployment: Arc<Deployment>,
    /// What the run knows beyond the configuration (admin API, version, pinned).
    pub facts: RunFacts,
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
    /// The processes or containers behind `public_url`: one in the dev
    /// topology, several behind [`Kratos::proxy`] in the production topology,
    /// or the replicas a team named for an external deployment.
    pub replicas: Vec<Replica>,
    /// The reverse proxy in front of the replicas (production topology).
    pub proxy: Option<proxy::Proxy>,
    /// Held for writing by a scenario that kills or restarts one of this
    /// instance's replicas, and for reading by a scenario whose requests go to
    /// one replica alone: none of them finds its replica gone.
    pub replica_lock: Arc<tokio::sync::RwLock<()>>,
    /// An instance after a change: what the layer above made of the previous
    /// configuration ([`AcrossChange`]; [`crate::schema_change`] reads it back
    /// as its own record of the identities created before, and of what the
    /// scenarios found of them).
    pub change: Option<Arc<dyn Any + Send + Sync>>,
    /// The run's limits for what is done with this instance.
    pub limits: Limits,
}

/// The run's limits, as every client of an instance keeps to them.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `KRATOS_HTTP_TIMEOUT`: for every HTTP call.
    pub http_timeout: Duration,
    /// `KRATOS_STARTUP_TIMEOUT`: for a replica to start (again).
    pub startup_timeout: Duration,
    /// `KRATOS_MAX_CONCURRENT_REQUESTS`: the requests one instance is sent at once.
    pub max_concurrent_requests: usize,
}

impl Limits {
    pub fn of(settings: &Settings) -> Limits {
        Limits { http_timeout: settings.http_timeout, startup_timeout: settings.startup_timeout, max_concurrent_requests: settings.max_concurrent_requests }
    }
}

/// What the suite does across a change of configuration, which the launcher
/// only sequences ([`Instances`] starts Kratos with the previous configuration,
/// stops it, and starts it with the current one on the same database): the
/// layer above ([`crate::schema_change`], whose identities need the clients)
/// creates identities on the earlier Kratos, and makes the record of the change
/// once Kratos runs the current configuration. The launcher keeps that record
/// on the instance ([`Kratos::change`]) without knowing what it holds.
pub trait AcrossChange: Send + Sync {
    /// Works on Kratos with the previous configuration, before it stops.
    fn before<'a>(&'a self, earlier: &'a Arc<Kratos>) -> BoxFuture<'a, Result<Box<dyn Any + Send>, String>>;
    /// The record of the change, once `now` runs the current configuration.
    fn after(&self, before: Box<dyn Any + Send>, now: &Kratos, same_configuration: bool, before_took: Duration) -> Arc<dyn Any + Send + Sync>;
}

/// What every launch of one run shares, and no other run does.
#[derive(Debug, Clone)]
pub struct RunScope {
    /// The run's id: its containers carry it as a label ([`ownership`]), its
    /// folders of logs and databases as their name.
    pub id: String,
    /// The report folder (`KRATOS_REPORT_DIR`).
    pub report_dir: PathBuf,
    /// Where the run serves the suite's pages to a real browser.
    pub origins: Option<SuiteOrigins>,
}

impl RunScope {
    /// A new run's: a new id, its reports in `report_dir`, no pages yet.
    pub fn new(report_dir: PathBuf) -> RunScope {
        RunScope { id: ownership::new_run_id(), report_dir, origins: None }
    }

    /// This run's log folder, `kratos-logs/<run id>/` in the report folder.
    pub fn log_dir(&self) -> PathBuf {
        self.report_dir.join("kratos-logs").join(&self.id)
    }

    /// This run's folder of SQLite files, `databases/<run id>/` in the report folder.
    pub fn databases_dir(&self) -> PathBuf {
        self.report_dir.join("databases").join(&self.id)
    }
}


impl std::fmt::Debug for Kratos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kratos")
            .field("name", &self.name)
            .field("public_url", &self.public_url.as_str())
            .field("admin_url", &self.admin_url.as_str())
            .field("origin", &self.origin)
            .field("replicas", &self.replicas.len())
            .finish()
    }
}

impl Kratos {
    /// Replica `number` (1-based, as the scenarios count them).
    pub fn replica(&self, number: usize) -> Result<&Replica, String> {
        number.checked_sub(1).and_then(|i| self.replicas.get(i)).ok_or_else(|| {
            format!("{} has {} replica(s), and replica {number} was asked for", self.name, self.replicas.len())
        })
    }

    /// Waits for the instance's replicas to be left alone by every scenario
    /// that kills or restarts one (`exclusive: false`: a scenario that sends
    /// requests to one replica), or by every other scenario that holds them
    /// (`exclusive: true`). The wait is bounded by what such a scenario may
    /// take: a replica's start, twice.
    pub async fn hold_replicas(&self, exclusive: bool) -> Result<replica::Hold, String> {
        let bound = self.limits.startup_timeout * 2 + Duration::from_secs(60);
        let lock = Arc::clone(&self.replica_lock);
        let held = if exclusive {
            tokio::time::timeout(bound, lock.write_owned()).await.map(replica::Hold::Exclusive)
        } else {
            tokio::time::timeout(bound, lock.read_owned()).await.map(replica::Hold::Shared)
        };
        held.map_err(|_| format!("waited {bound:?} for the other scenarios of {} to leave its replicas alone", self.name))
    }

    /// Kills replica `number` between two requests of the suite: every
    /// request to the instance waits until it is dead, so none is cut off
    /// (a scenario in flight elsewhere must not see a 502 this one caused).
    pub async fn kill_replica(&self, number: usize) -> Result<(), String> {
        let replica = self.replica(number)?;
        if !replica.is_own() {
            return Err(format!("{} is not a replica the suite started: it cannot kill it", replica.name));
        }
        let permits = u32::try_from(self.limits.max_concurrent_requests).unwrap_or(u32::MAX);
        let quiet = tokio::time::timeout(self.limits.http_timeout, self.gate.acquire_many(permits))
            .await
            .map_err(|_| format!("the requests in flight to {} did not end within KRATOS_HTTP_TIMEOUT", self.name))?
            .expect("the gate is never closed");
        let killed = replica.kill().await;
        drop(quiet);
        killed
    }

    /// A URL of the public API, e.g. `public("self-service/login/browser")`.
    pub fn public(&self, path: &str) -> Url {
        self.public_url.join(path.trim_start_matches('/')).expect("a relative path joins")
    }

    /// A URL of the admin API, e.g. `admin("admin/identities")`.
    pub fn admin(&self, path: &str) -> Url {
        self.admin_url.join(path.trim_start_matches('/')).expect("a relative path joins")
    }

    /// Its log, where the backend has one (the whole of it, for correlation):
    /// every replica's, one after the other.
    pub async fn log(&self) -> Option<String> {
        if let [only] = self.replicas.as_slice() {
            return only.log().await;
        }
        let mut all = String::new();
        for replica in &self.replicas {
            if let Some(log) = replica.log().await {
                all.push_str(&format!("--- the log of replica {} ---\n{log}", replica.name));
            }
        }
        (!all.is_empty()).then_some(all)
    }

    /// The last lines of its log, where the backend has one.
    pub async fn log_tail(&self, lines: usize) -> Option<String> {
        self.log().await.map(|log| tail(&log, lines))
    }

    /// Stops and removes what the suite started; an external deployment is left alone.
    pub async fn stop(&self) {
        if let Some(proxy) = &self.proxy {
            proxy.stop().await;
        }
        futures::future::join_all(self.replicas.iter().map(Replica::stop)).await;
    }
}

/// One instance of the deployment under test: a variant of its configuration
/// (`profiles/<name>.yml`, or `kratos.yml` as it is), with the derivations some
/// scenarios need (short lifespans) applied by the suite.
///
/// Where each instance takes one request at a time, the scenarios of an
/// underived variant are shared by [`Settings::effective_shards`] instances of
/// it, `shard` 0, 1, ... (named `strict`, `strict#2`, ...): the same
/// configuration, each with its own database.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceSpec {
    pub variant: Option<String>,
    pub derived: Vec<Derivation>,
    pub shard: usize,
}

impl InstanceSpec {
    pub fn name(&self) -> String {
        let mut name = self.variant.clone().unwrap_or_else(|| "as configured".into());
        for d in &self.derived {
            name.push('+');
            name.push_str(d.name());
        }
        if self.shard > 0 {
            name.push_str(&format!("#{}", self.shard + 1));
        }
        name
    }

    /// The same instance at another stage of a cookie secret rotation.
    pub fn at_cookie_secret_stage(&self, stage: CookieSecrets) -> InstanceSpec {
        let derived = self
            .derived
            .iter()
            .map(|d| match d {
                Derivation::CookieSecret(_) => Derivation::CookieSecret(stage),
                other => *other,
            })
            .collect();
        InstanceSpec { variant: self.variant.clone(), derived, shard: self.shard }
    }

    /// The name without the shard: what the instance is, whichever of its
    /// shards ran a scenario.
    pub fn configuration_name(name: &str) -> &str {
        name.split_once('#').map_or(name, |(configuration, _)| configuration)
    }
}

/// The Kratos instances of this run, by name.
pub struct Instances {
    pub settings: Settings,
    /// The configuration under test.
    pub config_dir: ConfigDir,
    /// The configuration before a change (`KRATOS_PREVIOUS_CONFIG_DIR`), where
    /// the suite starts Kratos itself ([`crate::schema_change`]).
    pub previous_config_dir: Option<ConfigDir>,
    pub engine: Option<Engine>,
    /// The image the container backend runs.
    pub image: Option<String>,
    /// What the look for other runs' abandoned containers removed or left alone.
    pub abandoned: Swept,
    /// The leases of this run's containers, renewed while it runs.
    leases: Option<Leases>,
    /// The run's PostgreSQL (`KRATOS_DATABASE=postgres`).
    pub postgres: Option<database::Postgres>,
    /// The production topology's CA and folders (`KRATOS_TOPOLOGY=production`).
    pub production: Option<production::Production>,
    /// The run's id, folders and page origins (the runner names the origins
    /// once it serves the pages, [`Instances::serve_pages_at`]).
    pub scope: RunScope,
    /// What the suite does across a change of configuration (the runner gives
    /// it); without it the scenarios about a change cannot start their instance.
    pub across_change: Option<Arc<dyn AcrossChange>>,
    /// Shared with whoever looks an instance up by name while the run goes on
    /// (the suite's pages ask for an instance's public URL).
    started: Arc<Mutex<BTreeMap<String, Arc<Kratos>>>>,
}

impl std::fmt::Debug for Instances {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instances").field("run", &self.scope.id).field("started", &self.started().len()).finish_non_exhaustive()
    }
}

impl Instances {
    /// Checks everything that can be checked before starting Kratos (the
    /// configuration reads, the engine answers, the image exists, the binary
    /// exists), so that a broken set-up fails in seconds with one line.
    pub async fn prepare(settings: Settings) -> Result<Instances, SetupError> {
        let scope = RunScope::new(settings.report_dir.clone());
        let config_dir = ConfigDir::open(&settings.config_dir)?;
        // Without a configuration before a change, the scenarios about one judge
        // the identities across a restart on the same configuration: what a
        // deployment's restart or upgrade must not break either.
        let previous_config_dir = match (&settings.previous_config_dir, settings.backend) {
            (Some(dir), Backend::Process | Backend::Container) => Some(ConfigDir::open_as(dir, "KRATOS_PREVIOUS_CONFIG_DIR")?),
            (None, Backend::Process | Backend::Container) => Some(config_dir.clone()),
            _ => None,
        };
        let (mut engine, mut image, mut abandoned, mut leases) = (None, None, Swept::default(), None);
        match settings.backend {
            Backend::Container => {
                let connected = Engine::connect(engine::resolve_host()).await?;
                abandoned = connected.remove_abandoned(&Sweep { this_run: Some(scope.id.clone()), ..Sweep::default() }).await;
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
        let production = match settings.topology {
            Topology::Production => {
                proxy::binary()?;
                Some(production::Production::prepare(&settings.report_dir.join("production"), &scope.id)?)
            }
            Topology::Dev => None,
        };
        let postgres = match settings.database {
            database::DatabaseKind::Postgres => {
                Some(database::Postgres::start(&settings.report_dir.join("postgres"), &scope.id).await?)
            }
            database::DatabaseKind::Sqlite => None,
        };
        Ok(Instances {
            settings,
            config_dir,
            previous_config_dir,
            engine,
            image,
            abandoned,
            leases,
            postgres,
            production,
            scope,
            across_change: None,
            started: Default::default(),
        })
    }

    /// Where the suite's pages must be served, as far as the launcher decides
    /// it: over HTTPS where it terminates TLS itself (the production topology,
    /// whose Kratos sends `Secure` cookies and compares sites by scheme), on
    /// Kratos' site, with a certificate of the run's CA; `None`: plain HTTP
    /// on loopback.
    pub fn pages_over_https(&self) -> Result<Option<(String, &crate::net::authority::Authority)>, SetupError> {
        let Some(production) = &self.production else { return Ok(None) };
        let variant = self.settings.variant.as_deref().filter(|v| self.config_dir.variants.iter().any(|known| known == v));
        let config = self.config_dir.load(variant)?;
        Ok(Some((crate::deployment::hosts::production_host(&config), &production.authority)))
    }

    /// The suite's pages are served at `origins` from now on: every
    /// configuration derived for the browser names them, every description
    /// carries them. Before any instance is described.
    pub fn serve_pages_at(&mut self, origins: SuiteOrigins) {
        self.scope.origins = Some(origins);
    }

    /// An instance's public URL by its name, for whoever asks while the run goes on.
    pub fn public_urls(&self) -> impl Fn(&str) -> Option<Url> + Send + Sync + 'static {
        let started = Arc::clone(&self.started);
        move |name| started.lock().expect("not poisoned").get(name).map(|k| k.public_url.clone())
    }

    /// The variants this run may start, the primary one first: for an external
    /// deployment only the one it runs (`KRATOS_PROFILE`); otherwise every
    /// `profiles/*.yml`, or `kratos.yml` as it is where there are none.
    pub fn variants(&self) -> Vec<Option<String>> {
        let all = &self.config_dir.variants;
        if all.is_empty() {
            return vec![None];
        }
        let primary = self.settings.variant.clone().filter(|v| all.contains(v)).or_else(|| {
            all.iter().find(|v| *v == DEFAULT_VARIANT).cloned()
        }).unwrap_or_else(|| all[0].clone());
        if self.settings.backend == Backend::External {
            return vec![Some(primary)];
        }
        let mut ordered = vec![Some(primary.clone())];
        ordered.extend(all.iter().filter(|v| **v != primary).cloned().map(Some));
        ordered
    }

    /// Why the scenarios about a change cannot run, if they cannot.
    pub fn no_previous_configuration(&self) -> Option<String> {
        match (&self.settings.previous_config_dir, self.settings.backend) {
            (None, Backend::External) => Some(
                "an external deployment cannot be restarted: the scenarios about a change (or, without KRATOS_PREVIOUS_CONFIG_DIR, a restart) need the process or container backend".into(),
            ),
            (None, _) => None,
            (Some(_), Backend::External) => Some(
                "an external deployment cannot be restarted on another configuration: KRATOS_PREVIOUS_CONFIG_DIR is for the process and container backends".into(),
            ),
            (Some(_), _) => None,
        }
    }

    /// Whether the previous configuration is the current one (same files, same
    /// schemas): the scenarios about a change then check that a restart changes
    /// nothing.
    pub async fn previous_is_current(&self, spec: &InstanceSpec) -> bool {
        let Some(previous) = &self.previous_config_dir else { return false };
        let before = InstanceSpec { variant: spec.variant.clone(), derived: Vec::new(), shard: 0 };
        match (self.config_in(previous, &before).await, self.config_in(&self.config_dir, &before).await) {
            (Ok((a, a_schemas)), Ok((b, b_schemas))) => {
                a.document() == b.document()
                    && a_schemas.iter().map(|s| (&s.id, &s.document)).eq(b_schemas.iter().map(|s| (&s.id, &s.document)))
            }
            _ => false,
        }
    }

    /// Whether the suite may derive instances (it starts Kratos itself).
    pub fn can_derive(&self) -> bool {
        self.settings.backend != Backend::External
    }

    /// The description of an instance before it starts, with the base URLs its
    /// configuration names (the suite's own replace them once it runs).
    pub async fn describe(&self, spec: &InstanceSpec) -> Result<Deployment, SetupError> {
        let (config, schemas) = self.config_of(spec).await?;
        let public = config.str("serve.public.base_url").and_then(|u| Url::parse(u).ok());
        let public = public.or_else(|| self.settings.external.as_ref().map(|e| e.public.clone()));
        let public = public.unwrap_or_else(|| Url::parse("http://127.0.0.1:4433/").expect("valid"));
        let admin = config.str("serve.admin.base_url").and_then(|u| Url::parse(u).ok()).unwrap_or_else(|| public.clone());
        let dev = self.dev();
        Ok(Deployment::describe(&self.config_dir, spec.variant.as_deref(), &spec.derived, config, schemas, public, admin, dev)?
            .with_suite_origins(self.scope.origins.clone()))
    }

    /// The description of the previous configuration (`KRATOS_PREVIOUS_CONFIG_DIR`)
    /// that an instance after a change starts from: the same variant where it
    /// has one.
    pub async fn describe_previous(&self, spec: &InstanceSpec) -> Result<Deployment, SetupError> {
        let previous = self.previous_config_dir.as_ref().ok_or_else(|| SetupError::Config("there is no previous configuration".into()))?;
        let before = Self::before_change(previous, spec);
        let (config, schemas) = self.config_in(previous, &before).await.map_err(|e| previous_refused(previous, e))?;
        let public = Url::parse("http://127.0.0.1:4433/").expect("valid");
        Deployment::describe(previous, before.variant.as_deref(), &before.derived, config, schemas, public.clone(), public, self.dev())
            .map(|d| d.with_suite_origins(self.scope.origins.clone()))
            .map_err(|e| previous_refused(previous, e))
    }

    /// The instance of the previous configuration an instance after a change
    /// starts from: the same variant, where the previous configuration has it,
    /// with the same settings turned to their other side (only where the
    /// previous configuration is the current one: a restart).
    fn before_change(previous: &ConfigDir, spec: &InstanceSpec) -> InstanceSpec {
        let sides = spec.derived.iter().filter(|d| matches!(d, Derivation::OtherSide(_))).copied().collect();
        InstanceSpec { variant: spec.variant.clone().filter(|v| previous.variants.contains(v)), derived: sides, shard: 0 }
    }

    /// Whether Kratos runs with `--dev`: always where the suite starts it; an
    /// external deployment's is observed when it is connected (this is the
    /// guess before: not).
    pub fn dev(&self) -> bool {
        self.settings.backend != Backend::External && self.settings.topology == Topology::Dev
    }

    async fn config_of(&self, spec: &InstanceSpec) -> Result<(RawConfig, Vec<IdentitySchema>), SetupError> {
        self.config_in(&self.config_dir, spec).await
    }

    async fn config_in(&self, dir: &ConfigDir, spec: &InstanceSpec) -> Result<(RawConfig, Vec<IdentitySchema>), SetupError> {
        let mut config = dir.load(spec.variant.as_deref())?;
        let base = config.clone();
        for derivation in &spec.derived {
            for (key, value) in derivation.settings(&base, &spec.name(), self.scope.origins.as_ref()) {
                config.set(key, value);
            }
        }
        let entries = config.get("identity.schemas").cloned().unwrap_or(serde_json::Value::Null);
        let schemas = crate::deployment::schema::load_all(&entries, &dir.dir).await?;
        Ok((config, schemas))
    }

    /// Starts every instance, side by side. A failure is reported once per
    /// distinct cause, naming the instances it stopped.
    pub async fn start_all(&self, specs: &[InstanceSpec]) -> Result<Vec<Arc<Kratos>>, Vec<String>> {
        let results = futures::future::join_all(specs.iter().map(|spec| self.start(spec))).await;
        let mut started = Vec::new();
        let mut failures: Vec<(String, Vec<String>)> = Vec::new();
        for (spec, result) in specs.iter().zip(results) {
            match result {
                Ok(kratos) => started.push(kratos),
                Err(e) => {
                    let text = e.to_string();
                    // The same configuration refused by every instance is one problem.
                    let key = text.replace(&spec.name(), "<instance>");
                    match failures.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, names)) => names.push(spec.name()),
                        None => failures.push((key, vec![spec.name()])),
                    }
                }
            }
        }
        if failures.is_empty() {
            return Ok(started);
        }
        Err(failures.into_iter().map(|(text, names)| text.replace("<instance>", &names.join(", "))).collect())
    }

    /// The started instance of that name.
    pub fn get(&self, name: &str) -> Option<Arc<Kratos>> {
        self.started.lock().expect("not poisoned").get(name).cloned()
    }

    /// Every instance started so far.
    pub fn started(&self) -> Vec<Arc<Kratos>> {
        self.started.lock().expect("not poisoned").values().cloned().collect()
    }

    /// The instance the migration report is about: the one after the change
    /// with nothing turned to its other side (where the scenarios about a
    /// change needed only such instances, the first of them).
    pub fn after_change(&self) -> Option<Arc<Kratos>> {
        let started = self.started();
        let after: Vec<&Arc<Kratos>> = started.iter().filter(|k| k.change.is_some()).collect();
        let as_configured = after.iter().find(|k| !k.deployment.derived.iter().any(|d| matches!(d, Derivation::OtherSide(_))));
        as_configured.or(after.first()).map(|k| Arc::clone(k))
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
            return engine.keep_run(&self.scope.id).await;
        }
        // Side by side: a container takes about a second to stop and go.
        futures::future::join_all(self.started().iter().map(|kratos| kratos.stop())).await;
        if let Some(engine) = &self.engine {
            engine.remove_run(&self.scope.id).await;
        }
        if let Some(postgres) = &self.postgres {
            postgres.stop().await;
        }
        if let Some(production) = &self.production {
            production.remove();
        }
        // The SQLite files of instances that had to outlive a restart or share
        // a database: of no use after the run.
        let _ = std::fs::remove_dir_all(self.scope.databases_dir());
        Vec::new()
    }

    fn gate(&self) -> Arc<Semaphore> {
        Arc::new(Semaphore::new(self.settings.max_concurrent_requests))
    }

    async fn start(&self, spec: &InstanceSpec) -> Result<Arc<Kratos>, SetupError> {
        let (config, schemas) = self.config_of(spec).await?;
        let timeout = self.settings.startup_timeout;
        if spec.derived.contains(&Derivation::CookieSecret(CookieSecrets::Before)) {
            return self.start_rotation(spec, config, schemas, timeout).await;
        }
        let kratos = if spec.derived.contains(&Derivation::AfterChange) {
            self.start_after_change(spec, config, schemas, timeout).await
        } else if self.settings.backend == Backend::External {
            self.connect_external(spec, config, schemas).await
        } else {
            let storage = self.storage_for(spec, false).await?;
            let launch = Launch::new(&self.config_dir, spec, &schemas, &self.scope);
            self.start_own(&self.config_dir, spec, launch, &storage, config, schemas, timeout).await
        }?;
        Ok(self.register(spec, kratos).await)
    }

    /// Adds what the run knows of a started instance beyond its configuration,
    /// and keeps it under the name of its spec.
    async fn register(&self, spec: &InstanceSpec, mut kratos: Kratos) -> Arc<Kratos> {
        kratos.version = admin_version(&kratos.admin("admin/version")).await;
        if let Some(deployment) = Arc::get_mut(&mut kratos.deployment) {
            deployment.kratos_version = kratos.version.clone();
        }
        kratos.facts = RunFacts {
            admin_api_reachable: kratos.version.is_some(),
            pinned_kratos: self.runs_pinned_build() && kratos.version.as_deref() == Some(pinned_version()),
            version: kratos.version.clone(),
            concurrency: self.settings.max_concurrent_requests,
            database: match self.settings.backend {
                Backend::External => "an external deployment".into(),
                _ => format!("Kratos on {}", self.settings.database.name()),
            },
            replicas: kratos.replicas.len(),
            own_replicas: kratos.proxy.is_some() && kratos.replicas.iter().all(Replica::is_own),
        };
        let kratos = Arc::new(kratos);
        self.started.lock().expect("not poisoned").insert(spec.name(), Arc::clone(&kratos));
        kratos
    }

    /// What [`Instances::register`] will know of an instance, as far as the
    /// settings say before anything starts (for a plan that starts nothing):
    /// the admin API taken as reachable, the version as the pinned one where the
    /// suite runs its own build, and unknown otherwise.
    pub fn expected_facts(&self) -> RunFacts {
        let pinned = self.runs_pinned_build();
        let (replicas, own_replicas) = match (&self.settings.external, self.settings.topology) {
            (Some(external), _) => (external.replicas.len().max(1), false),
            (None, Topology::Production) => (self.settings.replicas, true),
            (None, Topology::Dev) => (1, false),
        };
        RunFacts {
            admin_api_reachable: true,
            pinned_kratos: pinned,
            version: pinned.then(|| pinned_version().to_string()),
            concurrency: self.settings.max_concurrent_requests,
            database: match self.settings.backend {
                Backend::External => "an external deployment".into(),
                _ => format!("Kratos on {}", self.settings.database.name()),
            },
            replicas,
            own_replicas,
        }
    }

    /// The stage before a rotation of the cookie secret, and beside it the
    /// stages after it ([`CookieSecrets`]) on the same database, as the old and
    /// new instances of a rolling deployment. They start once the first has
    /// migrated the database, and share its gate: three processes on one
    /// SQLite file must not write at the same moment.
    async fn start_rotation(&self, spec: &InstanceSpec, config: RawConfig, schemas: Vec<IdentitySchema>, timeout: Duration) -> Result<Arc<Kratos>, SetupError> {
        let storage = self.storage_for(spec, true).await?;
        let launch = Launch::new(&self.config_dir, spec, &schemas, &self.scope);
        let before = self.start_own(&self.config_dir, spec, launch, &storage, config, schemas, timeout).await?;
        let before = self.register(spec, before).await;
        // Where the suite starts replicas, a fourth stage has the rotation
        // half rolled out over them.
        let mut stages = CookieSecrets::AFTER.to_vec();
        if self.production.is_some() && self.settings.replicas >= 2 {
            stages.push(CookieSecrets::RollingOut);
        }
        let after = stages.into_iter().map(|stage| {
            let storage = &storage;
            let gate = Arc::clone(&before.gate);
            async move {
                let sibling = spec.at_cookie_secret_stage(stage);
                let (config, schemas) = self.config_of(&sibling).await?;
                let mut launch = Launch::new(&self.config_dir, &sibling, &schemas, &self.scope);
                launch.migrated = true;
                if stage == CookieSecrets::RollingOut {
                    let base = self.config_dir.load(sibling.variant.as_deref())?;
                    launch.replica_env = (0..self.settings.replicas)
                        .map(|index| {
                            let secrets = serde_json::to_string(&stage.replica_secrets(&base, index)).expect("strings serialize");
                            vec![overrides::Override { name: "SECRETS_COOKIE".into(), value: secrets }]
                        })
                        .collect();
                }
                let mut kratos = self.start_own(&self.config_dir, &sibling, launch, storage, config, schemas, timeout).await?;
                kratos.gate = gate;
                self.register(&sibling, kratos).await;
                Ok::<(), SetupError>(())
            }
        });
        for started in futures::future::join_all(after).await {
            started?;
        }
        Ok(before)
    }

    /// The instance at another stage of the cookie secret rotation `kratos` is
    /// part of.
    pub fn at_cookie_secret_stage(&self, kratos: &Kratos, stage: CookieSecrets) -> Option<Arc<Kratos>> {
        let deployment = &kratos.deployment;
        if !deployment.derived.iter().any(|d| matches!(d, Derivation::CookieSecret(_))) {
            return None;
        }
        let spec = InstanceSpec { variant: deployment.variant.clone(), derived: deployment.derived.clone(), shard: 0 };
        self.get(&spec.at_cookie_secret_stage(stage).name())
    }

    /// Whether the Kratos the suite starts is its own pinned build or image (not
    /// one the user named with KRATOS_BIN or KRATOS_IMAGE).
    fn runs_pinned_build(&self) -> bool {
        match self.settings.backend {
            Backend::Process => self.settings.binary == Settings::pinned_binary(),
            Backend::Container => self.settings.image.is_none(),
            Backend::External => false,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn describe_with(&self, dir: &ConfigDir, spec: &InstanceSpec, config: RawConfig, schemas: Vec<IdentitySchema>, public: &Url, admin: &Url, dev: bool) -> Result<Arc<Deployment>, SetupError> {
        let deployment = Deployment::describe(dir, spec.variant.as_deref(), &spec.derived, config, schemas, public.clone(), admin.clone(), dev)?;
        Ok(Arc::new(deployment.with_suite_origins(self.scope.origins.clone())))
    }

    /// Where an instance keeps its data: Kratos' in-memory SQLite, unless the
    /// run uses PostgreSQL or the data must outlive a restart (`persistent`).
    async fn storage_for(&self, spec: &InstanceSpec, persistent: bool) -> Result<Storage, SetupError> {
        if let Some(postgres) = &self.postgres {
            postgres.create_database(&spec.name()).await?;
            return Ok(Storage::Postgres { database: database_name(spec) });
        }
        if !persistent {
            return Ok(Storage::Memory);
        }
        let runs = self.scope.databases_dir();
        // Older runs' folders go when this run's is first made, not per instance.
        if !runs.is_dir() {
            process::prune(&self.scope.report_dir.join("databases"), &runs);
        }
        let dir = runs.join(database_name(spec));
        let created = std::fs::create_dir_all(&dir).and_then(|_| {
            // Open to the container's user, whoever the image runs as.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
        });
        created.map_err(|e| SetupError::Start(format!("cannot create {} for the database of {}: {e} (set KRATOS_REPORT_DIR)", dir.display(), spec.name())))?;
        Ok(Storage::SqliteFile { dir })
    }

    /// Points `launch` at `storage`; whether its database needs `migrate sql`.
    fn attach(&self, storage: &Storage, launch: &mut Launch) -> bool {
        let in_container = self.settings.backend == Backend::Container;
        match storage {
            Storage::Memory => false,
            Storage::Postgres { database } => {
                let postgres = self.postgres.as_ref().expect("a PostgreSQL storage comes from the run's PostgreSQL");
                if in_container {
                    launch.set_dsn(postgres.dsn(database, database::CONTAINER_SOCKET_DIR));
                    launch.mounts.push((postgres.socket_dir.clone(), database::CONTAINER_SOCKET_DIR.to_string()));
                } else {
                    launch.set_dsn(postgres.dsn(database, &postgres.socket_dir.display().to_string()));
                }
                true
            }
            Storage::SqliteFile { dir } => {
                let inside = if in_container {
                    launch.mounts.push((dir.clone(), SQLITE_DIR_IN_CONTAINER.to_string()));
                    SQLITE_DIR_IN_CONTAINER.to_string()
                } else {
                    dir.display().to_string()
                };
                // Without a sync on every commit: the file must outlive a restart,
                // not a crash, and each write otherwise waits for the disk
                // (creating the identities took 6 s instead of 1).
                launch.set_dsn(format!("sqlite://{inside}/kratos.sqlite?_fk=true&mode=rwc&_journal_mode=WAL&_synchronous=OFF"));
                true
            }
        }
    }

    /// Starts Kratos with `launch` (of the configuration in `dir`) on `storage`,
    /// in a container or as a process: one replica in the dev topology, or
    /// replicas behind a reverse proxy in the production topology.
    #[allow(clippy::too_many_arguments)]
    async fn start_own(&self, dir: &ConfigDir, spec: &InstanceSpec, mut launch: Launch, storage: &Storage, config: RawConfig, schemas: Vec<IdentitySchema>, timeout: Duration) -> Result<Kratos, SetupError> {
        let migrate = self.attach(storage, &mut launch) && !launch.migrated;
        if self.settings.topology == Topology::Production {
            overrides::for_production(&mut launch.env, &config);
        }
        let runner = self.runner();
        let (public_url, replicas, proxy) = match self.settings.topology {
            Topology::Dev => {
                let direct_host = launch.public_host.clone().unwrap_or_else(|| "127.0.0.1".into());
                let replica = self
                    .start_replica(&runner, &launch, migrate, timeout, |public_port, admin_port| Endpoint::dev(&direct_host, public_port, admin_port))
                    .await?;
                (replica.public_url.clone(), vec![replica], None)
            }
            Topology::Production => self.start_cluster(spec, &config, &runner, &launch, migrate, timeout).await?,
        };
        let admin_url = replicas[0].admin_url.clone();
        let startup = replicas.iter().map(|r| r.startup).max().unwrap_or_default();
        let origin = match &runner {
            replica::Runner::Container { image, .. } => format!("container {image} on {}", self.engine.as_ref().map(Engine::describe).unwrap_or_default()),
            replica::Runner::Process { binary } => format!("process {}", binary.display()),
        };
        let origin = match &proxy {
            Some(proxy) => format!("{} replicas of {origin}, behind nginx at {}", replicas.len(), proxy.layout.url()),
            None => origin,
        };
        Ok(Kratos {
            name: spec.name(),
            deployment: self.describe_with(dir, spec, config, schemas, &public_url, &admin_url, self.dev())?,
            public_url,
            admin_url,
            facts: RunFacts::default(),
            origin,
            backend: self.settings.backend,
            startup,
            version: None,
            gate: self.gate(),
            replicas,
            proxy,
            replica_lock: Default::default(),
            change: None,
            limits: Limits::of(&self.settings),
        })
    }

    fn runner(&self) -> replica::Runner {
        match self.settings.backend {
            Backend::Container => replica::Runner::Container {
                image: self.image.clone().expect("prepare chose an image"),
                keep: self.settings.keep_containers,
            },
            _ => replica::Runner::Process { binary: self.settings.binary.clone() },
        }
    }

    /// Starts one replica on ports chosen now (`endpoint` says what it is told
    /// from them); a port taken before Kratos bound it is chosen again.
    async fn start_replica(&self, runner: &replica::Runner, launch: &Launch, migrate: bool, timeout: Duration, endpoint: impl Fn(u16, u16) -> Endpoint) -> Result<Replica, SetupError> {
        let hold = |id: &str| {
            if let Some(leases) = &self.leases {
                leases.hold(id);
            }
        };
        for _ in 0..3 {
            let chosen = endpoint(free_port()?, free_port()?);
            match Replica::start(runner, launch, &chosen, migrate, timeout, &hold).await? {
                replica::Started::Ready(replica) => return Ok(replica),
                replica::Started::PortTaken => continue,
            }
        }
        Err(SetupError::Start(format!("{}: the ports chosen for it were taken three times in a row before it could bind them", launch.name)))
    }

    /// The production topology of one instance: its replicas on one database
    /// (the first migrates it, as a deployment's migration job does; the others
    /// start once it has, side by side), without `--dev`, all told that their
    /// public base URL is the proxy's `https://` address; then nginx in front
    /// of them with a certificate of the run's CA; ready once Kratos answers
    /// through the proxy, and only if it really runs without `--dev`. The
    /// replicas are told the proxy's port, so a port of the proxy's taken
    /// before nginx bound it starts the whole cluster again on others.
    async fn start_cluster(&self, spec: &InstanceSpec, config: &RawConfig, runner: &replica::Runner, launch: &Launch, migrate: bool, timeout: Duration) -> Result<(Url, Vec<Replica>, Option<proxy::Proxy>), SetupError> {
        for _ in 0..3 {
            if let Some(cluster) = self.start_cluster_at(free_port()?, spec, config, runner, launch, migrate, timeout).await? {
                return Ok(cluster);
            }
        }
        Err(SetupError::Start(format!("{}: the ports chosen for its reverse proxy were taken three times in a row before nginx could bind them", spec.name())))
    }

    /// [`Self::start_cluster`] with the proxy on `lb_port`; `None` where a
    /// port of the proxy's was taken (its replicas are stopped again).
    #[allow(clippy::too_many_arguments)]
    async fn start_cluster_at(&self, lb_port: u16, spec: &InstanceSpec, config: &RawConfig, runner: &replica::Runner, launch: &Launch, migrate: bool, timeout: Duration) -> Result<Option<(Url, Vec<Replica>, Option<proxy::Proxy>)>, SetupError> {
        let production = self.production.as_ref().expect("prepare made the production topology's CA");
        let host = crate::deployment::hosts::production_host(config);
        let public_base = Url::parse(&format!("https://{host}:{lb_port}/")).expect("a host and port make a URL");
        let fault = self.settings.fault;
        let count = self.settings.replicas;
        // What Kratos is told its public address is: the proxy's.
        let mut told_base = public_base.clone();
        if fault == Some(production::Fault::HttpBaseUrl) {
            told_base.set_scheme("http").expect("https and http are both special schemes");
        }
        let replica_launch = |index: usize| {
            let mut launch = launch.clone();
            launch.name = format!("{}/{}", spec.name(), index + 1);
            let mut own = launch.replica_env.get(index).cloned().unwrap_or_default();
            if fault == Some(production::Fault::ReplicaCookieSecret) && index + 1 == count {
                own.push(overrides::Override { name: "SECRETS_COOKIE".into(), value: r#"["a-cookie-secret-of-the-last-replica-alone"]"#.into() });
            }
            // A replica's own value replaces the instance's, never sits beside it.
            launch.env.retain(|o| !own.iter().any(|mine| mine.name == o.name));
            launch.env.extend(own);
            launch
        };
        let endpoint = |public_port: u16, admin_port: u16| Endpoint {
            public_port,
            admin_port,
            public_base: told_base.clone(),
            admin_base: Url::parse(&format!("http://127.0.0.1:{admin_port}/")).expect("a port makes a URL"),
            dev: false,
            direct_host: "127.0.0.1".into(),
        };
        let first = self.start_replica(runner, &replica_launch(0), migrate, timeout, endpoint).await?;
        let others = futures::future::join_all((1..count).map(|i| {
            let launch = replica_launch(i);
            async move { self.start_replica(runner, &launch, false, timeout, endpoint).await }
        }))
        .await;
        let mut replicas = vec![first];
        let mut failed = None;
        for started in others {
            match started {
                Ok(replica) => replicas.push(replica),
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        if let Some(e) = failed {
            futures::future::join_all(replicas.iter().map(Replica::stop)).await;
            return Err(e);
        }
        let stop_all = |replicas: Vec<Replica>| async move {
            futures::future::join_all(replicas.iter().map(Replica::stop)).await;
        };
        let mut forwarding = launch.forwarding.clone();
        match fault {
            Some(production::Fault::NoForwardedProto) => forwarding.proto = false,
            Some(production::Fault::NoForwardedHost) => forwarding.host = false,
            _ => {}
        }
        let mut layout = proxy::Layout { host: host.clone(), port: lb_port, replicas: Vec::new(), forwarding };
        for replica in &replicas {
            let port = replica.public_url.port().expect("a replica's own URL has its port");
            layout.replicas.push((std::net::SocketAddr::from(([127, 0, 0, 1], port)), free_port()?));
        }
        let dir = production.dir.join("proxies").join(database_name(spec));
        let certificate = match production.certificate_for(&host) {
            Ok(files) => files,
            Err(e) => {
                stop_all(replicas).await;
                return Err(SetupError::Start(e));
            }
        };
        let proxy = match proxy::Proxy::start(layout, dir, &certificate.0, &certificate.1).await {
            Ok(proxy::Started::Ready(proxy)) => *proxy,
            Ok(proxy::Started::PortTaken) => {
                stop_all(replicas).await;
                return Ok(None);
            }
            Err(e) => {
                stop_all(replicas).await;
                return Err(e);
            }
        };
        for (i, replica) in replicas.iter_mut().enumerate() {
            replica.public_url = proxy.layout.replica_url(i);
        }
        let through_proxy = ready::until_ready(&public_base, None, timeout, || async { None }).await;
        let problem = match through_proxy {
            Err(e) => Some(format!("Kratos does not answer through the reverse proxy at {public_base}: {e:?} (nginx's log: {})", proxy.dir.join("error.log").display())),
            // The guard of this topology: a Kratos under --dev would hide what it is for.
            Ok(_) => match ready::observed_dev_mode(&public_base).await {
                Some(false) => None,
                Some(true) => Some(format!("{} runs with --dev behind {public_base}: its CSRF cookie is not Secure", spec.name())),
                None => Some(format!("{public_base} sets no CSRF cookie on a browser login flow: cannot tell whether Kratos runs without --dev")),
            },
        };
        if let Some(problem) = problem {
            proxy.stop().await;
            stop_all(replicas).await;
            return Err(SetupError::Start(problem));
        }
        Ok(Some((public_base, replicas, Some(proxy))))
    }

    /// The instance after a change: Kratos with the previous configuration on a
    /// database that outlives it, the identities a team has created there
    /// ([`crate::schema_change::prepare`]), then Kratos with the current
    /// configuration on the same database.
    async fn start_after_change(&self, spec: &InstanceSpec, config: RawConfig, schemas: Vec<IdentitySchema>, timeout: Duration) -> Result<Kratos, SetupError> {
        let previous = self.previous_config_dir.as_ref().expect("the plan only asks for it with a previous configuration");
        let across = self.across_change.as_ref().ok_or_else(|| {
            SetupError::Start(format!("{} is about a change of configuration, and the launcher was given nothing to do across one (Instances::across_change)", spec.name()))
        })?;
        let refused = |e: SetupError| previous_refused(previous, e);
        let began = std::time::Instant::now();
        let before = Self::before_change(previous, spec);
        let (before_config, before_schemas) = self.config_in(previous, &before).await.map_err(refused)?;
        let storage = self.storage_for(spec, true).await?;
        let mut launch = Launch::new(previous, &before, &before_schemas, &self.scope);
        launch.name = format!("{} (previous configuration)", spec.name());
        let mut earlier = self.start_own(previous, &before, launch, &storage, before_config, before_schemas, timeout).await.map_err(refused)?;
        earlier.name = format!("{} (previous configuration)", spec.name());
        let earlier = Arc::new(earlier);
        let prepared = across.before(&earlier).await;
        earlier.stop().await;
        let prepared = prepared.map_err(|e| {
            SetupError::Start(format!(
                "the identities for the scenarios about a change could not be created under the previous configuration (KRATOS_PREVIOUS_CONFIG_DIR={}): {}",
                previous.dir.display(),
                one_line(&crate::redact::text(&e))
            ))
        })?;
        let before_took = began.elapsed();
        let launch = Launch::new(&self.config_dir, spec, &schemas, &self.scope);
        let mut kratos = self.start_own(&self.config_dir, spec, launch, &storage, config, schemas, timeout).await?;
        let same = self.previous_is_current(spec).await;
        kratos.change = Some(across.after(prepared, &kratos, same, before_took));
        Ok(kratos)
    }

    async fn connect_external(&self, spec: &InstanceSpec, config: RawConfig, schemas: Vec<IdentitySchema>) -> Result<Kratos, SetupError> {
        let urls = self.settings.external.clone().expect("settings require the URLs for external");
        // Somebody else runs it: it should already be up, so wait seconds, not minutes.
        let timeout = self.settings.startup_timeout.min(Duration::from_secs(5));
        let startup = ready::until_ready(&urls.public, None, timeout, || async { None }).await.map_err(|e| match e {
            NotReady::Tls(problem) => SetupError::Unreachable(format!("KRATOS_PUBLIC_URL={}: {problem}", urls.public)),
            NotReady::NotKratos(problem) => SetupError::Unreachable(format!(
                "KRATOS_PUBLIC_URL={} does not look like Kratos ({problem}); point it at Kratos' public API",
                urls.public
            )),
            NotReady::Died(problem) | NotReady::Timeout(problem) => SetupError::Unreachable(format!(
                "the Kratos at KRATOS_PUBLIC_URL={} is not ready after {timeout:?} ({problem}); start it, or fix the URL",
                urls.public
            )),
        })?;
        // What the deployment serves is what it validates traits against.
        let schemas = ready::served_schemas(&urls.public, schemas).await?;
        // What the deployment really builds its links from, whatever kratos.yml
        // says (an environment variable may override it where it runs).
        let public = match ready::observed_base_url(&urls.public).await {
            Some(observed) => observed,
            None => config.str("serve.public.base_url").and_then(|u| Url::parse(u).ok()).unwrap_or_else(|| urls.public.clone()),
        };
        let admin = config.str("serve.admin.base_url").and_then(|u| Url::parse(u).ok()).unwrap_or_else(|| urls.admin.clone());
        let dev = ready::observed_dev_mode(&urls.public).await.unwrap_or_else(|| self.dev());
        // Each replica a team named must answer as Kratos on its own.
        let mut replicas = Vec::new();
        for (i, url) in urls.replicas.iter().enumerate() {
            ready::until_ready(url, None, timeout, || async { None }).await.map_err(|e| {
                let problem = match e {
                    NotReady::Tls(p) | NotReady::NotKratos(p) | NotReady::Died(p) | NotReady::Timeout(p) => p,
                };
                SetupError::Unreachable(format!("KRATOS_REPLICA_URLS: replica {} at {url} is not a ready Kratos ({problem}); fix the URL, or leave it out", i + 1))
            })?;
            replicas.push(Replica::external(format!("replica {} ({url})", i + 1), url.clone(), urls.admin.clone()));
        }
        if replicas.is_empty() {
            replicas.push(Replica::external(spec.name(), urls.public.clone(), urls.admin.clone()));
        }
        let origin = match urls.replicas.len() {
            0 => format!("external deployment at {}", urls.public),
            n => format!("external deployment at {} ({n} replicas named in KRATOS_REPLICA_URLS)", urls.public),
        };
        Ok(Kratos {
            name: spec.name(),
            deployment: self.describe_with(&self.config_dir, spec, config, schemas, &public, &admin, dev)?,
            public_url: urls.public.clone(),
            admin_url: urls.admin.clone(),
            facts: RunFacts::default(),
            origin,
            backend: Backend::External,
            startup,
            version: None,
            gate: self.gate(),
            replicas,
            proxy: None,
            replica_lock: Default::default(),
            change: None,
            limits: Limits::of(&self.settings),
        })
    }
}

/// Where an instance keeps its data (see [`Instances::storage_for`]).
enum Storage {
    /// `dsn: memory`, gone with the process.
    Memory,
    /// A database of the run's PostgreSQL.
    Postgres { database: String },
    /// An SQLite file in this folder, which outlives a restart.
    SqliteFile { dir: PathBuf },
}

/// Where a container sees the folder of its SQLite file.
const SQLITE_DIR_IN_CONTAINER: &str = "/var/lib/kratos-conformance";

/// A failure to start Kratos with the previous configuration, said as such.
fn previous_refused(previous: &ConfigDir, e: SetupError) -> SetupError {
    let which = format!("with the previous configuration (KRATOS_PREVIOUS_CONFIG_DIR={})", previous.dir.display());
    match e {
        SetupError::NotReady { message, log_tail } => SetupError::NotReady { message: format!("{which}: {message}"), log_tail },
        SetupError::Config(m) => SetupError::Config(format!("{which}: {m}")),
        SetupError::Start(m) => SetupError::Start(format!("{which}: {m}")),
        other => other,
    }
}

/// How the suite runs one instance: its configuration files (the main one and
/// the variant's overlay, as paths relative to the configuration folder) and the
/// environment that carries what the suite changes ([`overrides`]).
#[derive(Debug, Clone)]
pub struct Launch {
    pub dir: PathBuf,
    pub name: String,
    pub files: Vec<String>,
    /// Environment overrides except the addresses, which each backend adds.
    pub env: Vec<overrides::Override>,
    pub schemas: Vec<IdentitySchema>,
    /// The host to reach Kratos at, where its cookies need one ([`names`]);
    /// otherwise 127.0.0.1.
    pub public_host: Option<String>,
    /// Folders to mount into a container (the database's socket).
    pub mounts: Vec<(PathBuf, String)>,
    /// Its database was migrated by another instance on it.
    pub migrated: bool,
    /// In the production topology: what replica `i` gets besides `env` (a
    /// rolling deployment's replicas differ).
    pub replica_env: Vec<Vec<overrides::Override>>,
    /// How the production topology's proxy forwards to the replicas.
    pub forwarding: proxy::Forwarding,
    /// The run it is part of: its containers' label and its log folder.
    pub run: RunScope,
}

impl Launch {
    /// How to run `spec` of the configuration in `dir` (its schemas read), as
    /// part of `run`.
    pub async fn prepare(dir: &ConfigDir, spec: &InstanceSpec, run: &RunScope) -> Result<Launch, SetupError> {
        let config = dir.load(spec.variant.as_deref())?;
        let entries = config.get("identity.schemas").cloned().unwrap_or(serde_json::Value::Null);
        let schemas = crate::deployment::schema::load_all(&entries, &dir.dir).await?;
        Ok(Launch::new(dir, spec, &schemas, run))
    }

    fn new(dir: &ConfigDir, spec: &InstanceSpec, schemas: &[IdentitySchema], run: &RunScope) -> Launch {
        let relative = |p: &std::path::Path| p.strip_prefix(&dir.dir).unwrap_or(p).display().to_string();
        let mut files = vec![relative(&dir.main_file)];
        if let Some(variant) = &spec.variant {
            files.push(relative(&dir.variant_file(variant)));
        }
        let mut env = overrides::not_under_test();
        let base = dir.load(spec.variant.as_deref()).ok();
        if let Some(base) = &base {
            env.extend(overrides::derivations(&spec.derived, base, &spec.name(), run.origins.as_ref()));
        }
        let public_host = base.as_ref().and_then(crate::deployment::hosts::public_host);
        Launch {
            dir: dir.dir.clone(),
            name: spec.name(),
            files,
            env,
            schemas: schemas.to_vec(),
            public_host,
            mounts: Vec::new(),
            migrated: false,
            replica_env: Vec::new(),
            forwarding: proxy::Forwarding::default(),
            run: run.clone(),
        }
    }

    /// Runs on this database instead of the default in-memory SQLite.
    pub fn set_dsn(&mut self, dsn: String) {
        self.env.retain(|o| o.name != "DSN");
        self.env.push(overrides::Override { name: "DSN".into(), value: dsn });
    }
}

fn not_ready_error(what: &str, not_ready: NotReady, timeout: Duration, log_tail: String) -> SetupError {
    let message = match not_ready {
        NotReady::Died(how) => match kratos_said(&log_tail) {
            Some(said) => format!("{what} stopped before it was ready ({how}); Kratos says: {said}"),
            None => format!("{what} stopped before it was ready: {how}; its log below says why"),
        },
        NotReady::Tls(problem) => format!("{what} cannot be reached over TLS: {problem}"),
        NotReady::Timeout(problem) => format!("{what} was not ready within {timeout:?} (KRATOS_STARTUP_TIMEOUT); last problem: {problem}"),
        NotReady::NotKratos(problem) => format!("{what} answers, but not as Kratos does: {problem}"),
    };
    SetupError::NotReady { message, log_tail }
}

/// The error Kratos ended with (its command line prints `Error: ...` last).
fn kratos_said(log: &str) -> Option<String> {
    log.lines().rev().find_map(|l| l.strip_prefix("Error: ")).map(|e| one_line(e).chars().take(300).collect())
}

/// The version the admin API reports, for reports; `None` if it does not answer.
async fn admin_version(url: &Url) -> Option<String> {
    let http = crate::net::client(Duration::from_secs(3));
    let body: serde_json::Value = http.get(url.clone()).send().await.ok()?.json().await.ok()?;
    body.get("version")?.as_str().map(str::to_string)
}

/// The database of an instance: its name, made safe for SQL.
fn database_name(spec: &InstanceSpec) -> String {
    spec.name().chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

/// A port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> Result<u16, SetupError> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| SetupError::Start(format!("cannot find a free port on 127.0.0.1: {e}")))
}


/// The last `lines` lines, without the usage text Kratos prints after an error
/// (it says nothing about the error).
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let mut all: Vec<&str> = Vec::new();
    let mut in_usage = false;
    for line in text.lines() {
        if line.starts_with("Usage:") {
            in_usage = true;
        } else if in_usage && !(line.is_empty() || line.starts_with(' ') || line.starts_with("Flags:")) {
            in_usage = false;
        }
        if !in_usage {
            all.push(line);
        }
    }
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
