//! The conformance runner behind `cargo test --test conformance -- [cucumber
//! options]`.
//!
//! Before any scenario: it reads the settings and the deployment's
//! configuration, checks the set-up (engine, image, binary, deployment) and the
//! known-deviations ledger, plans which scenarios run on which instance and which
//! are not applicable (and why), prints what is under test, and starts the
//! instances side by side. Then it runs the scenarios, reports each failure as it
//! happens, and ends with the flow documentation check, the JUnit report and a
//! summary. It removes every container and process it started: after the run,
//! when scenarios fail, and on Ctrl-C, SIGTERM or SIGHUP.

pub mod parser;
pub mod plan;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cucumber::event::ScenarioFinished;
use cucumber::{World as _, WriterExt as _, cli, writer};

use crate::browser::Browsers;
use crate::deployment::expectations;
use crate::kratos::{self, Backend, Instances, Settings, engine};
use crate::report::outcomes::{self, Outcome, Status};
use crate::report::redacting::Redacting;
use crate::report::{self, docs, junit, summary};
use crate::{ConformanceWorld, deviations};
use plan::{NOT_APPLICABLE_TAG, Plan, Selection};

/// The features this repository ships.
pub const FEATURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/features");

/// The runner's entry point, called by `tests/conformance.rs`: the built-in
/// features, configured by the environment alone.
pub fn main() -> ExitCode {
    Suite::new().run()
}

/// The suite as a team's own test target runs it: the built-in features (or
/// not), the team's own feature folders beside them, and the configuration
/// folder its repository holds. Every environment variable still applies and
/// wins over what the target says (`KRATOS_CONFIG_DIR` over
/// [`Suite::config_dir`]), so that CI can point one target at several deployments.
///
/// ```no_run
/// // tests/kratos.rs of a team's repository, with `harness = false`:
/// fn main() -> std::process::ExitCode {
///     kratos_conformance::runner::Suite::new()
///         .config_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/kratos"))
///         .features(concat!(env!("CARGO_MANIFEST_DIR"), "/features"))
///         .run()
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Suite {
    builtin: bool,
    feature_dirs: Vec<PathBuf>,
    config_dir: Option<PathBuf>,
    report_dir: Option<PathBuf>,
    /// cucumber's options (`--tags`, `--name`, `--concurrency`, …), the
    /// program's name first; `None`: this process's own arguments.
    cucumber_args: Option<Vec<String>>,
}

impl Default for Suite {
    fn default() -> Self {
        Suite::new()
    }
}

impl Suite {
    /// The built-in features (`KRATOS_FEATURES_DIR` replaces them).
    pub fn new() -> Suite {
        Suite { builtin: true, feature_dirs: Vec::new(), config_dir: None, report_dir: None, cucumber_args: None }
    }

    /// Adds a folder of the team's own `.feature` files (searched recursively);
    /// their steps are ours and any the team's crate defines on [`ConformanceWorld`].
    pub fn features(mut self, dir: impl Into<PathBuf>) -> Suite {
        self.feature_dirs.push(dir.into());
        self
    }

    /// Runs only the folders given with [`Suite::features`].
    pub fn without_builtin_features(mut self) -> Suite {
        self.builtin = false;
        self
    }

    /// The deployment's configuration folder, unless `KRATOS_CONFIG_DIR` names one.
    pub fn config_dir(mut self, dir: impl Into<PathBuf>) -> Suite {
        self.config_dir = Some(dir.into());
        self
    }

    /// The run's report folder, unless `KRATOS_REPORT_DIR` names one (two
    /// suites that run in one process each need their own).
    pub fn report_dir(mut self, dir: impl Into<PathBuf>) -> Suite {
        self.report_dir = Some(dir.into());
        self
    }

    /// cucumber's options as a command line (`["--tags", "@smoke"]`), instead
    /// of this process's arguments (for a program with arguments of its own).
    pub fn cucumber_args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Suite {
        let program = std::iter::once("kratos-conformance".to_string());
        self.cucumber_args = Some(program.chain(args.into_iter().map(Into::into)).collect());
        self
    }

    /// The folders whose features run, built-in first.
    pub fn feature_dirs(&self) -> Vec<PathBuf> {
        let builtin = self.builtin.then(features_dir);
        builtin.into_iter().chain(self.feature_dirs.iter().cloned()).collect()
    }

    /// Runs the suite: the exit code says whether the deployment passed (0), a
    /// scenario failed (1) or the run could not start (2).
    pub fn run(self) -> ExitCode {
        self.start(false)
    }

    /// Prints what a run would do, scenario by scenario (the instance it runs
    /// on, or why it is not applicable), and starts no Kratos. What only a
    /// started instance can tell (the admin API answers, its version) is taken
    /// as the settings expect it. Exit code 0, or 2 when the plan cannot be made.
    pub fn plan(self) -> ExitCode {
        self.start(true)
    }

    fn start(self, plan_only: bool) -> ExitCode {
        // testcontainers reads DOCKER_HOST; export the engine found (Docker's socket,
        // or Podman's) before any thread exists.
        if let Some(host) = engine::resolve_host()
            && std::env::var("DOCKER_HOST").ok().as_deref() != Some(host.as_str())
        {
            // SAFETY: no other thread runs yet (a process that runs several
            // suites at once exports DOCKER_HOST first, and this is skipped).
            unsafe { std::env::set_var("DOCKER_HOST", host) };
        }
        let mut settings = match Settings::from_env() {
            Ok(settings) => settings,
            Err(e) => return setup_failed(&e),
        };
        if let Some(dir) = &self.config_dir
            && std::env::var_os("KRATOS_CONFIG_DIR").is_none()
        {
            settings.config_dir = dir.clone();
        }
        if let Some(dir) = &self.report_dir
            && std::env::var_os("KRATOS_REPORT_DIR").is_none()
        {
            settings.report_dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
        }
        let dirs = self.feature_dirs();
        if dirs.is_empty() {
            return setup_failed(&"no features to run: Suite::without_builtin_features() and no Suite::features(dir)");
        }
        for dir in &dirs {
            if !dir.is_dir() {
                return setup_failed(&format!("the feature folder {} does not exist (Suite::features, or KRATOS_FEATURES_DIR)", dir.display()));
            }
        }
        let args = self.cucumber_args.unwrap_or_else(|| std::env::args().collect());
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime starts");
        let code = runtime.block_on(run(settings, dirs, self.builtin, args, plan_only));
        // Nothing of the run may keep the process alive (a stuck engine call).
        runtime.shutdown_timeout(Duration::from_secs(1));
        code
    }
}

async fn run(settings: Settings, features: Vec<PathBuf>, builtin: bool, args: Vec<String>, plan_only: bool) -> ExitCode {
    use clap::Parser as _;
    let wall = Instant::now();
    // Command-line mistakes and a ledger out of step are reported before anything starts.
    let mut opts = match cli::Opts::<_, _, _, cli::Empty>::try_parse_from(&args) {
        Ok(opts) => opts,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    // The ledger is of the built-in features; a team's own have none.
    if builtin && let Err(problems) = deviations::check(&features_dir(), &features_dir().join("deviations.yml")) {
        eprintln!("kratos-conformance: the known-deviations ledger does not match the features:\n{problems}");
        return ExitCode::FAILURE;
    }
    let selection = Selection { tags: opts.tags_filter.take(), name: opts.re_filter.take(), described: described_filters(&args) };

    let mut instances = match Instances::prepare(settings).await {
        Ok(instances) => instances,
        Err(e) => return setup_failed(&e),
    };
    instances.across_change = Some(Arc::new(crate::schema_change::Identities));
    // The run's browsers, none started yet: the World of every scenario holds
    // them, and the run stops them at its end.
    let browsers = Arc::new(crate::browser::Browsers::new(&instances.scope.id));
    // The suite's pages for a real browser, served before any instance is
    // described: the configurations derived for the browser name them.
    let https = match instances.pages_over_https() {
        Ok(https) => https,
        Err(e) => return setup_failed_after_start(&instances, &browsers, &e).await,
    };
    let origins = crate::browser::origin::serve(https.as_ref().map(|(host, authority)| (host.as_str(), *authority)), Arc::new(instances.public_urls()));
    match origins {
        Ok(origins) => instances.serve_pages_at(origins),
        Err(e) => return setup_failed_after_start(&instances, &browsers, &format!("the suite's origin for the browser: {e}")).await,
    }
    // The run's instances: the World of every scenario holds them, and so
    // does nothing else that outlives the run.
    let shared = Arc::new(instances);
    let instances: &Instances = &shared;
    if instances.settings.backend == Backend::Container {
        eprintln!("kratos-conformance: run {} (its containers carry the label {}={0})", instances.scope.id, kratos::ownership::RUN_ID_LABEL);
    }
    for line in instances.abandoned.lines() {
        eprintln!("kratos-conformance: {line}");
    }
    tokio::spawn(remove_everything_on_signal(Arc::clone(&shared), Arc::clone(&browsers)));

    let mut plan = match Plan::build(&features, &selection, instances).await {
        Ok(plan) => plan,
        Err(e) => return setup_failed_after_start(instances, &browsers, &e).await,
    };
    if plan_only {
        // An external deployment runs already: connecting to it starts nothing,
        // and its admin API and version decide what the settings can only guess.
        let decided = if instances.settings.backend == Backend::External {
            if let Err(failures) = instances.start_all(&plan.specs()).await {
                for failure in &failures {
                    eprintln!("kratos-conformance: {failure}");
                }
                return ExitCode::from(2);
            }
            plan.finalize(instances);
            plan.decided()
        } else {
            plan.preview(instances).await
        };
        print_plan(&decided);
        shut_down(instances, &browsers).await;
        return ExitCode::SUCCESS;
    }
    // Every instance the selected scenarios need starts now, side by side, so
    // that a Kratos that never gets ready is reported once, as what it is, and
    // not as every one of its scenarios failing. Traits the suite cannot make
    // are found first, for the same reason.
    let specs = plan.specs();
    if let Err(problems) = traits_can_be_generated(instances, &specs).await {
        shut_down(instances, &browsers).await;
        for problem in problems {
            eprintln!("kratos-conformance: {problem}");
        }
        return ExitCode::from(2);
    }
    if let Err(failures) = instances.start_all(&specs).await {
        shut_down(instances, &browsers).await;
        for failure in &failures {
            eprintln!("kratos-conformance: {failure}");
        }
        return ExitCode::from(2);
    }
    plan.finalize(instances);
    // What would break every user, before any scenario fails of it.
    let findings: Vec<crate::preflight::Finding> =
        futures::future::join_all(instances.started().iter().map(crate::preflight::probe)).await.into_iter().flatten().collect();
    let misconfigured: Vec<&String> = findings
        .iter()
        .filter_map(|f| match f {
            crate::preflight::Finding::Misconfiguration(m) => Some(m),
            crate::preflight::Finding::Note(_) | crate::preflight::Finding::Drift(_) => None,
        })
        .collect();
    if !misconfigured.is_empty() {
        shut_down(instances, &browsers).await;
        for problem in &misconfigured {
            eprintln!("{}", crate::redact::text(&format!("kratos-conformance: ✘ misconfiguration: {problem}")));
        }
        eprintln!("kratos-conformance: no scenario ran: the deployment has {} misconfiguration(s) that break every user (above)", misconfigured.len());
        return ExitCode::from(2);
    }
    if plan.needs_browser() {
        browsers.warm_up();
    }
    let ready_at = wall.elapsed();
    print_deployment(instances, &plan);
    for finding in &findings {
        match finding {
            crate::preflight::Finding::Drift(drift) => eprintln!(
                "{}",
                crate::redact::text(&format!("kratos-conformance: ⚠ drift: the deployment does not run the configuration it was given: {drift}"))
            ),
            crate::preflight::Finding::Note(note) => eprintln!("{}", crate::redact::text(&format!("kratos-conformance: note: {note}"))),
            crate::preflight::Finding::Misconfiguration(_) => {}
        }
    }
    let only_smoke = plan.only_smoke_applies(&selection);

    let reports = instances.settings.report_dir.clone();
    if let Err(e) = std::fs::create_dir_all(&reports) {
        shut_down(instances, &browsers).await;
        return setup_failed(&format!("cannot create the report folder {}: {e} (set KRATOS_REPORT_DIR)", reports.display()));
    }
    let Ok(json) = std::fs::File::create(reports.join("cucumber.json")) else {
        shut_down(instances, &browsers).await;
        return setup_failed(&format!("cannot write the reports in {} (set KRATOS_REPORT_DIR)", reports.display()));
    };

    let plan = Arc::new(plan);
    // Every scenario finishes, those that are not applicable too (at once).
    let (runs, not_applicable) = plan.counts();
    // What this run records, its own: the World's hooks and the writers share it.
    let (ledger, recording) = (outcomes::Ledger::default(), docs::Recording::default());
    let progress = tokio::spawn(report_progress(ledger.clone(), runs + not_applicable));
    let for_hooks = Arc::clone(&plan);
    let for_world = (Arc::clone(&shared), Arc::clone(&browsers));
    let for_after = (ledger.clone(), recording.clone());
    let browser_captures = reports.join("browser");
    let for_filter = Arc::clone(&plan);
    ConformanceWorld::cucumber::<PathBuf>()
        .with_parser(parser::Planned::new(Arc::clone(&plan)))
        .before(move |feature, _rule, scenario, world| {
            let run = for_hooks.run_of(feature, scenario);
            let (instances, browsers) = (Arc::clone(&for_world.0), Arc::clone(&for_world.1));
            Box::pin(async move {
                world.instances = Some(instances);
                world.browsers = Some(browsers);
                if let Some((instance, identifier)) = run {
                    world.instance = instance;
                    world.identifier_trait = identifier;
                }
            })
        })
        .after(move |feature, _rule, scenario, finished, world| {
            let (ledger, recording) = (for_after.0.clone(), for_after.1.clone());
            let browser_captures = browser_captures.clone();
            Box::pin(async move {
                let Some(world) = world else { return };
                let failed = matches!(finished, ScenarioFinished::StepFailed(..));
                // The browser's traffic is not the suite's own: its scenarios
                // have no flow documentation (their set-up alone says nothing).
                if let Some(browser) = world.browser.take() {
                    if failed {
                        let saved = browser.capture_failure(&browser_captures, &outcomes::file_name(feature, scenario)).await;
                        ledger.attach_artifacts(feature, scenario, saved);
                    }
                    browser.close().await;
                } else if let Some(kratos) = world.first_kratos() {
                    let others: Vec<_> =
                        world.kratos_in_use().into_iter().chain(world.instances_turned_from.iter().cloned()).collect();
                    let session_lifespans = std::iter::once(&kratos)
                        .chain(&others)
                        .map(|instance| instance.deployment.lifespans.session)
                        .collect();
                    let stash = docs::Stash {
                        exchanges: world.transcript.all(),
                        people: world.people.clone(),
                        public_url: kratos.public_url.to_string(),
                        admin_url: kratos.admin_url.to_string(),
                        other_instances: others
                            .iter()
                            .filter(|other| other.name != kratos.name)
                            .map(|other| (other.public_url.to_string(), other.admin_url.to_string()))
                            .collect(),
                        session_lifespans,
                        // The shard a scenario ran on is the run's affair, not the flow's.
                        instance: crate::kratos::InstanceSpec::configuration_name(&kratos.name).to_string(),
                    };
                    recording.stash(feature, scenario, stash);
                }
                if let (Some(kratos), true) = (world.kratos_in_use(), failed) {
                    let log = report::kratos_log_for_failure(&kratos, &world.transcript).await;
                    ledger.attach_kratos_log(feature, scenario, log);
                }
                world.restore_replicas().await;
                world.delete_created_identities().await;
            })
        })
        .with_writer(
            Redacting::new(
                writer::Basic::raw(std::io::stdout(), writer::Coloring::Auto, 0)
                    .summarized()
                    .tee::<ConformanceWorld, _>(writer::Json::for_tee(json))
                    .tee::<ConformanceWorld, _>(docs::Recorder::new(recording.clone()).discard_stats_writes().discard_arbitrary_writes())
                    .normalized()
                    .tee::<ConformanceWorld, _>(outcomes::Collector::new(ledger.clone()).discard_stats_writes()),
            )
            .assert_normalized(),
        )
        .fail_on_skipped_with(|_, _, scenario| !scenario.tags.iter().any(|t| t == NOT_APPLICABLE_TAG))
        .with_cli(opts)
        .filter_run(features, move |feature, _rule, scenario| for_filter.selects(feature, scenario))
        .await;
    progress.abort();
    let scenarios_done = wall.elapsed();
    let server = server_time(instances).await;
    shut_down(instances, &browsers).await;
    let stopped = wall.elapsed();

    finish_docs(instances, &selection, builtin, &ledger, &recording);
    let docs_done = wall.elapsed();
    let outcomes = ledger.all();
    if let Err(e) = junit::write(&reports.join("junit.xml"), &outcomes) {
        eprintln!("kratos-conformance: cannot write {}: {e}", reports.join("junit.xml").display());
    }
    let phases = summary::Phases {
        ready: ready_at,
        scenarios: scenarios_done.saturating_sub(ready_at),
        stopping: stopped.saturating_sub(scenarios_done),
        documentation: docs_done.saturating_sub(stopped),
    };
    println!("{}", summary::render(&outcomes, instances, wall.elapsed(), phases, Some(&server), &reports));
    if let Some(change) = instances.after_change().as_deref().and_then(crate::schema_change::record_of)
        && let Some(path) = crate::schema_change::report::write(&change, &reports)
    {
        println!("  {}\n  the migration report: {}", crate::redact::text(&crate::schema_change::report::verdict(&change)), path.display());
    }
    let ledger = if builtin { deviations::check(&features_dir(), &features_dir().join("deviations.yml")).unwrap_or_default() } else { Vec::new() };
    let version = instances.started().iter().find_map(|k| k.version.clone());
    for note in summary::deviation_notes(&ledger, &outcomes, version.as_deref()) {
        println!("  ⚠ {note}");
    }
    dump_secrets_for_the_redaction_test();
    let failed = outcomes.iter().any(|o| matches!(o.status, Status::Failed { .. }));
    if let Some(reason) = &only_smoke {
        eprintln!("kratos-conformance: the run fails: {reason}");
    }
    if failed || only_smoke.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Every identity schema of every instance can be filled with generated traits;
/// otherwise one line per trait that cannot, saying how to pin it.
async fn traits_can_be_generated(instances: &Instances, specs: &[kratos::InstanceSpec]) -> Result<(), Vec<String>> {
    let mut problems: Vec<String> = Vec::new();
    for spec in specs {
        let deployment = instances.describe(spec).await.map_err(|e| vec![e.to_string()])?;
        for schema in &deployment.schemas {
            let generator = crate::identity::generate::Generator::new(schema, &deployment.team.traits, deployment.team.mail_domain());
            if let Err(e) = generator.generate() {
                let problem = format!("identity schema \"{}\": {e}", schema.id);
                if !problems.contains(&problem) {
                    problems.push(problem);
                }
            }
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// The deployment under test, before the first scenario: where its
/// configuration comes from, each instance's description, and what the team
/// expects that it does not do.
fn print_deployment(instances: &Instances, plan: &Plan) {
    let dir = &instances.config_dir;
    let whose = if dir.own { "this repository's own configuration" } else { "a team's configuration" };
    eprintln!("kratos-conformance: the deployment under test: {} ({whose})", dir.dir.display());
    // The first instance in full; the others by what differs from it.
    let mut first: Option<Vec<String>> = None;
    let variants = instances.variants();
    let mut started = instances.started();
    started.sort_by_key(|k| (k.deployment.derived.len(), variants.iter().position(|v| *v == k.deployment.variant)));
    for kratos in started {
        eprintln!("kratos-conformance: Kratos {} ({}) ready in {:.2?} at {}", kratos.name, kratos.origin, kratos.startup, kratos.public_url);
        if kratos.replicas.len() > 1 || kratos.proxy.is_some() {
            for (i, replica) in kratos.replicas.iter().enumerate() {
                let direct = replica.direct_url().map(|u| format!(", itself at {u}")).unwrap_or_default();
                eprintln!("    replica {}: {} (ready in {:.2?}){direct}, admin {}", i + 1, replica.public_url, replica.startup, replica.admin_url);
            }
            if let Some(proxy) = &kratos.proxy {
                eprintln!("    proxy: nginx, configuration and logs in {}", proxy.dir.display());
            }
        }
        let lines: Vec<String> = kratos.deployment.summary().lines().skip(1).map(str::to_string).collect();
        match &first {
            None => {
                for line in &lines {
                    eprintln!("{line}");
                }
                first = Some(lines);
            }
            Some(shown) => {
                for line in lines.iter().filter(|l| !shown.contains(l)) {
                    eprintln!("{line}");
                }
            }
        }
    }
    if let Some(production) = &instances.production {
        eprintln!("kratos-conformance: the run's CA (trusted by its clients; for curl --cacert): {}", production.ca_file().display());
    }
    if let Some(previous) = &instances.previous_config_dir
        && let Some(change) = instances.after_change().as_deref().and_then(crate::schema_change::record_of)
    {
        eprintln!("kratos-conformance: {}", change.describe(&previous.dir));
    }
    if instances.settings.backend != Backend::External {
        let config = instances.started().into_iter().find(|k| k.deployment.derived.is_empty()).map(|k| k.deployment.config.clone());
        eprintln!("  changed by the suite (not under test): {}", kratos::overrides::describe(&instances.settings, config.as_ref()).join("; "));
    }
    if let Some(primary) = instances.started().into_iter().find(|k| k.deployment.derived.is_empty()) {
        for problem in expectations::check(&primary.deployment) {
            eprintln!("kratos-conformance: ⚠ misconfiguration: {problem}");
        }
    }
    let (runs, not_applicable) = plan.counts();
    eprintln!("kratos-conformance: {runs} scenarios to run, {not_applicable} not applicable to this deployment");
    for (reason, count) in plan.not_applicable_reasons() {
        eprintln!("  not applicable ({count}): {reason}");
    }
}

/// The flow documentation: compared, recorded or both, per the deployment
/// (see [`docs`]); its verdict is a test case of its own.
fn finish_docs(instances: &Instances, selection: &Selection, builtin: bool, ledger: &outcomes::Ledger, recording: &docs::Recording) {
    let version = instances.started().iter().find_map(|k| k.version.clone()).unwrap_or_else(|| kratos::pinned_version().into());
    let deviations = if builtin { deviations::check(&features_dir(), &features_dir().join("deviations.yml")).unwrap_or_default() } else { Vec::new() };
    // The checked-in pages show `serve --dev` on plain HTTP; a production run
    // (HTTPS through a proxy, `Secure` cookies) records its own, as a team's does.
    let checked_in = instances.config_dir.own && instances.production.is_none();
    let mode = docs::Mode::from_env(checked_in, selection.is_everything(), &instances.settings.report_dir);
    let started = Instant::now();
    let mut verdict = recording.finish(&mode, &version, &deviations);
    // The checked-in pages were recorded from the pinned Kratos: what another
    // version sends differently is news about that version, not a failure.
    if let (Err(diff), docs::Mode::Own { record: false, .. }) = (&verdict, &mode)
        && version != kratos::pinned_version() {
            let file = instances.settings.report_dir.join("flows-diff.md");
            let _ = std::fs::write(&file, diff);
            verdict = Ok(format!(
                "Kratos {version} differs from the pages recorded from {} in places; what changed on the wire is in {}",
                kratos::pinned_version(),
                file.display()
            ));
        }
    let status = match &verdict {
        Ok(said) => {
            eprintln!("kratos-conformance: flow documentation: {said} ({:.2?})", started.elapsed());
            Status::Passed
        }
        Err(diff) => {
            eprintln!("kratos-conformance: flow documentation: {diff}");
            Status::Failed { step: "the recorded flows match the baseline".into(), message: diff.clone() }
        }
    };
    if verdict.is_err() || !matches!(mode, docs::Mode::Off) {
        ledger.record(Outcome {
            feature: "Flow documentation".into(),
            feature_file: mode.baseline_display(),
            rule: None,
            scenario: "What Kratos sends is what the recorded flow documentation shows".into(),
            line: 0,
            status,
            duration: started.elapsed(),
            kratos_log: None,
            artifacts: Vec::new(),
            steps: Vec::new(),
        });
    }
}

/// What the suite's requests cost the instances, read from their logs before
/// they are stopped.
async fn server_time(instances: &Instances) -> summary::ServerTime {
    let mut server = summary::ServerTime { requests: 0, total: Duration::ZERO, by_instance: Vec::new() };
    for kratos in instances.started() {
        let Some(log) = kratos.log().await else { continue };
        let (requests, total) = report::server_time(&log);
        server.requests += requests;
        server.total += total;
        server.by_instance.push((kratos.name.clone(), requests, total));
    }
    server
}

/// `KRATOS_CONFORMANCE_SECRETS_FILE`: where the suite's own redaction test
/// (tests/trust.rs) wants the secrets this run knew, to grep its reports for
/// them. Nothing else sets it; the file is the test's, in the test's folder.
fn dump_secrets_for_the_redaction_test() {
    if let Some(path) = std::env::var_os("KRATOS_CONFORMANCE_SECRETS_FILE") {
        let _ = std::fs::write(path, crate::redact::registered().join("\n"));
    }
}

/// Every 20 s of a long run, what has finished: a stalled run says so.
async fn report_progress(ledger: outcomes::Ledger, total: usize) {
    let mut ticker = tokio::time::interval(Duration::from_secs(20));
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let done = ledger.all().len();
        eprintln!("kratos-conformance: {done} of {total} scenarios finished so far");
    }
}

/// `KRATOS_FEATURES_DIR`, or this repository's features.
fn features_dir() -> PathBuf {
    std::env::var_os("KRATOS_FEATURES_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(FEATURES))
}

/// What a run would do, as [`Suite::plan`] prints it: by feature, each
/// scenario's instance or why it is not applicable, then the counts per reason.
fn print_plan(previewed: &[plan::PlannedScenario]) {
    let mut feature = String::new();
    let (mut runs, mut skipped) = (0, 0);
    let mut reasons: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for (place, of_feature, scenario, verdict) in previewed {
        if *of_feature != feature {
            feature = of_feature.clone();
            println!("{feature}");
        }
        match verdict {
            Ok(instance) => {
                runs += 1;
                println!("  runs on {instance}: {scenario} ({place})");
            }
            Err(why) => {
                skipped += 1;
                for reason in why {
                    *reasons.entry(reason.clone()).or_default() += 1;
                }
                println!("  not applicable: {scenario} ({place}): {}", why.join("; "));
            }
        }
    }
    println!("{runs} scenarios would run, {skipped} are not applicable (scenario outlines count once per example; nothing was started)");
    for (reason, count) in reasons {
        println!("  not applicable ({count}): {reason}");
    }
}

/// The filters as the user wrote them, for a message about what they selected.
fn described_filters(args: &[String]) -> Vec<String> {
    let mut described = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        for (long, short, what) in [("--tags", "-t", "--tags"), ("--name", "-n", "--name")] {
            if let Some(value) = arg.strip_prefix(&format!("{long}=")) {
                described.push(format!("{what} '{value}'"));
            } else if (arg == long || arg == short)
                && let Some(value) = args.get(i + 1) {
                    described.push(format!("{what} '{value}'"));
                }
        }
    }
    if let Ok(tags) = std::env::var("CUCUMBER_FILTER_TAGS") {
        described.push(format!("CUCUMBER_FILTER_TAGS='{tags}'"));
    }
    described
}

fn setup_failed(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("kratos-conformance: {error}");
    ExitCode::from(2)
}

async fn setup_failed_after_start(instances: &Instances, browsers: &Browsers, error: &dyn std::fmt::Display) -> ExitCode {
    shut_down(instances, browsers).await;
    setup_failed(error)
}

/// Ctrl-C, SIGTERM or SIGHUP (a closed terminal, a CI job cancelled): remove
/// what the run started, then end it.
async fn remove_everything_on_signal(instances: Arc<Instances>, browsers: Arc<Browsers>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate), Ok(mut hangup)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()), signal(SignalKind::hangup()))
    else {
        return;
    };
    let name = tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
        _ = hangup.recv() => "SIGHUP",
    };
    let what = if instances.settings.keep_containers { "keeping (TESTCONTAINERS_COMMAND=keep)" } else { "removing" };
    eprintln!("\nkratos-conformance: {name}; {what} the Kratos instances this run started");
    shut_down(&instances, &browsers).await;
    std::process::exit(130);
}

/// Removes what the run started, or, with `TESTCONTAINERS_COMMAND=keep`, lists
/// the containers it keeps and how to remove each.
async fn shut_down(instances: &Instances, browsers: &Browsers) {
    browsers.shutdown().await;
    for kept in instances.shutdown().await {
        eprintln!("kratos-conformance: {kept}");
    }
}
