//! What a controller module imports: `use wharf_sdk::prelude::*;`.

pub use crate::backend::{EventType, ListParams};
pub use crate::context::{Context, Patch};
pub use crate::controller::{Action, Controller, Registration, Wakes};
pub use crate::error::Error;
pub use crate::owner::{controller_of, is_controlled_by, owner_reference};
pub use crate::selector::Selector;
pub use crate::serde_json;
