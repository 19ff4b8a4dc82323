//! Fuzz target `upstream_sse`: see `llm_gateway::fuzzing::upstream_sse` for the input format and the contract.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| llm_gateway::fuzzing::upstream_sse(data));
