// Shapes of the management API answers the pages read. Record types generated from the Rust
// structs live in ./gen (ts-rs); the list envelopes and the answers built ad hoc are here.

export interface ProviderInfo {
  id: string;
  alias: string;
  name: string;
  format: string;
  base_url: string;
  auth: string;
  custom: boolean;
  enabled: boolean;
  connections: number;
  models: number;
  website?: string | null;
}

export interface TestResult {
  ok: boolean;
  method: string;
  status?: number;
  models?: number | null;
  error?: string;
  latency_ms: number;
}

export interface CreatedKey {
  id: string;
  name: string;
  key: string;
  prefix?: string;
}
