//! The conformance suite: `cargo test --test conformance -- [cucumber options]`.
//! The runner is the library's ([`kratos_conformance::runner`]); the step
//! definitions, one file per domain, are here.


fn main() -> std::process::ExitCode {
    kratos_conformance::runner::main()
}
