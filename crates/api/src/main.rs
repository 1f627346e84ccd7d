//! `api`: see `api --help`. The work is in the library, so the tests drive the same code.

fn main() -> std::process::ExitCode {
    api::cli::main()
}
