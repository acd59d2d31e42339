//! Benchmarks of SecMX, each measured next to an anchor in the same run.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
