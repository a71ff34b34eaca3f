//! The server's own log: human-readable lines on stderr, JSON lines in `DATA_DIR/logs/omniroute.log`
//! rotated by size (`omniroute.log.1` … `.5`), written by a background thread that drops lines
//! rather than block when the disk is slow, and each event also offered to the dashboard's live
//! console feed (only when someone listens).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Size at which the JSON log rotates.
const MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Rotated files kept.
const KEEP: usize = 5;

/// A file that rotates when it reaches `max` bytes: `name` → `name.1` → … → `name.{keep}`.
pub struct RotatingFile {
    path: PathBuf,
    max: u64,
    keep: usize,
    file: Option<File>,
    size: u64,
}

impl RotatingFile {
    pub fn open(path: &Path, max: u64, keep: usize) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            max,
            keep,
            file: Some(file),
            size,
        })
    }

    fn rotated(&self, n: usize) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let _ = std::fs::remove_file(self.rotated(self.keep));
        for n in (1..self.keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                std::fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        std::fs::rename(&self.path, self.rotated(1))?;
        self.file = Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?,
        );
        self.size = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size > 0 && self.size + buf.len() as u64 > self.max {
            self.rotate()?;
        }
        let f = match self.file.as_mut() {
            Some(f) => f,
            None => return Err(io::Error::other("log file unavailable")),
        };
        let n = f.write(buf)?;
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), File::flush)
    }
}

/// Forwards events to the live console feed when someone listens.
struct LiveLayer;

#[derive(Default)]
struct Message {
    text: String,
}

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        if field.name() == "message" {
            let _ = write!(self.text, "{value:?}");
        } else {
            let _ = write!(self.text, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.text.push_str(value);
        } else {
            self.text.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

impl<S: Subscriber> Layer<S> for LiveLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !omniroute_server::live::watching_console() {
            return;
        }
        let mut m = Message::default();
        event.record(&mut m);
        let meta = event.metadata();
        omniroute_server::live::publish_console(omniroute_server::live::ConsoleLine {
            level: meta.level().as_str(),
            target: meta.target().to_string(),
            message: m.text,
            ts: omniroute_store::now_ms(),
        });
    }
}

/// Keeps the file writer's background thread alive; dropping it flushes the file.
pub struct Guard(#[allow(dead_code)] Option<tracing_appender::non_blocking::WorkerGuard>);

/// Install the subscriber: `RUST_LOG`, else `LOG_LEVEL`, else `info`. The JSON file is skipped
/// (with a warning) when `DATA_DIR/logs` cannot be written.
pub fn init(data_dir: Option<&Path>) -> Guard {
    let filter = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("LOG_LEVEL"))
        .unwrap_or_else(|_| "info,sqlx=warn".to_string());
    let env_filter =
        EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let human = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let mut file_error = None;
    let (json, guard) = match data_dir.map(|d| d.join("logs")) {
        Some(dir) => match std::fs::create_dir_all(&dir)
            .and_then(|_| RotatingFile::open(&dir.join("omniroute.log"), MAX_BYTES, KEEP))
        {
            Ok(file) => {
                let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                    .lossy(true)
                    .buffered_lines_limit(16_384)
                    .finish(file);
                let layer = tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(writer)
                    .with_current_span(true)
                    .with_span_list(false);
                (Some(layer), Some(guard))
            }
            Err(e) => {
                file_error = Some(format!("{}: {e}", dir.display()));
                (None, None)
            }
        },
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(env_filter)
        .with(human)
        .with(json)
        .with(LiveLayer)
        .init();
    if let Some(e) = file_error {
        tracing::warn!("JSON log file disabled: {e}");
    }
    Guard(guard)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_a_bounded_number_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let mut f = RotatingFile::open(&path, 100, 2).unwrap();
        for i in 0..20 {
            writeln!(f, "line {i:03} {}", "x".repeat(40)).unwrap();
        }
        f.flush().unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() <= 100);
        assert!(dir.path().join("x.log.1").exists());
        assert!(dir.path().join("x.log.2").exists());
        assert!(
            !dir.path().join("x.log.3").exists(),
            "only `keep` old files"
        );
        let newest = std::fs::read_to_string(&path).unwrap();
        assert!(newest.contains("line 019"));
    }
}
