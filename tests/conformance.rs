//! The conformance runner: `cargo test --test conformance -- [cucumber options]`.
//!
//! It reads the settings, checks the set-up (engine, image, binary, deployment)
//! before any scenario runs, starts the default profile's Kratos, runs the
//! features, and removes every container and process it started: after the run,
//! when scenarios fail, and on Ctrl-C.

mod steps;

use std::process::ExitCode;

use cucumber::gherkin::{Feature, Rule, Scenario};
use cucumber::tag::Ext as _;
use cucumber::{World as _, WriterExt as _, cli, writer};
use kratos_conformance::{ConformanceWorld, deviations};

const FEATURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/features");
use kratos_conformance::kratos::{self, Backend, Instances, Settings, engine};

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
    // Command-line mistakes and a ledger out of step are reported before anything starts.
    let mut opts = cli::Opts::<_, _, _, cli::Empty>::parsed();
    let features = std::path::Path::new(FEATURES);
    if let Err(problems) = deviations::check(features, &features.join("deviations.yml")) {
        eprintln!("kratos-conformance: the known-deviations ledger does not match the features:\n{problems}");
        return ExitCode::FAILURE;
    }
    let instances = match Instances::prepare(settings).await {
        Ok(instances) => instances.install(),
        Err(e) => return setup_failed(&e),
    };
    tokio::spawn(remove_everything_on_signal());

    // The profile most scenarios use starts now, so that a Kratos that never gets
    // ready is reported once, as what it is, and not as every scenario failing.
    let first_profile = match instances.settings.backend {
        Backend::External => instances.settings.external_profile.clone(),
        _ => kratos::DEFAULT_PROFILE.to_string(),
    };
    if let Err(e) = instances.get(&first_profile).await {
        instances.shutdown().await;
        return setup_failed(&e);
    }
    for kratos in instances.started() {
        eprintln!("kratos-conformance: Kratos {} ({}) ready in {:.2?} at {}", kratos.profile, kratos.origin, kratos.startup, kratos.public_url);
    }

    let reports = report_dir();
    let _ = std::fs::create_dir_all(&reports);
    let junit = std::fs::File::create(reports.join("junit.xml")).expect("the report folder is writable");
    let json = std::fs::File::create(reports.join("cucumber.json")).expect("the report folder is writable");

    let tags = opts.tags_filter.take();
    let name = opts.re_filter.take();
    let external_profile = (instances.settings.backend == Backend::External).then(|| instances.settings.external_profile.clone());

    let result = ConformanceWorld::cucumber()
        .before(|feature, rule, scenario, world| {
            Box::pin(async move {
                world.profile = profile_of(feature, rule, scenario);
            })
        })
        .after(|_feature, _rule, _scenario, _finished, world| {
            Box::pin(async move {
                if let Some(world) = world {
                    world.delete_created_identities().await;
                }
            })
        })
        .with_writer(
            writer::Basic::raw(std::io::stdout(), writer::Coloring::Auto, 0)
                .summarized()
                .tee::<ConformanceWorld, _>(writer::JUnit::for_tee(junit, 0))
                .tee::<ConformanceWorld, _>(writer::Json::for_tee(json))
                .normalized(),
        )
        .fail_on_skipped()
        .with_cli(opts)
        .filter_run(FEATURES, move |feature, rule, scenario| {
            let tags_match = tags.as_ref().is_none_or(|t| {
                t.eval(feature.tags.iter().chain(rule.iter().flat_map(|r| &r.tags)).chain(scenario.tags.iter()))
            });
            let name_matches = name.as_ref().is_none_or(|re| re.is_match(&scenario.name));
            // An external deployment runs one profile; scenarios of others cannot run there.
            let profile_served = external_profile.as_ref().is_none_or(|p| *p == profile_of(feature, rule, scenario));
            tags_match && name_matches && profile_served
        })
        .await;

    instances.shutdown().await;
    use cucumber::writer::Stats as _;
    if result.execution_has_failed() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// `@profile:<name>` on the scenario, its rule or its feature (nearest wins).
fn profile_of(feature: &Feature, rule: Option<&Rule>, scenario: &Scenario) -> String {
    let tagged = |tags: &[String]| tags.iter().find_map(|t| t.strip_prefix("profile:").map(str::to_string));
    tagged(&scenario.tags)
        .or_else(|| rule.and_then(|r| tagged(&r.tags)))
        .or_else(|| tagged(&feature.tags))
        .unwrap_or_else(|| kratos::DEFAULT_PROFILE.to_string())
}

fn report_dir() -> std::path::PathBuf {
    std::env::var_os("KRATOS_REPORT_DIR")
        .map(Into::into)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/conformance-reports"))
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
    eprintln!("\nkratos-conformance: interrupted; removing the Kratos instances this run started");
    kratos::instances().shutdown().await;
    std::process::exit(130);
}
