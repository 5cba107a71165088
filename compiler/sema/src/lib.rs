//! kdep's semantic layer: salsa database, module index, name resolution, types, template permissions.

pub mod duration;
pub mod quantity;
