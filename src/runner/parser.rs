//! The features as the plan has them run: cucumber's own parser, then
//! [`Plan::rewrite`] (not-applicable scenarios reduced to one step that says
//! why; scenarios that run once per password identifier repeated).

use std::path::Path;
use std::sync::Arc;

use cucumber::{gherkin, parser};
use futures::stream;

use super::plan::Plan;

pub struct Planned {
    plan: Arc<Plan>,
}

impl Planned {
    pub fn new(plan: Arc<Plan>) -> Planned {
        Planned { plan }
    }
}

impl<I: AsRef<Path>> cucumber::Parser<I> for Planned {
    type Cli = <parser::Basic as cucumber::Parser<I>>::Cli;
    type Output = stream::Iter<std::vec::IntoIter<parser::Result<gherkin::Feature>>>;

    fn parse(self, input: I, cli: Self::Cli) -> Self::Output {
        use futures::StreamExt as _;
        let parsed = parser::Basic::default().parse(input, cli);
        let features: Vec<parser::Result<gherkin::Feature>> =
            futures::executor::block_on(parsed.collect::<Vec<_>>()).into_iter().map(|f| f.map(|f| self.plan.rewrite(f))).collect();
        stream::iter(features)
    }
}
