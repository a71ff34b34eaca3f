//! The `omniroute` binary: command line and environment, data directory, secrets key, store,
//! declarative config, server start, config reload on SIGHUP and graceful shutdown.

mod console;

use clap::Parser;
use omniroute_providers::Catalog;
use omniroute_server::{AppState, StateOptions};
use omniroute_store::{Cipher, LogWriter, Secret, Store};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// jemalloc: less allocator time than glibc malloc on the proxy path, and RSS that stays flat
/// under churn (freed pages are purged by a background thread). See ARCHITECTURE.md.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// One arena (the proxy runs few threads), background purging, and dirty pages returned after 1 s.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] =
    b"narenas:1,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// OmniRoute: one local endpoint for every AI coding tool, routed to the best available provider.
#[derive(Parser, Debug)]
#[command(name = "omniroute", version, about)]
struct Cli {
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 20128)]
    port: u16,
    /// Address to bind; 0.0.0.0 exposes the gateway to the network and must be chosen explicitly.
    #[arg(long, env = "HOSTNAME", default_value = "127.0.0.1")]
    host: String,
    /// Where the database and the secrets key live (created with mode 0700).
    #[arg(long, env = "DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Declarative configuration file (TOML, or YAML by extension), applied at start and on SIGHUP.
    #[arg(long, env = "OMNIROUTE_CONFIG")]
    config: Option<PathBuf>,
    /// Do not open the dashboard in a browser.
    #[arg(long, env = "NO_OPEN")]
    no_open: bool,
    /// Seconds in-flight requests and streams get to finish at shutdown.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value_t = 30)]
    shutdown_timeout: u64,
}

fn default_data_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".omniroute")
}

fn expand_home(p: PathBuf) -> PathBuf {
    match p.to_str().and_then(|s| s.strip_prefix("~/")) {
        Some(rest) => default_data_dir()
            .parent()
            .map(|h| h.join(rest))
            .unwrap_or(p),
        None => p,
    }
}

fn prepare_data_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn parse_host(host: &str) -> Result<IpAddr, String> {
    if host == "localhost" {
        return Ok(IpAddr::from([127, 0, 0, 1]));
    }
    host.parse::<IpAddr>().map_err(|_| {
        format!("--host `{host}` is not an IP address (use 127.0.0.1, ::1 or 0.0.0.0)")
    })
}

/// The host from the command line wins; a `HOSTNAME` from the environment that is not an address
/// (shells and containers set it to the machine name) is ignored.
fn choose_host(cli_host: &str) -> Result<IpAddr, String> {
    let from_flag = std::env::args().any(|a| a == "--host" || a.starts_with("--host="));
    match parse_host(cli_host) {
        Ok(ip) => Ok(ip),
        Err(e) if from_flag => Err(e),
        Err(_) => {
            tracing::warn!(hostname = %cli_host, "HOSTNAME is not an IP address; binding 127.0.0.1");
            Ok(IpAddr::from([127, 0, 0, 1]))
        }
    }
}

fn open_browser(url: &str) {
    let desktop = cfg!(target_os = "macos")
        || std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if !desktop {
        return;
    }
    let cmd = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(cmd)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        tracing::debug!(error = %e, "could not open a browser");
    }
}

fn env_bool(name: &str) -> Result<Option<bool>, String> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(v) => omniroute_config::settings::parse_bool(&v)
            .map(Some)
            .ok_or_else(|| format!("{name}=`{v}` is not a boolean (true/false)")),
    }
}

async fn run(cli: Cli, started: Instant) -> Result<(), String> {
    let host = choose_host(&cli.host)?;
    let data_dir = expand_home(cli.data_dir.clone().unwrap_or_else(default_data_dir));
    prepare_data_dir(&data_dir)
        .map_err(|e| format!("cannot create data dir {}: {e}", data_dir.display()))?;
    let require_key = env_bool("REQUIRE_API_KEY")?;

    let key_env = std::env::var("STORAGE_ENCRYPTION_KEY").ok();
    let cipher = Cipher::load_or_create(key_env.as_deref(), &data_dir.join("secret.key"))
        .map_err(|e| format!("STORAGE_ENCRYPTION_KEY / secret.key: {e}"))?;
    let store = Store::open(&data_dir.join("omniroute.db"), cipher)
        .await
        .map_err(|e| format!("cannot open the database in {}: {e}", data_dir.display()))?;
    // the key file a rotation may replace (none when the key comes from the environment)
    let key_file = key_env
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        .is_none()
        .then(|| data_dir.join("secret.key"));
    if let Some(f) = &key_file {
        store
            .recover_key_rotation(f)
            .await
            .map_err(|e| format!("finishing an interrupted encryption-key rotation: {e}"))?;
    }
    let catalog = Arc::new(Catalog::builtin().map_err(|e| format!("built-in catalog: {e}"))?);

    if let Some(path) = &cli.config {
        let cfg = omniroute_config::load(path)
            .map_err(|e| format!("invalid configuration in {}: {e}", path.display()))?;
        let env = |k: &str| std::env::var(k).ok();
        let summary = omniroute_config::apply(&cfg, &store, &catalog, &env)
            .await
            .map_err(|e| format!("invalid configuration in {}: {e}", path.display()))?;
        tracing::info!(file = %path.display(), ?summary, "configuration applied");
    }

    let retention = {
        let s = store.settings().await.map_err(|e| e.to_string())?;
        s.get("request_log_retention")
            .and_then(|(v, _)| v.as_i64())
            .unwrap_or(100_000)
    };
    let (logs, log_task) = LogWriter::spawn(store.clone(), 8192, retention);
    let state = AppState::new(StateOptions {
        store: store.clone(),
        catalog,
        logs,
        config_path: cli.config.clone(),
        admin_token: std::env::var("OMNIROUTE_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .map(Secret::new),
        env_require_key: require_key,
        data_dir: data_dir.clone(),
        encryption_key_file: key_file.clone(),
    })
    .await
    .map_err(|e| format!("cannot load state: {e}"))?;

    let addr = SocketAddr::new(host, cli.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let shown_host = if host.is_unspecified() {
        "localhost".to_string()
    } else {
        local.ip().to_string()
    };
    let url = format!("http://{shown_host}:{}", local.port());
    // one machine-readable line on stdout, for scripts and tests
    println!("OmniRoute listening on {url} (OpenAI base URL: {url}/v1)");
    tracing::info!(
        %local, data_dir = %data_dir.display(), startup_ms = started.elapsed().as_millis() as u64,
        require_api_key = state.snapshot.load().settings.require_api_key, "ready"
    );
    if host.is_unspecified() {
        tracing::warn!("bound to all interfaces: anyone who can reach this machine can use the gateway unless REQUIRE_API_KEY=true");
    }
    if state.auth.password().is_none() {
        tracing::warn!(
            "no dashboard password yet: set one from this machine (POST {url}/api/auth/setup), or start with INITIAL_PASSWORD; the management API answers only to a session or an admin key"
        );
    }
    if !cli.no_open {
        open_browser(&url);
    }

    // breaker and cooldown state reaches the store off the request path, and once more at exit
    let resilience = state.resilience.clone();
    resilience.spawn_persist(store.clone(), Duration::from_secs(1));
    // telemetry windows rotate off the request path
    let telemetry = state.telemetry.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            telemetry.maintain(omniroute_store::now_ms().max(0) as u64);
        }
    });

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    spawn_signal_handler(state.clone(), stop_tx)?;
    let server = tokio::spawn(omniroute_server::serve(
        listener,
        state.clone(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    drop(state);

    // serve() returns once every connection is done; bound the drain after the signal
    let grace = Duration::from_secs(cli.shutdown_timeout);
    let mut server = server;
    tokio::select! {
        r = &mut server => {
            if let Ok(Err(e)) = r {
                return Err(format!("server error: {e}"));
            }
        }
        _ = wait_for_drain_deadline(grace) => {
            tracing::warn!(seconds = grace.as_secs(), "shutdown timeout reached; closing remaining connections");
            server.abort();
        }
    }
    resilience.flush(&store).await;
    match tokio::time::timeout(Duration::from_secs(5), log_task).await {
        Ok(_) => tracing::info!("request log flushed"),
        Err(_) => tracing::warn!("request log writer did not finish in time"),
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

static SHUTDOWN: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Resolves `grace` after a shutdown signal (never before one).
async fn wait_for_drain_deadline(grace: Duration) {
    SHUTDOWN.notified().await;
    tokio::time::sleep(grace).await;
}

fn spawn_signal_handler(
    state: Arc<AppState>,
    stop: tokio::sync::oneshot::Sender<()>,
) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => {
                    match state.reload_config().await {
                        Ok(summary) => tracing::info!(?summary, "configuration reloaded (SIGHUP)"),
                        Err(e) => tracing::error!(error = %e, "configuration NOT reloaded; keeping the previous one"),
                    }
                }
            }
        }
        tracing::info!(
            "shutdown signal received: no new connections; letting in-flight requests finish"
        );
        drop(state);
        SHUTDOWN.notify_one();
        let _ = stop.send(());
    });
    Ok(())
}

fn main() -> ExitCode {
    let started = Instant::now();
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    // the log file lives in the data dir; `run` reports a data dir it cannot create
    let data_dir = expand_home(cli.data_dir.clone().unwrap_or_else(default_data_dir));
    let log_dir = prepare_data_dir(&data_dir).ok().map(|_| data_dir.as_path());
    let _log_guard = console::init(log_dir);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("omniroute: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, started)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omniroute: {e}");
            ExitCode::from(2)
        }
    }
}
