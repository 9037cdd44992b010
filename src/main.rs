//! The `mxscan` command line. Exit codes: 0 done, 1 error, 2 usage, 130
//! interrupted.

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
