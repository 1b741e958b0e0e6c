//! Flow documentation recorded from real runs: `<feature>.md`, each scenario's
//! steps interleaved with the requests and responses it made.
//!
//! During a run, [`Recorder`] (a cucumber writer) notes when each step started,
//! and the after-hook hands over the scenario's exchanges ([`stash`]); each
//! exchange belongs to the step that was running when it was sent. After the run,
//! [`finish`] renders the pages and, per [`Mode`]:
//! - with this repository's own configuration, compares each passed scenario's
//!   section with `docs/flows/` (or rewrites it, `KRATOS_RECORD_DOCS=1`);
//! - with a team's configuration, writes the pages to the team's folder
//!   (`KRATOS_DOCS_DIR`) and, given a baseline (`KRATOS_DOCS_BASELINE`: the pages
//!   the team committed), compares with it and prints, per scenario, what
//!   changed on the wire.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use cucumber::event::{self, Cucumber, Feature as FeatureEvent, Rule as RuleEvent, Scenario as ScenarioEvent};
use cucumber::gherkin;
use cucumber::{Event, World, Writer, cli, parser};

use super::normalize::Normalizer;
use crate::client::Exchange;
use crate::identity::Person;

/// The command that writes the pages.
pub const RECORD_COMMAND: &str = "KRATOS_RECORD_DOCS=1 cargo test --test conformance";

/// What the after-hook hands over about a scenario.
pub struct Stash {
    pub exchanges: Vec<Exchange>,
    pub people: Vec<Person>,
    pub public_url: String,
    pub admin_url: String,
    /// The base URLs (public, admin) of the other instances the scenario
    /// turned to (a cookie secret rotation's stages).
    pub other_instances: Vec<(String, String)>,
    /// The session lifespans of every instance the scenario used.
    pub session_lifespans: Vec<Duration>,
    pub instance: String,
}

type Key = (String, usize, String);

fn key(feature: &gherkin::Feature, scenario: &gherkin::Scenario) -> Key {
    let path = feature.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    (path, scenario.position.line, scenario.name.clone())
}

/// One run's flow documentation as it is recorded: what the after-hook
/// stashed of each scenario, and each scenario as the [`Recorder`] saw it
/// end. Made by the runner for that run alone (clones are the same).
#[derive(Default, Clone)]
pub struct Recording(Arc<Recordings>);

#[derive(Default)]
struct Recordings {
    stashed: Mutex<HashMap<Key, Stash>>,
    recorded: Mutex<Vec<Recorded>>,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording").field("scenarios", &self.0.recorded.lock().expect("not poisoned").len()).finish()
    }
}

/// The tag of scenarios the pages leave out (too many exchanges, in no fixed order).
pub const UNDOCUMENTED_TAG: &str = "undocumented";

impl Recording {
    /// Called by the after-hook with the scenario's exchanges.
    pub fn stash(&self, feature: &gherkin::Feature, scenario: &gherkin::Scenario, stash: Stash) {
        if feature.tags.iter().chain(&scenario.tags).any(|t| t == UNDOCUMENTED_TAG) {
            return;
        }
        self.0.stashed.lock().expect("not poisoned").insert(key(feature, scenario), stash);
    }
}

/// One scenario as it ran.
struct Recorded {
    feature: gherkin::Feature,
    rule: Option<String>,
    scenario: gherkin::Scenario,
    steps: Vec<(gherkin::Step, SystemTime)>,
    stash: Option<Stash>,
    passed: bool,
}

/// The cucumber writer that notes step start times into its run's
/// [`Recording`] (tee it beside the others).
#[derive(Debug)]
pub struct Recorder {
    /// Per running scenario: its rule, its steps with their start times, and
    /// whether it is documented.
    running: HashMap<Key, Running>,
    recording: Recording,
}

impl Recorder {
    pub fn new(recording: Recording) -> Recorder {
        Recorder { running: HashMap::new(), recording }
    }
}

type Running = (Option<String>, Vec<(gherkin::Step, SystemTime)>, bool);

impl<W: World> Writer<W> for Recorder {
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
        let entry = self.running.entry(key.clone()).or_insert_with(|| (rule, Vec::new(), true));
        match event.event {
            ScenarioEvent::Step(step, event::Step::Started) | ScenarioEvent::Background(step, event::Step::Started) => {
                entry.1.push(((*step).clone(), at));
            }
            ScenarioEvent::Step(_, event::Step::Failed(..) | event::Step::Skipped)
            | ScenarioEvent::Background(_, event::Step::Failed(..) | event::Step::Skipped)
            | ScenarioEvent::Hook(_, event::Hook::Failed(..)) => entry.2 = false,
            ScenarioEvent::Finished => {
                let (rule, steps, passed) = self.running.remove(&key).unwrap_or_default();
                let stash = self.recording.0.stashed.lock().expect("not poisoned").remove(&key);
                self.recording.0.recorded.lock().expect("not poisoned").push(Recorded {
                    feature: (*feature).clone(),
                    rule,
                    scenario: (*scenario).clone(),
                    steps,
                    stash,
                    passed,
                });
            }
            _ => {}
        }
    }
}

/// One page: its header and one section per scenario (with the rule heading
/// before the first scenario of each rule).
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub header: String,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone)]
pub struct Section {
    /// `### Scenario: <name>`.
    pub heading: String,
    /// The rule heading that precedes it, if this is the rule's first scenario.
    pub rule: Option<String>,
    pub body: String,
    pub passed: bool,
}

impl Page {
    pub fn render(&self, only_passed: bool) -> String {
        let mut out = self.header.clone();
        for section in self.sections.iter().filter(|s| s.passed || !only_passed) {
            if let Some(rule) = &section.rule {
                out.push_str(rule);
            }
            out.push_str(&section.heading);
            out.push_str(&section.body);
        }
        out
    }

    /// A page as written, taken apart into its header and sections.
    pub fn parse(text: &str) -> Page {
        let mut page = Page::default();
        let mut rule = None;
        for chunk in split_keeping(text, |line| line.starts_with("## ") || line.starts_with("### ")) {
            if chunk.starts_with("## ") {
                rule = Some(chunk);
            } else if let Some(rest) = chunk.strip_prefix("### ") {
                let (heading, body) = rest.split_once('\n').unwrap_or((rest, ""));
                page.sections.push(Section { heading: format!("### {heading}\n"), rule: rule.take(), body: body.to_string(), passed: true });
            } else {
                page.header.push_str(&chunk);
            }
        }
        page
    }
}

/// Splits `text` into chunks, each starting at a line `starts` accepts.
fn split_keeping(text: &str, starts: impl Fn(&str) -> bool) -> Vec<String> {
    let mut chunks: Vec<String> = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if starts(line) {
            chunks.push(String::new());
        }
        chunks.last_mut().expect("one chunk at least").push_str(line);
    }
    chunks.into_iter().filter(|c| !c.is_empty()).collect()
}

/// The pages of every feature recorded in this run: file name → page.
impl Recording {
/// The pages of what was recorded, per feature file.
pub fn pages(&self, kratos_version: &str) -> BTreeMap<String, Page> {
    let mut recorded = self.0.recorded.lock().expect("not poisoned");
    recorded.sort_by(|a, b| {
        (a.feature.path.clone(), a.scenario.position.line, &a.scenario.name).cmp(&(
            b.feature.path.clone(),
            b.scenario.position.line,
            &b.scenario.name,
        ))
    });
    let mut pages: BTreeMap<String, Page> = BTreeMap::new();
    let mut last_rule: HashMap<String, Option<String>> = HashMap::new();
    let documented: Vec<&Recorded> = recorded.iter().filter(|r| r.stash.is_some()).collect();
    let rendered = render_all(&documented);
    for (scenario, text) in documented.into_iter().zip(rendered) {
        let file = scenario
            .feature
            .path
            .as_ref()
            .and_then(|p| p.file_stem())
            .map(|s| format!("{}.md", s.to_string_lossy()))
            .unwrap_or_else(|| "unnamed.md".into());
        let page = pages.entry(file.clone()).or_insert_with(|| Page { header: header(&scenario.feature, kratos_version), sections: Vec::new() });
        let previous = last_rule.entry(file).or_insert(None);
        let rule = (scenario.rule.is_some() && *previous != scenario.rule).then(|| {
            *previous = scenario.rule.clone();
            format!("## {}\n\n", scenario.rule.clone().unwrap_or_default())
        });
        let (heading, body) = text.split_once('\n').map(|(h, b)| (format!("{h}\n"), b.to_string())).unwrap_or((text.clone(), String::new()));
        page.sections.push(Section { heading, rule, body, passed: scenario.passed });
    }
    pages
}
}

/// Where the pages go and what they are compared with.
#[derive(Debug, Clone)]
pub enum Mode {
    /// This repository's configuration: compare with `docs/flows/`, or rewrite it.
    Own { dir: PathBuf, record: bool, whole_run: bool },
    /// A team's: write to `out`, compare with `baseline` if there is one.
    Team { out: PathBuf, baseline: Option<PathBuf>, whole_run: bool },
    Off,
}

impl Mode {
    /// From `KRATOS_RECORD_DOCS`, `KRATOS_DOCS_DIR` and `KRATOS_DOCS_BASELINE`.
    pub fn from_env(own_config: bool, whole_run: bool, reports: &Path) -> Mode {
        let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        if own_config {
            let record = std::env::var_os("KRATOS_RECORD_DOCS").is_some_and(|v| v != "0" && !v.is_empty());
            let dir = set("KRATOS_DOCS_BASELINE").unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/flows"));
            Mode::Own { dir, record, whole_run }
        } else {
            Mode::Team { out: set("KRATOS_DOCS_DIR").unwrap_or_else(|| reports.join("flows")), baseline: set("KRATOS_DOCS_BASELINE"), whole_run }
        }
    }

    pub fn baseline_display(&self) -> String {
        match self {
            Mode::Own { dir, .. } | Mode::Team { baseline: Some(dir), .. } => dir.display().to_string(),
            Mode::Team { out, .. } => out.display().to_string(),
            Mode::Off => String::new(),
        }
    }
}

impl Recording {
/// Renders, writes and compares the pages as `mode` says. `Ok` says what was
/// done; `Err` is the readable difference (or why nothing could be written).
pub fn finish(&self, mode: &Mode, kratos_version: &str, deviations: &[crate::deviations::Deviation]) -> Result<String, String> {
    let pages = self.pages(kratos_version);
    match mode {
        Mode::Off => Ok("not recorded".into()),
        Mode::Own { dir, record: true, whole_run } => {
            if !whole_run || !self.all_passed() {
                return Err(format!(
                    "recording the flow documentation needs a whole, passing run; {} was left as it is",
                    dir.display()
                ));
            }
            write(&pages, dir, deviations).map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
            Ok(format!("wrote {} pages to {}", pages.len() + 1, dir.display()))
        }
        Mode::Own { dir, record: false, whole_run } => {
            let mut said = compare(&pages, dir, *whole_run)?;
            if *whole_run && self.all_passed() {
                let index = index(&pages, deviations);
                if std::fs::read_to_string(dir.join("README.md")).ok().as_deref() != Some(index.as_str()) {
                    return Err(format!("{}/README.md (the index and known deviations) no longer matches; regenerate with `{RECORD_COMMAND}`", dir.display()));
                }
                said.push_str(" and the index");
            }
            Ok(said)
        }
        Mode::Team { out, baseline, whole_run } => {
            write_passed(&pages, out).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            let written = format!("recorded to {}", out.display());
            match baseline {
                Some(dir) => compare(&pages, dir, *whole_run).map(|said| format!("{said}; {written}")),
                None => Ok(format!("{written} (set KRATOS_DOCS_BASELINE to a committed copy to compare)")),
            }
        }
    }
}
}

/// Compares every passed scenario's section with the same section of the
/// baseline's page. A whole run also reports scenarios the baseline has and
/// this run did not record.
fn compare(pages: &BTreeMap<String, Page>, baseline: &Path, whole_run: bool) -> Result<String, String> {
    let mut differences = Vec::new();
    let mut compared = 0;
    for (file, page) in pages {
        let known = std::fs::read_to_string(baseline.join(file)).map(|t| Page::parse(&t)).unwrap_or_default();
        for section in page.sections.iter().filter(|s| s.passed) {
            compared += 1;
            let heading = section.heading.trim_end();
            match known.sections.iter().find(|k| k.heading == section.heading) {
                Some(old) if old.body == section.body => {}
                Some(old) => differences.push(format!("{file}, {heading}:\n{}", unified_diff(&old.body, &section.body))),
                None => differences.push(format!("{file}, {heading}: new, the baseline has no such scenario")),
            }
        }
        if whole_run {
            for old in known.sections.iter().filter(|k| !page.sections.iter().any(|s| s.heading == k.heading)) {
                differences.push(format!("{file}, {}: in the baseline, but not recorded by this run", old.heading.trim_end()));
            }
        }
    }
    if differences.is_empty() {
        return Ok(format!("{compared} scenarios match {}", baseline.display()));
    }
    Err(format!(
        "what Kratos sends differs from {} in {} of {compared} scenarios (if the change is intended, regenerate the pages and review their diff):\n{}",
        baseline.display(),
        differences.len(),
        differences.join("\n")
    ))
}

fn unified_diff(old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new).unified_diff().context_radius(2).header("baseline", "this run").to_string()
}

fn write_passed(pages: &BTreeMap<String, Page>, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (file, page) in pages {
        std::fs::write(dir.join(file), page.render(true))?;
    }
    Ok(())
}

impl Recording {
/// Whether every scenario that ran passed (a page of a failed run is no
/// reference); scenarios that did not run (not applicable) recorded nothing.
pub fn all_passed(&self) -> bool {
    self.0.recorded.lock().expect("not poisoned").iter().filter(|r| r.stash.is_some()).all(|r| r.passed)
}
}

fn header(feature: &gherkin::Feature, kratos_version: &str) -> String {
    let mut page = format!("# {}\n\n", feature.name);
    if let Some(description) = &feature.description {
        for line in description.lines() {
            let _ = writeln!(page, "{}", line.trim());
        }
        page.push('\n');
    }
    let _ = writeln!(
        page,
        "> Recorded from a real Ory Kratos {kratos_version} by `{RECORD_COMMAND}`; do not edit by hand.\n\
         > Addresses are those of `docker-compose.yml` (public 4433, admin 4434). Ids become `<id-N>`\n\
         > (the same id keeps its number within a scenario), times `<time>`, fake people\n\
         > `person-N@example.org`; passwords, TOTP secrets and codes, tokens and cookie values are `[redacted]`.\n"
    );
    page
}

/// Renders every scenario's section, in order, on every core: each scenario
/// has a normalizer of its own, and a run's hundreds of sections are the
/// largest part of the documentation's time.
fn render_all(scenarios: &[&Recorded]) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, scenarios.len().max(1));
    let chunk = scenarios.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = scenarios
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|recorded| {
                            let mut text = String::new();
                            render_scenario(&mut text, recorded);
                            text
                        })
                        .collect::<Vec<String>>()
                })
            })
            .collect();
        parts.into_iter().flat_map(|part| part.join().expect("rendering a section does not panic")).collect()
    })
}

fn render_scenario(page: &mut String, recorded: &Recorded) {
    let scenario = &recorded.scenario;
    let _ = writeln!(page, "### {}: {}\n", scenario.keyword, scenario.name);
    let tags: Vec<String> = scenario.tags.iter().map(|t| format!("`@{t}`")).collect();
    if let Some(stash) = &recorded.stash {
        let _ = writeln!(page, "Instance `{}`{}{}\n", stash.instance, if tags.is_empty() { "" } else { "; tags " }, tags.join(" "));
    }
    let Some(stash) = &recorded.stash else {
        let _ = writeln!(page, "(no exchanges recorded)\n");
        return;
    };
    let mut normalizer = Normalizer::new(&stash.public_url, &stash.admin_url, &stash.people);
    for (public, admin) in &stash.other_instances {
        normalizer.also_for(public, admin);
    }
    // The scenario began before any of its sessions, and Kratos counted the
    // last cookie down before the last answer came.
    let began = recorded.steps.first().map(|(_, at)| *at);
    let last_answer = stash.exchanges.iter().map(|e| e.at + e.elapsed).max();
    let scenario_took = match (began, last_answer) {
        (Some(began), Some(last)) => last.duration_since(began).unwrap_or_default(),
        _ => Duration::ZERO,
    };
    normalizer.counts_sessions_down(&stash.session_lifespans, scenario_took);
    let mut exchanges = stash.exchanges.iter().peekable();
    for (i, (step, started)) in recorded.steps.iter().enumerate() {
        let next_start = recorded.steps.get(i + 1).map(|(_, at)| *at);
        let _ = writeln!(page, "**{}** {}\n", step.keyword.trim(), step.value);
        if let Some(table) = &step.table {
            for (n, row) in table.rows.iter().enumerate() {
                let _ = writeln!(page, "| {} |", row.join(" | "));
                if n == 0 {
                    let _ = writeln!(page, "|{}", " --- |".repeat(row.len()));
                }
            }
            page.push('\n');
        }
        let mut in_step = Vec::new();
        while let Some(exchange) = exchanges.next_if(|e| e.at >= *started && next_start.is_none_or(|next| e.at < next)) {
            in_step.push(exchange);
        }
        if step.ty == gherkin::StepType::Given {
            // Set-up: what it asked and what came back, one line each; the
            // features that are about these flows show them in full.
            for exchange in &in_step {
                let _ = writeln!(page, "- `{}` → {}", normalizer.request_line(exchange), exchange.status);
            }
            if !in_step.is_empty() {
                page.push('\n');
            }
        } else {
            for exchange in in_step {
                let _ = writeln!(page, "```http\n{}```\n", normalizer.exchange(exchange));
            }
        }
    }
}

/// Writes the pages and the index (with the known-deviations ledger).
pub fn write(pages: &BTreeMap<String, Page>, dir: &Path, deviations: &[crate::deviations::Deviation]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (file, page) in pages {
        std::fs::write(dir.join(file), page.render(false))?;
    }
    std::fs::write(dir.join("README.md"), index(pages, deviations))
}

/// `docs/flows/README.md`: the pages and the known deviations.
pub fn index(pages: &BTreeMap<String, Page>, deviations: &[crate::deviations::Deviation]) -> String {
    let mut out = String::from(
        "# Flow documentation\n\nWhat a real Ory Kratos sends back at each step, for browser, SPA and native clients, \
         recorded by the conformance suite. A test fails when these pages no longer match what the suite records; \
         regenerate them with:\n\n",
    );
    let _ = writeln!(out, "```sh\n{RECORD_COMMAND}\n```\n\n## Pages\n");
    for (file, page) in pages {
        let title = page.header.lines().next().unwrap_or_default().trim_start_matches("# ");
        let _ = writeln!(out, "- [{title}]({file})");
    }
    let _ = writeln!(
        out,
        "\n## Known deviations\n\nWhere Kratos departs from the TOTP RFC or common sense, the scenario asserts what Kratos \
         does and is tagged `@deviation` (ledger: `features/deviations.yml`).\n\n| scenario | Kratos | reason | upstream |\n| --- | --- | --- | --- |"
    );
    for d in deviations {
        let _ = writeln!(out, "| {} | {} | {} | {} |", d.scenario, d.kratos.join(", "), d.reason.replace('\n', " "), d.upstream);
    }
    out
}
