//! Text widths without a browser, so boxes can be sized to what they hold.
//!
//! The widths are DejaVu Sans's advance widths (Book and Bold), read from
//! the font files with fontTools, in thousandths of an em. The diagram asks
//! for "DejaVu Sans", then Verdana (metrically close), then any sans-serif;
//! both named fonts are among the widest common sans-serifs, so a box sized
//! by this table also holds its text in a narrower fallback.

/// Advance widths of ASCII 32..=126 in DejaVu Sans Book, 1/1000 em.
const BOOK: [u16; 95] = [
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636,
    636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632,
    575, 775, 752, 295, 295, 656, 557, 863, 748, 787, 603, 787, 695, 635, 611, 732, 684, 989, 685,
    611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579,
    278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838,
];

/// Advance widths of ASCII 32..=126 in DejaVu Sans Bold, 1/1000 em.
const BOLD: [u16; 95] = [
    348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696, 696,
    696, 696, 696, 696, 696, 696, 696, 400, 400, 838, 838, 838, 580, 1000, 774, 762, 734, 830, 683,
    683, 821, 837, 372, 372, 775, 637, 995, 837, 850, 733, 850, 770, 720, 682, 812, 774, 1103, 771,
    724, 725, 457, 365, 457, 838, 500, 500, 675, 716, 593, 716, 678, 435, 716, 712, 343, 343, 665,
    343, 1042, 712, 687, 716, 716, 493, 595, 478, 712, 652, 924, 645, 652, 582, 712, 365, 712, 838,
];

/// The font stack the diagram's CSS names, matching the table above.
pub const FONT_STACK: &str = "'DejaVu Sans', Verdana, sans-serif";

/// Width of one character in 1/1000 em.
fn advance(c: char, bold: bool) -> u32 {
    let table = if bold { &BOLD } else { &BOOK };
    match c {
        ' '..='~' => u32::from(table[c as usize - 32]),
        '…' | '—' => 1000,
        '–' | '°' => 500,
        '·' => 380,
        '½' | '¼' => 1035,
        // Arrows, ×, ≈, ≤, −, ± and anything unknown: as wide as "W" is
        // safe (838–1000), so take the widest.
        _ => 1000,
    }
}

/// Width in px of `text` set in `size_px` px, bold or not.
pub fn width(text: &str, size_px: f64, bold: bool) -> f64 {
    let units: u32 = text.chars().map(|c| advance(c, bold)).sum();
    f64::from(units) * size_px / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_follow_the_font_table() {
        // "ms" in Book: m 974 + s 521 = 1495/1000 em; at 10 px, 14.95 px.
        assert!((width("ms", 10.0, false) - 14.95).abs() < 1e-9);
        // Bold is wider than Book, letter for letter.
        assert!(width("Database", 15.0, true) > width("Database", 15.0, false));
        // Digits are tabular: every one is 636/1000 em.
        assert_eq!(width("0000", 10.0, false), width("9871", 10.0, false));
        assert!(width("→", 10.0, false) >= 8.38);
    }
}
