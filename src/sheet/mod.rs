//! The sheet side: pure grid parsing (`parse`), and later the Google client and write-back.

pub mod parse;
