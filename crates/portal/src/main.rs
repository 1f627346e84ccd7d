//! `portal`: see `portal --help`. The work is in the library (`portal::cli`), so the tests drive the same
//! code.

fn main() -> std::process::ExitCode {
    portal::cli::main()
}
