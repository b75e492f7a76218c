//! GGUF reader (filled in by the GGUF work).
