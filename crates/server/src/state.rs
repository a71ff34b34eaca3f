//! Shared application state and the live configuration snapshot: one immutable `Snapshot` behind
//! `ArcSwap`, rebuilt from the store after every change (prepare, then swap) so each request sees
//! one consistent view and the hot path never touches the database.

use crate::resilience::{self, Resilience};
use arc_swap::ArcSwap;
use omniroute_config::GatewaySettings;
use omniroute_protocol::ApiFormat;
use omniroute_providers::{AuthStyle, Catalog, ModelSpec, ModelType, ProviderSpec};
use omniroute_routing::{Breaker, ComboDef, Resolver, RotationState, Strategy, TargetHealth};
use omniroute_store::{hash_api_key, LogWriter, Secret, Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest response (stream included) kept for idempotent duplicates.
const IDEMPOTENT_MAX_BYTES: usize = 8 << 20;

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
    /// Lower is tried first (fill-first; cost-optimized account selection).
    pub priority: i64,
    /// Breaker, cooldowns, stats and rate limiter; shared with every later snapshot.
    pub health: Arc<TargetHealth>,
    /// `stable_key(id)`, for ordering and session affinity.
    pub key: u64,
}

/// A gateway key as the auth check sees it.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub id: Arc<str>,
    pub name: Arc<str>,
    /// Refused after this time (ms).
    pub expires_at: Option<i64>,
    /// Model patterns the key may use; `None` = every model.
    pub models: Option<Arc<[String]>>,
    /// Requests per minute.
    pub rpm: Option<u32>,
}

impl KeyInfo {
    /// Whether the key may use `model` as the client named it (a pattern matches the name:
    /// `openai/*`, `cc/claude-*`, `my-combo`).
    pub fn allows_name(&self, model: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|ps| ps.iter().any(|p| omniroute_routing::glob(p, model)))
    }

    /// Whether the key may reach `model` at `provider` (by the provider's id or alias).
    pub fn allows_target(&self, provider: &ProviderSpec, model: &str) -> bool {
        self.models.as_ref().is_none_or(|ps| {
            let (by_id, by_alias) = (
                format!("{}/{model}", provider.id),
                format!("{}/{model}", provider.alias),
            );
            ps.iter().any(|p| {
                omniroute_routing::glob(p, &by_id) || omniroute_routing::glob(p, &by_alias)
            })
        })
    }
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
    /// Provider-level breakers by provider id.
    pub provider_breakers: HashMap<String, Arc<Breaker>>,
    /// How each provider's accounts are chosen (global setting, per-provider override).
    pub account_strategy: HashMap<String, Strategy>,
    pub default_account_strategy: Strategy,
    pub combo_strategy: Strategy,
    /// Account rotation cursors by provider id.
    pub account_rotations: HashMap<String, Arc<RotationState>>,
    /// Combo step rotation cursors by combo name.
    pub combo_rotations: HashMap<String, Arc<RotationState>>,
    /// Model prices (USD per million tokens) by `provider/model` or bare model id.
    pub pricing: HashMap<String, omniroute_store::ModelPrice>,
    /// Every enabled combo expanded into its leaf steps, once per snapshot.
    pub combo_steps: HashMap<String, Arc<Vec<omniroute_routing::Step>>>,
    /// Connection id → (provider id, name), for the management view.
    pub connection_names: HashMap<String, (String, String)>,
    /// The response cache (kept across snapshots while its limits do not change).
    pub cache: Arc<crate::cache::Cache>,
    /// Idempotent-request table (kept across snapshots while the window does not change).
    pub idempotency: crate::idempotency::Idempotency,
    /// Largest response kept for idempotent duplicates.
    pub idempotency_max_bytes: usize,
    /// OpenTelemetry trace export, when on (kept across snapshots while the endpoint holds).
    pub otel: Option<Arc<crate::otel::Otel>>,
    /// Who may connect: allow/block lists, trusted proxies, the per-address rate.
    pub ip_rules: crate::ipfilter::IpRules,
    /// The prompt-injection guard, when on.
    pub guard: Option<Arc<crate::guard::Guard>>,
    /// Admin keys (for `/api`): hash → (id, expiry).
    pub admin_keys: HashMap<String, (Arc<str>, Option<i64>)>,
}

impl Snapshot {
    /// The price of `model` at `provider`: `provider-id/model`, `alias/model`, the bare id, then
    /// the id's last path segment (`openai/gpt-x` at OpenRouter is priced as `gpt-x`).
    pub fn price(
        &self,
        provider: &ProviderSpec,
        model: &str,
    ) -> Option<&omniroute_store::ModelPrice> {
        if self.pricing.is_empty() {
            return None;
        }
        let last = model.rsplit('/').next().unwrap_or(model);
        self.pricing
            .get(&format!("{}/{model}", provider.id))
            .or_else(|| self.pricing.get(&format!("{}/{model}", provider.alias)))
            .or_else(|| self.pricing.get(model))
            .or_else(|| self.pricing.get(last))
    }

    /// The account strategy of `provider`.
    pub fn account_strategy(&self, provider: &str) -> Strategy {
        self.account_strategy
            .get(provider)
            .copied()
            .unwrap_or(self.default_account_strategy)
    }

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
    /// The encryption key's file, when rotation may replace it.
    pub encryption_key_file: Option<PathBuf>,
    pub started: Instant,
    pub ready: AtomicBool,
    pub resilience: Arc<Resilience>,
    /// Latency, TTFT, success and token telemetry per provider, model and connection.
    pub telemetry: Arc<crate::telemetry::Telemetry>,
    /// Spending budgets per key and per combo step, tracked live.
    pub budgets: Arc<crate::budgets::Budgets>,
    /// Dashboard login: password, sessions, lockouts.
    pub auth: Arc<crate::auth::Auth>,
    /// Per-key request windows for keys with an `rpm` limit.
    pub key_rates: KeyRates,
    /// Per-address request windows (the `ip_rate_limit` setting).
    pub ip_rates: crate::ipfilter::IpRates,
    reload_lock: tokio::sync::Mutex<()>,
}

/// What `AppState::new` needs.
pub struct StateOptions {
    /// The encryption key's file (`None` when `STORAGE_ENCRYPTION_KEY` provides the key).
    pub encryption_key_file: Option<PathBuf>,
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
        let resilience = Arc::new(Resilience::new());
        let snapshot = build_snapshot(
            &opts.store,
            &opts.catalog,
            opts.env_require_key,
            None,
            &resilience,
        )
        .await?;
        // after the snapshot, so restored breakers and cooldowns meet their configured limits
        resilience.load(&opts.store).await;
        opts.logs.set_retention(retention(&snapshot.settings));
        let budgets = Arc::new(crate::budgets::Budgets::default());
        budgets.load(&opts.store).await?;
        let auth = crate::auth::Auth::load(&opts.store, &opts.data_dir)
            .await
            .map_err(StoreError::Invalid)?;
        Ok(Arc::new(AppState {
            auth: Arc::new(auth),
            key_rates: KeyRates::default(),
            ip_rates: crate::ipfilter::IpRates::default(),
            store: opts.store,
            catalog: opts.catalog,
            snapshot: ArcSwap::from_pointee(snapshot),
            logs: opts.logs,
            config_path: opts.config_path,
            admin_token: opts.admin_token,
            env_require_key: opts.env_require_key,
            data_dir: opts.data_dir,
            encryption_key_file: opts.encryption_key_file,
            started: Instant::now(),
            ready: AtomicBool::new(true),
            resilience,
            telemetry: Arc::new(crate::telemetry::Telemetry::new()),
            budgets,
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
            &self.resilience,
        )
        .await?;
        self.logs.set_retention(retention(&next.settings));
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

/// The request log's retention from the settings.
fn retention(s: &GatewaySettings) -> omniroute_store::Retention {
    let positive = |n: i64| (n > 0).then_some(n);
    omniroute_store::Retention {
        max_rows: positive(s.request_log_retention),
        max_age_ms: positive(i64::from(s.request_log_max_age_days) * 86_400_000),
        max_bytes: positive((s.request_log_max_mb as i64).saturating_mul(1 << 20)),
        ..omniroute_store::Retention::default()
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
    res: &Resilience,
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
    let mut connection_names = HashMap::new();
    let all_connections = store.list_connections().await?;
    for c in all_connections {
        connection_names.insert(c.id.clone(), (c.provider.clone(), c.name.clone()));
        if !c.enabled {
            continue;
        }
        let Some(spec) = specs.iter().find(|s| s.id == c.provider) else {
            continue;
        };
        let base_url = c.base_url.unwrap_or_else(|| spec.base_url.clone());
        let health = res
            .registry
            .get_or_insert(&c.id, &resilience::health_config(&settings, &c.settings));
        // new credentials or a new URL: earlier failures say nothing about them
        if let Some(old) = prev
            .and_then(|p| p.connections.get(&c.provider))
            .and_then(|l| l.iter().find(|x| x.id == c.id))
        {
            let same_secret =
                old.secret.as_ref().map(|s| s.expose()) == c.secret.as_ref().map(|s| s.expose());
            if !same_secret || old.base_url != base_url {
                health.reset();
            }
        }
        connections
            .entry(c.provider.clone())
            .or_default()
            .push(Arc::new(LiveConnection {
                key: omniroute_routing::stable_key(&c.id),
                chat_url: chat_url(spec, &base_url),
                id: c.id,
                name: c.name,
                secret: c.secret,
                base_url,
                priority: c.priority,
                health,
            }));
    }
    // forget the health of deleted connections (implicit ones are re-created below)
    res.registry
        .retain(|id| connection_names.contains_key(id) || id.ends_with(":implicit"));
    // keyless custom nodes (local Ollama, llama.cpp...) work without an explicit connection
    for spec in specs
        .iter()
        .filter(|s| s.custom && s.auth == AuthStyle::None)
    {
        connections.entry(spec.id.clone()).or_insert_with(|| {
            let id = format!("{}:implicit", spec.id);
            let health = res.registry.get_or_insert(
                &id,
                &resilience::health_config(&settings, &serde_json::Value::Null),
            );
            connection_names.insert(id.clone(), (spec.id.clone(), "implicit".into()));
            vec![Arc::new(LiveConnection {
                key: omniroute_routing::stable_key(&id),
                id,
                name: "implicit".into(),
                secret: None,
                chat_url: chat_url(spec, &spec.base_url),
                base_url: spec.base_url.clone(),
                priority: 0,
                health,
            })]
        });
    }
    // the store lists connections by priority already; keep that order explicit
    for list in connections.values_mut() {
        list.sort_by_key(|c| c.priority);
    }

    let combos = store
        .list_combos()
        .await?
        .into_iter()
        .map(|c| ComboDef {
            strategy: c.strategy.parse::<Strategy>().ok(),
            name: c.name,
            enabled: c.enabled,
            models: c.models,
            weights: c.weights,
            sticky_limit: None,
        })
        .collect::<Vec<_>>();

    let all_keys = store.list_keys().await?;
    let admin_keys = all_keys
        .iter()
        .filter(|k| k.revoked_at.is_none() && k.kind == "admin")
        .map(|k| {
            (
                k.key_hash.clone(),
                (Arc::<str>::from(k.id.as_str()), k.expires_at),
            )
        })
        .collect();
    let keys = all_keys
        .into_iter()
        .filter(|k| k.revoked_at.is_none() && k.kind != "admin")
        .map(|k| {
            (
                k.key_hash,
                KeyInfo {
                    id: k.id.into(),
                    name: k.name.into(),
                    expires_at: k.expires_at,
                    models: k.models.map(Into::into),
                    rpm: k.rpm,
                },
            )
        })
        .collect();

    let http = match prev {
        Some(p) if p.settings.connect_timeout_ms == settings.connect_timeout_ms => p.http.clone(),
        _ => crate::upstream::client(Duration::from_millis(settings.connect_timeout_ms)),
    };
    let otel = crate::otel::Otel::endpoint_from(&settings.otel_endpoint).map(|url| {
        match prev
            .and_then(|p| p.otel.as_ref())
            .filter(|o| o.endpoint() == url)
        {
            Some(o) => o.clone(),
            None => crate::otel::Otel::spawn(url, http.clone()),
        }
    });
    let created = prev
        .map(|p| p.created)
        .unwrap_or_else(|| omniroute_store::now_ms() / 1000);

    let breaker_cfg = resilience::breaker_config(&settings);
    let provider_breakers = specs
        .iter()
        .map(|s| {
            (
                s.id.clone(),
                res.registry.provider_breaker(&s.id, breaker_cfg),
            )
        })
        .collect();
    let parse = |s: &str| s.parse::<Strategy>().unwrap_or_default();
    let default_account_strategy = parse(&settings.account_strategy);
    let account_strategy = settings
        .provider_strategies
        .iter()
        .map(|(p, s)| (p.clone(), parse(s)))
        .collect();
    let combo_strategy = parse(&settings.combo_strategy);
    let account_rotations = connections
        .keys()
        .map(|p| {
            (
                p.clone(),
                res.rotation(&format!("p:{p}"), settings.sticky_limit),
            )
        })
        .collect();
    let combo_rotations = combos
        .iter()
        .map(|c| {
            let sticky = c
                .sticky_limit
                .unwrap_or(omniroute_routing::strategy::DEFAULT_COMBO_STICKY);
            (
                c.name.clone(),
                res.rotation(&format!("c:{}", c.name), sticky),
            )
        })
        .collect();
    let combo_names: Vec<String> = combos
        .iter()
        .filter(|c| c.enabled)
        .map(|c| c.name.clone())
        .collect();
    let aliases = settings
        .model_aliases
        .iter()
        .map(|a| (a.pattern.clone(), a.target.clone()))
        .collect();
    let resolver = Resolver::new(specs, combos, &disabled)
        .with_aliases(aliases)
        .with_fallback(settings.fallback_models.clone());

    let cache_cfg = crate::cache::CacheConfig {
        max_entries: settings.cache_max_entries as usize,
        max_bytes: settings.cache_max_bytes as usize,
        ttl: Duration::from_millis(settings.cache_ttl_ms),
        max_semantic_entries: if settings.semantic_cache_enabled {
            settings.cache_max_entries as usize
        } else {
            0
        },
    };
    let cache = match prev {
        Some(p) if *p.cache.config() == cache_cfg => p.cache.clone(),
        _ => Arc::new(crate::cache::Cache::new(cache_cfg)),
    };
    let idempotency = match prev {
        Some(p) if p.settings.idempotency_window_ms == settings.idempotency_window_ms => {
            p.idempotency.clone()
        }
        _ => crate::idempotency::Idempotency::new(
            Duration::from_millis(settings.idempotency_window_ms),
            crate::idempotency::DEFAULT_MAX_ENTRIES,
            IDEMPOTENT_MAX_BYTES,
        ),
    };

    let usable = |p: &str| connections.get(p).is_some_and(|c| !c.is_empty());
    let mut combo_steps = HashMap::new();
    for name in combo_names {
        match resolver.expand(&name, usable) {
            Ok(exp) => {
                for sk in &exp.skipped {
                    tracing::warn!(combo = %name, step = %sk.step, reason = ?sk.reason, "combo step skipped");
                }
                combo_steps.insert(name, Arc::new(exp.steps));
            }
            Err(e) => tracing::warn!(combo = %name, error = %e, "combo does not resolve"),
        }
    }

    // the catalog's published prices, then the owner's entries over them
    let mut pricing: HashMap<String, omniroute_store::ModelPrice> = default_pricing()
        .iter()
        .map(|p| (p.model.clone(), p.clone()))
        .collect();
    pricing.extend(
        store
            .list_pricing()
            .await?
            .into_iter()
            .map(|p| (p.model.clone(), p)),
    );

    Ok(Snapshot {
        pricing,
        combo_steps,
        account_rotations,
        combo_rotations,
        cache,
        idempotency,
        idempotency_max_bytes: IDEMPOTENT_MAX_BYTES,
        otel,
        ip_rules: crate::ipfilter::IpRules::from_settings(&settings),
        guard: crate::guard::Guard::from_settings(&settings).map(Arc::new),
        admin_keys,
        resolver,
        provider_breakers,
        account_strategy,
        default_account_strategy,
        combo_strategy,
        connection_names,
        connections,
        keys,
        settings,
        http,
        created,
    })
}

/// The catalog's default prices as pricing entries (parsed once).
fn default_pricing() -> &'static [omniroute_store::ModelPrice] {
    static DEFAULTS: std::sync::OnceLock<Vec<omniroute_store::ModelPrice>> =
        std::sync::OnceLock::new();
    DEFAULTS.get_or_init(|| {
        omniroute_providers::default_prices()
            .into_iter()
            .map(|d| omniroute_store::ModelPrice {
                model: d.model,
                input_per_m: d.input,
                output_per_m: d.output,
                cached_input_per_m: d.cached_input,
                reasoning_per_m: d.reasoning,
                source: omniroute_store::SOURCE_DEFAULT.into(),
                reference: Some(d.source),
            })
            .collect()
    })
}

/// Sliding one-minute windows of request starts per gateway key (only keys with an `rpm`).
#[derive(Debug, Default)]
pub struct KeyRates {
    windows: std::sync::Mutex<HashMap<Arc<str>, std::collections::VecDeque<Instant>>>,
}

impl KeyRates {
    /// Admit one request of key `id` under `rpm`, or say how long until a slot frees.
    pub fn admit(&self, id: &Arc<str>, rpm: u32) -> Result<(), Duration> {
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        let Ok(mut w) = self.windows.lock() else {
            return Ok(());
        };
        let q = w.entry(id.clone()).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= minute) {
            q.pop_front();
        }
        if q.len() >= rpm as usize {
            let oldest = q.front().copied().unwrap_or(now);
            return Err(minute.saturating_sub(now.duration_since(oldest)));
        }
        q.push_back(now);
        Ok(())
    }
}
