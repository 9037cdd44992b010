//! The `mxscan` command line. Exit codes: 0 done, 1 error, 2 usage.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mxscan: {err:#}");
            ExitCode::from(1)
        }
    }
}
