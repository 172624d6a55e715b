//! Tests of the window operators: hand-made cases and brute-force oracles.

mod oracle;
mod oracle_tests;
mod unit_tests;
