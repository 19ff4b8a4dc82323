//! Fuzz target `config`: see `llm_gateway::fuzzing::config` for the input format and the contract.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| llm_gateway::fuzzing::config(data));
