//! Context (being written).
