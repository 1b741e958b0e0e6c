//! Which scenarios run, on which instance, and which are not applicable to the
//! deployment (and why): decided before the first scenario from the features'
//! tags, cucumber's `--tags` / `--name` filters and the deployment's description.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cucumber::feature::Ext as _;
use cucumber::gherkin::tagexpr::TagOperation;
use cucumber::gherkin::{Feature, GherkinEnv, Rule, Scenario};
use cucumber::tag::Ext as _;
use regex::Regex;

use crate::deployment::Deployment;
use crate::deployment::needs::Needs;
use crate::kratos::{InstanceSpec, Instances, SetupError};

/// The tag of the scenarios that check the deployment is there at all.
pub const SMOKE_TAG: &str = "smoke";
/// The tag the parser gives a scenario it turned into "not applicable".
pub const NOT_APPLICABLE_TAG: &str = "not-applicable";

/// A scenario as the features spell it: file, line (of its `Examples:` row for
/// an outline) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub path: PathBuf,
    pub line: usize,
    pub name: String,
}

impl Key {
    pub fn of(feature: &Feature, scenario: &Scenario) -> Key {
        Key { path: feature.path.clone().unwrap_or_default(), line: scenario.position.line, name: scenario.name.clone() }
    }
}

/// What happens to one selected scenario.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// It runs on this instance; with `@each:password-identifier`, once per
    /// identifier trait listed (one run with `None` otherwise).
    Run { instance: String, identifiers: Vec<Option<String>> },
    /// It is reported as skipped, with these reasons.
    NotApplicable(Vec<String>),
}

/// One scenario of a plan as it is shown: its place (`file:line`), feature
/// and name, and the instance it runs on or why it is not applicable.
pub type PlannedScenario = (String, String, String, Result<String, Vec<String>>);

#[derive(Debug, Clone)]
pub struct Planned {
    pub feature: String,
    pub smoke: bool,
    needs: Needs,
    spec: Option<InstanceSpec>,
    pub verdict: Verdict,
}

/// Which scenarios the user selected: cucumber's `--tags` and `--name`.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub tags: Option<TagOperation>,
    pub name: Option<Regex>,
    /// The same, as the user wrote them (for messages).
    pub described: Vec<String>,
}

impl Selection {
    pub fn is_everything(&self) -> bool {
        self.tags.is_none() && self.name.is_none()
    }

    fn selects(&self, feature: &Feature, rule: Option<&Rule>, scenario: &Scenario) -> bool {
        let tags_match = self.tags.as_ref().is_none_or(|t| {
            t.eval(feature.tags.iter().chain(rule.iter().flat_map(|r| &r.tags)).chain(scenario.tags.iter()))
        });
        tags_match && self.name.as_ref().is_none_or(|re| re.is_match(&scenario.name))
    }
}

/// Describes `spec` unless it was; a configuration that cannot be described
/// stops the plan.
async fn describe_once(
    descriptions: &mut HashMap<InstanceSpec, Result<Deployment, String>>,
    instances: &Instances,
    spec: &InstanceSpec,
) -> Result<(), SetupError> {
    if !descriptions.contains_key(spec) {
        let described = instances.describe(spec).await.map_err(|e| e.to_string());
        descriptions.insert(spec.clone(), described);
    }
    match &descriptions[spec] {
        Ok(_) => Ok(()),
        Err(e) => Err(SetupError::Config(e.clone())),
    }
}

/// What a run will do, scenario by scenario.
#[derive(Debug, Default)]
pub struct Plan {
    pub entries: BTreeMap<Key, Planned>,
    /// The scenarios as cucumber will see them after the parser's rewrite:
    /// their key and the identifier trait each runs with.
    runs: HashMap<Key, (String, Option<String>)>,
}

impl Plan {
    /// Reads every feature in `dirs`, selects, and decides for each selected
    /// scenario the instance it needs (or why none fits), from the instances'
    /// descriptions before they start.
    pub async fn build(dirs: &[PathBuf], selection: &Selection, instances: &Instances) -> Result<Plan, SetupError> {
        let mut plan = Plan::default();
        let mut descriptions: HashMap<InstanceSpec, Result<Deployment, String>> = HashMap::new();
        let mut previous_descriptions: HashMap<InstanceSpec, Result<Deployment, String>> = HashMap::new();
        for feature in parse_features(dirs)? {
            let plain = feature.scenarios.iter().map(|s| (None, s));
            let ruled = feature.rules.iter().flat_map(|r| r.scenarios.iter().map(move |s| (Some(r), s)));
            for (rule, scenario) in plain.chain(ruled).collect::<Vec<_>>() {
                if !selection.selects(&feature, rule, scenario) {
                    continue;
                }
                let empty = Vec::new();
                let needs = Needs::from_tags(&[&scenario.tags, rule.map(|r| &r.tags).unwrap_or(&empty), &feature.tags])
                    .map_err(|e| SetupError::Config(format!("{}:{}: {e}", feature.path.as_deref().unwrap_or(Path::new("?")).display(), scenario.position.line)))?;
                let mut first_reasons = None;
                let mut chosen = None;
                // What this machine or run lacks, before any instance is considered.
                let mut unmet_here: Vec<String> = needs.real_browser.then(crate::browser::missing).flatten().into_iter().collect();
                if needs.previous_configuration {
                    unmet_here.extend(instances.no_previous_configuration());
                }
                let variants = if unmet_here.is_empty() { instances.variants() } else { Vec::new() };
                if !unmet_here.is_empty() {
                    first_reasons = Some(unmet_here);
                }
                // First as configured; then, where the suite starts Kratos, with
                // the settings the scenario describes the other side of turned
                // to that side (a scenario about a change keeps the instances of
                // the change as they are; about a restart, both turn alike).
                let about_a_change = needs.previous_configuration && instances.settings.previous_config_dir.is_some();
                let turns = if instances.can_derive() && instances.settings.turn_other_sides && !about_a_change { [false, true].as_slice() } else { [false].as_slice() };
                'sides: for &turned in turns {
                    for variant in &variants {
                        let mut derived = if instances.can_derive() { needs.derivations() } else { Vec::new() };
                        // SameSite=None is of no use under --dev (no Secure): no instance is started for it there.
                        if instances.settings.topology != crate::kratos::Topology::Production {
                            derived.retain(|d| *d != crate::deployment::Derivation::CrossSiteCookies);
                        }
                        let mut spec = InstanceSpec { variant: variant.clone(), derived, shard: 0 };
                        describe_once(&mut descriptions, instances, &spec).await?;
                        if turned {
                            let judged_before = if needs.previous_configuration { previous_descriptions.get(&spec) } else { None };
                            let before = judged_before.and_then(|d| d.as_ref().ok());
                            let sides = needs.other_sides(before.unwrap_or_else(|| descriptions[&spec].as_ref().expect("described")));
                            if sides.is_empty() {
                                continue;
                            }
                            spec.derived.extend(sides);
                            describe_once(&mut descriptions, instances, &spec).await?;
                        }
                        // A scenario about a change needs of the configuration before
                        // it what its identities had (TOTP, recovery codes, registration).
                        let judged = if needs.previous_configuration {
                            if !previous_descriptions.contains_key(&spec) {
                                let described = instances.describe_previous(&spec).await.map_err(|e| e.to_string());
                                previous_descriptions.insert(spec.clone(), described);
                            }
                            &previous_descriptions[&spec]
                        } else {
                            &descriptions[&spec]
                        };
                        let mut reasons = match judged {
                            Ok(deployment) => needs.unmet_in_config(deployment),
                            Err(e) => return Err(SetupError::Config(e.clone())),
                        };
                        if needs.previous_configuration {
                            reasons = reasons.into_iter().map(|r| format!("in the previous configuration, {r}")).collect();
                        }
                        if reasons.is_empty() {
                            chosen = Some(spec);
                            break 'sides;
                        }
                        first_reasons.get_or_insert(reasons);
                    }
                }
                let verdict = match &chosen {
                    Some(spec) => Verdict::Run { instance: spec.name(), identifiers: vec![None] },
                    None => Verdict::NotApplicable(first_reasons.unwrap_or_default()),
                };
                let smoke = feature.tags.iter().chain(scenario.tags.iter()).any(|t| t == SMOKE_TAG);
                plan.entries.insert(
                    Key::of(&feature, scenario),
                    Planned { feature: feature.name.clone(), smoke, needs, spec: chosen, verdict },
                );
            }
        }
        plan.share_among_shards(instances.settings.effective_shards());
        if plan.entries.is_empty() {
            let filter = if selection.described.is_empty() { "no filter".to_string() } else { selection.described.join(" and ") };
            return Err(SetupError::Config(format!(
                "no scenario matches {filter} in {}; check the tag or name (e.g. --tags @smoke, --name 'native app')",
                dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(plan)
    }

    /// Shares the scenarios of each underived variant among `shards` instances
    /// of it, in turn (scenarios take about as long as each other, so in turn
    /// is even enough). A variant with few scenarios keeps one instance: a
    /// second would take longer to start than it saves.
    fn share_among_shards(&mut self, shards: usize) {
        const SCENARIOS_PER_SHARD: usize = 40;
        let mut counts: BTreeMap<InstanceSpec, usize> = BTreeMap::new();
        for spec in self.entries.values().filter_map(|p| p.spec.as_ref()).filter(|s| s.derived.is_empty()) {
            *counts.entry(spec.clone()).or_default() += 1;
        }
        let mut turns: BTreeMap<InstanceSpec, usize> = BTreeMap::new();
        for planned in self.entries.values_mut() {
            let Some(spec) = planned.spec.as_mut().filter(|s| s.derived.is_empty()) else { continue };
            let wanted = shards.min(counts[spec].div_ceil(SCENARIOS_PER_SHARD)).max(1);
            let turn = turns.entry(spec.clone()).or_default();
            let shard = *turn % wanted;
            *turn += 1;
            spec.shard = shard;
            planned.verdict = Verdict::Run { instance: spec.name(), identifiers: vec![None] };
        }
    }

    /// The instances to start.
    pub fn specs(&self) -> Vec<InstanceSpec> {
        let specs: BTreeSet<InstanceSpec> = self.entries.values().filter_map(|p| p.spec.clone()).collect();
        specs.into_iter().collect()
    }

    /// Decides what needs the started instances' facts (admin API, version,
    /// pinned build) and their final descriptions, and expands the scenarios
    /// that run once per password identifier.
    pub fn finalize(&mut self, instances: &Instances) {
        for (key, planned) in &mut self.entries {
            let Some(spec) = &planned.spec else { continue };
            let Some(kratos) = instances.get(&spec.name()) else {
                planned.verdict = Verdict::NotApplicable(vec![format!("its instance {} did not start", spec.name())]);
                continue;
            };
            // A scenario about a change was judged on the previous configuration.
            let mut reasons =
                if planned.needs.previous_configuration { Vec::new() } else { planned.needs.unmet_in_config(&kratos.deployment) };
            reasons.extend(planned.needs.unmet_in_facts(&kratos.facts));
            if !reasons.is_empty() {
                planned.verdict = Verdict::NotApplicable(reasons);
                continue;
            }
            let identifiers = kratos.deployment.default_schema().password_identifiers();
            let identifiers: Vec<Option<String>> = if planned.needs.each_password_identifier && identifiers.len() > 1 {
                identifiers.iter().map(|i| Some(i.to_string())).collect()
            } else {
                vec![None]
            };
            for identifier in &identifiers {
                let name = renamed(&key.name, identifier.as_deref());
                self.runs.insert(Key { name, ..key.clone() }, (spec.name(), identifier.clone()));
            }
            planned.verdict = Verdict::Run { instance: spec.name(), identifiers };
        }
    }

    /// What [`Plan::finalize`] will decide, without a started instance: each
    /// scenario's configuration judged on its instance's description, and the
    /// facts only a started instance has taken as `facts` expects them. Returns
    /// (file:line, feature, scenario, the instance or the reasons it is not applicable).
    pub async fn preview(&self, instances: &Instances) -> Vec<PlannedScenario> {
        let facts = instances.expected_facts();
        let mut previewed = Vec::new();
        for (key, planned) in &self.entries {
            let verdict = match (&planned.verdict, &planned.spec) {
                (Verdict::NotApplicable(reasons), _) => Err(reasons.clone()),
                (_, None) => Err(vec!["no instance fits it".into()]),
                (_, Some(spec)) => {
                    let mut reasons = match instances.describe(spec).await {
                        Ok(deployment) if !planned.needs.previous_configuration => planned.needs.unmet_in_config(&deployment),
                        Ok(_) => Vec::new(),
                        Err(e) => vec![e.to_string()],
                    };
                    reasons.extend(planned.needs.unmet_in_facts(&facts));
                    if reasons.is_empty() { Ok(spec.name()) } else { Err(reasons) }
                }
            };
            let place = format!("{}:{}", key.path.display(), key.line);
            previewed.push((place, planned.feature.clone(), key.name.clone(), verdict));
        }
        previewed
    }

    /// What [`Plan::finalize`] decided, in the shape of [`Plan::preview`].
    pub fn decided(&self) -> Vec<PlannedScenario> {
        self.entries
            .iter()
            .map(|(key, planned)| {
                let verdict = match &planned.verdict {
                    Verdict::Run { instance, .. } => Ok(instance.clone()),
                    Verdict::NotApplicable(reasons) => Err(reasons.clone()),
                };
                (format!("{}:{}", key.path.display(), key.line), planned.feature.clone(), key.name.clone(), verdict)
            })
            .collect()
    }

    /// Why a run of the whole suite means nothing on this deployment: only the
    /// smoke scenarios are applicable.
    pub fn only_smoke_applies(&self, selection: &Selection) -> Option<String> {
        if !selection.is_everything() {
            return None;
        }
        let runs = |p: &&Planned| matches!(p.verdict, Verdict::Run { .. });
        let running_non_smoke = self.entries.values().filter(runs).any(|p| !p.smoke);
        (!running_non_smoke).then(|| {
            let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
            for planned in self.entries.values() {
                if let Verdict::NotApplicable(why) = &planned.verdict {
                    for reason in why {
                        *reasons.entry(reason.clone()).or_default() += 1;
                    }
                }
            }
            let listed: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} ({n})")).collect();
            format!("of the whole suite only the smoke scenarios apply to this deployment: {}", listed.join("; "))
        })
    }

    /// The instance and identifier trait of a scenario as cucumber runs it.
    pub fn run_of(&self, feature: &Feature, scenario: &Scenario) -> Option<(String, Option<String>)> {
        self.runs.get(&Key::of(feature, scenario)).cloned()
    }

    /// Whether cucumber should run (or report) this scenario.
    pub fn selects(&self, feature: &Feature, scenario: &Scenario) -> bool {
        scenario.tags.iter().any(|t| t == NOT_APPLICABLE_TAG) || self.runs.contains_key(&Key::of(feature, scenario))
    }

    /// Whether a scenario that runs needs a real browser.
    pub fn needs_browser(&self) -> bool {
        self.entries.values().any(|p| p.needs.real_browser && matches!(p.verdict, Verdict::Run { .. }))
    }

    /// The longest lifespan a running scenario of the feature at `path` waits
    /// out on a derived instance.
    pub fn longest_wait(&self, path: &Path) -> std::time::Duration {
        self.entries
            .iter()
            .filter(|(key, planned)| key.path == path && matches!(planned.verdict, Verdict::Run { .. }))
            .filter_map(|(_, planned)| planned.spec.as_ref())
            .flat_map(|spec| spec.derived.iter().map(|d| d.waited()))
            .max()
            .unwrap_or_default()
    }

    /// Scenario counts: (runs, not applicable).
    pub fn counts(&self) -> (usize, usize) {
        let runs = self.runs.len();
        let skipped = self.entries.values().filter(|p| matches!(p.verdict, Verdict::NotApplicable(_))).count();
        (runs, skipped)
    }

    /// The feature as cucumber should run it: scenarios that are not applicable
    /// keep their name and get one step that says why (it matches no step, so
    /// cucumber reports it as skipped), and scenarios that run once per password
    /// identifier are repeated with the identifier in their name.
    pub fn rewrite(&self, mut feature: Feature) -> Feature {
        let rewrite_all = |scenarios: Vec<Scenario>, feature: &Feature| -> Vec<Scenario> {
            scenarios.into_iter().flat_map(|scenario| self.rewrite_scenario(feature, scenario)).collect()
        };
        let scenarios = std::mem::take(&mut feature.scenarios);
        feature.scenarios = rewrite_all(scenarios, &feature);
        let mut rules = std::mem::take(&mut feature.rules);
        for rule in &mut rules {
            let scenarios = std::mem::take(&mut rule.scenarios);
            rule.scenarios = rewrite_all(scenarios, &feature);
        }
        feature.rules = rules;
        feature
    }

    fn rewrite_scenario(&self, feature: &Feature, mut scenario: Scenario) -> Vec<Scenario> {
        match self.entries.get(&Key::of(feature, &scenario)).map(|p| &p.verdict) {
            Some(Verdict::NotApplicable(reasons)) => {
                let mut step = scenario.steps.first().cloned().expect("a scenario has steps");
                step.keyword = "Given ".into();
                step.ty = cucumber::gherkin::StepType::Given;
                step.value = format!("not applicable to this deployment: {}", reasons.join("; "));
                step.docstring = None;
                step.table = None;
                scenario.steps = vec![step];
                scenario.tags.push(NOT_APPLICABLE_TAG.into());
                vec![scenario]
            }
            Some(Verdict::Run { identifiers, .. }) => identifiers
                .iter()
                .map(|identifier| {
                    let mut copy = scenario.clone();
                    copy.name = renamed(&scenario.name, identifier.as_deref());
                    copy
                })
                .collect(),
            None => vec![scenario],
        }
    }

    /// The reason a scenario was not applicable, by its name as cucumber shows it.
    pub fn not_applicable_reasons(&self) -> BTreeMap<String, usize> {
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for planned in self.entries.values() {
            if let Verdict::NotApplicable(why) = &planned.verdict {
                for reason in why {
                    *reasons.entry(reason.clone()).or_default() += 1;
                }
            }
        }
        reasons
    }
}

fn renamed(name: &str, identifier: Option<&str>) -> String {
    match identifier {
        Some(identifier) => format!("{name} (identifier traits.{identifier})"),
        None => name.to_string(),
    }
}

/// Every feature of `dirs` and their subfolders (as cucumber's parser finds
/// them), with its outlines expanded as cucumber expands them.
fn parse_features(dirs: &[PathBuf]) -> Result<Vec<Feature>, SetupError> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        feature_files(dir, &mut paths)?;
    }
    paths
        .iter()
        .map(|path| {
            let feature = Feature::parse_path(path, GherkinEnv::default())
                .map_err(|e| SetupError::Config(format!("{}: {e}", path.display())))?;
            // cucumber keys features by their canonical path.
            let mut expanded = feature.expand_examples().map_err(|e| SetupError::Config(format!("{}: {e}", path.display())))?;
            expanded.path = expanded.path.map(|p| p.canonicalize().unwrap_or(p));
            Ok(expanded)
        })
        .collect()
}

/// The `.feature` files under `dir`, sorted, subfolders after the files beside them.
pub fn feature_files(dir: &Path, into: &mut Vec<PathBuf>) -> Result<(), SetupError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| SetupError::Config(format!("cannot read the feature folder {}: {e}", dir.display())))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    into.extend(entries.iter().filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "feature")).cloned());
    for sub in entries.iter().filter(|p| p.is_dir()) {
        feature_files(sub, into)?;
    }
    Ok(())
}

/// The plan, shared with the parser and hooks.
pub type SharedPlan = Arc<Plan>;
