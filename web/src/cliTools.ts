// What each supported coding tool needs to use OmniRoute: the file (or settings screen) and the
// exact content, for a base URL, a gateway key and a model.

export interface ToolConfig {
  id: string;
  name: string;
  /** where the content goes: a file path under the user's home, or a settings screen */
  target: string;
  /** `file`: the gateway can write it (when it runs on the user's machine); `ui`: paste by hand */
  kind: "file" | "ui" | "env";
  language: "json" | "toml" | "yaml" | "sh" | "text";
  content: string;
}

export interface ToolInput {
  /** the gateway's root, e.g. http://localhost:20128 */
  root: string;
  key: string;
  model: string;
}

const json = (v: unknown) => JSON.stringify(v, null, 2);

export function toolConfigs({ root, key, model }: ToolInput): ToolConfig[] {
  const v1 = `${root}/v1`;
  const k = key || "<your gateway key>";
  const m = model || "<model>";
  return [
    {
      id: "claude-code",
      name: "Claude Code",
      target: "~/.claude/settings.json",
      kind: "file",
      language: "json",
      content: json({ env: { ANTHROPIC_BASE_URL: root, ANTHROPIC_AUTH_TOKEN: k, ANTHROPIC_MODEL: m } }),
    },
    {
      id: "codex",
      name: "Codex CLI",
      target: "~/.codex/config.toml",
      kind: "file",
      language: "toml",
      content: `model = "${m}"\nmodel_provider = "omniroute"\n\n[model_providers.omniroute]\nname = "OmniRoute"\nbase_url = "${v1}"\nenv_key = "OMNIROUTE_API_KEY"\nwire_api = "responses"\n\n# and in your shell: export OMNIROUTE_API_KEY=${k}\n`,
    },
    {
      id: "gemini-cli",
      name: "Gemini CLI",
      target: "~/.gemini/.env",
      kind: "file",
      language: "sh",
      content: `GOOGLE_GEMINI_BASE_URL=${root}\nGEMINI_API_KEY=${k}\nGEMINI_MODEL=${m}\n`,
    },
    {
      id: "opencode",
      name: "OpenCode",
      target: "~/.config/opencode/opencode.json",
      kind: "file",
      language: "json",
      content: json({
        $schema: "https://opencode.ai/config.json",
        provider: {
          omniroute: {
            npm: "@ai-sdk/openai-compatible",
            name: "OmniRoute",
            options: { baseURL: v1, apiKey: k },
            models: { [m]: { name: m } },
          },
        },
        model: `omniroute/${m}`,
      }),
    },
    {
      id: "openclaw",
      name: "OpenClaw",
      target: "~/.openclaw/openclaw.json",
      kind: "file",
      language: "json",
      content: json({
        models: {
          providers: {
            omniroute: { baseUrl: v1, apiKey: k, api: "openai-completions", models: [{ id: m, name: m }] },
          },
        },
        agents: { defaults: { model: { primary: `omniroute/${m}` } } },
      }),
    },
    {
      id: "continue",
      name: "Continue",
      target: "~/.continue/config.yaml",
      kind: "file",
      language: "yaml",
      content: `name: OmniRoute\nversion: 1.0.0\nschema: v1\nmodels:\n  - name: ${m} (OmniRoute)\n    provider: openai\n    model: ${m}\n    apiBase: ${v1}\n    apiKey: ${k}\n    roles: [chat, edit, apply]\n`,
    },
    {
      id: "vscode-copilot",
      name: "VS Code Copilot",
      target: "chatLanguageModels.json",
      kind: "ui",
      language: "json",
      content: json([
        {
          name: "OmniRoute",
          vendor: "customoai",
          apiKey: k,
          models: [{ id: m, name: m, url: `${v1}/chat/completions`, toolCalling: true, vision: false, maxInputTokens: 128000, maxOutputTokens: 16000 }],
        },
      ]),
    },
    {
      id: "cline",
      name: "Cline",
      target: "Cline → Settings → API Provider: OpenAI Compatible",
      kind: "ui",
      language: "text",
      content: `Base URL: ${v1}\nAPI Key: ${k}\nModel ID: ${m}\n`,
    },
    {
      id: "kilo-code",
      name: "Kilo Code",
      target: "Kilo Code → Settings → API Provider: OpenAI Compatible",
      kind: "ui",
      language: "text",
      content: `Base URL: ${v1}\nAPI Key: ${k}\nModel: ${m}\n`,
    },
    {
      id: "cursor",
      name: "Cursor",
      target: "Cursor → Settings → Models → OpenAI API Key",
      kind: "ui",
      language: "text",
      content: `OpenAI API Key: ${k}\nOverride OpenAI Base URL: ${v1}\nAdd model: ${m}\n`,
    },
  ];
}
