//! Shared application state and the live configuration snapshot: one immutable `Snapshot` behind
//! `ArcSwap`, rebuilt from the store after every change (prepare, then swap) so each request sees
//! one consistent view and the hot path never touches the database.

use arc_swap::ArcSwap;
use omniroute_config::GatewaySettings;
use omniroute_protocol::ApiFormat;
use omniroute_providers::{AuthStyle, Catalog, ModelSpec, ModelType, ProviderSpec};
use omniroute_routing::{ComboDef, Resolver};
use omniroute_store::{hash_api_key, LogWriter, Secret, Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connection as the proxy uses it (enabled, secret decrypted).
#[derive(Debug)]
pub struct LiveConnection {
    pub id: String,
    pub name: String,
    pub secret: Option<Secret>,
    /// Effective base URL: connection override, else provider override, else the spec's.
    pub base_url: String,
    /// The chat endpoint, parsed once (OpenAI-format providers), so requests skip URL parsing.
    pub chat_url: Option<http::Uri>,
}

/// A gateway key as the auth check sees it.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub id: Arc<str>,
    pub name: Arc<str>,
}

/// Everything a request needs, immutable.
pub struct Snapshot {
    pub resolver: Resolver,
    /// Enabled connections per provider id, in the order they are tried.
    pub connections: HashMap<String, Vec<Arc<LiveConnection>>>,
    /// Active gateway keys by SHA-256 hash.
    pub keys: HashMap<String, KeyInfo>,
    pub settings: GatewaySettings,
    pub http: crate::upstream::HttpClient,
    /// `created` timestamp reported in model lists.
    pub created: i64,
}

impl Snapshot {
    /// Whether `provider_id` has something to send requests with.
    pub fn usable(&self, provider_id: &str) -> bool {
        self.connections
            .get(provider_id)
            .is_some_and(|c| !c.is_empty())
    }

    /// Look up a presented gateway key.
    pub fn key(&self, presented: &str) -> Option<&KeyInfo> {
        if self.keys.is_empty() {
            return None;
        }
        self.keys.get(&hash_api_key(presented))
    }
}

/// Process-wide state shared by every handler.
pub struct AppState {
    pub store: Store,
    pub catalog: Arc<Catalog>,
    pub snapshot: ArcSwap<Snapshot>,
    pub logs: LogWriter,
    pub config_path: Option<PathBuf>,
    pub admin_token: Option<Secret>,
    pub env_require_key: Option<bool>,
    pub data_dir: PathBuf,
    pub started: Instant,
    pub ready: AtomicBool,
    reload_lock: tokio::sync::Mutex<()>,
}

/// What `AppState::new` needs.
pub struct StateOptions {
    pub store: Store,
    pub catalog: Arc<Catalog>,
    pub logs: LogWriter,
    pub config_path: Option<PathBuf>,
    pub admin_token: Option<Secret>,
    pub env_require_key: Option<bool>,
    pub data_dir: PathBuf,
}

impl AppState {
    pub async fn new(opts: StateOptions) -> Result<Arc<AppState>, StoreError> {
        let snapshot =
            build_snapshot(&opts.store, &opts.catalog, opts.env_require_key, None).await?;
        Ok(Arc::new(AppState {
            store: opts.store,
            catalog: opts.catalog,
            snapshot: ArcSwap::from_pointee(snapshot),
            logs: opts.logs,
            config_path: opts.config_path,
            admin_token: opts.admin_token,
            env_require_key: opts.env_require_key,
            data_dir: opts.data_dir,
            started: Instant::now(),
            ready: AtomicBool::new(true),
            reload_lock: tokio::sync::Mutex::new(()),
        }))
    }

    /// Rebuild the snapshot from the store and swap it in. Serialized, so the last swap always
    /// reflects the latest committed state.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let _guard = self.reload_lock.lock().await;
        let prev = self.snapshot.load_full();
        let next = build_snapshot(
            &self.store,
            &self.catalog,
            self.env_require_key,
            Some(&prev),
        )
        .await?;
        self.snapshot.store(Arc::new(next));
        Ok(())
    }

    /// Re-read the config file (if any), apply it and refresh.
    pub async fn reload_config(&self) -> Result<Option<omniroute_config::ApplySummary>, String> {
        let Some(path) = &self.config_path else {
            self.refresh().await.map_err(|e| e.to_string())?;
            return Ok(None);
        };
        let cfg = omniroute_config::load(path).map_err(|e| e.to_string())?;
        let env = |k: &str| std::env::var(k).ok();
        let summary = omniroute_config::apply(&cfg, &self.store, &self.catalog, &env)
            .await
            .map_err(|e| e.to_string())?;
        self.refresh().await.map_err(|e| e.to_string())?;
        Ok(Some(summary))
    }
}

fn chat_url(spec: &ProviderSpec, base_url: &str) -> Option<http::Uri> {
    use omniroute_providers::upstream::{endpoint_url, Operation};
    (spec.format == ApiFormat::Openai)
        .then(|| {
            endpoint_url(
                spec.format,
                base_url,
                "",
                Operation::Generate { stream: false },
            )
        })
        .and_then(|u| u.parse::<http::Uri>().ok())
}

fn parse_auth(s: &str) -> AuthStyle {
    serde_json::from_value(serde_json::Value::String(s.to_string())).unwrap_or(AuthStyle::Bearer)
}

/// Read the whole configuration from the store into a new snapshot.
pub async fn build_snapshot(
    store: &Store,
    catalog: &Catalog,
    env_require_key: Option<bool>,
    prev: Option<&Snapshot>,
) -> Result<Snapshot, StoreError> {
    let settings_rows = store.settings().await?;
    let entries: BTreeMap<String, serde_json::Value> = settings_rows
        .into_iter()
        .map(|(k, (v, _))| (k, v))
        .collect();
    let settings = GatewaySettings::from_entries(entries.iter(), env_require_key);

    let overrides = store.list_provider_settings().await?;
    let custom_models = store.list_models().await?;
    let mut specs: Vec<ProviderSpec> = catalog.providers().to_vec();
    for node in store.list_nodes().await? {
        let format = node
            .format
            .parse::<ApiFormat>()
            .unwrap_or(ApiFormat::Openai);
        let headers = serde_json::from_value(node.headers.clone()).unwrap_or_default();
        specs.push(ProviderSpec {
            id: node.id,
            alias: node.prefix,
            name: node.name,
            format,
            base_url: node.base_url,
            auth: parse_auth(&node.auth),
            models_path: None,
            headers,
            website: None,
            models: Vec::new(),
            normalize: false,
            system_as_user: false,
            custom: true,
        });
    }
    let mut disabled = Vec::new();
    for spec in &mut specs {
        if let Some(o) = overrides.iter().find(|o| o.provider == spec.id) {
            if let Some(url) = &o.base_url {
                spec.base_url = url.clone();
            }
            if !o.enabled {
                disabled.push(spec.id.clone());
            }
        }
        for m in custom_models.iter().filter(|m| m.provider == spec.id) {
            if !spec.models.iter().any(|x| x.id == m.model) {
                spec.models.push(ModelSpec {
                    id: m.model.clone(),
                    kind: ModelType::parse(&m.kind).unwrap_or_default(),
                });
            }
        }
    }

    let mut connections: HashMap<String, Vec<Arc<LiveConnection>>> = HashMap::new();
    for c in store.list_connections().await? {
        if !c.enabled {
            continue;
        }
        let Some(spec) = specs.iter().find(|s| s.id == c.provider) else {
            continue;
        };
        let base_url = c.base_url.unwrap_or_else(|| spec.base_url.clone());
        connections
            .entry(c.provider.clone())
            .or_default()
            .push(Arc::new(LiveConnection {
                id: c.id,
                name: c.name,
                secret: c.secret,
                chat_url: chat_url(spec, &base_url),
                base_url,
            }));
    }
    // keyless custom nodes (local Ollama, llama.cpp...) work without an explicit connection
    for spec in specs
        .iter()
        .filter(|s| s.custom && s.auth == AuthStyle::None)
    {
        connections.entry(spec.id.clone()).or_insert_with(|| {
            vec![Arc::new(LiveConnection {
                id: format!("{}:implicit", spec.id),
                name: "implicit".into(),
                secret: None,
                chat_url: chat_url(spec, &spec.base_url),
                base_url: spec.base_url.clone(),
            })]
        });
    }

    let combos = store
        .list_combos()
        .await?
        .into_iter()
        .map(|c| ComboDef {
            name: c.name,
            enabled: c.enabled,
            models: c.models,
        })
        .collect();

    let keys = store
        .list_keys()
        .await?
        .into_iter()
        .filter(|k| k.revoked_at.is_none())
        .map(|k| {
            (
                k.key_hash,
                KeyInfo {
                    id: k.id.into(),
                    name: k.name.into(),
                },
            )
        })
        .collect();

    let http = match prev {
        Some(p) if p.settings.connect_timeout_ms == settings.connect_timeout_ms => p.http.clone(),
        _ => crate::upstream::client(Duration::from_millis(settings.connect_timeout_ms)),
    };
    let created = prev
        .map(|p| p.created)
        .unwrap_or_else(|| omniroute_store::now_ms() / 1000);

    Ok(Snapshot {
        resolver: Resolver::new(specs, combos, &disabled),
        connections,
        keys,
        settings,
        http,
        created,
    })
}
