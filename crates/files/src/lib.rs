//! Ferry's file connectors (in progress): local paths and mounted shares, WebDAV, SFTP and S3, each
//! implementing [`ferry_core::file::FileConnector`].

pub mod config;
pub mod fs;
pub mod s3;
pub mod sftp;
pub mod webdav;
