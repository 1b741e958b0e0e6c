//! The features as the plan has them run: cucumber's own parser, then
//! [`Plan::rewrite`] (not-applicable scenarios reduced to one step that says
//! why; scenarios that run once per password identifier repeated), the
//! features whose scenarios wait out the longest lifespans first.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cucumber::{gherkin, parser};
use futures::stream;

use super::plan::{Plan, SMOKE_TAG};

pub struct Planned {
    plan: Arc<Plan>,
}

impl Planned {
    pub fn new(plan: Arc<Plan>) -> Planned {
        Planned { plan }
    }
}

/// Several folders: the built-in features and a team's own.
impl cucumber::Parser<Vec<PathBuf>> for Planned {
    type Cli = <parser::Basic as cucumber::Parser<PathBuf>>::Cli;
    type Output = stream::Iter<std::vec::IntoIter<parser::Result<gherkin::Feature>>>;

    fn parse(self, input: Vec<PathBuf>, cli: Self::Cli) -> Self::Output {
        use futures::StreamExt as _;
        let mut features: Vec<parser::Result<gherkin::Feature>> = Vec::new();
        for dir in input {
            let parsed = parser::Basic::default().parse(dir, cli.clone());
            features.extend(futures::executor::block_on(parsed.collect::<Vec<_>>()).into_iter().map(|f| f.map(|f| self.plan.rewrite(f))));
        }
        // Cucumber starts scenarios in the features' order: a wait of 15 s
        // started early overlaps the rest of the run instead of ending it. The
        // smoke feature (is this Kratos at all?) stays first.
        features.sort_by_key(|f| {
            let Ok(feature) = f else { return (false, std::cmp::Reverse(Duration::ZERO)) };
            let smoke = feature.tags.iter().any(|t| t == SMOKE_TAG);
            (!smoke, std::cmp::Reverse(feature.path.as_deref().map(|p| self.plan.longest_wait(p)).unwrap_or_default()))
        });
        stream::iter(features)
    }
}
