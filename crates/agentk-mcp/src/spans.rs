//! Spans of returned content that try to steer the agent (guarantee **T2**). Being written.
