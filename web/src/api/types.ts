// Shapes of the management API answers the pages read. Record types generated from the Rust
// structs live in ./gen (ts-rs); the list envelopes and the answers built ad hoc are here.

/** A provider as `GET /api/providers` lists it (generated from the Rust `ProviderView`). */
export type { ProviderView as ProviderInfo } from "./gen/ProviderView";
/** A credential or connection test's answer (generated from the Rust `TestResult`). */
export type { TestResult } from "./gen/TestResult";

/** A key just created or rotated, with its secret shown once (generated from the Rust `CreatedKey`). */
export type { CreatedKey } from "./gen/CreatedKey";
