//! GPT-2's byte ⇄ symbol mapping, which byte-level BPE vocabularies are written in.

/// GPT-2's byte → printable symbol table: bytes that are printable and not space map to
/// themselves, the other 68 to U+0100 onwards in byte order.
pub(crate) const BYTE_TO_CHAR: [char; 256] = {
    let mut table = ['\0'; 256];
    let mut next = 0x100u32;
    let mut b = 0usize;
    while b < 256 {
        let printable = matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
        let cp = if printable {
            b as u32
        } else {
            next += 1;
            next - 1
        };
        table[b] = match char::from_u32(cp) {
            Some(c) => c,
            None => panic!("byte-level symbols are all below U+0200"),
        };
        b += 1;
    }
    table
};

/// The bytes behind the 68 symbols at U+0100.., the inverse of [`BYTE_TO_CHAR`] there.
const SYMBOL_TO_BYTE: [u8; 68] = {
    let mut table = [0u8; 68];
    let mut b = 0usize;
    while b < 256 {
        let cp = BYTE_TO_CHAR[b] as u32;
        if cp >= 0x100 {
            table[(cp - 0x100) as usize] = b as u8;
        }
        b += 1;
    }
    table
};

/// The byte a byte-level symbol stands for; `None` for any other character.
pub(crate) fn symbol_to_byte(c: char) -> Option<u8> {
    match c as u32 {
        cp @ (0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF) => u8::try_from(cp).ok(),
        cp @ 0x100..0x144 => SYMBOL_TO_BYTE.get((cp - 0x100) as usize).copied(),
        _ => None,
    }
}
