//! Fuzz target `connect`: see `llm_gateway::fuzzing::connect` for the input format and the contract.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| llm_gateway::fuzzing::connect(data));
