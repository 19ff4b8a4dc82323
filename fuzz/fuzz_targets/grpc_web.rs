//! Fuzz target `grpc_web`: see `llm_gateway::fuzzing::grpc_web` for the input format and the contract.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| llm_gateway::fuzzing::grpc_web(data));
