//! Store behaviour against a real SQLite file: CRUD, persistence across reopen, secrets at rest.
#![allow(clippy::unwrap_used)]

use omniroute_store::*;
use serde_json::json;

async fn open(dir: &std::path::Path) -> Store {
    let cipher = Cipher::load_or_create(None, &dir.join("secret.key")).unwrap();
    Store::open(&dir.join("omniroute.db"), cipher)
        .await
        .unwrap()
}

fn conn(name: &str, key: &str) -> ConnectionInput {
    ConnectionInput {
        provider: "openai".into(),
        name: name.into(),
        priority: 1,
        enabled: true,
        secret: Some(Secret::new(key)),
        base_url: None,
        settings: json!({"org": "x"}),
    }
}

#[tokio::test]
async fn secrets_are_never_stored_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let provider_secret = "sk-PLAINTEXT-provider-secret-0123456789";
    store
        .create_connection(conn("main", provider_secret), SOURCE_API)
        .await
        .unwrap();
    let (_, gateway_key) = store.create_key("laptop").await.unwrap();
    let imported = "sk-or-IMPORTED-key-value-abcdefghijkl";
    store
        .import_key("ci", imported, SOURCE_CONFIG)
        .await
        .unwrap();
    store.close().await;

    let mut haystack = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("omniroute.db")
        {
            // SQLite's worker may remove the -wal/-shm files right after close(): a file that
            // vanished between listing and reading holds nothing
            match std::fs::read(&p) {
                Ok(bytes) => haystack.extend(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("{}: {e}", p.display()),
            }
        }
    }
    assert!(haystack.len() > 4096, "database files were not read");
    for needle in [provider_secret, gateway_key.expose(), imported] {
        assert!(
            !haystack
                .windows(needle.len())
                .any(|w| w == needle.as_bytes()),
            "plaintext secret found in database file"
        );
    }
    // and it still decrypts after reopening
    let store = open(dir.path()).await;
    let c = store.list_connections().await.unwrap();
    assert_eq!(c[0].secret.as_ref().unwrap().expose(), provider_secret);
}

#[tokio::test]
async fn crud_and_persistence() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let a = store
        .create_connection(conn("a", "sk-aaaaaaaaaaaa"), SOURCE_API)
        .await
        .unwrap();
    assert!(matches!(
        store.create_connection(conn("a", "sk-b"), SOURCE_API).await,
        Err(StoreError::Conflict(_))
    ));
    let patched = store
        .update_connection(
            &a.id,
            ConnectionPatch {
                enabled: Some(false),
                priority: Some(5),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!patched.enabled);
    assert_eq!(patched.priority, 5);
    assert_eq!(
        patched.secret.as_ref().unwrap().expose(),
        "sk-aaaaaaaaaaaa",
        "secret kept when not patched"
    );

    store
        .upsert_node(&ProviderNode {
            id: "ollama".into(),
            prefix: "ollama".into(),
            name: "Ollama".into(),
            format: "openai".into(),
            base_url: "http://127.0.0.1:11434/v1".into(),
            auth: "none".into(),
            headers: json!({}),
            source: SOURCE_API.into(),
        })
        .await
        .unwrap();
    store
        .upsert_model(&ProviderModel {
            provider: "openai".into(),
            model: "gpt-x".into(),
            kind: "chat".into(),
            source: SOURCE_API.into(),
        })
        .await
        .unwrap();
    let combo = store
        .upsert_combo(&Combo {
            id: String::new(),
            name: "fast".into(),
            strategy: "priority".into(),
            enabled: true,
            models: vec!["openai/gpt-x".into()],
            weights: vec![3],
            source: SOURCE_API.into(),
        })
        .await
        .unwrap();
    store
        .set_setting("require_api_key", &json!(true), SOURCE_API)
        .await
        .unwrap();
    let (key, _) = store.create_key("k").await.unwrap();
    store.revoke_key(&key.id).await.unwrap();
    assert!(matches!(
        store.revoke_key(&key.id).await,
        Err(StoreError::NotFound(_))
    ));
    store
        .insert_logs(&[RequestLog {
            request_id: "r1".into(),
            method: "POST".into(),
            path: "/v1/chat/completions".into(),
            status: 200,
            ..Default::default()
        }])
        .await
        .unwrap();
    store.close().await;

    let store = open(dir.path()).await;
    assert_eq!(store.list_connections().await.unwrap().len(), 1);
    assert_eq!(store.list_nodes().await.unwrap()[0].prefix, "ollama");
    assert_eq!(store.list_models().await.unwrap()[0].model, "gpt-x");
    assert_eq!(
        store.get_combo(&combo.id).await.unwrap().models,
        vec!["openai/gpt-x"]
    );
    assert_eq!(store.get_combo(&combo.id).await.unwrap().weights, vec![3]);
    store
        .set_runtime_state("resilience", &json!({"breakers": [1]}))
        .await
        .unwrap();
    assert_eq!(
        store.runtime_state("resilience").await.unwrap(),
        Some(json!({"breakers": [1]}))
    );
    assert_eq!(store.runtime_state("nope").await.unwrap(), None);
    assert_eq!(
        store.settings().await.unwrap()["require_api_key"].0,
        json!(true)
    );
    let keys = store.list_keys().await.unwrap();
    assert!(keys[0].revoked_at.is_some());
    assert!(keys[0].masked.starts_with("sk-or-"));
    assert_eq!(store.recent_logs(10).await.unwrap()[0].request_id, "r1");
    store.delete_connection(&a.id).await.unwrap();
    assert!(matches!(
        store.delete_connection(&a.id).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn log_writer_flushes_on_drop_and_prunes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (writer, handle) = LogWriter::spawn(store.clone(), 4096, 1500);
    for i in 0..2100 {
        writer.log(RequestLog {
            request_id: format!("r{i}"),
            ts: omniroute_store::now_ms(),
            status: 200,
            ..Default::default()
        });
    }
    assert_eq!(writer.dropped(), 0);
    drop(writer);
    handle.await.unwrap();
    let rows = store.recent_logs(5000).await.unwrap();
    assert_eq!(rows[0].request_id, "r2099", "last row flushed on shutdown");
    assert!(
        rows.len() <= 1600,
        "pruning did not run: {} rows",
        rows.len()
    );
}

#[tokio::test]
async fn encryption_key_rotation_and_crash_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("secret.key");
    let store = open(dir.path()).await;
    for (n, k) in [("a", "sk-aaaaaaaaaaaaaaaa"), ("b", "sk-bbbbbbbbbbbbbbbb")] {
        store
            .create_connection(conn(n, k), SOURCE_API)
            .await
            .unwrap();
    }
    let before = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(store.rotate_encryption_key(&key_file).await.unwrap(), 2);
    let after = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(before, after, "a new key in the file");
    assert!(!dir.path().join("secret.key.next").exists());
    // the secrets read back with the new key, now and after reopening with the file
    let secrets = |s: Vec<Connection>| -> Vec<String> {
        s.iter()
            .map(|c| c.secret.as_ref().unwrap().expose().to_string())
            .collect()
    };
    assert_eq!(
        secrets(store.list_connections().await.unwrap()),
        ["sk-aaaaaaaaaaaaaaaa", "sk-bbbbbbbbbbbbbbbb"]
    );
    store.close().await;
    let store = open(dir.path()).await;
    assert_eq!(secrets(store.list_connections().await.unwrap()).len(), 2);
    // the old key opens nothing any more
    let old = Cipher::from_key(&Cipher::parse_key(&before).unwrap());
    let enc: Vec<String> = store
        .list_connections()
        .await
        .unwrap()
        .iter()
        .map(|c| {
            store
                .cipher()
                .encrypt(c.secret.as_ref().unwrap().expose())
                .unwrap()
        })
        .collect();
    assert!(enc.iter().all(|e| old.decrypt(e).is_err()));

    // a crash after the new key file was written but before the secrets were: the stale
    // `.next` is discarded and the key stays
    let next = dir.path().join("secret.key.next");
    std::fs::write(&next, "11".repeat(32)).unwrap();
    assert!(!store.recover_key_rotation(&key_file).await.unwrap());
    assert!(!next.exists());
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), after);

    // a crash after the secrets were rewritten but before the rename: the next key is taken
    for c in store.list_connections().await.unwrap() {
        store.delete_connection(&c.id).await.unwrap();
    }
    store.close().await;
    let raw = [7u8; 32];
    let plain = "sk-cccccccccccccccc";
    // the database under the next key: written through a store opened with it
    std::fs::write(&key_file, hex_of(&raw)).unwrap();
    let under_next = open(dir.path()).await;
    under_next
        .create_connection(conn("c", plain), SOURCE_API)
        .await
        .unwrap();
    under_next.close().await;
    std::fs::write(&key_file, &after).unwrap();
    std::fs::write(&next, hex_of(&raw)).unwrap();
    let store = open(dir.path()).await;
    assert!(store.recover_key_rotation(&key_file).await.unwrap());
    assert!(!next.exists());
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), hex_of(&raw));
    let c = store.list_connections().await.unwrap();
    assert_eq!(c[0].secret.as_ref().unwrap().expose(), plain);
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
