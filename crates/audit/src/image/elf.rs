//! Just enough of ELF to find one section by name: `cargo auditable` keeps a binary's
//! dependency list, zlib-compressed JSON, in the section `.dep-v0`, which survives `strip`.
//! Both classes (32 and 64 bit) and both byte orders are read; anything malformed is "no
//! such section", never a panic.

/// The section `cargo auditable` writes.
pub const DEPENDENCY_SECTION: &str = ".dep-v0";

/// The bytes of the section `name` of the ELF file `file`, if it has one.
pub fn section<'a>(file: &'a [u8], name: &str) -> Option<&'a [u8]> {
    if file.get(..4)? != b"\x7fELF" {
        return None;
    }
    let wide = match file.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = match file.get(5)? {
        1 => true,
        2 => false,
        _ => return None,
    };
    let read = Reader { file, little };
    let (table, entry_size, count, names_index) = if wide {
        (
            read.u64(0x28)?,
            read.u16(0x3a)?,
            read.u16(0x3c)?,
            read.u16(0x3e)?,
        )
    } else {
        (
            u64::from(read.u32(0x20)?),
            read.u16(0x2e)?,
            read.u16(0x30)?,
            read.u16(0x32)?,
        )
    };
    let header = |index: u16| -> Option<(u32, u64, u64)> {
        let at = table.checked_add(u64::from(index).checked_mul(u64::from(entry_size))?)?;
        let at = usize::try_from(at).ok()?;
        if wide {
            Some((read.u32(at)?, read.u64(at + 0x18)?, read.u64(at + 0x20)?))
        } else {
            Some((
                read.u32(at)?,
                u64::from(read.u32(at + 0x10)?),
                u64::from(read.u32(at + 0x14)?),
            ))
        }
    };
    let bytes = |offset: u64, size: u64| -> Option<&'a [u8]> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(size).ok()?)?;
        file.get(start..end)
    };
    let (_, names_offset, names_size) = header(names_index)?;
    let names = bytes(names_offset, names_size)?;
    (0..count).find_map(|index| {
        let (name_at, offset, size) = header(index)?;
        let rest = names.get(usize::try_from(name_at).ok()?..)?;
        let end = rest.iter().position(|b| *b == 0)?;
        (&rest[..end] == name.as_bytes())
            .then(|| bytes(offset, size))
            .flatten()
    })
}

struct Reader<'a> {
    file: &'a [u8],
    little: bool,
}

impl Reader<'_> {
    fn array<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        self.file.get(at..at.checked_add(N)?)?.try_into().ok()
    }

    fn u16(&self, at: usize) -> Option<u16> {
        let bytes = self.array(at)?;
        Some(if self.little {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let bytes = self.array(at)?;
        Some(if self.little {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        })
    }

    fn u64(&self, at: usize) -> Option<u64> {
        let bytes = self.array(at)?;
        Some(if self.little {
            u64::from_le_bytes(bytes)
        } else {
            u64::from_be_bytes(bytes)
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal 64-bit little-endian ELF file with the sections `(name, contents)`.
    pub(crate) fn elf_with(sections: &[(&str, &[u8])]) -> Vec<u8> {
        let mut names = vec![0u8];
        let mut name_at = Vec::new();
        for (name, _) in sections.iter().chain([(".shstrtab", &b""[..])].iter()) {
            name_at.push(names.len() as u32);
            names.extend_from_slice(name.as_bytes());
            names.push(0);
        }
        let mut file = vec![0u8; 64];
        file[..4].copy_from_slice(b"\x7fELF");
        file[4] = 2;
        file[5] = 1;
        let mut placed = Vec::new();
        for (_, contents) in sections {
            placed.push((file.len() as u64, contents.len() as u64));
            file.extend_from_slice(contents);
        }
        placed.push((file.len() as u64, names.len() as u64));
        file.extend_from_slice(&names);
        let table = file.len() as u64;
        // Section 0 is the null section, as in every ELF file.
        file.extend_from_slice(&[0u8; 64]);
        for (index, (offset, size)) in placed.iter().enumerate() {
            let mut header = [0u8; 64];
            header[..4].copy_from_slice(&name_at[index].to_le_bytes());
            header[0x18..0x20].copy_from_slice(&offset.to_le_bytes());
            header[0x20..0x28].copy_from_slice(&size.to_le_bytes());
            file.extend_from_slice(&header);
        }
        let count = placed.len() as u16 + 1;
        file[0x28..0x30].copy_from_slice(&table.to_le_bytes());
        file[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        file[0x3c..0x3e].copy_from_slice(&count.to_le_bytes());
        file[0x3e..0x40].copy_from_slice(&(count - 1).to_le_bytes());
        file
    }

    #[test]
    fn a_section_is_found_by_name_and_nonsense_finds_nothing() {
        let file = elf_with(&[(".text", b"code"), (".dep-v0", b"deps")]);
        assert_eq!(section(&file, DEPENDENCY_SECTION), Some(&b"deps"[..]));
        assert_eq!(section(&file, ".text"), Some(&b"code"[..]));
        assert_eq!(section(&file, ".data"), None);
        assert_eq!(section(b"#!/bin/sh\n", DEPENDENCY_SECTION), None);
        // Cut anywhere, it is no section and no panic.
        for cut in 0..file.len() {
            let _ = section(&file[..cut], DEPENDENCY_SECTION);
        }
        let mut lying = file.clone();
        lying[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(section(&lying, DEPENDENCY_SECTION), None);
    }
}
