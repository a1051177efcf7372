//! Placeholder: the X API emulator lands here.
