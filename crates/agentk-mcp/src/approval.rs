//! Signed, scoped, expiring, use-counted human approvals of one exact action (guarantee **T5**).
//! Being written.
