//! Writing a coding tool's configuration file for the user (the dashboard's "write the config"
//! button, allowed only when the browser is on the gateway's own machine): the OmniRoute entries
//! are merged into the file the tool already has — its other settings kept — after a
//! timestamped backup of the old file. Claude Code, Codex CLI, Gemini CLI, OpenCode, OpenClaw
//! and Continue.

use serde::Serialize;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// A tool whose configuration file the gateway can write.
pub struct Tool {
    pub id: &'static str,
    pub name: &'static str,
    /// Relative to the home directory.
    pub path: &'static str,
}

pub const TOOLS: &[Tool] = &[
    Tool {
        id: "claude-code",
        name: "Claude Code",
        path: ".claude/settings.json",
    },
    Tool {
        id: "codex",
        name: "Codex CLI",
        path: ".codex/config.toml",
    },
    Tool {
        id: "gemini-cli",
        name: "Gemini CLI",
        path: ".gemini/.env",
    },
    Tool {
        id: "opencode",
        name: "OpenCode",
        path: ".config/opencode/opencode.json",
    },
    Tool {
        id: "openclaw",
        name: "OpenClaw",
        path: ".openclaw/openclaw.json",
    },
    Tool {
        id: "continue",
        name: "Continue",
        path: ".continue/config.yaml",
    },
];

/// What was written.
#[derive(Debug, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Applied {
    pub path: String,
    /// Where the previous file was copied, when there was one.
    pub backup: Option<String>,
}

/// The inputs of a configuration.
pub struct Settings<'a> {
    /// The gateway's root URL (`http://127.0.0.1:20128`).
    pub root: &'a str,
    pub key: &'a str,
    pub model: &'a str,
}

fn json_object(existing: Option<&str>, what: &str) -> Result<Map<String, Value>, String> {
    match existing.map(str::trim) {
        None | Some("") => Ok(Map::new()),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(format!("{what} is not a JSON object: left unchanged")),
            Err(e) => Err(format!("{what} is not valid JSON ({e}): left unchanged")),
        },
    }
}

/// `obj[key]` as an object, created (or replaced when it is not an object).
fn child<'a>(
    obj: &'a mut Map<String, Value>,
    key: &str,
) -> Result<&'a mut Map<String, Value>, String> {
    if !matches!(obj.get(key), Some(Value::Object(_))) {
        obj.insert(key.to_string(), Value::Object(Map::new()));
    }
    obj.get_mut(key)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| format!("`{key}` is not an object"))
}

fn pretty(v: Map<String, Value>) -> Result<String, String> {
    serde_json::to_string_pretty(&Value::Object(v))
        .map(|s| s + "\n")
        .map_err(|e| e.to_string())
}

/// The new content of `tool`'s file, given its current content.
pub fn merged(tool: &str, existing: Option<&str>, s: &Settings<'_>) -> Result<String, String> {
    let v1 = format!("{}/v1", s.root);
    match tool {
        "claude-code" => {
            let mut doc = json_object(existing, "~/.claude/settings.json")?;
            let env = child(&mut doc, "env")?;
            env.insert("ANTHROPIC_BASE_URL".into(), json!(s.root));
            env.insert("ANTHROPIC_AUTH_TOKEN".into(), json!(s.key));
            if !s.model.is_empty() {
                env.insert("ANTHROPIC_MODEL".into(), json!(s.model));
            }
            pretty(doc)
        }
        "codex" => {
            let mut doc: toml_edit::DocumentMut = existing.unwrap_or("").parse().map_err(|e| {
                format!("~/.codex/config.toml is not valid TOML ({e}): left unchanged")
            })?;
            if !s.model.is_empty() {
                doc["model"] = toml_edit::value(s.model);
            }
            doc["model_provider"] = toml_edit::value("omniroute");
            if !doc.contains_table("model_providers") {
                let mut t = toml_edit::Table::new();
                t.set_implicit(true);
                doc["model_providers"] = toml_edit::Item::Table(t);
            }
            let mut p = toml_edit::Table::new();
            p["name"] = toml_edit::value("OmniRoute");
            p["base_url"] = toml_edit::value(v1);
            p["env_key"] = toml_edit::value("OMNIROUTE_API_KEY");
            p["wire_api"] = toml_edit::value("responses");
            doc["model_providers"]["omniroute"] = toml_edit::Item::Table(p);
            Ok(doc.to_string())
        }
        "gemini-cli" => {
            let set = [
                ("GOOGLE_GEMINI_BASE_URL", s.root),
                ("GEMINI_API_KEY", s.key),
                ("GEMINI_MODEL", s.model),
            ];
            let mut out: Vec<String> = Vec::new();
            let mut done = [false; 3];
            for line in existing.unwrap_or("").lines() {
                let name = line
                    .trim_start()
                    .trim_start_matches("export ")
                    .split('=')
                    .next()
                    .unwrap_or("")
                    .trim();
                match set.iter().position(|(k, _)| *k == name) {
                    Some(i) => {
                        done[i] = true;
                        if !set[i].1.is_empty() {
                            out.push(format!("{}={}", set[i].0, set[i].1));
                        }
                    }
                    None => out.push(line.to_string()),
                }
            }
            for (i, (k, v)) in set.iter().enumerate() {
                if !done[i] && !v.is_empty() {
                    out.push(format!("{k}={v}"));
                }
            }
            Ok(out.join("\n") + "\n")
        }
        "opencode" => {
            let mut doc = json_object(existing, "~/.config/opencode/opencode.json")?;
            doc.entry("$schema".to_string())
                .or_insert_with(|| json!("https://opencode.ai/config.json"));
            let mut models = Map::new();
            if !s.model.is_empty() {
                models.insert(s.model.into(), json!({"name": s.model}));
            }
            child(&mut doc, "provider")?.insert(
                "omniroute".into(),
                json!({"npm": "@ai-sdk/openai-compatible", "name": "OmniRoute",
                       "options": {"baseURL": v1, "apiKey": s.key}, "models": models}),
            );
            if !s.model.is_empty() {
                doc.insert("model".into(), json!(format!("omniroute/{}", s.model)));
            }
            pretty(doc)
        }
        "openclaw" => {
            let mut doc = json_object(existing, "~/.openclaw/openclaw.json")?;
            let models: Vec<Value> = if s.model.is_empty() {
                Vec::new()
            } else {
                vec![json!({"id": s.model, "name": s.model})]
            };
            child(child(&mut doc, "models")?, "providers")?.insert(
                "omniroute".into(),
                json!({"baseUrl": v1, "apiKey": s.key, "api": "openai-completions", "models": models}),
            );
            if !s.model.is_empty() {
                let defaults = child(child(&mut doc, "agents")?, "defaults")?;
                child(defaults, "model")?
                    .insert("primary".into(), json!(format!("omniroute/{}", s.model)));
            }
            pretty(doc)
        }
        "continue" => {
            let mut doc: serde_yaml_ng::Value = match existing.map(str::trim) {
                None | Some("") => {
                    serde_yaml_ng::from_str("name: OmniRoute\nversion: 1.0.0\nschema: v1\n")
                        .map_err(|e| e.to_string())?
                }
                Some(text) => serde_yaml_ng::from_str(text).map_err(|e| {
                    format!("~/.continue/config.yaml is not valid YAML ({e}): left unchanged")
                })?,
            };
            let Some(map) = doc.as_mapping_mut() else {
                return Err("~/.continue/config.yaml is not a mapping: left unchanged".into());
            };
            let name = format!(
                "{} (OmniRoute)",
                if s.model.is_empty() {
                    "default"
                } else {
                    s.model
                }
            );
            let entry: serde_yaml_ng::Value = serde_yaml_ng::to_value(json!({
                "name": name, "provider": "openai", "model": if s.model.is_empty() { "default" } else { s.model },
                "apiBase": v1, "apiKey": s.key, "roles": ["chat", "edit", "apply"],
            }))
            .map_err(|e| e.to_string())?;
            let models = map
                .entry("models".into())
                .or_insert_with(|| serde_yaml_ng::Value::Sequence(Vec::new()));
            if !models.is_sequence() {
                *models = serde_yaml_ng::Value::Sequence(Vec::new());
            }
            if let Some(seq) = models.as_sequence_mut() {
                // replace this gateway's earlier entries, keep every other model
                seq.retain(|m| m.get("apiBase").and_then(|v| v.as_str()) != Some(v1.as_str()));
                seq.push(entry);
            }
            serde_yaml_ng::to_string(&doc).map_err(|e| e.to_string())
        }
        other => Err(format!("unknown tool `{other}`")),
    }
}

/// Merge the configuration into `home/<tool path>`, backing up the old file first. The file is
/// written to a temporary name and renamed (never half-written), mode 0600 (it holds the key).
pub fn apply(home: &Path, tool: &str, s: &Settings<'_>) -> Result<Applied, String> {
    let t = TOOLS
        .iter()
        .find(|t| t.id == tool)
        .ok_or_else(|| format!("unknown tool `{tool}`"))?;
    let path: PathBuf = home.join(t.path);
    let existing = match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let content = merged(tool, existing.as_deref(), s)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let backup = match &existing {
        Some(old) => {
            let stamp = omniroute_store::now_ms();
            let b = PathBuf::from(format!("{}.omniroute-backup-{stamp}", path.display()));
            write_private(&b, old.as_bytes())?;
            Some(b.display().to_string())
        }
        None => None,
    };
    let tmp = PathBuf::from(format!("{}.omniroute-tmp", path.display()));
    write_private(&tmp, content.as_bytes())?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(Applied {
        path: path.display().to_string(),
        backup,
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    crate::auth::write_private(path, bytes, true)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The user's home directory (where the tools keep their configuration).
pub fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Settings<'static> = Settings {
        root: "http://127.0.0.1:20128",
        key: "sk-omni-test",
        model: "cc/claude-sonnet-4-5",
    };

    #[test]
    fn merges_keep_the_users_other_settings() {
        let claude = merged(
            "claude-code",
            Some(r#"{"permissions": {"allow": ["Bash"]}, "env": {"FOO": "1"}}"#),
            &S,
        )
        .unwrap();
        let v: Value = serde_json::from_str(&claude).unwrap();
        assert_eq!(v["permissions"]["allow"][0], "Bash");
        assert_eq!(v["env"]["FOO"], "1");
        assert_eq!(v["env"]["ANTHROPIC_BASE_URL"], "http://127.0.0.1:20128");
        assert_eq!(v["env"]["ANTHROPIC_AUTH_TOKEN"], "sk-omni-test");

        let codex = merged(
            "codex",
            Some("# my settings\napproval_policy = \"never\"\n\n[model_providers.other]\nname = \"x\"\n"),
            &S,
        )
        .unwrap();
        assert!(codex.contains("# my settings"), "comments survive: {codex}");
        let t: toml::Value = toml::from_str(&codex).unwrap();
        assert_eq!(t["approval_policy"].as_str(), Some("never"));
        assert_eq!(t["model_provider"].as_str(), Some("omniroute"));
        assert_eq!(t["model"].as_str(), Some("cc/claude-sonnet-4-5"));
        assert_eq!(
            t["model_providers"]["omniroute"]["base_url"].as_str(),
            Some("http://127.0.0.1:20128/v1")
        );
        assert_eq!(t["model_providers"]["other"]["name"].as_str(), Some("x"));

        let env = merged(
            "gemini-cli",
            Some("# keep\nGEMINI_API_KEY=old\nOTHER=1\n"),
            &S,
        )
        .unwrap();
        assert_eq!(
            env,
            "# keep\nGEMINI_API_KEY=sk-omni-test\nOTHER=1\nGOOGLE_GEMINI_BASE_URL=http://127.0.0.1:20128\nGEMINI_MODEL=cc/claude-sonnet-4-5\n"
        );

        let oc = merged("opencode", Some(r#"{"theme": "dark"}"#), &S).unwrap();
        let v: Value = serde_json::from_str(&oc).unwrap();
        assert_eq!(v["theme"], "dark");
        assert_eq!(
            v["provider"]["omniroute"]["options"]["baseURL"],
            "http://127.0.0.1:20128/v1"
        );
        assert_eq!(v["model"], "omniroute/cc/claude-sonnet-4-5");

        let claw = merged("openclaw", None, &S).unwrap();
        let v: Value = serde_json::from_str(&claw).unwrap();
        assert_eq!(
            v["models"]["providers"]["omniroute"]["api"],
            "openai-completions"
        );
        assert_eq!(
            v["agents"]["defaults"]["model"]["primary"],
            "omniroute/cc/claude-sonnet-4-5"
        );

        let cont = merged(
            "continue",
            Some("name: mine\nmodels:\n  - name: local\n    provider: ollama\n    model: llama3\n"),
            &S,
        )
        .unwrap();
        let y: serde_yaml_ng::Value = serde_yaml_ng::from_str(&cont).unwrap();
        let models = y["models"].as_sequence().unwrap();
        assert_eq!(models.len(), 2, "{cont}");
        assert_eq!(models[0]["provider"].as_str(), Some("ollama"));
        assert_eq!(
            models[1]["apiBase"].as_str(),
            Some("http://127.0.0.1:20128/v1")
        );
        // applying again replaces this gateway's entry instead of adding one
        let again = merged("continue", Some(&cont), &S).unwrap();
        let y: serde_yaml_ng::Value = serde_yaml_ng::from_str(&again).unwrap();
        assert_eq!(y["models"].as_sequence().unwrap().len(), 2);
    }

    #[test]
    fn a_broken_file_is_left_alone() {
        for (tool, text) in [
            ("claude-code", "{not json"),
            ("opencode", "[1, 2]"),
            ("codex", "model = "),
            ("continue", "- a\n- b\n"),
        ] {
            assert!(merged(tool, Some(text), &S).is_err(), "{tool}");
        }
        assert!(merged("vim", None, &S).is_err());
    }

    #[test]
    fn apply_backs_up_and_writes_privately() {
        let home = tempfile::tempdir().unwrap();
        let first = apply(home.path(), "claude-code", &S).unwrap();
        assert!(first.backup.is_none());
        let second = apply(home.path(), "claude-code", &S).unwrap();
        let backup = second.backup.expect("the old file is kept");
        assert!(std::path::Path::new(&backup).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&second.path)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(&second.path).unwrap()).unwrap();
        assert_eq!(v["env"]["ANTHROPIC_AUTH_TOKEN"], "sk-omni-test");
    }
}
