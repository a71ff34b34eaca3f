//! The `Store` handle: connection pool, migrations and the typed queries of every table.

use crate::crypto::{hash_api_key, mask, Cipher, Secret};
use crate::logdb::LogDb;
use crate::migrations::MIGRATIONS;
use crate::records::*;
use crate::{new_id, now_ms, Result, StoreError};
use rand::RngCore;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Eval runs kept (older ones are deleted when a new run starts).
pub const EVAL_RUNS_KEPT: i64 = 200;

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: SqlitePool,
    /// Swapped by a key rotation.
    cipher: Arc<std::sync::RwLock<Cipher>>,
    /// Held by every write of an encrypted secret and by a key rotation, so that no secret is
    /// written under the old key while the rotation rewrites them.
    secret_lock: Arc<tokio::sync::Mutex<()>>,
    /// The request log's own write connection and size estimate.
    pub(crate) log_db: Arc<LogDb>,
}

fn json_text(v: &Value) -> String {
    v.to_string()
}

fn parse_json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or(Value::Null)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Store {
    /// Open (creating if needed) the SQLite database at `path`: WAL journal, foreign keys on,
    /// 5 s busy timeout, file mode 0600; migrations applied.
    pub async fn open(path: &Path, cipher: Cipher) -> Result<Store> {
        let opts = SqliteConnectOptions::from_str("sqlite://")
            .map_err(StoreError::Db)?
            .filename(path)
            .create_if_missing(true)
            // 16 KiB pages (new databases only; a page size is fixed once the file exists): the
            // request log's writer appends and prunes a fifth cheaper than with 4 KiB pages
            // (fewer WAL frames and b-tree splits per row; `examples/analytics_bench.rs`)
            .page_size(16384)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // 1 MiB page cache per connection (the default 2 MiB grows RSS as the log table fills)
            .pragma("cache_size", "-1024");
        // Migrations run on a connection of their own, closed before the pool opens: a pooled
        // connection that had loaded the old schema would prepare `SELECT *` with the old
        // column count and sqlx would index past its column list after SQLite re-prepares.
        let setup = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        let migrated = migrate(&setup).await;
        setup.close().await;
        migrated?;
        let pool = SqlitePoolOptions::new()
            .max_connections(3)
            .min_connections(1)
            .connect_with(opts)
            .await?;
        let log_path = path.to_path_buf();
        let log_db = tokio::task::spawn_blocking(move || LogDb::open(&log_path))
            .await
            .map_err(|e| StoreError::Invalid(format!("opening the request log: {e}")))??;
        Ok(Store {
            pool,
            cipher: Arc::new(std::sync::RwLock::new(cipher)),
            secret_lock: Arc::default(),
            log_db: Arc::new(log_db),
        })
    }

    /// Readiness probe.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Checkpoint the WAL and close every connection.
    pub async fn close(&self) {
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await;
        self.pool.close().await;
    }

    /// The cipher in force (a copy: a rotation swaps it).
    pub fn cipher(&self) -> Cipher {
        match self.cipher.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Re-encrypt every stored secret under a new random key, then make it the key in
    /// `key_file`. Crash-safe: the new key is written to `<key_file>.next` first, the secrets
    /// are rewritten in one transaction, then the file is renamed over the old one;
    /// [`Store::recover_key_rotation`] finishes or undoes an interrupted rotation at start.
    /// Returns how many secrets were re-encrypted.
    pub async fn rotate_encryption_key(&self, key_file: &Path) -> Result<usize> {
        let _secrets = self.secret_lock.lock().await;
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let next_cipher = Cipher::from_key(&raw);
        let next_path = next_key_path(key_file);
        let _ = std::fs::remove_file(&next_path);
        crate::crypto::write_private(&next_path, hex::encode(raw).as_bytes())?;
        let old = self.cipher();
        let mut tx = self.pool.begin().await?;
        let rows =
            sqlx::query("SELECT id, secret_enc FROM connections WHERE secret_enc IS NOT NULL")
                .fetch_all(&mut *tx)
                .await?;
        for r in &rows {
            let id: String = r.try_get("id")?;
            let enc: String = r.try_get("secret_enc")?;
            let plain = old.decrypt(&enc)?;
            sqlx::query("UPDATE connections SET secret_enc = $2 WHERE id = $1")
                .bind(&id)
                .bind(next_cipher.encrypt(plain.expose())?)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        // the secrets are under the new key from here on: use it at once (the file follows; a
        // crash before the rename is finished at the next start)
        if let Ok(mut c) = self.cipher.write() {
            *c = next_cipher;
        }
        std::fs::rename(&next_path, key_file)?;
        if let Some(dir) = key_file.parent() {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(rows.len())
    }

    /// Finish or undo a rotation a crash interrupted: with `<key_file>.next` present, the
    /// stored secrets tell which key they are under (the next one: it becomes the key; else it
    /// is discarded). Returns whether the key changed.
    pub async fn recover_key_rotation(&self, key_file: &Path) -> Result<bool> {
        let next_path = next_key_path(key_file);
        let Ok(text) = std::fs::read_to_string(&next_path) else {
            return Ok(false);
        };
        let next = Cipher::from_key(&Cipher::parse_key(&text)?);
        // the rotation rewrote every secret in one transaction: all of them are under one key
        let stored: Vec<String> =
            sqlx::query_scalar("SELECT secret_enc FROM connections WHERE secret_enc IS NOT NULL")
                .fetch_all(&self.pool)
                .await?;
        let under_next = !stored.is_empty() && stored.iter().all(|enc| next.decrypt(enc).is_ok());
        if under_next {
            std::fs::rename(&next_path, key_file)?;
            if let Ok(mut c) = self.cipher.write() {
                *c = next;
            }
            tracing::warn!("finished an interrupted encryption-key rotation");
        } else {
            std::fs::remove_file(&next_path)?;
            tracing::warn!("discarded an interrupted encryption-key rotation");
        }
        Ok(under_next)
    }

    // ---------------------------------------------------------------- connections

    fn connection_from_row(&self, r: &SqliteRow) -> Result<Connection> {
        let secret_enc: Option<String> = r.try_get("secret_enc")?;
        let secret = match secret_enc {
            Some(enc) => Some(self.cipher().decrypt(&enc)?),
            None => None,
        };
        Ok(Connection {
            id: r.try_get("id")?,
            provider: r.try_get("provider")?,
            name: r.try_get("name")?,
            priority: r.try_get("priority")?,
            enabled: r.try_get("enabled")?,
            secret,
            base_url: r.try_get("base_url")?,
            settings: parse_json(&r.try_get::<String, _>("settings")?),
            source: r.try_get("source")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }

    fn encrypt_opt(&self, s: Option<&Secret>) -> Result<Option<String>> {
        s.filter(|s| !s.is_empty())
            .map(|s| self.cipher().encrypt(s.expose()))
            .transpose()
    }

    pub async fn list_connections(&self) -> Result<Vec<Connection>> {
        sqlx::query("SELECT * FROM connections ORDER BY provider, priority, created_at")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| self.connection_from_row(r))
            .collect()
    }

    pub async fn get_connection(&self, id: &str) -> Result<Connection> {
        let row = sqlx::query("SELECT * FROM connections WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("connection `{id}`")))?;
        self.connection_from_row(&row)
    }

    pub async fn create_connection(
        &self,
        input: ConnectionInput,
        source: &str,
    ) -> Result<Connection> {
        let _secrets = self.secret_lock.lock().await;
        let id = new_id("conn");
        let now = now_ms();
        let res = sqlx::query(
            "INSERT INTO connections (id, provider, name, priority, enabled, secret_enc, base_url, settings, source, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .bind(&id)
        .bind(&input.provider)
        .bind(&input.name)
        .bind(input.priority)
        .bind(input.enabled)
        .bind(self.encrypt_opt(input.secret.as_ref())?)
        .bind(&input.base_url)
        .bind(json_text(&input.settings))
        .bind(source)
        .bind(now)
        .execute(&self.pool)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "connection `{}` of provider `{}`",
                input.name, input.provider
            ))),
            Err(e) => Err(e.into()),
            Ok(_) => self.get_connection(&id).await,
        }
    }

    /// Create or replace the connection named `input.name` of `input.provider` (config apply).
    pub async fn upsert_connection(
        &self,
        input: ConnectionInput,
        source: &str,
    ) -> Result<Connection> {
        let _secrets = self.secret_lock.lock().await;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT id FROM connections WHERE provider = $1 AND name = $2")
                .bind(&input.provider)
                .bind(&input.name)
                .fetch_optional(&self.pool)
                .await?;
        let Some(id) = existing else {
            drop(_secrets);
            return self.create_connection(input, source).await;
        };
        sqlx::query(
            "UPDATE connections SET priority = $2, enabled = $3, secret_enc = $4, base_url = $5, settings = $6, source = $7, updated_at = $8 WHERE id = $1",
        )
        .bind(&id)
        .bind(input.priority)
        .bind(input.enabled)
        .bind(self.encrypt_opt(input.secret.as_ref())?)
        .bind(&input.base_url)
        .bind(json_text(&input.settings))
        .bind(source)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.get_connection(&id).await
    }

    pub async fn update_connection(&self, id: &str, patch: ConnectionPatch) -> Result<Connection> {
        let _secrets = self.secret_lock.lock().await;
        let cur = self.get_connection(id).await?;
        let secret = match patch.secret {
            Some(s) => s,
            None => cur.secret,
        };
        let res = sqlx::query(
            "UPDATE connections SET name = $2, priority = $3, enabled = $4, secret_enc = $5, base_url = $6, settings = $7, updated_at = $8 WHERE id = $1",
        )
        .bind(id)
        .bind(patch.name.unwrap_or(cur.name))
        .bind(patch.priority.unwrap_or(cur.priority))
        .bind(patch.enabled.unwrap_or(cur.enabled))
        .bind(self.encrypt_opt(secret.as_ref())?)
        .bind(patch.base_url.unwrap_or(cur.base_url))
        .bind(json_text(&patch.settings.unwrap_or(cur.settings)))
        .bind(now_ms())
        .execute(&self.pool)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::Conflict("a connection with that name".into()))
            }
            Err(e) => Err(e.into()),
            Ok(_) => self.get_connection(id).await,
        }
    }

    pub async fn delete_connection(&self, id: &str) -> Result<()> {
        let n = sqlx::query("DELETE FROM connections WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("connection `{id}`")));
        }
        Ok(())
    }

    // ---------------------------------------------------------------- custom nodes

    pub async fn list_nodes(&self) -> Result<Vec<ProviderNode>> {
        sqlx::query("SELECT * FROM provider_nodes ORDER BY created_at")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(ProviderNode {
                    id: r.try_get("id")?,
                    prefix: r.try_get("prefix")?,
                    name: r.try_get("name")?,
                    format: r.try_get("format")?,
                    base_url: r.try_get("base_url")?,
                    auth: r.try_get("auth")?,
                    headers: parse_json(&r.try_get::<String, _>("headers")?),
                    source: r.try_get("source")?,
                })
            })
            .collect()
    }

    /// Insert or replace a node by id. A prefix already used by another node is a conflict.
    pub async fn upsert_node(&self, node: &ProviderNode) -> Result<()> {
        let now = now_ms();
        let res = sqlx::query(
            "INSERT INTO provider_nodes (id, prefix, name, format, base_url, auth, headers, source, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
             ON CONFLICT (id) DO UPDATE SET prefix = excluded.prefix, name = excluded.name, format = excluded.format,
               base_url = excluded.base_url, auth = excluded.auth, headers = excluded.headers, source = excluded.source,
               updated_at = excluded.updated_at",
        )
        .bind(&node.id)
        .bind(&node.prefix)
        .bind(&node.name)
        .bind(&node.format)
        .bind(&node.base_url)
        .bind(&node.auth)
        .bind(json_text(&node.headers))
        .bind(&node.source)
        .bind(now)
        .execute(&self.pool)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "node prefix `{}`",
                node.prefix
            ))),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(()),
        }
    }

    pub async fn delete_node(&self, id: &str) -> Result<()> {
        let n = sqlx::query("DELETE FROM provider_nodes WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("custom node `{id}`")));
        }
        Ok(())
    }

    // ---------------------------------------------------------------- audit log

    pub async fn add_audit(&self, e: &AuditEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (ts, actor, ip, action, target, status, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(e.ts)
        .bind(&e.actor)
        .bind(&e.ip)
        .bind(&e.action)
        .bind(&e.target)
        .bind(i64::from(e.status))
        .bind(&e.detail)
        .execute(&self.pool)
        .await?;
        // bounded: the newest 100 000 entries
        sqlx::query("DELETE FROM audit_log WHERE id <= (SELECT MAX(id) FROM audit_log) - 100000")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The newest entries first; `before_id` pages back.
    pub async fn audit_log(&self, limit: i64, before_id: Option<i64>) -> Result<Vec<AuditEntry>> {
        sqlx::query("SELECT * FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2")
            .bind(before_id.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    ts: r.try_get("ts")?,
                    actor: r.try_get("actor")?,
                    ip: r.try_get("ip")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    status: r.try_get::<i64, _>("status")? as u16,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    // ---------------------------------------------------------------- budgets

    pub async fn list_budgets(&self) -> Result<Vec<Budget>> {
        sqlx::query("SELECT * FROM budgets ORDER BY created_at")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(Budget {
                    id: r.try_get("id")?,
                    key_id: r.try_get("key_id")?,
                    combo: r.try_get("combo")?,
                    step: r.try_get("step")?,
                    limit_usd: r.try_get("limit_usd")?,
                    period: r.try_get("period")?,
                })
            })
            .collect()
    }

    /// Insert a budget, or replace the one with the same scope and period. Returns its id.
    pub async fn upsert_budget(&self, b: &Budget) -> Result<String> {
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM budgets WHERE period = $1 AND
               ((key_id IS NOT NULL AND key_id = $2) OR (key_id IS NULL AND $2 IS NULL AND combo = $3 AND step = $4))",
        )
        .bind(&b.period)
        .bind(&b.key_id)
        .bind(&b.combo)
        .bind(&b.step)
        .fetch_optional(&self.pool)
        .await?;
        let id = existing.unwrap_or_else(|| new_id("budget"));
        sqlx::query(
            "INSERT INTO budgets (id, key_id, combo, step, limit_usd, period, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET limit_usd = excluded.limit_usd",
        )
        .bind(&id)
        .bind(&b.key_id)
        .bind(&b.combo)
        .bind(&b.step)
        .bind(b.limit_usd)
        .bind(&b.period)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if e.to_string().contains("FOREIGN KEY") {
                StoreError::NotFound(format!(
                    "gateway key `{}`",
                    b.key_id.as_deref().unwrap_or("")
                ))
            } else {
                e.into()
            }
        })?;
        Ok(id)
    }

    pub async fn delete_budget(&self, id: &str) -> Result<()> {
        self.delete_one("DELETE FROM budgets WHERE id = $1", id, || {
            format!("budget `{id}`")
        })
        .await
    }

    /// Run a `DELETE … WHERE key = $1`; `NotFound(what())` when no row went.
    async fn delete_one(
        &self,
        sql: &'static str,
        key: &str,
        what: impl FnOnce() -> String,
    ) -> Result<()> {
        let r = sqlx::query(sql).bind(key).execute(&self.pool).await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(what()));
        }
        Ok(())
    }

    // ---------------------------------------------------------------- evals

    /// Saved eval sets' JSON documents, by name.
    pub async fn list_eval_sets(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT body FROM eval_sets ORDER BY name, id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn get_eval_set(&self, id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT body FROM eval_sets WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Insert or replace an eval set's document.
    pub async fn put_eval_set(&self, id: &str, name: &str, body: &str) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO eval_sets (id, name, body, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, body = excluded.body, updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(name)
        .bind(body)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_eval_set(&self, id: &str) -> Result<()> {
        self.delete_one("DELETE FROM eval_sets WHERE id = $1", id, || {
            format!("eval set `{id}`")
        })
        .await
    }

    /// Insert or update an eval run's document; only the newest `EVAL_RUNS_KEPT` runs are kept.
    pub async fn put_eval_run(
        &self,
        id: &str,
        set_id: &str,
        status: &str,
        started_at: i64,
        finished_at: Option<i64>,
        body: &str,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO eval_runs (id, set_id, status, started_at, finished_at, body) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, finished_at = excluded.finished_at, body = excluded.body",
        )
        .bind(id)
        .bind(set_id)
        .bind(status)
        .bind(started_at)
        .bind(finished_at)
        .bind(body)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() > 0 && finished_at.is_none() {
            sqlx::query(
                "DELETE FROM eval_runs WHERE id NOT IN (SELECT id FROM eval_runs ORDER BY started_at DESC LIMIT $1)",
            )
            .bind(EVAL_RUNS_KEPT)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Eval run documents, newest first.
    pub async fn list_eval_runs(&self, limit: i64) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT body FROM eval_runs ORDER BY started_at DESC LIMIT $1")
                .bind(limit)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn get_eval_run(&self, id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT body FROM eval_runs WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn delete_eval_run(&self, id: &str) -> Result<()> {
        self.delete_one("DELETE FROM eval_runs WHERE id = $1", id, || {
            format!("eval run `{id}`")
        })
        .await
    }

    // ---------------------------------------------------------------- pricing

    pub async fn list_pricing(&self) -> Result<Vec<ModelPrice>> {
        sqlx::query("SELECT * FROM model_pricing ORDER BY model")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(ModelPrice {
                    model: r.try_get("model")?,
                    input_per_m: r.try_get("input_per_m")?,
                    output_per_m: r.try_get("output_per_m")?,
                    cached_input_per_m: r.try_get("cached_input_per_m")?,
                    reasoning_per_m: r.try_get("reasoning_per_m")?,
                    source: r.try_get("source")?,
                    reference: None,
                })
            })
            .collect()
    }

    pub async fn upsert_pricing(&self, p: &ModelPrice) -> Result<()> {
        sqlx::query(
            "INSERT INTO model_pricing (model, input_per_m, output_per_m, cached_input_per_m, reasoning_per_m, source, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (model) DO UPDATE SET input_per_m = excluded.input_per_m, output_per_m = excluded.output_per_m,
               cached_input_per_m = excluded.cached_input_per_m, reasoning_per_m = excluded.reasoning_per_m,
               source = excluded.source, updated_at = excluded.updated_at",
        )
        .bind(&p.model)
        .bind(p.input_per_m)
        .bind(p.output_per_m)
        .bind(p.cached_input_per_m)
        .bind(p.reasoning_per_m)
        .bind(&p.source)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_pricing(&self, model: &str) -> Result<()> {
        self.delete_one("DELETE FROM model_pricing WHERE model = $1", model, || {
            format!("price of `{model}`")
        })
        .await
    }

    // ---------------------------------------------------------------- custom models

    pub async fn list_models(&self) -> Result<Vec<ProviderModel>> {
        sqlx::query("SELECT * FROM provider_models ORDER BY provider, created_at")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(ProviderModel {
                    provider: r.try_get("provider")?,
                    model: r.try_get("model")?,
                    kind: r.try_get("kind")?,
                    source: r.try_get("source")?,
                })
            })
            .collect()
    }

    pub async fn upsert_model(&self, m: &ProviderModel) -> Result<()> {
        sqlx::query(
            "INSERT INTO provider_models (provider, model, kind, source, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (provider, model) DO UPDATE SET kind = excluded.kind, source = excluded.source",
        )
        .bind(&m.provider)
        .bind(&m.model)
        .bind(&m.kind)
        .bind(&m.source)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_model(&self, provider: &str, model: &str) -> Result<()> {
        let n = sqlx::query("DELETE FROM provider_models WHERE provider = $1 AND model = $2")
            .bind(provider)
            .bind(model)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "custom model `{provider}/{model}`"
            )));
        }
        Ok(())
    }

    // ---------------------------------------------------------------- provider overrides

    pub async fn list_provider_settings(&self) -> Result<Vec<ProviderSetting>> {
        sqlx::query("SELECT * FROM provider_settings ORDER BY provider")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(ProviderSetting {
                    provider: r.try_get("provider")?,
                    enabled: r.try_get("enabled")?,
                    base_url: r.try_get("base_url")?,
                    source: r.try_get("source")?,
                })
            })
            .collect()
    }

    pub async fn upsert_provider_setting(&self, s: &ProviderSetting) -> Result<()> {
        sqlx::query(
            "INSERT INTO provider_settings (provider, enabled, base_url, source, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (provider) DO UPDATE SET enabled = excluded.enabled, base_url = excluded.base_url,
               source = excluded.source, updated_at = excluded.updated_at",
        )
        .bind(&s.provider)
        .bind(s.enabled)
        .bind(&s.base_url)
        .bind(&s.source)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_provider_setting(&self, provider: &str) -> Result<()> {
        sqlx::query("DELETE FROM provider_settings WHERE provider = $1")
            .bind(provider)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---------------------------------------------------------------- combos

    fn combo_from_row(r: &SqliteRow) -> Result<Combo> {
        let models: Vec<String> =
            serde_json::from_str(&r.try_get::<String, _>("models")?).unwrap_or_default();
        Ok(Combo {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            strategy: r.try_get("strategy")?,
            enabled: r.try_get("enabled")?,
            models,
            weights: serde_json::from_str(&r.try_get::<String, _>("weights")?).unwrap_or_default(),
            source: r.try_get("source")?,
        })
    }

    pub async fn list_combos(&self) -> Result<Vec<Combo>> {
        sqlx::query("SELECT * FROM combos ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(Self::combo_from_row)
            .collect()
    }

    pub async fn get_combo(&self, id: &str) -> Result<Combo> {
        let row = sqlx::query("SELECT * FROM combos WHERE id = $1 OR name = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("combo `{id}`")))?;
        Self::combo_from_row(&row)
    }

    /// Insert or replace a combo, matched by name. Returns the stored combo.
    pub async fn upsert_combo(&self, c: &Combo) -> Result<Combo> {
        let now = now_ms();
        let id = if c.id.is_empty() {
            new_id("combo")
        } else {
            c.id.clone()
        };
        let res = sqlx::query(
            "INSERT INTO combos (id, name, strategy, enabled, models, source, created_at, updated_at, weights)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
             ON CONFLICT (name) DO UPDATE SET strategy = excluded.strategy, enabled = excluded.enabled,
               models = excluded.models, source = excluded.source, updated_at = excluded.updated_at,
               weights = excluded.weights",
        )
        .bind(&id)
        .bind(&c.name)
        .bind(&c.strategy)
        .bind(c.enabled)
        .bind(serde_json::to_string(&c.models).unwrap_or_else(|_| "[]".into()))
        .bind(&c.source)
        .bind(now)
        .bind(serde_json::to_string(&c.weights).unwrap_or_else(|_| "[]".into()))
        .execute(&self.pool)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::Conflict(format!("combo id `{id}`")))
            }
            Err(e) => Err(e.into()),
            Ok(_) => self.get_combo(&c.name).await,
        }
    }

    /// Replace the combo with id `id` (renaming allowed).
    /// Change a combo; its step budgets (keyed by the combo's name) follow a rename.
    pub async fn update_combo(&self, id: &str, c: &Combo) -> Result<Combo> {
        let mut tx = self.pool.begin().await?;
        let old: Option<String> = sqlx::query_scalar("SELECT name FROM combos WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(old) = old else {
            return Err(StoreError::NotFound(format!("combo `{id}`")));
        };
        let res = sqlx::query(
            "UPDATE combos SET name = $2, strategy = $3, enabled = $4, models = $5, updated_at = $6, weights = $7 WHERE id = $1",
        )
        .bind(id)
        .bind(&c.name)
        .bind(&c.strategy)
        .bind(c.enabled)
        .bind(serde_json::to_string(&c.models).unwrap_or_else(|_| "[]".into()))
        .bind(now_ms())
        .bind(serde_json::to_string(&c.weights).unwrap_or_else(|_| "[]".into()))
        .execute(&mut *tx)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!("combo `{}`", c.name)))
            }
            Err(e) => return Err(e.into()),
            Ok(r) if r.rows_affected() == 0 => {
                return Err(StoreError::NotFound(format!("combo `{id}`")))
            }
            Ok(_) => {}
        }
        if old != c.name {
            sqlx::query("UPDATE budgets SET combo = $2 WHERE key_id IS NULL AND combo = $1")
                .bind(&old)
                .bind(&c.name)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.get_combo(id).await
    }

    /// Delete a combo (by id or name) and its step budgets.
    pub async fn delete_combo(&self, id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let names: Vec<String> =
            sqlx::query_scalar("SELECT name FROM combos WHERE id = $1 OR name = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        if names.is_empty() {
            return Err(StoreError::NotFound(format!("combo `{id}`")));
        }
        sqlx::query("DELETE FROM combos WHERE id = $1 OR name = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for name in &names {
            sqlx::query("DELETE FROM budgets WHERE key_id IS NULL AND combo = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // ---------------------------------------------------------------- gateway keys

    fn key_from_row(r: &SqliteRow) -> Result<ApiKey> {
        let prefix: String = r.try_get("prefix")?;
        let last4: String = r.try_get("last4")?;
        Ok(ApiKey {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            key_hash: r.try_get("key_hash")?,
            masked: format!("{prefix}…{last4}"),
            source: r.try_get("source")?,
            created_at: r.try_get("created_at")?,
            revoked_at: r.try_get("revoked_at")?,
            last_used_at: r.try_get("last_used_at")?,
            request_count: r.try_get("request_count")?,
            expires_at: r.try_get("expires_at")?,
            models: r
                .try_get::<Option<String>, _>("allowed_models")?
                .and_then(|m| serde_json::from_str(&m).ok()),
            rpm: r
                .try_get::<Option<i64>, _>("rpm")?
                .and_then(|v| u32::try_from(v).ok()),
            rotated_at: r.try_get("rotated_at")?,
            kind: r.try_get("kind")?,
        })
    }

    /// Make a key a `gateway` or an `admin` key.
    pub async fn set_key_kind(&self, id: &str, kind: &str) -> Result<ApiKey> {
        if !matches!(kind, "gateway" | "admin") {
            return Err(StoreError::Invalid(format!(
                "key kind `{kind}`: gateway or admin"
            )));
        }
        sqlx::query("UPDATE api_keys SET kind = $2 WHERE id = $1")
            .bind(id)
            .bind(kind)
            .execute(&self.pool)
            .await?;
        self.get_key(id).await
    }

    /// Set a key's name and limits.
    pub async fn update_key(&self, id: &str, name: &str, limits: &KeyLimits) -> Result<ApiKey> {
        let models = limits
            .models
            .as_ref()
            .map(|m| serde_json::to_string(m).unwrap_or_else(|_| "[]".into()));
        let n = sqlx::query(
            "UPDATE api_keys SET name = $2, expires_at = $3, allowed_models = $4, rpm = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(name)
        .bind(limits.expires_at)
        .bind(models)
        .bind(limits.rpm.map(i64::from))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("gateway key `{id}`")));
        }
        self.get_key(id).await
    }

    pub async fn get_key(&self, id: &str) -> Result<ApiKey> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("gateway key `{id}`")))?;
        Self::key_from_row(&row)
    }

    /// Replace a live key's secret (same id, name, limits and usage); the old secret stops
    /// working at once. The new plaintext is returned once.
    pub async fn rotate_key(&self, id: &str) -> Result<(ApiKey, Secret)> {
        let key = generate_key();
        let prefix: String = key.chars().take(8).collect();
        let last4: String = key.chars().skip(key.len() - 4).collect();
        let n = sqlx::query(
            "UPDATE api_keys SET key_hash = $2, prefix = $3, last4 = $4, rotated_at = $5 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(hash_api_key(&key))
        .bind(prefix)
        .bind(last4)
        .bind(now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("active gateway key `{id}`")));
        }
        Ok((self.get_key(id).await?, Secret::new(key)))
    }

    pub async fn list_keys(&self) -> Result<Vec<ApiKey>> {
        sqlx::query("SELECT * FROM api_keys ORDER BY created_at")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(Self::key_from_row)
            .collect()
    }

    /// Generate a new key. The plaintext is returned once and never stored.
    pub async fn create_key(&self, name: &str) -> Result<(ApiKey, Secret)> {
        self.create_key_with(name, &KeyLimits::default()).await
    }

    /// Generate a new key with limits. The plaintext is returned once and never stored.
    pub async fn create_key_with(
        &self,
        name: &str,
        limits: &KeyLimits,
    ) -> Result<(ApiKey, Secret)> {
        let key = generate_key();
        let rec = self
            .insert_key(&new_id("key"), name, &key, SOURCE_API)
            .await?;
        let rec = if *limits == KeyLimits::default() {
            rec
        } else {
            self.update_key(&rec.id, name, limits).await?
        };
        Ok((rec, Secret::new(key)))
    }

    /// Store a key whose value the user chose (declarative config). Matched by name within the
    /// config source: the same name with the same value is left as it is.
    pub async fn import_key(&self, name: &str, key: &str, source: &str) -> Result<ApiKey> {
        let hash = hash_api_key(key);
        let existing = sqlx::query("SELECT * FROM api_keys WHERE name = $1 AND source = $2")
            .bind(name)
            .bind(source)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = existing {
            let rec = Self::key_from_row(&row)?;
            if rec.key_hash == hash && rec.revoked_at.is_none() {
                return Ok(rec);
            }
            sqlx::query("DELETE FROM api_keys WHERE id = $1")
                .bind(&rec.id)
                .execute(&self.pool)
                .await?;
        }
        self.insert_key(&new_id("key"), name, key, source).await
    }

    async fn insert_key(&self, id: &str, name: &str, key: &str, source: &str) -> Result<ApiKey> {
        if key.len() < 16 {
            return Err(StoreError::Invalid(
                "a gateway key must be at least 16 characters".into(),
            ));
        }
        let prefix: String = key.chars().take(8).collect();
        let last4: String = key
            .chars()
            .skip(key.chars().count().saturating_sub(4))
            .collect();
        let res = sqlx::query(
            "INSERT INTO api_keys (id, name, key_hash, prefix, last4, source, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(name)
        .bind(hash_api_key(key))
        .bind(prefix)
        .bind(last4)
        .bind(source)
        .bind(now_ms())
        .execute(&self.pool)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::Conflict("a gateway key with that value".into()))
            }
            Err(e) => Err(e.into()),
            Ok(_) => {
                let row = sqlx::query("SELECT * FROM api_keys WHERE id = $1")
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await?;
                Self::key_from_row(&row)
            }
        }
    }

    pub async fn revoke_key(&self, id: &str) -> Result<()> {
        let n =
            sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now_ms())
                .execute(&self.pool)
                .await?
                .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("active gateway key `{id}`")));
        }
        Ok(())
    }

    pub async fn delete_key(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM api_keys WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---------------------------------------------------------------- dashboard login

    /// The dashboard password, once one is set.
    pub async fn auth_record(&self) -> Result<Option<AuthRecord>> {
        let row = sqlx::query(
            "SELECT password_hash, must_change, updated_at FROM auth_state WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(AuthRecord {
                password_hash: r.try_get("password_hash")?,
                must_change: r.try_get::<i64, _>("must_change")? != 0,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .transpose()
    }

    /// Set the dashboard password (an Argon2id PHC string).
    pub async fn set_password(&self, hash: &str, must_change: bool) -> Result<()> {
        sqlx::query(
            "INSERT INTO auth_state (id, password_hash, must_change, updated_at) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET password_hash = excluded.password_hash, \
             must_change = excluded.must_change, updated_at = excluded.updated_at",
        )
        .bind(hash)
        .bind(i64::from(must_change))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sessions that have not expired (older ones are deleted).
    pub async fn live_sessions(&self) -> Result<Vec<SessionRecord>> {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        sqlx::query("SELECT * FROM sessions ORDER BY created_at")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(SessionRecord {
                    id_hash: r.try_get("id_hash")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    ip: r.try_get("ip")?,
                    user_agent: r.try_get("user_agent")?,
                })
            })
            .collect()
    }

    pub async fn insert_session(&self, s: &SessionRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, created_at, expires_at, ip, user_agent) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&s.id_hash)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(&s.ip)
        .bind(&s.user_agent)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// End sessions: one (`Some(hash)`), or every one but `keep`.
    pub async fn delete_sessions(&self, only: Option<&str>, keep: Option<&str>) -> Result<u64> {
        let n = match only {
            Some(h) => {
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                    .bind(h)
                    .execute(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("DELETE FROM sessions WHERE id_hash != $1")
                    .bind(keep.unwrap_or(""))
                    .execute(&self.pool)
                    .await?
            }
        };
        Ok(n.rows_affected())
    }

    // ---------------------------------------------------------------- settings

    pub async fn settings(&self) -> Result<BTreeMap<String, (Value, String)>> {
        let rows = sqlx::query("SELECT key, value, source FROM settings")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>("key")?,
                    (
                        parse_json(&r.try_get::<String, _>("value")?),
                        r.try_get("source")?,
                    ),
                ))
            })
            .collect()
    }

    pub async fn set_setting(&self, key: &str, value: &Value, source: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (key, value, source, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, source = excluded.source, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(json_text(value))
        .bind(source)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_setting(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM settings WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---------------------------------------------------------------- runtime state

    /// Runtime state that must survive a restart (circuit breakers, cooldowns), by key.
    pub async fn runtime_state(&self, key: &str) -> Result<Option<Value>> {
        let row = sqlx::query("SELECT value FROM runtime_state WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(parse_json(&r.try_get::<String, _>("value")?)))
            .transpose()
    }

    pub async fn set_runtime_state(&self, key: &str, value: &Value) -> Result<()> {
        sqlx::query(
            "INSERT INTO runtime_state (key, value, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(json_text(value))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Mask helper re-exported for API responses.
pub fn masked(secret: &Option<Secret>) -> Option<String> {
    secret.as_ref().map(|s| mask(s.expose()))
}

async fn migrate(pool: &SqlitePool) -> Result<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(pool)
    .await?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?;
    for (version, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}

/// `sk-or-` and 192 random bits in hex.
fn generate_key() -> String {
    let mut raw = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    format!("sk-or-{}", hex::encode(raw))
}

/// `secret.key` → `secret.key.next`.
fn next_key_path(key_file: &Path) -> std::path::PathBuf {
    let mut name = key_file.as_os_str().to_os_string();
    name.push(".next");
    std::path::PathBuf::from(name)
}
