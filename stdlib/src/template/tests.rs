//! Unit tests of `std::template` with a fake host.
