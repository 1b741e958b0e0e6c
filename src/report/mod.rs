//! What a run tells people: the end-of-run summary, the Kratos log attached to a
//! failure, and the flow documentation recorded from real runs.

pub mod docs;
pub mod normalize;
pub mod summary;
