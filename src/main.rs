//! The `sheetsync` binary: parse arguments, set up logging and the runtime, run one
//! command, and turn its outcome into SPEC §5's exit code. Only this file exits.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = sheetsync::cli::Cli::parse();
    sheetsync::cli::init_logging(&cli);
    // reqwest is built with `rustls-no-provider`; ring must be installed before any
    // client exists (CRATES.md §1). An error only means it was installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let status = runtime.block_on(sheetsync::cli::run(cli));
    // A run stopped by a second signal leaves its request in flight behind: nothing may
    // wait for it on the way out.
    runtime.shutdown_background();
    ExitCode::from(status as u8)
}
