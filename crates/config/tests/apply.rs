//! Applying config files to a real store: idempotence, reconciliation, env references, refusal.
#![allow(clippy::unwrap_used)]

use omniroute_config::{apply, parse, Format};
use omniroute_providers::Catalog;
use omniroute_store::{Cipher, ConnectionInput, Store, SOURCE_API};

async fn store(dir: &std::path::Path) -> Store {
    Store::open(&dir.join("db.sqlite"), Cipher::from_key(&[3u8; 32]))
        .await
        .unwrap()
}

fn env(var: &str) -> Option<String> {
    match var {
        "OPENAI_API_KEY" => Some("sk-openai-from-env-123456".into()),
        "DEEPSEEK_API_KEY" | "OPENROUTER_API_KEY" | "CORP_LLM_KEY" => Some(format!("{var}-value")),
        "OMNIROUTE_KEY_LAPTOP" => Some("sk-or-laptop-key-0123456789".into()),
        _ => None,
    }
}

#[tokio::test]
async fn example_applies_idempotently_and_reconciles() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path()).await;
    let catalog = Catalog::builtin().unwrap();
    let cfg = parse(
        include_str!("../../../omniroute.example.toml"),
        Format::Toml,
    )
    .unwrap();

    // a connection created through the API must survive every apply
    s.create_connection(
        ConnectionInput {
            provider: "groq".into(),
            name: "ui".into(),
            enabled: true,
            ..Default::default()
        },
        SOURCE_API,
    )
    .await
    .unwrap();

    let first = apply(&cfg, &s, &catalog, &env).await.unwrap();
    assert_eq!(
        first.connections, 4,
        "3 connections + the keyed node's default connection (the keyless node gets an implicit one at run time)"
    );
    let snapshot = |s: Store| async move {
        let mut conns: Vec<_> = s
            .list_connections()
            .await
            .unwrap()
            .into_iter()
            .map(|c| {
                (
                    c.id,
                    c.provider,
                    c.name,
                    c.secret.map(|x| x.expose().to_string()),
                )
            })
            .collect();
        conns.sort();
        (
            conns,
            s.list_nodes().await.unwrap(),
            s.list_models().await.unwrap(),
            s.list_combos().await.unwrap(),
            s.list_keys().await.unwrap(),
        )
    };
    let before = snapshot(s.clone()).await;
    let second = apply(&cfg, &s, &catalog, &env).await.unwrap();
    assert_eq!(second.removed, 0);
    assert_eq!(
        snapshot(s.clone()).await,
        before,
        "a second apply changes nothing (ids included)"
    );

    let openai = before.0.iter().find(|c| c.1 == "openai").unwrap();
    assert_eq!(openai.3.as_deref(), Some("sk-openai-from-env-123456"));
    assert_eq!(
        before.0.iter().find(|c| c.1 == "deepseek").unwrap().2,
        "personal",
        "alias `ds` stored as id"
    );

    // remove a connection, a node and the key from the file: they disappear, the UI row stays
    let mut smaller = cfg.clone();
    smaller.connections.retain(|c| c.name != "fallback");
    smaller.nodes.retain(|n| n.id != "corp-claude");
    smaller.keys.clear();
    let third = apply(&smaller, &s, &catalog, &env).await.unwrap();
    assert!(third.removed >= 4, "{third:?}");
    let conns = s.list_connections().await.unwrap();
    assert!(conns.iter().any(|c| c.provider == "groq" && c.name == "ui"));
    assert!(!conns.iter().any(|c| c.name == "fallback"));
    assert!(!conns.iter().any(|c| c.provider == "corp-claude"));
    assert!(s.list_keys().await.unwrap().is_empty());
    assert!(!s
        .list_models()
        .await
        .unwrap()
        .iter()
        .any(|m| m.provider == "corp-claude"));
}

#[tokio::test]
async fn invalid_entries_are_refused_before_any_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path()).await;
    let catalog = Catalog::builtin().unwrap();
    let cases = [
        (
            "[[connections]]\nprovider='nope'\nname='a'\n",
            "connections[0].provider",
        ),
        (
            "[[connections]]\nprovider='openai'\nname='a'\napi_key='env:MISSING_VAR'\n",
            "connections[0].api_key",
        ),
        (
            "[[nodes]]\nid='x'\nformat='soap'\nbase_url='http://h'\n",
            "nodes[0].format",
        ),
        (
            "[[nodes]]\nid='x'\nformat='openai'\nbase_url='ftp://h'\n",
            "nodes[0].base_url",
        ),
        (
            "[[nodes]]\nid='openai'\nformat='openai'\nbase_url='http://h'\n",
            "nodes[0]",
        ),
        ("[[combos]]\nname='c'\nmodels=[]\n", "combos[0].models"),
        (
            "[[combos]]\nname='c'\nmodels=['a/b']\nstrategy='yolo'\n",
            "combos[0].strategy",
        ),
        ("[[keys]]\nname='k'\nkey='short'\n", "keys[0].key"),
        (
            "[[models]]\nprovider='openai'\nid='m'\ntype='hologram'\n",
            "models[0].type",
        ),
        ("[providers.nope]\nenabled=false\n", "providers.nope"),
        ("[settings]\nmax_body_bytes=-5\n", "settings.max_body_bytes"),
    ];
    for (text, path) in cases {
        let err = match parse(text, Format::Toml) {
            Err(e) => e.to_string(),
            Ok(cfg) => apply(&cfg, &s, &catalog, &env)
                .await
                .unwrap_err()
                .to_string(),
        };
        assert!(
            err.starts_with(path),
            "expected error at {path}, got: {err}"
        );
    }
    assert!(s.list_connections().await.unwrap().is_empty());
    assert!(s.list_nodes().await.unwrap().is_empty());
}
