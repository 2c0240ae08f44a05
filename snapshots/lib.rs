//! Placeholder library so that the workspace root is a package and
//! `cargo insta` can find the snapshots stored beside this file.
