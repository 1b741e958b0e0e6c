//! What happened to each scenario, collected as it happens: the source of the
//! JUnit report, the summary and the live failure lines. A failure is printed to
//! stderr the moment its scenario ends, whatever the console's feature order is
//! still waiting for, so a stalled run shows what already failed.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime};

use cucumber::event::{self, Cucumber, Feature as FeatureEvent, Rule as RuleEvent, Scenario as ScenarioEvent};
use cucumber::{Event, World, Writer, cli, gherkin, parser, writer};

use super::redacting::error_text;

/// How one scenario ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Passed,
    Failed { step: String, message: String },
    /// Not run; the reason (a not-applicable scenario's, or cucumber's).
    Skipped { reason: String },
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub feature: String,
    pub feature_file: String,
    pub rule: Option<String>,
    pub scenario: String,
    pub line: usize,
    pub status: Status,
    pub duration: Duration,
    /// What the Kratos of the scenario logged about its requests (failures only).
    pub kratos_log: Option<String>,
    /// What a failed scenario left in the report folder (a browser's
    /// screenshot and console log), one line each: `screenshot: <path>`.
    pub artifacts: Vec<String>,
    /// The steps as they ran, one line each (`✔ Given ...`).
    pub steps: Vec<String>,
}

impl Outcome {
    pub fn location(&self) -> String {
        format!("{}:{}", self.feature_file, self.line)
    }
}

/// A scenario by its feature file, line and name.
type ScenarioKey = (String, usize, String);

/// One run's outcomes, and what its after-hook attached to failed scenarios:
/// made by the runner, shared by the [`Collector`] and the hooks of that run
/// alone (clones are the same ledger).
#[derive(Debug, Default, Clone)]
pub struct Ledger(Arc<Entries>);

#[derive(Debug, Default)]
struct Entries {
    outcomes: Mutex<Vec<Outcome>>,
    kratos_logs: Mutex<HashMap<ScenarioKey, String>>,
    artifacts: Mutex<HashMap<ScenarioKey, Vec<String>>>,
}

impl Ledger {
    /// Every outcome so far, in the order the scenarios ended.
    pub fn all(&self) -> Vec<Outcome> {
        self.0.outcomes.lock().expect("not poisoned").clone()
    }

    /// The after-hook attaches what Kratos logged for a failed scenario.
    pub fn attach_kratos_log(&self, feature: &gherkin::Feature, scenario: &gherkin::Scenario, log: String) {
        self.0.kratos_logs.lock().expect("not poisoned").insert(key(feature, scenario), log);
    }

    /// The after-hook attaches what a failed scenario left in the report folder.
    pub fn attach_artifacts(&self, feature: &gherkin::Feature, scenario: &gherkin::Scenario, artifacts: Vec<String>) {
        self.0.artifacts.lock().expect("not poisoned").insert(key(feature, scenario), artifacts);
    }

    /// Records an outcome that cucumber did not run (the flow documentation check).
    pub fn record(&self, outcome: Outcome) {
        if let Status::Failed { step, message } = &outcome.status {
            live_failure(&outcome, step, message);
        }
        self.0.outcomes.lock().expect("not poisoned").push(outcome);
    }
}

/// A file name for what a scenario leaves in the report folder:
/// `<feature file>-<line>-<scenario, in letters and digits>`.
pub fn file_name(feature: &gherkin::Feature, scenario: &gherkin::Scenario) -> String {
    let stem = feature.path.as_ref().and_then(|p| p.file_stem()).map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let words: String = scenario.name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let words: Vec<&str> = words.split('-').filter(|w| !w.is_empty()).collect();
    let mut name = format!("{stem}-{}-{}", scenario.position.line, words.join("-"));
    name.truncate(100);
    name
}

fn key(feature: &gherkin::Feature, scenario: &gherkin::Scenario) -> (String, usize, String) {
    (feature.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default(), scenario.position.line, scenario.name.clone())
}

/// The cucumber writer that collects outcomes into its run's [`Ledger`] (tee
/// it beside the console).
#[derive(Debug)]
pub struct Collector {
    running: HashMap<(String, usize, String), Running>,
    ledger: Ledger,
}

impl Collector {
    pub fn new(ledger: Ledger) -> Collector {
        Collector { running: HashMap::new(), ledger }
    }
}

#[derive(Debug, Default)]
struct Running {
    started: Option<SystemTime>,
    status: Option<Status>,
    steps: Vec<String>,
}

impl<W: World> Writer<W> for Collector {
    type Cli = cli::Empty;

    async fn handle_event(&mut self, event: parser::Result<Event<Cucumber<W>>>, _: &Self::Cli) {
        let Ok(event) = event else { return };
        let at = event.at;
        let Cucumber::Feature(feature, event) = event.value else { return };
        let (rule, scenario, event) = match event {
            FeatureEvent::Scenario(scenario, event) => (None, scenario, event),
            FeatureEvent::Rule(rule, RuleEvent::Scenario(scenario, event)) => (Some(rule.name.clone()), scenario, event),
            _ => return,
        };
        let key = key(&feature, &scenario);
        let running = self.running.entry(key.clone()).or_default();
        match event.event {
            ScenarioEvent::Started => running.started = Some(at),
            ScenarioEvent::Step(step, event) | ScenarioEvent::Background(step, event) => {
                let line = format!("{} {}", step.keyword.trim(), step.value);
                match event {
                    event::Step::Passed(..) => running.steps.push(format!("✔ {line}")),
                    event::Step::Skipped => {
                        running.steps.push(format!("? {line}"));
                        running.status.get_or_insert(Status::Skipped { reason: skip_reason(&step.value) });
                    }
                    event::Step::Failed(_, _, _, error) => {
                        running.steps.push(format!("✘ {line}"));
                        running.status.get_or_insert(Status::Failed { step: line, message: error_text(&error) });
                    }
                    event::Step::Started => {}
                }
            }
            ScenarioEvent::Hook(kind, event::Hook::Failed(_, info)) => {
                let message = info.downcast_ref::<String>().cloned().unwrap_or_else(|| "the hook panicked".into());
                running.status.get_or_insert(Status::Failed { step: format!("{kind:?} hook"), message });
            }
            ScenarioEvent::Finished => {
                let running = self.running.remove(&key).unwrap_or_default();
                let outcome = Outcome {
                    feature: feature.name.clone(),
                    feature_file: relative(&key.0),
                    rule,
                    scenario: scenario.name.clone(),
                    line: scenario.position.line,
                    status: running.status.unwrap_or(Status::Passed),
                    duration: running.started.and_then(|s| at.duration_since(s).ok()).unwrap_or_default(),
                    kratos_log: self.ledger.0.kratos_logs.lock().expect("not poisoned").remove(&key),
                    artifacts: self.ledger.0.artifacts.lock().expect("not poisoned").remove(&key).unwrap_or_default(),
                    steps: running.steps,
                };
                self.ledger.record(outcome);
            }
            _ => {}
        }
    }
}

impl<W: World> writer::Arbitrary<W, String> for Collector {
    async fn write(&mut self, _: String) {}
}

/// A not-applicable scenario's one step carries its reason.
fn skip_reason(step: &str) -> String {
    step.strip_prefix("not applicable to this deployment: ")
        .map(|r| format!("not applicable to this deployment: {r}"))
        .unwrap_or_else(|| format!("no step matches \"{step}\""))
}

fn relative(path: &str) -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/");
    path.strip_prefix(root).unwrap_or(path).to_string()
}

/// One line to stderr the moment a scenario fails, and its first lines of detail.
fn live_failure(outcome: &Outcome, step: &str, message: &str) {
    let first = message.lines().next().unwrap_or_default();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "✘ FAILED {} — {} ({})\n    at: {step}\n    {first}", outcome.feature, outcome.scenario, outcome.location());
    for artifact in &outcome.artifacts {
        let _ = writeln!(err, "    {artifact}");
    }
}

/// Failures grouped by cause: the same step and the same first line of the
/// message (ids and times made alike).
pub fn failure_groups(outcomes: &[Outcome]) -> Vec<(String, Vec<&Outcome>)> {
    static VOLATILE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{4}-\d{2}-\d{2}T[0-9:.]+Z?|127\.0\.0\.1:\d+|(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} [0-9:]{8} GMT").expect("valid")
    });
    let mut groups: Vec<(String, Vec<&Outcome>)> = Vec::new();
    for outcome in outcomes {
        let Status::Failed { step, message } = &outcome.status else { continue };
        let first = message.lines().next().unwrap_or_default();
        let cause = format!("{step} → {}", VOLATILE.replace_all(first, "…"));
        match groups.iter_mut().find(|(c, _)| *c == cause) {
            Some((_, members)) => members.push(outcome),
            None => groups.push((cause, vec![outcome])),
        }
    }
    groups.sort_by_key(|(_, members)| std::cmp::Reverse(members.len()));
    groups
}

