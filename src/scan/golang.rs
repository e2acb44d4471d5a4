//! Go binaries' build info (the `debug/buildinfo` format): a 32-byte header starting
//! `\xff Go buildinf:`, its pointer size and flags, then (Go 1.18 and later, flag
//! `2`) the Go version and the module info as varint-length-prefixed strings. Module
//! info lines are `path`, `mod` (the main module), `dep` and `=>` (the replacement of
//! the `dep` before it). Earlier binaries keep pointers instead: noted, not read.

use std::io::{self, Read};

use super::{Ecosystem, Package};

const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER: usize = 32;
const FLAG_INLINE: u8 = 2;
/// How much follows the magic at most: the header and both strings.
const MAX_INFO: usize = 1024 * 1024;
const CHUNK: usize = 64 * 1024;

const EXECUTABLE_MAGICS: [&[u8]; 6] = [
    b"\x7fELF",
    b"MZ",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
];

/// Streams an executable's bytes and keeps its build info section (`None`: not an
/// executable format, or no build info), holding at most a chunk plus the section.
pub(crate) fn extract(r: &mut dyn Read) -> io::Result<Option<Vec<u8>>> {
    let mut window = Vec::with_capacity(CHUNK + MAGIC.len());
    let mut chunk = vec![0u8; CHUNK];
    fill(r, &mut window, &mut chunk, 4)?;
    if !EXECUTABLE_MAGICS.iter().any(|m| window.starts_with(m)) {
        return Ok(None);
    }
    loop {
        if let Some(at) = find(&window, MAGIC) {
            window.drain(..at);
            fill(r, &mut window, &mut chunk, MAX_INFO)?;
            window.truncate(MAX_INFO);
            return Ok(Some(window));
        }
        // Keep a possible start of the magic across the chunk boundary.
        let keep = window.len().min(MAGIC.len() - 1);
        window.drain(..window.len() - keep);
        let n = r.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        window.extend_from_slice(&chunk[..n]);
    }
}

/// Reads until `window` holds `want` bytes or the stream ends.
fn fill(r: &mut dyn Read, window: &mut Vec<u8>, chunk: &mut [u8], want: usize) -> io::Result<()> {
    while window.len() < want {
        let n = r.read(chunk)?;
        if n == 0 {
            break;
        }
        window.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum BuildInfoError {
    #[error("the Go build info is truncated")]
    Truncated,
    #[error("Go build info from before Go 1.18 (pointer format) is not read")]
    PointerFormat,
}

fn uvarint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn string(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, n) = uvarint(bytes)?;
    let end = n.checked_add(usize::try_from(len).ok()?)?;
    Some((bytes.get(n..end)?, bytes.get(end..)?))
}

/// The Go version and module info of a build info section (from `extract`).
pub(crate) fn decode(section: &[u8]) -> Result<(String, String), BuildInfoError> {
    let header = section.get(..HEADER).ok_or(BuildInfoError::Truncated)?;
    if header[MAGIC.len() + 1] & FLAG_INLINE == 0 {
        return Err(BuildInfoError::PointerFormat);
    }
    let (version, rest) = string(&section[HEADER..]).ok_or(BuildInfoError::Truncated)?;
    let (mut modinfo, _) = string(rest).ok_or(BuildInfoError::Truncated)?;
    // The module info sits between two 16-byte sentinels.
    if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        modinfo = &modinfo[16..modinfo.len() - 16];
    } else {
        modinfo = &[];
    }
    Ok((
        String::from_utf8_lossy(version).into_owned(),
        String::from_utf8_lossy(modinfo).into_owned(),
    ))
}

/// The binary's modules (main and dependencies, replacements applied) and the
/// standard library it was built with (`stdlib`, as OSV's Go advisories name it).
pub(crate) fn parse(section: &[u8], path: &str) -> Result<Vec<Package>, BuildInfoError> {
    let (go_version, modinfo) = decode(section)?;
    let package = |name: &str, version: &str| Package {
        ecosystem: Ecosystem::Go,
        name: name.to_owned(),
        version: version.to_owned(),
        source: None,
        source_version: None,
        path: path.to_owned(),
    };
    let mut packages: Vec<Package> = Vec::new();
    if let Some(version) = go_version.strip_prefix("go") {
        // `go1.21.3 X:boringcrypto` carries experiments after a space.
        let version = version.split_whitespace().next().unwrap_or(version);
        packages.push(package("stdlib", version));
    }
    for line in modinfo.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["mod" | "dep", module, version, ..] if *version != "(devel)" => {
                packages.push(package(module, version))
            }
            ["=>", module, version, ..] => {
                // Replaces the dependency just read (a local path has no version).
                if let Some(last) = packages.last_mut().filter(|p| p.name != "stdlib") {
                    last.name = (*module).to_owned();
                    last.version = (*version).to_owned();
                }
            }
            _ => {}
        }
    }
    Ok(packages)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn varint_string(out: &mut Vec<u8>, s: &[u8]) {
        let mut len = s.len() as u64;
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(s);
    }

    /// An ELF-looking binary with a Go 1.18+ build info section, as the linker lays it.
    pub(crate) fn binary(go_version: &str, modinfo: &str) -> Vec<u8> {
        let mut bytes = b"\x7fELF\x02\x01\x01".to_vec();
        bytes.resize(70_000, 0x90); // past one read chunk, so the search crosses chunks
        let mut header = MAGIC.to_vec();
        header.push(8);
        header.push(FLAG_INLINE);
        header.resize(HEADER, 0);
        bytes.extend_from_slice(&header);
        varint_string(&mut bytes, go_version.as_bytes());
        let sentinel_start = b"0\x77\xaf\x0c\x92\x74\x08\x02\x41\xe1\xc1\x07\xe6\xd6\x18\xe6";
        let sentinel_end = b"\xf92C1\x86\x18\x20\x72\x00\x82\x42\x10\x41\x16\xd8\xf2";
        let mut info = sentinel_start.to_vec();
        info.extend_from_slice(modinfo.as_bytes());
        info.extend_from_slice(sentinel_end);
        varint_string(&mut bytes, &info);
        bytes.extend_from_slice(&[0u8; 4096]);
        bytes
    }

    pub(crate) const MODINFO: &str = "path\texample.com/app\n\
        mod\texample.com/app\t(devel)\t\n\
        dep\tgolang.org/x/net\tv0.7.0\th1:abc=\n\
        dep\tgithub.com/old/yaml\tv2.2.0+incompatible\th1:def=\n\
        =>\tgithub.com/new/yaml\tv2.4.0+incompatible\th1:ghi=\n\
        build\t-compiler=gc\n";

    #[test]
    fn reads_modules_and_the_standard_library() {
        let bin = binary("go1.21.3", MODINFO);
        let section = extract(&mut bin.as_slice()).unwrap().unwrap();
        let got: Vec<_> = parse(&section, "usr/bin/app")
            .unwrap()
            .into_iter()
            .map(|p| (p.name, p.version))
            .collect();
        assert_eq!(
            got,
            vec![
                ("stdlib".into(), "1.21.3".into()),
                ("golang.org/x/net".into(), "v0.7.0".into()),
                ("github.com/new/yaml".into(), "v2.4.0+incompatible".into()),
            ]
        );
    }

    #[test]
    fn skips_other_files_and_old_formats() {
        assert_eq!(extract(&mut &b"#!/bin/sh\necho hi\n"[..]).unwrap(), None);
        assert_eq!(extract(&mut &b"\x7fELF plain C binary"[..]).unwrap(), None);
        let mut old = binary("go1.16", MODINFO);
        let at = find(&old, MAGIC).unwrap();
        old[at + MAGIC.len() + 1] = 0;
        let section = extract(&mut old.as_slice()).unwrap().unwrap();
        assert_eq!(parse(&section, "x"), Err(BuildInfoError::PointerFormat));
        assert_eq!(parse(&section[..20], "x"), Err(BuildInfoError::Truncated));
    }
}
