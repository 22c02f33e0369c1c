//! `dcsync`: the command line of the DataCollect sync engine. It parses the flags and
//! hands them to [`dcsync_cli::run`]; the work happens in the library crates.

use clap::Parser;

fn main() {
    let args = dcsync_cli::args::Cli::parse();
    std::process::exit(dcsync_cli::run(args));
}
