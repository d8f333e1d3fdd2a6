//! The sheet side: pure grid parsing (`parse`), the Google client (`google`), write-back
//! of statuses and pulled values (`writeback`), and the catalog `pull` writes (`catalog`).

pub mod catalog;
pub mod google;
pub mod parse;
pub mod writeback;
