//! The sheet side: pure grid parsing (`parse`), the Google client (`google`), and later write-back.

pub mod google;
pub mod parse;
