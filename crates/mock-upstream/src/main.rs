//! `mock-upstream` binary: serve the fake providers on a TCP port until SIGINT/SIGTERM.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mock_upstream::MockState;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Fake OpenAI / Anthropic / Gemini upstream for tests and benchmarks.
#[derive(Parser, Debug)]
#[command(name = "mock-upstream", version)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to bind (0 = ephemeral).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Do not record requests (benchmarks).
    #[arg(long)]
    no_record: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-upstream: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> std::io::Result<()> {
    let listener = TcpListener::bind((args.host.as_str(), args.port)).await?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "mock-upstream listening on http://{addr}")?;
        out.flush()?;
    }
    let (tx, rx) = oneshot::channel::<()>();
    let mut server = tokio::spawn(mock_upstream::serve(
        listener,
        MockState::new(!args.no_record),
        async move {
            let _ = rx.await;
        },
    ));
    tokio::select! {
        res = &mut server => {
            return match res {
                Ok(r) => r,
                Err(e) => Err(std::io::Error::other(e)),
            };
        }
        () = shutdown_signal() => {}
    }
    let _ = tx.send(());
    // In-flight responses get a moment to finish; then exit regardless.
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
