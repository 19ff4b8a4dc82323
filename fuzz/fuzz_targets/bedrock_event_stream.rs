//! Fuzz target `bedrock_event_stream`: see `llm_gateway::fuzzing::bedrock_event_stream` for the input format and the contract.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| llm_gateway::fuzzing::bedrock_event_stream(data));
