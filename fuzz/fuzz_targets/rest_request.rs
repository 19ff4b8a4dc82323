//! Fuzz target `rest_request`: see `llm_gateway::fuzzing::rest_request` for the input format and the contract.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| llm_gateway::fuzzing::rest_request(data));
