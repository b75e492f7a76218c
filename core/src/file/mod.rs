//! Model file readers: `.minke` (safetensors), GGUF and Hugging Face folders.

pub mod gguf;
