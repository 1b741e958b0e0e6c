//! Flow documentation recorded from real runs: `docs/flows/<feature>.md`, each
//! scenario's steps interleaved with the requests and responses it made.
//!
//! During a run, [`Recorder`] (a cucumber writer) notes when each step started,
//! and the after-hook hands over the scenario's exchanges ([`stash`]); each
//! exchange belongs to the step that was running when it was sent. After the run,
//! [`pages`] renders the pages, which the runner writes (recording mode) or
//! compares with the checked-in ones.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{LazyLock, Mutex};
use std::time::SystemTime;

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
    pub profile: String,
}

type Key = (String, usize, String);

fn key(feature: &gherkin::Feature, scenario: &gherkin::Scenario) -> Key {
    let path = feature.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    (path, scenario.position.line, scenario.name.clone())
}

static STASHED: LazyLock<Mutex<HashMap<Key, Stash>>> = LazyLock::new(Default::default);
static RECORDED: LazyLock<Mutex<Vec<Recorded>>> = LazyLock::new(Default::default);

/// Called by the after-hook with the scenario's exchanges.
pub fn stash(feature: &gherkin::Feature, scenario: &gherkin::Scenario, stash: Stash) {
    STASHED.lock().expect("not poisoned").insert(key(feature, scenario), stash);
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

/// The cucumber writer that notes step start times (tee it beside the others).
#[derive(Debug, Default)]
pub struct Recorder {
    running: HashMap<Key, (Option<String>, Vec<(gherkin::Step, SystemTime)>, bool)>,
}

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
                let stash = STASHED.lock().expect("not poisoned").remove(&key);
                RECORDED.lock().expect("not poisoned").push(Recorded {
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

/// The pages of every feature recorded in this run: file name → Markdown.
pub fn pages(kratos_version: &str) -> BTreeMap<String, String> {
    let mut recorded = RECORDED.lock().expect("not poisoned");
    recorded.sort_by(|a, b| {
        (a.feature.path.clone(), a.scenario.position.line, &a.scenario.name).cmp(&(
            b.feature.path.clone(),
            b.scenario.position.line,
            &b.scenario.name,
        ))
    });
    let mut pages: BTreeMap<String, String> = BTreeMap::new();
    let mut last_rule: HashMap<String, Option<String>> = HashMap::new();
    for scenario in recorded.iter() {
        let file = scenario
            .feature
            .path
            .as_ref()
            .and_then(|p| p.file_stem())
            .map(|s| format!("{}.md", s.to_string_lossy()))
            .unwrap_or_else(|| "unnamed.md".into());
        let page = pages.entry(file.clone()).or_insert_with(|| header(&scenario.feature, kratos_version));
        let rule = last_rule.entry(file).or_insert(None);
        if scenario.rule.is_some() && *rule != scenario.rule {
            let _ = writeln!(page, "## {}\n", scenario.rule.clone().unwrap_or_default());
            *rule = scenario.rule.clone();
        }
        render_scenario(page, scenario);
    }
    pages
}

/// Whether every recorded scenario passed (a page of a failed run is no reference).
pub fn all_passed() -> bool {
    RECORDED.lock().expect("not poisoned").iter().all(|r| r.passed)
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

fn render_scenario(page: &mut String, recorded: &Recorded) {
    let scenario = &recorded.scenario;
    let _ = writeln!(page, "### {}: {}\n", scenario.keyword, scenario.name);
    let tags: Vec<String> = scenario.tags.iter().map(|t| format!("`@{t}`")).collect();
    if let Some(stash) = &recorded.stash {
        let _ = writeln!(page, "Profile `{}`{}{}\n", stash.profile, if tags.is_empty() { "" } else { "; tags " }, tags.join(" "));
    }
    let Some(stash) = &recorded.stash else {
        let _ = writeln!(page, "(no exchanges recorded)\n");
        return;
    };
    let mut normalizer = Normalizer::new(&stash.public_url, &stash.admin_url, &stash.people);
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

/// Compares the pages with the files in `dir`; the names of those that differ or are missing.
pub fn stale(pages: &BTreeMap<String, String>, dir: &Path) -> Vec<String> {
    pages
        .iter()
        .filter(|(file, content)| std::fs::read_to_string(dir.join(file)).ok().as_deref() != Some(content.as_str()))
        .map(|(file, _)| file.clone())
        .collect()
}

/// Writes the pages and the index (with the known-deviations ledger).
pub fn write(pages: &BTreeMap<String, String>, dir: &Path, deviations: &[crate::deviations::Deviation]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (file, content) in pages {
        std::fs::write(dir.join(file), content)?;
    }
    std::fs::write(dir.join("README.md"), index(pages, deviations))
}

/// `docs/flows/README.md`: the pages and the known deviations.
pub fn index(pages: &BTreeMap<String, String>, deviations: &[crate::deviations::Deviation]) -> String {
    let mut out = String::from(
        "# Flow documentation\n\nWhat a real Ory Kratos sends back at each step, for browser, SPA and native clients, \
         recorded by the conformance suite. A test fails when these pages no longer match what the suite records; \
         regenerate them with:\n\n",
    );
    let _ = writeln!(out, "```sh\n{RECORD_COMMAND}\n```\n\n## Pages\n");
    for (file, content) in pages {
        let title = content.lines().next().unwrap_or_default().trim_start_matches("# ");
        let _ = writeln!(out, "- [{title}]({file})");
    }
    let _ = writeln!(
        out,
        "\n## Known deviations\n\nWhere Kratos departs from the TOTP RFC or common sense, the scenario asserts what Kratos \
         does and is tagged `@deviation` (ledger: `features/deviations.yml`).\n\n| scenario | Kratos | reason | upstream |\n| --- | --- | --- | --- |"
    );
    for d in deviations {
        let _ = writeln!(out, "| {} | {} | {} | {} |", d.scenario, d.kratos, d.reason.replace('\n', " "), d.upstream);
    }
    out
}
