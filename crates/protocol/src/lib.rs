//! Wire-level vocabulary shared by every crate: API formats, the gateway error type and its
//! rendering in each client format, the incremental SSE codec and usage extraction. No IO.

pub mod error;
pub mod format;
pub mod sse;
pub mod usage;

pub use error::{ApiError, ErrorKind};
pub use format::ApiFormat;
