//! Builds the dashboard (`web/`, Vite) into `web/dist` before the server crate embeds it, so
//! `cargo build` / `cargo run` alone give a binary with its dashboard. Runs `npm ci` when the
//! dependencies are missing or older than the lock file, then `npm run build`. Without Node.js
//! or npm, or when the build fails, it warns and the binary serves a page saying how to build
//! the dashboard. `OMNIROUTE_SKIP_WEB_BUILD=1` skips it (the last `web/dist` is embedded as is).

use std::path::Path;
use std::process::Command;

fn main() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    println!("cargo:rerun-if-env-changed=OMNIROUTE_SKIP_WEB_BUILD");
    for p in [
        "src",
        "public",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
        "scripts",
    ] {
        println!("cargo:rerun-if-changed={}", web.join(p).display());
    }
    if std::env::var("OMNIROUTE_SKIP_WEB_BUILD").is_ok_and(|v| v == "1" || v == "true") {
        return;
    }
    if !web.join("package.json").exists() {
        return;
    }
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let lock = web.join("package-lock.json");
    let installed = web.join("node_modules/.package-lock.json");
    let stale = match (modified(&installed), modified(&lock)) {
        (Some(i), Some(l)) => i < l,
        _ => true,
    };
    if stale && !run(npm, &["ci", "--no-audit", "--no-fund"], &web) {
        warn("`npm ci` failed or npm is not installed: the dashboard is not embedded");
        return;
    }
    if !run(npm, &["run", "build"], &web) {
        warn(
            "`npm run build` in web/ failed: the dashboard is not embedded (see its output above)",
        );
    }
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn run(cmd: &str, args: &[&str], dir: &Path) -> bool {
    match Command::new(cmd).args(args).current_dir(dir).status() {
        Ok(s) => s.success(),
        Err(_) => false,
    }
}

fn warn(msg: &str) {
    println!("cargo:warning={msg}");
}
