//! Pickle.
