#![cfg_attr(not(feature = "std"), no_std)]
//! Placeholder: the runtime is being written.
