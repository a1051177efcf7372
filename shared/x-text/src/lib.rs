//! Placeholder: X's weighted length counter lands here.
