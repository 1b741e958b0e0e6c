//! The conformance runner: `cargo test --test conformance -- [cucumber options]`.
//!
//! It reads the settings, checks the set-up (engine, image, binary, deployment)
//! and the known-deviations ledger before any scenario runs, starts the Kratos of
//! every profile the selected scenarios need, runs them, prints a summary, and
//! removes every container and process it started: after the run, when scenarios
//! fail, and on Ctrl-C.

mod steps;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use cucumber::event::ScenarioFinished;
use cucumber::gherkin::tagexpr::TagOperation;
use cucumber::gherkin::{Feature, GherkinEnv, Rule, Scenario};
use cucumber::tag::Ext as _;
use cucumber::{World as _, WriterExt as _, cli, writer};
use kratos_conformance::kratos::{self, Backend, Instances, Settings, engine};
use kratos_conformance::report::{self, docs, summary};
use kratos_conformance::{ConformanceWorld, deviations};
use regex::Regex;

const FEATURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/features");

fn main() -> ExitCode {
    // testcontainers reads DOCKER_HOST; export the engine found (Docker's socket,
    // or Podman's) before any thread exists.
    if let Some(host) = engine::resolve_host() {
        // SAFETY: no other thread runs yet.
        unsafe { std::env::set_var("DOCKER_HOST", host) };
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => return setup_failed(&e),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime starts");
    runtime.block_on(run(settings))
}

async fn run(settings: Settings) -> ExitCode {
    let wall = Instant::now();
    // Command-line mistakes and a ledger out of step are reported before anything starts.
    let mut opts = cli::Opts::<_, _, _, cli::Empty>::parsed();
    let features = Path::new(FEATURES);
    if let Err(problems) = deviations::check(features, &features.join("deviations.yml")) {
        eprintln!("kratos-conformance: the known-deviations ledger does not match the features:\n{problems}");
        return ExitCode::FAILURE;
    }
    let record_docs = std::env::var_os("KRATOS_RECORD_DOCS").is_some_and(|v| v != "0" && !v.is_empty());
    let external = settings.backend == Backend::External;
    let selection = Selection {
        tags: opts.tags_filter.take(),
        name: opts.re_filter.take(),
        external_profile: external.then(|| settings.external_profile.clone()),
        any_profile: if external { settings.external_profile.clone() } else { kratos::DEFAULT_PROFILE.to_string() },
    };

    let instances = match Instances::prepare(settings).await {
        Ok(instances) => instances.install(),
        Err(e) => return setup_failed(&e),
    };
    for line in instances.abandoned.lines() {
        eprintln!("kratos-conformance: {line}");
    }
    tokio::spawn(remove_everything_on_signal());

    // Every profile the selected scenarios need starts now, side by side, so that
    // a Kratos that never gets ready is reported once, as what it is, and not as
    // every one of its scenarios failing.
    let profiles = match selection.profiles(features) {
        Ok(profiles) => profiles,
        Err(e) => return setup_failed(&e),
    };
    let started = futures::future::join_all(profiles.iter().map(|p| instances.get(p))).await;
    let failures: Vec<String> = started.into_iter().filter_map(Result::err).map(|e| e.to_string()).collect();
    if !failures.is_empty() {
        shut_down(instances).await;
        for failure in &failures {
            eprintln!("kratos-conformance: {failure}");
        }
        return ExitCode::from(2);
    }
    for kratos in instances.started() {
        eprintln!("kratos-conformance: Kratos {} ({}) ready in {:.2?} at {}", kratos.profile, kratos.origin, kratos.startup, kratos.public_url);
    }

    let reports = report_dir();
    if let Err(e) = std::fs::create_dir_all(&reports) {
        return setup_failed(&format!("cannot create the report folder {}: {e} (set KRATOS_REPORT_DIR)", reports.display()));
    }
    let (Ok(junit), Ok(json)) = (std::fs::File::create(reports.join("junit.xml")), std::fs::File::create(reports.join("cucumber.json")))
    else {
        return setup_failed(&format!("cannot write the reports in {} (set KRATOS_REPORT_DIR)", reports.display()));
    };

    let profiles_of = selection.clone();
    let result = ConformanceWorld::cucumber()
        .before(move |feature, rule, scenario, world| {
            let profile = profiles_of.profile_of(feature, rule, scenario);
            Box::pin(async move {
                world.profile = profile;
            })
        })
        .after(|feature, _rule, scenario, finished, world| {
            Box::pin(async move {
                let Some(world) = world else { return };
                if let Some(kratos) = world.kratos_in_use() {
                    let stash = docs::Stash {
                        exchanges: world.transcript.all(),
                        people: world.people.clone(),
                        public_url: kratos.public_url.to_string(),
                        admin_url: kratos.admin_url.to_string(),
                        profile: kratos.profile.clone(),
                    };
                    docs::stash(feature, scenario, stash);
                }
                // A failure carries the tail of that Kratos' log (console and JUnit).
                if matches!(finished, ScenarioFinished::StepFailed(..)) {
                    if let Some(kratos) = world.kratos_in_use() {
                        let since = world.transcript.all().first().map(|e| e.at);
                        let log = report::kratos_log_for_failure(&kratos, since).await;
                        tracing::error!("--- what Kratos {} logged during this scenario ---\n{log}", kratos.profile);
                    }
                }
                world.delete_created_identities().await;
            })
        })
        .with_writer(
            writer::Basic::raw(std::io::stdout(), writer::Coloring::Auto, 0)
                .summarized()
                .tee::<ConformanceWorld, _>(writer::JUnit::for_tee(junit, 0))
                .tee::<ConformanceWorld, _>(writer::Json::for_tee(json))
                .tee::<ConformanceWorld, _>(docs::Recorder::default().discard_stats_writes().discard_arbitrary_writes())
                .normalized(),
        )
        .fail_on_skipped()
        .with_cli(opts)
        .configure_and_init_tracing(
            tracing_subscriber::fmt::format::DefaultFields::new(),
            tracing_subscriber::fmt::format::Format::default().without_time().with_target(false).with_level(false).with_ansi(false),
            |layer| {
                use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
                tracing_subscriber::registry().with(tracing_subscriber::filter::LevelFilter::WARN.and_then(layer))
            },
        )
        .filter_run(FEATURES, {
            let selection = selection.clone();
            move |feature, rule, scenario| selection.selects(feature, rule, scenario)
        })
        .await;

    shut_down(instances).await;
    use cucumber::writer::Stats as _;
    let mut failed = result.execution_has_failed();
    drop(result); // flushes the reports
    if !check_or_record_docs(&selection, record_docs, failed, instances) {
        failed = true;
    }
    match summary::counts(&reports.join("cucumber.json")) {
        Ok(per_feature) => println!("{}", summary::render(&per_feature, instances, wall.elapsed(), &reports)),
        Err(e) => eprintln!("kratos-conformance: no summary: {e}"),
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Records the flow documentation (`KRATOS_RECORD_DOCS=1`), or checks that the
/// checked-in pages still match what a whole, passing run records. False when the
/// pages are stale or could not be written.
fn check_or_record_docs(selection: &Selection, record: bool, failed: bool, instances: &Instances) -> bool {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/flows");
    let whole_run = selection.is_everything() && instances.settings.backend != Backend::External;
    if !whole_run || failed || !docs::all_passed() {
        if record {
            eprintln!("kratos-conformance: recording the flow documentation needs a whole, passing run against a Kratos the suite starts; nothing was written");
            return false;
        }
        return true;
    }
    let rendering = Instant::now();
    let version = instances.started().iter().find_map(|k| k.version.clone()).unwrap_or_else(|| kratos::pinned_version().into());
    let mut pages = docs::pages(&version);
    let ledger = deviations::check(Path::new(FEATURES), &Path::new(FEATURES).join("deviations.yml")).unwrap_or_default();
    if record {
        return match docs::write(&pages, &dir, &ledger) {
            Ok(()) => {
                eprintln!("kratos-conformance: wrote {} pages to {}", pages.len() + 1, dir.display());
                true
            }
            Err(e) => {
                eprintln!("kratos-conformance: cannot write {}: {e}", dir.display());
                false
            }
        };
    }
    pages.insert("README.md".into(), docs::index(&pages, &ledger));
    let stale = docs::stale(&pages, &dir);
    eprintln!("kratos-conformance: flow documentation rendered and compared in {:.2?}", rendering.elapsed());
    if !stale.is_empty() {
        eprintln!(
            "kratos-conformance: the flow documentation in {} no longer matches what Kratos does: {} differ; regenerate with `{}` and review the diff",
            dir.display(),
            stale.join(", "),
            docs::RECORD_COMMAND
        );
        return false;
    }
    true
}

/// Which scenarios run: cucumber's `--tags` and `--name`, and, against an external
/// deployment, only those of the profile it runs.
#[derive(Clone)]
struct Selection {
    tags: Option<TagOperation>,
    name: Option<Regex>,
    external_profile: Option<String>,
    /// The profile of `@profile:any` scenarios: the external deployment's, or the default.
    any_profile: String,
}

impl Selection {
    fn is_everything(&self) -> bool {
        self.tags.is_none() && self.name.is_none() && self.external_profile.is_none()
    }

    fn selects(&self, feature: &Feature, rule: Option<&Rule>, scenario: &Scenario) -> bool {
        let tags_match = self.tags.as_ref().is_none_or(|t| {
            t.eval(feature.tags.iter().chain(rule.iter().flat_map(|r| &r.tags)).chain(scenario.tags.iter()))
        });
        let name_matches = self.name.as_ref().is_none_or(|re| re.is_match(&scenario.name));
        let profile_served = self.external_profile.as_ref().is_none_or(|p| *p == self.profile_of(feature, rule, scenario));
        tags_match && name_matches && profile_served
    }

    /// The profiles of the selected scenarios in `dir`.
    fn profiles(&self, dir: &Path) -> Result<BTreeSet<String>, String> {
        let mut profiles = BTreeSet::new();
        let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for path in entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "feature")) {
            let feature = Feature::parse_path(&path, GherkinEnv::default()).map_err(|e| format!("{}: {e}", path.display()))?;
            let plain = feature.scenarios.iter().map(|s| (None, s));
            let ruled = feature.rules.iter().flat_map(|r| r.scenarios.iter().map(move |s| (Some(r), s)));
            for (rule, scenario) in plain.chain(ruled) {
                if self.selects(&feature, rule, scenario) {
                    profiles.insert(self.profile_of(&feature, rule, scenario));
                }
            }
        }
        Ok(profiles)
    }

    /// `@profile:<name>` on the scenario, its rule or its feature (nearest wins);
    /// `@profile:any` runs on whatever profile is there.
    fn profile_of(&self, feature: &Feature, rule: Option<&Rule>, scenario: &Scenario) -> String {
        let tagged = |tags: &[String]| tags.iter().find_map(|t| t.strip_prefix("profile:").map(str::to_string));
        let profile = tagged(&scenario.tags)
            .or_else(|| rule.and_then(|r| tagged(&r.tags)))
            .or_else(|| tagged(&feature.tags))
            .unwrap_or_else(|| kratos::DEFAULT_PROFILE.to_string());
        if profile == "any" { self.any_profile.clone() } else { profile }
    }
}

fn report_dir() -> PathBuf {
    std::env::var_os("KRATOS_REPORT_DIR")
        .map(Into::into)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/conformance-reports"))
}

fn setup_failed(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("kratos-conformance: {error}");
    ExitCode::from(2)
}

/// Ctrl-C or SIGTERM: remove what the run started, then end it.
async fn remove_everything_on_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    let instances = kratos::instances();
    let what = if instances.settings.keep_containers { "keeping (TESTCONTAINERS_COMMAND=keep)" } else { "removing" };
    eprintln!("\nkratos-conformance: interrupted; {what} the Kratos instances this run started");
    shut_down(instances).await;
    std::process::exit(130);
}

/// Removes what the run started, or, with `TESTCONTAINERS_COMMAND=keep`, lists
/// the containers it keeps and how to remove each.
async fn shut_down(instances: &Instances) {
    for kept in instances.shutdown().await {
        eprintln!("kratos-conformance: {kept}");
    }
}
